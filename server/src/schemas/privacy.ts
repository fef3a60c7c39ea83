import { Type, type Static } from '@sinclair/typebox'

/** One suppressed identity: a hash, never the email or external id itself. */
export const SuppressionEntry = Type.Object({
  id: Type.String({ description: '`sp_` + SHA-256 of the identity key (`email:<address>` or `ext:<id>`).' }),
  kind: Type.Union([Type.Literal('email'), Type.Literal('externalId')]),
  leadId: Type.String({ description: 'The id the erased lead had.' }),
  at: Type.String({ format: 'date-time' }),
  by: Type.String(),
})
export type SuppressionEntryT = Static<typeof SuppressionEntry>

export const SuppressionLift = Type.Union([
  Type.Object({ email: Type.String({ minLength: 1, maxLength: 254 }) }, { additionalProperties: false }),
  Type.Object({ externalId: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
])

/** What an erasure removed (deleted) or redacted (kept without the identity), by place. */
export const ErasureReport = Type.Object({
  leadId: Type.String(),
  suppressed: Type.Integer({ description: 'Identities put on the suppression list.' }),
  events: Type.Integer(),
  ledger: Type.Integer(),
  rejects: Type.Object({ deleted: Type.Integer(), redacted: Type.Integer() }),
  idempotencyRecords: Type.Integer({ description: 'Stored responses redacted.' }),
  liveMessages: Type.Integer({ description: 'Live feed messages blanked.' }),
  sourceStats: Type.Integer({ description: 'Source counter documents whose error samples were redacted.' }),
  uploads: Type.Integer(),
  modelHoldoutRows: Type.Integer({ description: 'Holdout rows of trained models removed.' }),
  backtests: Type.Integer({ description: 'Backtest reports that listed the lead among their movers (its row removed).' }),
  auditEntries: Type.Integer({ description: 'Audit entries whose details were redacted.' }),
})
export type ErasureReportT = Static<typeof ErasureReport>

/** Everything stored about one lead. */
export const LeadExport = Type.Object({
  exportedAt: Type.String({ format: 'date-time' }),
  lead: Type.Ref('Lead'),
  events: Type.Array(Type.Ref('Event')),
  ledger: Type.Array(Type.Ref('LedgerEntry'), { description: 'Every ledger entry, superseded ones included, in canonical order.' }),
  aliases: Type.Array(Type.Object({ externalId: Type.String(), createdAt: Type.String({ format: 'date-time' }) })),
  notifications: Type.Array(Type.Unknown(), { description: 'Stage and grade change notifications (the webhook outbox).' }),
  deliveries: Type.Array(Type.Unknown(), { description: 'Webhook deliveries of those notifications, with the bodies sent.' }),
  rejects: Type.Array(Type.Object({
    id: Type.String(), sourceId: Type.String(), requestId: Type.String(), code: Type.String(), reason: Type.String(), raw: Type.String(), receivedAt: Type.String({ format: 'date-time' }),
  }), { description: 'Stored rejects whose payload or reason names the lead.' }),
  modelHoldouts: Type.Array(Type.Object({ modelId: Type.String(), rows: Type.Array(Type.Object({ p: Type.Number(), y: Type.Number() })) })),
  backtests: Type.Array(Type.Object({ jobId: Type.String(), version: Type.Integer(), baseVersion: Type.Integer(), mover: Type.Unknown() }), { description: 'The lead\'s rows in backtest reports (its score before and after a ruleset change).' }),
  audit: Type.Array(Type.Object({ at: Type.String({ format: 'date-time' }), actor: Type.String(), action: Type.String(), details: Type.Unknown() })),
})
export type LeadExportT = Static<typeof LeadExport>
