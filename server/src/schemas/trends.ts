import { Type, type Static } from '@sinclair/typebox'

const DateTime = (description: string) => Type.String({ format: 'date-time', description })

export const TrendQuery = Type.Object({
  bucket: Type.Union([Type.Literal('hour'), Type.Literal('day'), Type.Literal('week'), Type.Literal('month')], { default: 'day', description: 'UTC buckets; weeks start on Monday.' }),
  from: Type.Optional(DateTime('Start (ISO 8601), widened to its bucket\'s start. Default: 48 hours, 30 days, 26 weeks or 12 months before `to`.')),
  to: Type.Optional(DateTime('End (ISO 8601, exclusive). Default: now.')),
}, { additionalProperties: false })

const Point = {
  score: Type.Number(),
  engagement: Type.Number(),
  fit: Type.Number(),
  intent: Type.Number(),
  stage: Type.String(),
  grade: Type.String(),
  intentLabel: Type.String(),
}

export const TrendBucketOut = Type.Object({
  start: Type.String({ format: 'date-time' }),
  end: Type.String({ format: 'date-time' }),
  ...Point,
  min: Type.Number({ description: 'Lowest score within the bucket (the score carried in included).' }),
  max: Type.Number({ description: 'Highest score within the bucket.' }),
  gained: Type.Number({ description: 'Points added within the bucket (sum of the positive reasons).' }),
  lost: Type.Number({ description: 'Points removed within the bucket, decay included (sum of the negative reasons, as a positive number).' }),
  entries: Type.Integer({ description: 'Ledger entries with event time in the bucket.' }),
}, { description: 'Score, dimensions, stage and grade at the bucket\'s end (or at `to` for the last one), carried forward from the entries before it.' })

export const Trend = Type.Object({
  leadId: Type.String(),
  bucket: Type.String(),
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  buckets: Type.Array(TrendBucketOut),
})
export type TrendT = Static<typeof Trend>

export const AsOfQuery = {
  asOf: Type.Optional(DateTime('Answer with the score as of this time (event time): the state after the last ledger entry whose event happened at or before it.')),
  knownAt: Type.Optional(DateTime('With `asOf`: use only what had been recorded by this time (commit time); late events and re-scores recorded later are ignored.')),
}

export const AsOfMarkOut = Type.Object({
  at: Type.String({ format: 'date-time' }),
  entryId: Type.Union([Type.String(), Type.Null()], { description: 'The ledger entry the score fields are the state after; null when the lead had none by then, or (leaderboard) had no event since.' }),
  knownAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
}, { description: 'Present when the lead is answered as of a time: score, scores, stage, grade, intentLabel and predictive are as of then; the other fields are current.' })
