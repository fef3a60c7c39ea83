import { Type, type Static } from '@sinclair/typebox'

/** API scopes: `rules` may change rulesets and start re-scores; `admin` may do everything. */
export const ScopeSchema = Type.Union([Type.Literal('ingest'), Type.Literal('read'), Type.Literal('rules'), Type.Literal('admin')])

export const Job = Type.Object({ id: Type.String(), kind: Type.String(), state: Type.String(), total: Type.Integer(), done: Type.Integer(), error: Type.Union([Type.String(), Type.Null()]), createdAt: Type.String(), updatedAt: Type.String(), finishedAt: Type.Union([Type.String(), Type.Null()]) })
export type JobT = Static<typeof Job>

const Instant = Type.Union([Type.String({ format: 'date-time' }), Type.Null()])
export const JobSchedule = Type.Object({
  id: Type.String(),
  name: Type.String({ description: 'The job definition: sweep, decay-tick, webhook-deliveries, source-poll, upload-recovery:<host>, rescore-all…' }),
  data: Type.Union([Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])), Type.Null()], { description: 'What the job runs for (a source instance id, a job id), when it says' }),
  state: Type.Union(['running', 'failed', 'repeating', 'scheduled', 'queued', 'completed', 'disabled'].map((s) => Type.Literal(s)), { description: 'running: claimed by a process now; failed: its last run failed; repeating: a recurring schedule; scheduled / queued: a one-off run due later / due now; completed: a one-off run done' }),
  intervalMs: Type.Union([Type.Integer(), Type.Null()], { description: 'The period of a recurring schedule' }),
  nextRunAt: Instant, lastRunAt: Instant, lastFinishedAt: Instant,
  failCount: Type.Integer(), failReason: Type.Union([Type.String(), Type.Null()]), failedAt: Instant,
})

export const AuditEntry = Type.Object({ id: Type.String(), at: Type.String(), actor: Type.String(), action: Type.String(), target: Type.String(), details: Type.Record(Type.String(), Type.Unknown()) })
export type AuditEntryT = Static<typeof AuditEntry>

export const ApiKey = Type.Object({ id: Type.String(), name: Type.String(), prefix: Type.String(), scopes: Type.Array(Type.String()), createdAt: Type.String(), lastUsedAt: Type.Union([Type.String(), Type.Null()]), revokedAt: Type.Union([Type.String(), Type.Null()]) })
export type ApiKeyT = Static<typeof ApiKey>

export const ApiKeyCreate = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }), scopes: Type.Array(ScopeSchema, { minItems: 1, uniqueItems: true }) }, { additionalProperties: false })
export type ApiKeyCreateT = Static<typeof ApiKeyCreate>

export const ApiKeyCreated = Type.Object({ id: Type.String(), key: Type.String(), scopes: Type.Array(Type.String()) })
export type ApiKeyCreatedT = Static<typeof ApiKeyCreated>

export const Stats = Type.Object({
  events: Type.Object({ total: Type.Integer(), pending: Type.Integer(), unmapped: Type.Integer() }),
  leads: Type.Object({ total: Type.Integer() }),
  rejects: Type.Object({ total: Type.Integer() }),
  ruleset: Type.Object({ version: Type.Integer() }),
})
export type StatsT = Static<typeof Stats>
