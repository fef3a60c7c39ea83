import { Type, type Static } from '@sinclair/typebox'

const DateTime = Type.String({ format: 'date-time' })
const NullableDate = Type.Union([DateTime, Type.Null()])

/** The answer to a delivery on a source route (webhook, Segment, plugin routes). */
export const SourceDeliveryResult = Type.Object({
  sourceId: Type.String(),
  requestId: Type.String(),
  status: Type.Union([Type.Literal('accepted'), Type.Literal('duplicate'), Type.Literal('rejected'), Type.Literal('partial'), Type.Literal('empty')], {
    description: 'accepted: every event stored; duplicate: every event was already stored (a redelivery); rejected: every event was refused and stored as a reject with its reason; partial: a mix; empty: the delivery carried no event (e.g. a ping).',
  }),
  duplicate: Type.Boolean({ description: 'true when this delivery was a redelivery of stored events' }),
  submitted: Type.Integer(),
  accepted: Type.Integer(),
  duplicates: Type.Integer(),
  rejected: Type.Integer(),
  results: Type.Array(Type.Object({
    index: Type.Integer(),
    status: Type.Union([Type.Literal('accepted'), Type.Literal('duplicate'), Type.Literal('rejected')]),
    eventId: Type.Optional(Type.String()),
    leadId: Type.Optional(Type.String()),
    error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String(), pointer: Type.Optional(Type.String()) })),
  })),
})
export type SourceDeliveryResultT = Static<typeof SourceDeliveryResult>

const ErrorInfo = Type.Object({ at: DateTime, code: Type.String(), message: Type.String() })

/** Counters of a source, summed over all server processes. */
export const SourceStats = Type.Object({
  deliveries: Type.Integer({ description: 'requests received (accepted or not)' }),
  rejectedDeliveries: Type.Integer({ description: 'requests refused as a whole (bad signature, stale timestamp, unusable body); each is stored in /v1/rejects with its reason' }),
  accepted: Type.Integer({ description: 'events stored' }),
  duplicates: Type.Integer({ description: 'events already stored (redeliveries)' }),
  rejected: Type.Integer({ description: 'events and deliveries refused, each stored with its reason' }),
  lastDeliveryAt: NullableDate,
  lastEventAt: NullableDate,
  lastError: Type.Union([ErrorInfo, Type.Null()]),
  lastPoll: Type.Union([Type.Object({
    at: DateTime,
    status: Type.Union([Type.Literal('ok'), Type.Literal('retrying'), Type.Literal('failed')]),
    events: Type.Integer(),
    error: Type.Union([ErrorInfo, Type.Null()]),
    nextAt: NullableDate,
  }), Type.Null()]),
})

/** One recent problem of a source. */
export const SourceError = Type.Object({
  at: DateTime,
  kind: Type.Union([Type.Literal('delivery'), Type.Literal('event'), Type.Literal('failure'), Type.Literal('poll')], {
    description: 'delivery: a request refused as a whole (signature, timestamp, headers, size, body); event: one event of a delivery or poll refused; failure: a request the server or plugin failed to handle; poll: a failed poll',
  }),
  code: Type.String({ description: 'the LS_ERR_* code' }),
  message: Type.String({ description: 'the reason' }),
  requestId: Type.Union([Type.String(), Type.Null()], { description: 'the delivery (or poll page) it came from; its stored reject is in GET /v1/rejects?requestId=' }),
  index: Type.Union([Type.Integer(), Type.Null()], { description: 'the event\'s position in its delivery (events only)' }),
})
export type SourceErrorT = Static<typeof SourceError>

export const SourceErrors = Type.Object({
  items: Type.Array(SourceError, { description: 'newest first, at most 50 (kept per server process and merged)' }),
})
export type SourceErrorsT = Static<typeof SourceErrors>

const SecretInfo = Type.Object({
  name: Type.String(),
  versions: Type.Array(Type.Object({ id: Type.String(), createdAt: DateTime, expiresAt: NullableDate }), { description: 'valid values, newest first; the values themselves are never returned after creation or rotation' }),
})

const Endpoint = Type.Object({ method: Type.String(), url: Type.String(), summary: Type.String() })

/** A run-time configured source (secrets never included). */
export const Source = Type.Object({
  id: Type.String({ description: 'the sourceId of its events' }),
  type: Type.String(),
  name: Type.String(),
  enabled: Type.Boolean(),
  config: Type.Record(Type.String(), Type.Unknown(), { description: 'the configuration with defaults applied, without secret keys' }),
  secrets: Type.Array(SecretInfo),
  endpoints: Type.Array(Endpoint),
  polls: Type.Boolean(),
  rev: Type.Integer(),
  createdBy: Type.String(),
  createdAt: DateTime,
  updatedAt: DateTime,
  stats: SourceStats,
})
export type SourceT = Static<typeof Source>

const Name = Type.String({ minLength: 1, maxLength: 100 })
const Config = Type.Record(Type.String(), Type.Unknown(), { description: 'validated against the source type\'s config schema (GET /v1/source-types)' })

export const SourceCreate = Type.Object({
  type: Type.String({ minLength: 1, maxLength: 50, description: 'an installed source plugin id, e.g. webhook or segment' }),
  name: Name,
  config: Type.Optional(Config),
  enabled: Type.Optional(Type.Boolean()),
}, { additionalProperties: false })
export type SourceCreateT = Static<typeof SourceCreate>

export const SourceCreated = Type.Composite([Source, Type.Object({
  secretValues: Type.Record(Type.String(), Type.String(), { description: 'every secret of the source, shown once: store them now' }),
})])

export const SourcePatch = Type.Object({
  name: Type.Optional(Name),
  enabled: Type.Optional(Type.Boolean()),
  config: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'merged key by key over the stored config; null removes a key; a secret key replaces that secret at once (no overlap)' })),
}, { additionalProperties: false, minProperties: 1 })
export type SourcePatchT = Static<typeof SourcePatch>

export const RotateSecret = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'the secret to rotate; defaults to the type\'s first secret' })),
  value: Type.Optional(Type.String({ minLength: 1, maxLength: 1000, description: 'the new value; generated when absent' })),
  overlapSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 86_400, description: 'how long the previous value stays valid (default 86400)' })),
}, { additionalProperties: false })
export type RotateSecretT = Static<typeof RotateSecret>

export const RotatedSecret = Type.Object({
  id: Type.String(),
  name: Type.String(),
  value: Type.String({ description: 'the new secret, shown once' }),
  previousExpiresAt: NullableDate,
  secrets: Type.Array(SecretInfo),
})

export const SourceType = Type.Object({
  id: Type.String(),
  version: Type.String(),
  contract: Type.Integer(),
  secrets: Type.Array(Type.String()),
  suppliedSecrets: Type.Array(Type.String(), { description: 'the secrets this type cannot generate: they must be given in the config at creation' }),
  configSchema: Type.Unknown({ description: 'JSON Schema of one instance\'s config' }),
  endpoints: Type.Array(Endpoint),
  polls: Type.Union([Type.String(), Type.Null()], { description: 'default poll period of a pull source' }),
  batch: Type.Array(Type.String(), { description: 'MIME types an upload source accepts' }),
})

/** `POST /v1/sources/:id/poll`: what the poll run did. */
export const PollResult = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('retrying'), Type.Literal('failed'), Type.Literal('skipped')]), events: Type.Integer(), pages: Type.Integer(),
  error: Type.Optional(ErrorInfo),
})
export type PollResultT = Static<typeof PollResult>
