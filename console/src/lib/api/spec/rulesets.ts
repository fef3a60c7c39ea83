// The ruleset lifecycle and backtest routes' shapes as specified, for the console to build against until
// server/src/schemas/rulesets.ts defines them. Only `import type`d by ../types.ts: nothing here is bundled.
// Names match the schemas the server will export, so types.ts switches with one changed import path.
import { Type } from '@sinclair/typebox'
import { EventInput, Reason, ScoreParts } from '../../../../../server/src/schemas/common.js'

const Nullable = <T extends ReturnType<typeof Type.String> | ReturnType<typeof Type.Integer>>(t: T) => Type.Union([t, Type.Null()])

export const RulesetStatus = Type.Union([Type.Literal('draft'), Type.Literal('published'), Type.Literal('archived')])

export const Ruleset = Type.Object({
  version: Type.Integer(), name: Type.String(), status: RulesetStatus, source: Nullable(Type.String()),
  rules: Type.Array(Type.Record(Type.String(), Type.Unknown())), settings: Type.Record(Type.String(), Type.Unknown()),
  author: Type.String(), note: Nullable(Type.String()), createdAt: Type.String(), publishedAt: Nullable(Type.String()),
  basedOn: Nullable(Type.Integer()),
}, { $id: 'Ruleset' })

const Position = Type.Object({ line: Type.Integer(), column: Type.Integer() })
export const Diagnostic = Type.Object({
  code: Type.String(), severity: Type.Union([Type.Literal('error'), Type.Literal('warning'), Type.Literal('info')]),
  message: Type.String(), range: Type.Object({ start: Position, end: Position }),
})

export const RulesetCatalog = Type.Object({
  facts: Type.Record(Type.String(), Type.Object({
    type: Type.Union([Type.Literal('number'), Type.Literal('string'), Type.Literal('boolean'), Type.Literal('string[]'), Type.Literal('date'), Type.Literal('any')]),
    doc: Type.Optional(Type.String()),
  })),
  eventTypes: Type.Array(Type.String()),
})

export const RulesetValidateBody = Type.Object({ source: Type.String() })
export const RulesetValidation = Type.Object({
  ok: Type.Boolean(), diagnostics: Type.Array(Diagnostic),
  rules: Type.Optional(Type.Array(Type.Record(Type.String(), Type.Unknown()))), settings: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
})
export const RulesetCreate = Type.Object({ source: Type.String(), note: Type.Optional(Type.String()), basedOn: Type.Optional(Type.Integer()) })
export const RulesetUpdate = Type.Object({ source: Type.String(), note: Type.Optional(Type.String()) })
export const RulesetPublishBody = Type.Object({ rescore: Type.Optional(Type.Boolean()) })
export const RulesetPublished = Type.Object({ ruleset: Ruleset, rescoreJobId: Nullable(Type.String()) })

export const RulesetDiff = Type.Object({
  from: Type.Integer(), to: Type.Integer(),
  lines: Type.Array(Type.Object({
    op: Type.Union([Type.Literal('same'), Type.Literal('add'), Type.Literal('remove')]), text: Type.String(),
    fromLine: Type.Optional(Type.Integer()), toLine: Type.Optional(Type.Integer()),
  })),
  rules: Type.Object({ added: Type.Array(Type.String()), removed: Type.Array(Type.String()), changed: Type.Array(Type.String()) }),
  settings: Type.Object({ changed: Type.Array(Type.String()) }),
})

export const DryRunBody = Type.Object({
  source: Type.Optional(Type.String()), version: Type.Optional(Type.Integer()), leadId: Type.Optional(Type.String()), events: Type.Optional(Type.Array(EventInput)),
})
export const DryRunResult = Type.Object({
  version: Nullable(Type.Integer()),
  final: Type.Object({
    total: Type.Number(), engagement: Type.Number(), fit: Type.Number(), intent: Type.Number(),
    stage: Type.String(), grade: Nullable(Type.String()), intentLabel: Nullable(Type.String()),
  }),
  entries: Type.Array(Type.Object({
    index: Type.Integer(), eventId: Nullable(Type.String()), type: Type.String(), occurredAt: Type.String(),
    status: Type.Union([Type.Literal('scored'), Type.Literal('unmapped')]), before: ScoreParts, after: ScoreParts, delta: Type.Number(),
    reasons: Type.Array(Reason),
  })),
})

export const BacktestBody = Type.Object({
  leadIds: Type.Optional(Type.Array(Type.String())), from: Type.Optional(Type.String()), to: Type.Optional(Type.String()), limit: Type.Optional(Type.Integer()),
})
export const BacktestStarted = Type.Object({ jobId: Type.String() })
export const Backtest = Type.Object({
  id: Type.String(), version: Type.Integer(),
  status: Type.Union([Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]),
  progress: Type.Object({ done: Type.Integer(), total: Type.Integer() }),
  startedAt: Type.String(), finishedAt: Nullable(Type.String()), error: Nullable(Type.String()),
  result: Type.Union([Type.Null(), Type.Object({
    leads: Type.Integer(), events: Type.Integer(), changed: Type.Integer(),
    movers: Type.Array(Type.Object({
      leadId: Type.String(), name: Nullable(Type.String()), email: Nullable(Type.String()),
      before: Type.Number(), after: Type.Number(), delta: Type.Number(), stageBefore: Type.String(), stageAfter: Type.String(),
    })),
    stages: Type.Array(Type.Object({ stage: Type.String(), before: Type.Integer(), after: Type.Integer(), entered: Type.Integer(), left: Type.Integer() })),
    distribution: Type.Array(Type.Object({ min: Type.Number(), max: Type.Number(), before: Type.Integer(), after: Type.Integer() })),
    lift: Type.Array(Type.Object({ stage: Type.String(), leads: Type.Integer(), converted: Type.Integer(), rate: Type.Number(), lift: Type.Number() })),
  })]),
})
