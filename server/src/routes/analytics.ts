import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { problemResponses } from '../schemas/common.js'
import { ScoreDistribution, ScoreDistributionQuery, StageFunnel } from '../schemas/analytics.js'

// Beyond this many bands, only the non-empty ones are returned.
const MAX_FILLED_BUCKETS = 1000

/**
 * Aggregates for the console's charts. FerretDB 1.24 has no $bucket/$floor and only $sum/$count in $group, so the
 * counting is done here over a streamed projection: one small document per lead in flight, never the leads themselves.
 */
const analyticsRoutes: FastifyPluginAsyncTypebox = async function analyticsRoutes (app) {
  const { core } = app
  const { c } = core

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
    let min: number | null = null
    let max: number | null = null
    const cursor = c.leads.find(req.query.stage !== undefined ? { stage: req.query.stage } : {})
      .project<{ score?: unknown }>({ _id: 0, score: 1 }).batchSize(1000)
    for await (const d of cursor) {
      const s = typeof d.score === 'number' && Number.isFinite(d.score) ? d.score : 0
      const from = Math.floor(s / width) * width
      counts.set(from, (counts.get(from) ?? 0) + 1)
      total++
      if (min === null || s < min) min = s
      if (max === null || s > max) max = s
    }
    const froms = [...counts.keys()].sort((a, b) => a - b)
    const buckets: Array<{ from: number; to: number; count: number }> = []
    if (froms.length > 0) {
      const lo = froms[0]!
      const hi = froms[froms.length - 1]!
      if ((hi - lo) / width + 1 <= MAX_FILLED_BUCKETS) {
        for (let f = lo; f <= hi; f += width) buckets.push({ from: f, to: f + width, count: counts.get(f) ?? 0 })
      } else {
        for (const f of froms) buckets.push({ from: f, to: f + width, count: counts.get(f)! })
      }
    }
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
    const counts = new Map<string, number>()
    let total = 0
    for await (const d of c.leads.find({}).project<{ stage?: unknown }>({ _id: 0, stage: 1 }).batchSize(1000)) {
      const name = typeof d.stage === 'string' ? d.stage : ''
      counts.set(name, (counts.get(name) ?? 0) + 1)
      total++
    }
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
}

export default analyticsRoutes
