import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { problemResponses } from '../schemas/common.js'
import {
  ScoreDistribution, ScoreDistributionQuery, StageFunnel, ConversionByScore, ConversionByScoreQuery, EventsOverTime, EventsOverTimeQuery,
  TopSources, TopSourcesQuery, MAX_TIME_BUCKETS,
} from '../schemas/analytics.js'
import {
  CONVERSION, DEFAULT_SPAN, bandOf, bandStarts, bucketSize, ceilTo, eventsOverTime, floorTo, mean, rate, scoreHistogram, stageCounts, sourceFigures, sourceNames,
  type Figures,
} from '../domain/analytics.js'
import { LS_ERR_VALIDATION } from '../errors.js'
import { REST_SOURCE } from './events.js'
import { MANUAL_SOURCE, SYSTEM_SOURCE } from '../domain/scoring/pipeline.js'

const BUILT_IN_SOURCES: Record<string, string> = { [REST_SOURCE]: 'REST API', [MANUAL_SOURCE]: 'Manual entry', [SYSTEM_SOURCE]: 'System' }

// Dates outside these years have no four-digit RFC 3339 form once rounded to a bucket.
const MIN_TIME = Date.parse('0001-01-08T00:00:00Z')
const MAX_TIME = Date.parse('9998-12-31T00:00:00Z')

const figures = (f: Figures) => ({ leads: f.leads, avgScore: mean(f.scoreSum, f.leads), converted: f.converted, rate: rate(f.converted, f.leads) })

/**
 * Aggregates for the console's charts, from the counters the lead views keep at each commit (domain/lead-views/): a
 * request reads a few counter documents, whatever the number of leads and events.
 */
