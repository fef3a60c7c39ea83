import { Type, type Static } from '@sinclair/typebox'
import { EventInput, Reason } from './common.js'

/** One ruleset version: DSL source (when written in the rules language), json-rules-engine rules and settings. */
export const Ruleset = Type.Object({
  version: Type.Integer(), name: Type.String(),
  status: Type.Union([Type.Literal('draft'), Type.Literal('published'), Type.Literal('archived')]),
  source: Type.Union([Type.String(), Type.Null()], { description: 'Rules-language source; null for rulesets submitted as json-rules-engine JSON.' }),
  rules: Type.Array(Type.Record(Type.String(), Type.Unknown())),
  settings: Type.Record(Type.String(), Type.Unknown()), author: Type.String(), note: Type.Union([Type.String(), Type.Null()]),
  basedOn: Type.Union([Type.Integer(), Type.Null()]),
  createdAt: Type.String(), updatedAt: Type.String(), publishedAt: Type.Union([Type.String(), Type.Null()]),
}, { $id: 'Ruleset' })
export type RulesetT = Static<typeof Ruleset>

/** The body of `PUT /v1/rulesets/active`. */
export const RulesetReplace = Type.Object({
  rules: Type.Array(Type.Record(Type.String(), Type.Unknown()), { maxItems: 500 }),
  settings: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  note: Type.Optional(Type.String({ maxLength: 500 })),
}, { additionalProperties: false })
export type RulesetReplaceT = Static<typeof RulesetReplace>

const Position = Type.Object({ line: Type.Integer({ minimum: 1 }), column: Type.Integer({ minimum: 1 }) })
export const Diagnostic = Type.Object({
  code: Type.String(), severity: Type.Union([Type.Literal('error'), Type.Literal('warning'), Type.Literal('info')]), message: Type.String(),
  range: Type.Object({ start: Position, end: Position }),
}, { $id: 'Diagnostic' })

const Source = Type.String({ maxLength: 512 * 1024, description: 'Rules-language source text.' })

export const DraftCreate = Type.Object({
  source: Source,
  note: Type.Optional(Type.String({ maxLength: 500 })),
  basedOn: Type.Optional(Type.Integer({ minimum: 1 })),
}, { additionalProperties: false })
export const DraftUpdate = Type.Object({ source: Source, note: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false })
export const PublishBody = Type.Object({ rescore: Type.Optional(Type.Boolean({ description: 'Re-score every lead with the new version in the background.' })) }, { additionalProperties: false })
export const PublishResult = Type.Object({ ruleset: Type.Ref('Ruleset'), rescoreJobId: Type.Union([Type.String(), Type.Null()]) })

export const ValidateBody = Type.Object({ source: Source }, { additionalProperties: false })
export const ValidateResult = Type.Object({
  ok: Type.Boolean(),
  diagnostics: Type.Array(Type.Ref('Diagnostic')),
  errors: Type.Array(Type.Object({ pointer: Type.String(), detail: Type.String() })),
  rules: Type.Optional(Type.Array(Type.Record(Type.String(), Type.Unknown()))),
  settings: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
})

export const Catalog = Type.Object({
  facts: Type.Record(Type.String(), Type.Object({ type: Type.String(), doc: Type.Optional(Type.String()) })),
  eventTypes: Type.Array(Type.String()),
})

export const RulesetDiff = Type.Object({
  from: Type.Integer(), to: Type.Integer(),
  lines: Type.Array(Type.Object({
    op: Type.Union([Type.Literal('same'), Type.Literal('add'), Type.Literal('remove')]), text: Type.String(),
    fromLine: Type.Optional(Type.Integer()), toLine: Type.Optional(Type.Integer()),
  })),
  rules: Type.Object({ added: Type.Array(Type.String()), removed: Type.Array(Type.String()), changed: Type.Array(Type.String()) }),
  settings: Type.Object({ changed: Type.Array(Type.String()) }),
})

const Parts = Type.Object({ total: Type.Number(), engagement: Type.Number(), fit: Type.Number(), intent: Type.Number() })

export const DryRunBody = Type.Object({
  source: Type.Optional(Source),
  version: Type.Optional(Type.Integer({ minimum: 1 })),
  leadId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  events: Type.Optional(Type.Array(EventInput, { maxItems: 1000 })),
}, { additionalProperties: false })
export const DryRunResult = Type.Object({
  version: Type.Union([Type.Integer(), Type.Null()], { description: 'The ruleset version used; null for unsaved source.' }),
  leadId: Type.Union([Type.String(), Type.Null()]),
  final: Type.Object({ total: Type.Number(), engagement: Type.Number(), fit: Type.Number(), intent: Type.Number(), stage: Type.String(), grade: Type.String(), intentLabel: Type.String() }),
  current: Type.Union([Type.Object({ total: Type.Number(), stage: Type.String() }), Type.Null()], { description: "The stored lead's live score, for comparison." }),
  entries: Type.Array(Type.Object({
    index: Type.Integer(), eventId: Type.Union([Type.String(), Type.Null()]), type: Type.String(), occurredAt: Type.String(),
    status: Type.Union([Type.Literal('scored'), Type.Literal('unmapped')]), before: Parts, after: Parts, delta: Type.Number(), stage: Type.String(),
    reasons: Type.Array(Reason),
  })),
  diagnostics: Type.Array(Type.Ref('Diagnostic')),
})

export const BacktestBody = Type.Object({
  leadIds: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 10_000 })),
  from: Type.Optional(Type.String({ format: 'date-time' })),
  to: Type.Optional(Type.String({ format: 'date-time' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'Backtest at most this many leads (by id order).' })),
}, { additionalProperties: false })

export const Backtest = Type.Object({
  id: Type.String(), version: Type.Integer(), baseVersion: Type.Integer(),
  status: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]),
  progress: Type.Object({ done: Type.Integer(), total: Type.Integer() }),
  scope: Type.Object({ leadIds: Type.Union([Type.Array(Type.String()), Type.Null()]), from: Type.Union([Type.String(), Type.Null()]), to: Type.Union([Type.String(), Type.Null()]), limit: Type.Union([Type.Integer(), Type.Null()]) }),
  startedAt: Type.String(), finishedAt: Type.Union([Type.String(), Type.Null()]), error: Type.Union([Type.String(), Type.Null()]),
  result: Type.Union([Type.Null(), Type.Object({
    leads: Type.Integer(), events: Type.Integer(), changed: Type.Integer(),
    movers: Type.Array(Type.Object({
      leadId: Type.String(), name: Type.Union([Type.String(), Type.Null()]), email: Type.Union([Type.String(), Type.Null()]),
      before: Type.Number(), after: Type.Number(), delta: Type.Number(), stageBefore: Type.String(), stageAfter: Type.String(),
    })),
    stages: Type.Array(Type.Object({ stage: Type.String(), before: Type.Integer(), after: Type.Integer(), entered: Type.Integer(), left: Type.Integer() })),
    distribution: Type.Array(Type.Object({ min: Type.Number(), max: Type.Number(), before: Type.Integer(), after: Type.Integer() })),
    lift: Type.Array(Type.Object({ stage: Type.String(), leads: Type.Integer(), converted: Type.Integer(), rate: Type.Number(), lift: Type.Number() })),
    baseline: Type.Object({ converted: Type.Integer(), rate: Type.Number() }),
  })]),
}, { $id: 'Backtest' })

/** A shipped ruleset template. */
export const Template = Type.Object({ id: Type.String(), name: Type.String(), description: Type.String(), source: Type.String() })
