import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { PredictiveOut } from './models.js'
import { AsOfMarkOut } from './trends.js'

/** RFC 9457 problem details, as every error response carries them. */
export const ProblemDetails = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.String(),
  instance: Type.String(),
  code: Type.String(),
  requestId: Type.String(),
  errors: Type.Optional(Type.Array(Type.Object({ pointer: Type.String(), detail: Type.String() }))),
}, { $id: 'ProblemDetails', additionalProperties: true })
export type ProblemDetailsT = Static<typeof ProblemDetails>

export const problemResponses = {
  400: Type.Ref('ProblemDetails'),
  401: Type.Ref('ProblemDetails'),
  403: Type.Ref('ProblemDetails'),
  404: Type.Ref('ProblemDetails'),
  500: Type.Ref('ProblemDetails'),
  503: Type.Ref('ProblemDetails'),
} as const

export const ScoreParts = Type.Object({ total: Type.Number(), engagement: Type.Number(), fit: Type.Number(), intent: Type.Number() })

export const Lead = Type.Object({
  id: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  externalId: Type.Union([Type.String(), Type.Null()]),
  name: Type.Union([Type.String(), Type.Null()]),
  company: Type.Union([Type.String(), Type.Null()]),
  attributes: Type.Record(Type.String(), Type.Unknown()),
  status: Type.String(),
  stage: Type.String(),
  grade: Type.String({ description: 'Grade on the fit dimension (e.g. A–D); empty when the ruleset defines none.' }),
  intentLabel: Type.String({ description: 'Label on the intent dimension (e.g. High/Medium/Low); empty when the ruleset defines none.' }),
  score: Type.Number(),
  scores: Type.Object({ engagement: Type.Number(), fit: Type.Number(), intent: Type.Number(), predictive: Type.Union([Type.Number(), Type.Null()]) }),
  sources: Type.Array(Type.String()),
  lastSeq: Type.Integer(),
  nextSeq: Type.Integer(),
  lastEventAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastScoredAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  rulesetVersion: Type.Union([Type.Integer(), Type.Null()]),
  predictive: Type.Union([PredictiveOut, Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  asOf: Type.Optional(AsOfMarkOut),
}, { $id: 'Lead' })
export type LeadT = Static<typeof Lead>

// Ingest checks every submitted event against this schema (domain/events/normalize.ts) before the checks a schema
// cannot say (a plausible email, an email or an external id, no control characters): what it documents is what is
// accepted. An optional field may also be null, which means absent.
const optional = <T extends TSchema>(s: T) => Type.Optional(Type.Union([s, Type.Null()]))
export const EventInput = Type.Object({
  externalId: optional(Type.String({ maxLength: 128, description: 'The source\'s id for this event; a content hash is used when absent or empty.' })),
  lead: Type.Object({
    email: optional(Type.String({ maxLength: 254 })),
    externalId: optional(Type.String({ maxLength: 200 })),
    name: optional(Type.String({ maxLength: 200 })),
    company: optional(Type.String({ maxLength: 200 })),
    attributes: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  }, { additionalProperties: false, description: 'An email or an externalId is required.' }),
  type: Type.String({ minLength: 1, maxLength: 100, description: 'Event type, e.g. page_view, email_open, form_submit, demo_request, purchase.' }),
  occurredAt: optional(Type.String({
    pattern: '^\\d{4}-\\d{2}-\\d{2}(?:[T ]\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d{1,9})?)?(?:Z|[+-]\\d{2}:?\\d{2})?)?$',
    description: 'ISO 8601, e.g. 2025-01-31T12:00:00Z (a date alone is midnight UTC; a time without an offset is read in the server\'s time zone); absent: the receive time',
  })),
  properties: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
}, { $id: 'EventInput', additionalProperties: false })

export const Event = Type.Object({
  id: Type.String(),
  sourceId: Type.String(),
  externalId: Type.String(),
  leadId: Type.String(),
  seq: Type.Integer(),
  type: Type.String(),
  occurredAt: Type.String({ format: 'date-time' }),
  receivedAt: Type.String({ format: 'date-time' }),
  status: Type.String(),
  timestampAdjusted: Type.Boolean(),
  properties: Type.Record(Type.String(), Type.Unknown()),
  planViolations: Type.Optional(Type.Object({
    planVersion: Type.Integer(), violations: Type.Array(Type.Object({ message: Type.String(), pointer: Type.String() })),
  }, { description: 'Set when the tracking plan (mode warn) flagged the properties when the event was stored' })),
}, { $id: 'Event' })

export const Reason = Type.Object({
  ruleId: Type.String(), ruleVersion: Type.Integer(), dimension: Type.String(), action: Type.String(),
  requested: Type.Number(), points: Type.Number(), note: Type.String(),
})

export const LedgerEntry = Type.Object({
  id: Type.String(),
  leadId: Type.String(),
  kind: Type.String(),
  eventId: Type.Union([Type.String(), Type.Null()]),
  eventType: Type.Union([Type.String(), Type.Null()]),
  seq: Type.Union([Type.Integer(), Type.Null()]),
  occurredAt: Type.String({ format: 'date-time' }),
  before: ScoreParts,
  after: ScoreParts,
  delta: Type.Number(),
  reasons: Type.Array(Reason),
  stage: Type.String(),
  rulesetVersion: Type.Integer(),
  offer: Type.Optional(Type.String({ description: 'The active offer the rules read, `<offer id>@<version>` (absent when none was active).' })),
  superseded: Type.Boolean(),
  supersededReason: Type.Optional(Type.String()),
  predictive: Type.Optional(PredictiveOut),
  createdAt: Type.String({ format: 'date-time' }),
}, { $id: 'LedgerEntry' })

export const Page = <T extends ReturnType<typeof Type.Object> | ReturnType<typeof Type.Ref>>(item: T) => Type.Object({
  items: Type.Array(item),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
})

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_:.-]+$' }) })