const analyticsRoutes: FastifyPluginAsyncTypebox = async function analyticsRoutes (app) {
  const { core } = app

  app.get('/v1/analytics/score-distribution', {
    config: { scope: 'read' },
    schema: {
      tags: ['analytics'], summary: 'How many leads fall in each score band of `bucket` points',
      querystring: ScoreDistributionQuery,
      response: { 200: ScoreDistribution, ...problemResponses },
    },
  }, async (req) => {
    const width = req.query.bucket
    const counts = new Map<number, number>()
    let total = 0
    for (const [score, h] of scoreHistogram(await core.views.leadCounters(), req.query.stage)) {
      const from = bandOf(score, width)
      counts.set(from, (counts.get(from) ?? 0) + h.n)
      total += h.n
    }
    const [min, max] = total === 0 ? [null, null] : await Promise.all([core.views.scoreEdge(req.query.stage, 1), core.views.scoreEdge(req.query.stage, -1)])
    const buckets = bandStarts(counts.keys(), width).map((f) => ({ from: f, to: f + width, count: counts.get(f) ?? 0 }))
    return { bucket: width, total, min, max, buckets }
  })

  app.get('/v1/analytics/stages', {
    config: { scope: 'read' },
    schema: {
      tags: ['analytics'], summary: 'Leads per stage of the published ruleset, as a funnel',
      response: { 200: StageFunnel, ...problemResponses },
    },
  }, async () => {
    const active = await core.rulesets.active()
    const defined = [...(active.settings.stages ?? [])].sort((a, b) => a.min - b.min)
    const counts = stageCounts(await core.views.leadCounters())
    const total = [...counts.values()].reduce((a, b) => a + b, 0)
    let reached = 0
    const stages = defined.map((s) => ({ name: s.name, min: s.min, count: counts.get(s.name) ?? 0, reached: 0 }))
    for (let i = stages.length - 1; i >= 0; i--) {
      reached += stages[i]!.count
      stages[i]!.reached = reached
    }
    const names = new Set(defined.map((s) => s.name))
    const other = [...counts].filter(([n]) => !names.has(n)).map(([name, count]) => ({ name, count })).sort((a, b) => b.count - a.count)
    return { total, rulesetVersion: active.version, stages, other }
  })

  app.get('/v1/analytics/conversion-by-score', {
    config: { scope: 'read' },
    schema: {
      tags: ['analytics'], summary: 'Leads per score band of `bucket` points and the share of them that converted',
      description: 'A lead has converted when its status is `converted` or it has a `purchase` event (after the published ruleset\'s aliases).',
      querystring: ConversionByScoreQuery,
      response: { 200: ConversionByScore, ...problemResponses },
    },
  }, async (req) => {
    const width = req.query.bucket
    const bands = new Map<number, { leads: number; converted: number }>()
    let total = 0
    let converted = 0
    for (const [score, h] of scoreHistogram(await core.views.leadCounters(), req.query.stage)) {
      const from = bandOf(score, width)
      let b = bands.get(from)
      if (b === undefined) bands.set(from, b = { leads: 0, converted: 0 })
      b.leads += h.n
      b.converted += h.conv
      total += h.n
      converted += h.conv
    }
    const buckets = bandStarts(bands.keys(), width).map((f) => {
      const b = bands.get(f) ?? { leads: 0, converted: 0 }
      return { from: f, to: f + width, leads: b.leads, converted: b.converted, rate: rate(b.converted, b.leads) }
    })
    return { bucket: width, total, converted, rate: rate(converted, total), conversion: CONVERSION, buckets }
  })

  app.get('/v1/analytics/events-over-time', {
    config: { scope: 'read' },
    schema: {
      tags: ['analytics'], summary: 'Events per type per hour, day or week (UTC), by event time',
      description: `The range is widened to whole buckets; at most ${MAX_TIME_BUCKETS} buckets (a 400 problem beyond).`,
      querystring: EventsOverTimeQuery,
      response: { 200: EventsOverTime, ...problemResponses },
    },
  }, async (req) => {
    const g = req.query.granularity
    const parse = (name: string, v: string | undefined, fallback: number): number => {
      if (v === undefined) return fallback
      const ms = Date.parse(v)
      if (!Number.isFinite(ms) || ms < MIN_TIME || ms > MAX_TIME) throw new LS_ERR_VALIDATION(`${name} must be a date-time between the years 1 and 9998`)
      return ms
    }
    const toMs = parse('to', req.query.to, core.now().getTime())
    const fromMs = parse('from', req.query.from, toMs - DEFAULT_SPAN[g])
    if (fromMs >= toMs) throw new LS_ERR_VALIDATION('from must be before to')
    const from = floorTo(fromMs, g)
    const to = ceilTo(toMs, g)
    const n = Math.round((to - from) / bucketSize(g))
    if (n > MAX_TIME_BUCKETS) throw new LS_ERR_VALIDATION(`the range holds ${n} ${g} buckets; at most ${MAX_TIME_BUCKETS} are allowed (choose a shorter range or a coarser granularity)`)
    const r = await eventsOverTime(core.views, from, to, g, req.query.top)
    return { granularity: g, from: new Date(from).toISOString(), to: new Date(to).toISOString(), ...r }
  })

  app.get('/v1/analytics/sources', {
    config: { scope: 'read' },
    schema: {
      tags: ['analytics'], summary: 'Top sources by average lead score, conversion rate or leads',
      description: 'A lead counts for every source its events came through; leads with none are counted in `none`.',
      querystring: TopSourcesQuery,
      response: { 200: TopSources, ...problemResponses },
    },
  }, async (req) => {
    const { all, none, per } = sourceFigures(await core.views.leadCounters())
    const sort = req.query.sort
    const key = (f: ReturnType<typeof figures>): number => sort === 'leads' ? f.leads : sort === 'conversionRate' ? f.rate : f.avgScore
    const ranked = [...per].map(([sourceId, f]) => ({ sourceId, ...figures(f) }))
      .sort((a, b) => key(b) - key(a) || b.leads - a.leads || (a.sourceId < b.sourceId ? -1 : a.sourceId > b.sourceId ? 1 : 0))
    const listed = ranked.slice(0, req.query.limit)
    const names = await sourceNames(core, listed.map((s) => s.sourceId).filter((id) => BUILT_IN_SOURCES[id] === undefined))
    return {
      total: all.leads, converted: all.converted, rate: rate(all.converted, all.leads), conversion: CONVERSION, sort,
      sources: listed.map((s) => ({ sourceId: s.sourceId, name: BUILT_IN_SOURCES[s.sourceId] ?? names.get(s.sourceId) ?? null, leads: s.leads, avgScore: s.avgScore, converted: s.converted, rate: s.rate })),
      more: ranked.length - listed.length,
      none: figures(none),
    }
  })
}

export default analyticsRoutes
