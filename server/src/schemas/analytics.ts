import { Type, type Static } from '@sinclair/typebox'

export const ScoreDistributionQuery = Type.Object({
  bucket: Type.Integer({ minimum: 1, maximum: 100_000, default: 10, description: 'Width of one bucket, in points' }),
  stage: Type.Optional(Type.String({ maxLength: 50 })),
}, { additionalProperties: false })

/** Lead counts per score band `[from, to)`, contiguous from the lowest to the highest non-empty band. */
export const ScoreDistribution = Type.Object({
  bucket: Type.Integer(),
  total: Type.Integer(),
  min: Type.Union([Type.Number(), Type.Null()]),
  max: Type.Union([Type.Number(), Type.Null()]),
  buckets: Type.Array(Type.Object({ from: Type.Number(), to: Type.Number(), count: Type.Integer() })),
})
export type ScoreDistributionT = Static<typeof ScoreDistribution>

/**
 * Leads per stage of the published ruleset, lowest threshold first. `reached` counts the leads in this stage or a
 * later one (the funnel); leads in stages the ruleset no longer defines are listed under `other`.
 */
export const StageFunnel = Type.Object({
  total: Type.Integer(),
  rulesetVersion: Type.Integer(),
  stages: Type.Array(Type.Object({ name: Type.String(), min: Type.Number(), count: Type.Integer(), reached: Type.Integer() })),
  other: Type.Array(Type.Object({ name: Type.String(), count: Type.Integer() })),
})
export type StageFunnelT = Static<typeof StageFunnel>

const Rate = Type.Number({ minimum: 0, maximum: 1, description: 'converted / leads, rounded to 4 decimals (0 when there are no leads)' })

/** What the conversion figures count as converted (see docs/analytics.md). */
export const ConversionDefinition = Type.Object({
  status: Type.Literal('converted', { description: 'A lead with this status has converted.' }),
  eventType: Type.Literal('purchase', { description: 'So has a lead with an event of this type (after the published ruleset\'s aliases).' }),
})

/** The same bands (and stage filter) as the score distribution. */
export const ConversionByScoreQuery = ScoreDistributionQuery

/** Leads per score band `[from, to)` and how many of them converted; bands contiguous as in the score distribution. */
export const ConversionByScore = Type.Object({
  bucket: Type.Integer(),
  total: Type.Integer(),
  converted: Type.Integer(),
  rate: Rate,
  conversion: ConversionDefinition,
  buckets: Type.Array(Type.Object({ from: Type.Number(), to: Type.Number(), leads: Type.Integer(), converted: Type.Integer(), rate: Rate })),
})
export type ConversionByScoreT = Static<typeof ConversionByScore>

export const GRANULARITIES = ['hour', 'day', 'week'] as const
export const MAX_TIME_BUCKETS = 1000

export const EventsOverTimeQuery = Type.Object({
  granularity: Type.Union(GRANULARITIES.map((g) => Type.Literal(g)), { default: 'day', description: 'Bucket size; weeks start on Monday. All buckets are UTC.' }),
  from: Type.Optional(Type.String({ format: 'date-time', description: 'Start of the range (event time), rounded down to a bucket start; default: `to` minus 48 hours, 30 days or 26 weeks' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'End of the range (exclusive), rounded up to a bucket start; default: now' })),
  top: Type.Integer({ minimum: 1, maximum: 50, default: 8, description: 'The most frequent event types shown apart; the others are summed in `other`' }),
}, { additionalProperties: false, description: `At most ${MAX_TIME_BUCKETS} buckets.` })

/** Events per type per time bucket, by event time (`occurredAt`). `counts[i]` belongs to the bucket starting at `buckets[i]`. */
export const EventsOverTime = Type.Object({
  granularity: Type.Union(GRANULARITIES.map((g) => Type.Literal(g))),
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  total: Type.Integer(),
  buckets: Type.Array(Type.String({ format: 'date-time' }), { maxItems: MAX_TIME_BUCKETS }),
  series: Type.Array(Type.Object({ type: Type.String(), total: Type.Integer(), counts: Type.Array(Type.Integer()) })),
  other: Type.Object({ types: Type.Integer({ description: 'How many event types are summed here' }), total: Type.Integer(), counts: Type.Array(Type.Integer()) }),
})
export type EventsOverTimeT = Static<typeof EventsOverTime>

export const SOURCE_SORTS = ['avgScore', 'conversionRate', 'leads'] as const

export const TopSourcesQuery = Type.Object({
  sort: Type.Union(SOURCE_SORTS.map((s) => Type.Literal(s)), { default: 'avgScore' }),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
}, { additionalProperties: false })

const SourceFigures = {
  leads: Type.Integer(),
  avgScore: Type.Number({ description: 'Mean score, rounded to 2 decimals (0 when there are no leads)' }),
  converted: Type.Integer(),
  rate: Rate,
}

/**
 * Per source (the sources a lead's events came through): its leads, their average score and conversion rate. A lead
 * with events from several sources counts for each; leads with no source are counted apart in `none`.
 */
export const TopSources = Type.Object({
  total: Type.Integer(),
  converted: Type.Integer(),
  rate: Rate,
  conversion: ConversionDefinition,
  sort: Type.Union(SOURCE_SORTS.map((s) => Type.Literal(s))),
  sources: Type.Array(Type.Object({ sourceId: Type.String(), name: Type.Union([Type.String(), Type.Null()]), ...SourceFigures })),
  more: Type.Integer({ description: 'Sources beyond `limit`, not listed' }),
  none: Type.Object(SourceFigures),
})
export type TopSourcesT = Static<typeof TopSources>
