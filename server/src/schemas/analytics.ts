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
