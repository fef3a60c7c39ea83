import { Type, type Static } from '@sinclair/typebox'

export const WebhookEventType = Type.Union([Type.Literal('lead.stage_changed'), Type.Literal('lead.grade_changed')])

const NameList = Type.Array(Type.String({ minLength: 1, maxLength: 50 }), { minItems: 1, maxItems: 20, uniqueItems: true })
const NullableNames = Type.Union([NameList, Type.Null()])

const WebhookFields = {
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(WebhookEventType),
  stages: Type.Union([Type.Array(Type.String()), Type.Null()], { description: 'Stage changes are sent only when the lead enters or leaves one of these stages (null: all).' }),
  grades: Type.Union([Type.Array(Type.String()), Type.Null()], { description: 'Grade changes are sent only when the lead enters or leaves one of these grades (null: all).' }),
  description: Type.Union([Type.String(), Type.Null()]),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
  disabledReason: Type.Union([Type.String(), Type.Null()]),
  disabledAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  previousSecretExpiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'Until then, requests are signed with the previous secret too.' }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
}

/** A webhook subscription (its secret is never returned after creation or rotation). */
export const Webhook = Type.Object(WebhookFields, { $id: 'Webhook' })
export type WebhookT = Static<typeof Webhook>

export const WebhookWithSecret = Type.Object({
  ...WebhookFields,
  secret: Type.String({ description: 'The Standard Webhooks signing secret (whsec_…). Shown only in this response.' }),
})
export type WebhookWithSecretT = Static<typeof WebhookWithSecret>

export const WebhookCreate = Type.Object({
  url: Type.String({ minLength: 1, maxLength: 2000, description: 'http(s) URL of the receiver; private and loopback addresses are refused unless LEADSCORE_WEBHOOKS_ALLOW_PRIVATE=1.' }),
  events: Type.Array(WebhookEventType, { minItems: 1, uniqueItems: true }),
  stages: Type.Optional(NullableNames),
  grades: Type.Optional(NullableNames),
  description: Type.Optional(Type.Union([Type.String({ maxLength: 500 }), Type.Null()])),
}, { additionalProperties: false })
export type WebhookCreateT = Static<typeof WebhookCreate>

export const WebhookUpdate = Type.Object({
  url: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
  events: Type.Optional(Type.Array(WebhookEventType, { minItems: 1, uniqueItems: true })),
  stages: Type.Optional(NullableNames),
  grades: Type.Optional(NullableNames),
  description: Type.Optional(Type.Union([Type.String({ maxLength: 500 }), Type.Null()])),
  enabled: Type.Optional(Type.Boolean({ description: 'false disables the subscription; true re-enables it (also after a 410 answer).' })),
}, { additionalProperties: false, minProperties: 1 })
export type WebhookUpdateT = Static<typeof WebhookUpdate>

export const RotateSecret = Type.Object({
  graceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 * 86_400, description: 'How long the previous secret keeps signing next to the new one, in seconds (default one day; 0: replaced at once).' })),
}, { additionalProperties: false })

export const DeliveryAttempt = Type.Object({
  n: Type.Integer(),
  at: Type.String({ format: 'date-time' }),
  durationMs: Type.Integer(),
  statusCode: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  response: Type.Union([Type.String(), Type.Null()], { description: 'The start of the receiver\'s answer (at most 200 characters).' }),
})

export const Delivery = Type.Object({
  id: Type.String(),
  webhookId: Type.String(),
  notificationId: Type.String({ description: 'The webhook-id header of every attempt (stable across retries).' }),
  type: Type.String(),
  state: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed'), Type.Literal('cancelled')]),
  attemptCount: Type.Integer(),
  attempts: Type.Array(DeliveryAttempt),
  nextAttemptAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastStatusCode: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  payload: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  deliveredAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
}, { $id: 'WebhookDelivery' })
export type DeliveryT = Static<typeof Delivery>

export const WebhookTestResult = Type.Object({
  deliveryId: Type.String(),
  ok: Type.Boolean(),
  statusCode: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  durationMs: Type.Integer(),
})
