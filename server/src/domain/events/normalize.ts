import { TypeCompiler, type ValueError } from '@sinclair/typebox/compiler'
import { Value } from '@sinclair/typebox/value'
import { sha256, canonicalJson } from '../../lib/ids.js'
import { findForbiddenKey, findNonFinite, nestsDeeperThan } from '../../lib/keys.js'
import { EventInput } from '../../schemas/common.js'

/** How deep an event may nest objects and arrays (its properties and lead attributes sit one and two levels in). */
export const MAX_NESTING = 32

/** A validated event, ready to store. */
export interface NormalizedEvent {
  externalId: string
  idSource: 'given' | 'content'
  leadKey: string
  lead: { email: string | null; externalId: string | null; name?: string; company?: string; attributes?: Record<string, unknown> }
  type: string
  occurredAt: Date
  timestampAdjusted: boolean
  properties: Record<string, unknown>
  ord: string
}

export interface RejectReason { code: string; message: string; pointer?: string }

export type NormalizeResult = { ok: true; event: NormalizedEvent } | { ok: false; reason: RejectReason }

export interface NormalizeLimits {
  maxEventBytes: number
  /** Events stamped further than this into the future are clamped to the receive time. */
  maxFutureSkewMs: number
}

const EMAIL_RE = /^[^\s@"<>()[\]\\,;:]+@[^\s@"<>()[\]\\,;:]+\.[^\s@"<>()[\]\\,;:]{2,}$/u
const ISO_RE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/
const MIN_TIME = Date.UTC(1970, 0, 1)

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

// every event is checked against the schema the API documents (compiled once); the checks below add what a schema
// cannot say
const eventShape = TypeCompiler.Compile(EventInput)

/** The reject code of a shape error, by where it is: the type, the lead's identity, the time, else the event. */
function shapeCode (path: string): string {
  if (path === '/type') return 'LS_ERR_EVENT_TYPE_INVALID'
  if (path === '/lead' || path === '/lead/email' || path === '/lead/externalId') return 'LS_ERR_LEAD_IDENTITY_INVALID'
  if (path === '/occurredAt') return 'LS_ERR_TIMESTAMP_INVALID'
  return 'LS_ERR_EVENT_INVALID'
}

/** A shape error in words, naming the field (a union's own error is replaced by its string member's). */
function shapeMessage (e: ValueError): string {
  const field = e.path.slice(1).replaceAll('/', '.')
  if (e.message === 'Unexpected property') return `unknown field '${field}'`
  if (e.message === 'Expected required property') return `${field} is required`
  let err = e
  const anyOf = (e.schema as { anyOf?: unknown }).anyOf
  if (Array.isArray(anyOf) && e.value !== null && e.value !== undefined) {
    const inner = (anyOf as Array<{ type?: unknown }>).find((m) => m.type !== 'null')
    const first = inner !== undefined ? Value.Errors(inner as never, e.value).First() : undefined
    if (first !== undefined) err = first
  }
  if (field === 'occurredAt' && (err.schema as { pattern?: unknown }).pattern !== undefined) return 'occurredAt must be an ISO 8601 date-time'
  const max = (err.schema as { maxLength?: unknown }).maxLength
  if (typeof max === 'number' && typeof err.value === 'string' && err.value.length > max) return `${field} is ${err.value.length} characters; the limit is ${max}`
  return `${field === '' ? 'the event' : field}: ${err.message.charAt(0).toLowerCase()}${err.message.slice(1)}`
}

function reject (code: string, message: string, pointer?: string): NormalizeResult {
  return { ok: false, reason: pointer === undefined ? { code, message } : { code, message, pointer } }
}

/** Lowercased, NFC-normalized, trimmed email; null when not a plausible address. */
export function normalizeEmail (raw: string): string | null {
  const e = raw.normalize('NFC').trim().toLowerCase()
  // \s does not cover NUL and the other control characters, which must never become part of an identity
  if (e.length > 254 || !EMAIL_RE.test(e) || CONTROL_RE.test(e)) return null
  return e
}

/** The lead key used for identity: the email when given, else the external lead id. */
export function leadKeyOf (email: string | null, externalId: string | null): string {
  return email !== null ? `email:${email}` : `ext:${externalId ?? ''}`
}

/** Canonical order key: event time, then a stable hash of the event's identity (never arrival order). */
export function ordOf (occurredAt: Date, sourceId: string, externalId: string): string {
  return `${occurredAt.toISOString()}|${sha256(`${sourceId}\n${externalId}`).slice(0, 20)}`
}

function optionalString (v: unknown, field: string, max: number): string | undefined | RejectReason {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') return { code: 'LS_ERR_EVENT_INVALID', message: `${field} must be a string`, pointer: `#/${field.replaceAll('.', '/')}` }
  const s = v.normalize('NFC').trim()
  if (s.length > max) return { code: 'LS_ERR_EVENT_INVALID', message: `${field} is longer than ${max} characters`, pointer: `#/${field.replaceAll('.', '/')}` }
  if (s.includes('\u0000')) return { code: 'LS_ERR_EVENT_INVALID', message: `${field} contains a NUL character`, pointer: `#/${field.replaceAll('.', '/')}` }
  return s
}

function isReason (v: unknown): v is RejectReason {
  return typeof v === 'object' && v !== null && 'code' in v
}

/**
 * Validates and normalizes one submitted event. Never throws on bad input: the reason is returned, so the caller can
 * count and store it.
 */
export function normalizeEvent (input: unknown, ctx: { sourceId: string; receivedAt: Date; limits: NormalizeLimits }): NormalizeResult {
  if (!isPlainObject(input)) return reject('LS_ERR_EVENT_INVALID', 'an event must be a JSON object')
  const size = Buffer.byteLength(JSON.stringify(input))
  if (size > ctx.limits.maxEventBytes) return reject('LS_ERR_EVENT_TOO_LARGE', `the event is ${size} bytes; the limit is ${ctx.limits.maxEventBytes}`)
  // Deeper values would fail later, when their keys are encoded for storage, and fail the whole request with them.
  if (nestsDeeperThan(input, MAX_NESTING)) return reject('LS_ERR_EVENT_INVALID', `the event nests objects and arrays more than ${MAX_NESTING} levels deep`)
  const forbidden = findForbiddenKey(input)
  if (forbidden !== null) return reject('LS_ERR_EVENT_INVALID', `the key '${forbidden}' is not allowed`)
  const infinite = findNonFinite(input)
  if (infinite !== null) return reject('LS_ERR_EVENT_INVALID', 'a number is too large for a double (it reads as infinity)', `#${infinite}`)
  if (!eventShape.Check(input)) {
    const e = eventShape.Errors(input).First()!
    return reject(shapeCode(e.path), shapeMessage(e), `#${e.path}`)
  }

  // type
  if (typeof input.type !== 'string') return reject('LS_ERR_EVENT_TYPE_INVALID', 'type must be a string', '#/type')
  const type = input.type.normalize('NFC').trim()
  if (type.length === 0) return reject('LS_ERR_EVENT_TYPE_INVALID', 'type must not be empty', '#/type')
  if (type.length > 100) return reject('LS_ERR_EVENT_TYPE_INVALID', `type is ${type.length} characters; the limit is 100`, '#/type')
  if (CONTROL_RE.test(type)) return reject('LS_ERR_EVENT_TYPE_INVALID', 'type contains control characters', '#/type')

  // lead identity
  if (!isPlainObject(input.lead)) return reject('LS_ERR_LEAD_IDENTITY_INVALID', 'lead must be an object with an email or an externalId', '#/lead')
  const leadIn = input.lead
  const leadAllowed = new Set(['email', 'externalId', 'name', 'company', 'attributes'])
  for (const k of Object.keys(leadIn)) if (!leadAllowed.has(k)) return reject('LS_ERR_EVENT_INVALID', `unknown field 'lead.${k}'`, `#/lead/${k}`)
  let email: string | null = null
  if (leadIn.email !== undefined && leadIn.email !== null) {
    if (typeof leadIn.email !== 'string') return reject('LS_ERR_LEAD_IDENTITY_INVALID', 'lead.email must be a string', '#/lead/email')
    email = normalizeEmail(leadIn.email)
    if (email === null) return reject('LS_ERR_LEAD_IDENTITY_INVALID', 'lead.email is not a valid email address', '#/lead/email')
  }
  const ext = optionalString(leadIn.externalId, 'lead.externalId', 200)
  if (isReason(ext)) return { ok: false, reason: { ...ext, code: 'LS_ERR_LEAD_IDENTITY_INVALID' } }
  const leadExternalId = ext === undefined || ext === '' ? null : ext
  if (email === null && leadExternalId === null) return reject('LS_ERR_LEAD_IDENTITY_INVALID', 'lead needs an email or an externalId', '#/lead')
  const name = optionalString(leadIn.name, 'lead.name', 200)
  if (isReason(name)) return { ok: false, reason: name }
  const company = optionalString(leadIn.company, 'lead.company', 200)
  if (isReason(company)) return { ok: false, reason: company }
  if (leadIn.attributes !== undefined && !isPlainObject(leadIn.attributes)) return reject('LS_ERR_EVENT_INVALID', 'lead.attributes must be an object', '#/lead/attributes')

  // properties
  if (input.properties !== undefined && !isPlainObject(input.properties)) return reject('LS_ERR_EVENT_INVALID', 'properties must be an object', '#/properties')
  const properties = (input.properties ?? {}) as Record<string, unknown>

  // time
  let occurredAt = ctx.receivedAt
  let timestampAdjusted = false
  let occurredGiven = false
  if (input.occurredAt !== undefined && input.occurredAt !== null) {
    if (typeof input.occurredAt !== 'string' || !ISO_RE.test(input.occurredAt)) {
      return reject('LS_ERR_TIMESTAMP_INVALID', 'occurredAt must be an ISO 8601 date-time', '#/occurredAt')
    }
    const t = Date.parse(input.occurredAt)
    if (Number.isNaN(t)) return reject('LS_ERR_TIMESTAMP_INVALID', 'occurredAt is not a real date', '#/occurredAt')
    if (t < MIN_TIME) return reject('LS_ERR_TIMESTAMP_INVALID', 'occurredAt is before 1970', '#/occurredAt')
    occurredGiven = true
    if (t > ctx.receivedAt.getTime() + ctx.limits.maxFutureSkewMs) {
      timestampAdjusted = true
    } else {
      occurredAt = new Date(t)
    }
  }

  // identity of the event itself
  let externalId: string
  let idSource: 'given' | 'content' = 'given'
  const givenId = optionalString(input.externalId, 'externalId', 128)
  if (isReason(givenId)) return { ok: false, reason: givenId }
  if (givenId !== undefined && givenId !== '') {
    if (CONTROL_RE.test(givenId)) return reject('LS_ERR_EVENT_INVALID', 'externalId contains control characters', '#/externalId')
    externalId = givenId
  } else {
    // No id from the source: the content is the identity, so a retried submission deduplicates.
    idSource = 'content'
    externalId = 'h:' + sha256(canonicalJson({
      lead: leadKeyOf(email, leadExternalId), type, occurredAt: occurredGiven ? input.occurredAt : null, properties,
    })).slice(0, 40)
  }

  const lead: NormalizedEvent['lead'] = { email, externalId: leadExternalId }
  if (name !== undefined) lead.name = name
  if (company !== undefined) lead.company = company
  if (leadIn.attributes !== undefined) lead.attributes = leadIn.attributes as Record<string, unknown>
  return {
    ok: true,
    event: {
      externalId, idSource, leadKey: leadKeyOf(email, leadExternalId), lead, type, occurredAt, timestampAdjusted, properties,
      ord: ordOf(occurredAt, ctx.sourceId, externalId),
    },
  }
}
