import { Type, type Static } from '@sinclair/typebox'

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()])

export const IntentStatus = Type.Object({
  provider: Type.Union([Type.Literal('off'), Type.Literal('openai'), Type.Literal('local')]),
  model: Nullable(Type.String()),
  configured: Type.Boolean({ description: 'false when no model is configured: every lead is classified by the rule fallback' }),
  message: Type.String(),
  health: Type.Object({
    state: Type.Union([Type.Literal('ok'), Type.Literal('failing'), Type.Literal('paused'), Type.Literal('off')]),
    lastError: Nullable(Type.String()),
    lastErrorAt: Nullable(Type.String()),
    pausedUntil: Nullable(Type.String()),
    consecutiveFailures: Type.Integer(),
  }),
  offer: Type.Union([Type.Object({ id: Type.String(), version: Type.Integer() }), Type.Null()], { description: 'The active offer leads are classified against; null: nothing is classified' }),
  queued: Type.Integer({ description: 'Leads waiting for a classification' }),
  running: Type.Boolean({ description: 'Whether this process classifies (workers on)' }),
  lastError: Nullable(Type.String()),
}, { additionalProperties: false })
export type IntentStatusT = Static<typeof IntentStatus>

export const LeadIntent = Type.Object({
  leadId: Type.String(),
  intent: Type.Union([Type.Literal('High'), Type.Literal('Medium'), Type.Literal('Low')]),
  reasons: Type.Array(Type.String()),
  provider: Type.String({ description: 'openai, local or rules-fallback' }),
  model: Type.String(),
  fallbackReason: Nullable(Type.String()),
  offerId: Type.String(),
  offerVersion: Type.Integer(),
  eventId: Nullable(Type.String({ description: 'The intent_classified event that recorded it (its ledger entry carries the reasons)' })),
  at: Type.String(),
  ledger: Type.Union([
    Type.Object({
      entryId: Type.String(),
      ruleId: Type.String({ description: 'ai_intent.high, ai_intent.medium or ai_intent.low: the AI intent plugin\'s rule' }),
      points: Type.Number({ description: 'The intent points the entry applied (set to 50/30/10; 0 when the intent already had that value)' }),
      note: Type.String({ description: 'The ledger reason: label, provider/model (or the rule fallback and why) and the model\'s reasons' }),
      rulesetVersion: Type.Integer(),
    }, { additionalProperties: false }),
    Type.Null(),
  ], { description: 'The AI intent plugin\'s reason in the event\'s current ledger entry; null while the event is not scored yet, or when the published ruleset does not know intent_classified' }),
}, { additionalProperties: false })
export type LeadIntentT = Static<typeof LeadIntent>
