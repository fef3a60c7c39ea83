import { Type, type Static } from '@sinclair/typebox'

/** One ruleset version: json-rules-engine rules and scoring settings. */
export const Ruleset = Type.Object({
  version: Type.Integer(), name: Type.String(), status: Type.String(), rules: Type.Array(Type.Record(Type.String(), Type.Unknown())),
  settings: Type.Record(Type.String(), Type.Unknown()), author: Type.String(), note: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(), publishedAt: Type.Union([Type.String(), Type.Null()]),
}, { $id: 'Ruleset' })
export type RulesetT = Static<typeof Ruleset>

/** The body of `PUT /v1/rulesets/active`. */
export const RulesetReplace = Type.Object({
  rules: Type.Array(Type.Record(Type.String(), Type.Unknown()), { maxItems: 500 }),
  settings: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  note: Type.Optional(Type.String({ maxLength: 500 })),
}, { additionalProperties: false })
export type RulesetReplaceT = Static<typeof RulesetReplace>
