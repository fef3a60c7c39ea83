import { Type, type Static } from '@sinclair/typebox'
import { refuseInput, type EventInput, type RefusedInput } from '@leadscore/server/contracts'

// Dot paths into the sender's JSON: `data.object.customer_email`, `items.0.sku`; '' is the whole payload. Only own
// properties are followed, and __proto__/constructor/prototype never resolve.
const PATH_PATTERN = '^$|^[^.\\s]{1,100}(\\.[^.\\s]{1,100}){0,19}$'
const Path = Type.String({ maxLength: 200, pattern: PATH_PATTERN })
/** One dot path, or several tried in order (the first that holds a usable value wins). */
export const Paths = Type.Union([Path, Type.Array(Path, { minItems: 1, maxItems: 10 })])

/** How a sender's JSON becomes an event. Every key is optional: unset keys take the adapter's default. */
export const Mapping = Type.Object({
  email: Type.Optional(Paths),
  leadExternalId: Type.Optional(Paths),
  leadExternalIdPrefix: Type.Optional(Type.String({ maxLength: 50, description: 'prepended to the lead external id (e.g. "github:") so ids from different systems never collide' })),
  name: Type.Optional(Paths),
  company: Type.Optional(Paths),
  attributes: Type.Optional(Paths),
  type: Type.Optional(Paths),
  fixedType: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'every event gets this type (wins over `type`)' })),
  typeMap: Type.Optional(Type.Record(Type.String({ maxLength: 100 }), Type.String({ minLength: 1, maxLength: 100 }), { description: 'renames sender types, e.g. {"checkout.session.completed": "purchase"}' })),
  occurredAt: Type.Optional(Paths),
  externalId: Type.Optional(Paths),
  properties: Type.Optional(Paths),
  pick: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 100 }), Paths, { description: 'builds properties from these paths instead of copying a subtree' })),
}, { additionalProperties: false })
export type MappingT = Static<typeof Mapping>
type PathsT = Static<typeof Paths>

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype'])

/** The value at a dot path, following own properties only; undefined when absent. */
export function getPath (root: unknown, path: string): unknown {
  if (path === '') return root
  let cur: unknown = root
  for (const seg of path.split('.')) {
    if (FORBIDDEN.has(seg) || cur === null || typeof cur !== 'object') return undefined
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(seg)) return undefined
      cur = cur[Number(seg)]
    } else {
      if (!Object.prototype.hasOwnProperty.call(cur, seg)) return undefined
      cur = (cur as Record<string, unknown>)[seg]
    }
  }
  return cur
}

const list = (p: PathsT | undefined): readonly string[] => p === undefined ? [] : typeof p === 'string' ? [p] : p

function firstString (root: unknown, paths: PathsT | undefined, allowNumbers = false): string | undefined {
  for (const p of list(paths)) {
    const v = getPath(root, p)
    if (typeof v === 'string' && v.trim() !== '') return v.trim()
    if (allowNumbers && typeof v === 'number' && Number.isFinite(v)) return String(v)
  }
  return undefined
}

function firstObject (root: unknown, paths: PathsT | undefined): Record<string, unknown> | undefined {
  for (const p of list(paths)) {
    const v = getPath(root, p)
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>
  }
  return undefined
}

/** A timestamp as ISO 8601: strings pass through (ingest validates them), numbers are Unix seconds (or ms when ≥ 1e11). */
function timeOf (root: unknown, paths: PathsT | undefined): string | undefined {
  for (const p of list(paths)) {
    const v = getPath(root, p)
    if (typeof v === 'string' && v.trim() !== '') return v.trim()
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) {
      const d = new Date(v >= 1e11 ? v : v * 1000)
      if (!Number.isNaN(d.getTime())) return d.toISOString()
    }
  }
  return undefined
}

/** Where the `POST /v1/events` body keeps each thing: a sender posting that JSON to a webhook is read the same way. */
export const REST_ENVELOPE: MappingT = {
  email: 'lead.email', leadExternalId: 'lead.externalId', name: 'lead.name', company: 'lead.company', attributes: 'lead.attributes',
  type: 'type', occurredAt: 'occurredAt', externalId: 'externalId', properties: 'properties',
}

/**
 * Whether a payload is shaped like a `POST /v1/events` body: a `lead` object with an email or externalId, and no
 * `data` (where Standard Webhooks senders keep their payload), so payloads the adapter's defaults read stay theirs.
 */
export function isRestEnvelope (payload: unknown): boolean {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return false
  if (Object.prototype.hasOwnProperty.call(payload, 'data')) return false
  const lead = getPath(payload, 'lead')
  if (lead === null || typeof lead !== 'object' || Array.isArray(lead)) return false
  return getPath(lead, 'email') !== undefined || getPath(lead, 'externalId') !== undefined
}

/** The adapter's defaults with the source's own mapping laid over them, key by key. */
export function mergeMapping (defaults: MappingT, own: MappingT | undefined): MappingT {
  if (own === undefined) return defaults
  const merged: MappingT = { ...defaults, ...own }
  // a source that says where properties come from replaces both ways of the default
  if (own.properties !== undefined && own.pick === undefined) delete merged.pick
  if (own.pick !== undefined && own.properties === undefined) delete merged.properties
  return merged
}

export interface MapContext {
  /** The delivery's own id (webhook-id, X-GitHub-Delivery), used when the mapping names no body id. */
  deliveryId?: string
  /** A type from outside the body (GitHub's X-GitHub-Event), used when the mapping's paths find none. */
  headerType?: string
}

/**
 * Maps one JSON payload to an event. It never throws on odd input: what it cannot find stays empty, and ingest then
 * refuses the event with a precise reason, stored with the payload (the sender gets 202, so it does not retry a
 * delivery that can never succeed).
 */
export function mapPayload (payload: unknown, m: MappingT, mc: MapContext = {}): EventInput {
  const email = firstString(payload, m.email)
  const extRaw = firstString(payload, m.leadExternalId, true)
  const name = firstString(payload, m.name)
  const company = firstString(payload, m.company)
  const attributes = firstObject(payload, m.attributes)
  const lead: EventInput['lead'] = {}
  if (email !== undefined) lead.email = email
  if (extRaw !== undefined) lead.externalId = `${m.leadExternalIdPrefix ?? ''}${extRaw}`
  if (name !== undefined) lead.name = name
  if (company !== undefined) lead.company = company
  if (attributes !== undefined) lead.attributes = attributes

  let type = m.fixedType ?? firstString(payload, m.type, true) ?? mc.headerType ?? ''
  if (m.typeMap !== undefined && Object.prototype.hasOwnProperty.call(m.typeMap, type)) type = m.typeMap[type]!

  let properties: Record<string, unknown>
  if (m.pick !== undefined) {
    properties = {}
    for (const [k, paths] of Object.entries(m.pick)) {
      for (const p of list(paths)) {
        const v = getPath(payload, p)
        if (v !== undefined) { properties[k] = v; break }
      }
    }
  } else {
    properties = firstObject(payload, m.properties) ?? (payload !== null && typeof payload === 'object' && !Array.isArray(payload) ? {} : { value: payload })
  }

  const ev: EventInput = { lead, type, properties }
  const externalId = firstString(payload, m.externalId, true) ?? mc.deliveryId
  if (externalId !== undefined) ev.externalId = externalId
  const occurredAt = timeOf(payload, m.occurredAt)
  if (occurredAt !== undefined) ev.occurredAt = occurredAt
  return ev
}

const orList = (paths: readonly string[]): string => paths.length <= 1
  ? (paths[0] === '' ? 'the payload itself' : paths[0] ?? '')
  : `${paths.slice(0, -1).join(', ')} or ${paths[paths.length - 1]!}`

/**
 * The mapped event, or why the payload cannot become one: which of the lead and the type the mapping found nowhere,
 * and the paths it looked at, so the stored reject tells the admin which mapping keys to set.
 */
export function mapOrRefuse (payload: unknown, m: MappingT, mc: MapContext = {}): EventInput | RefusedInput {
  const ev = mapPayload(payload, m, mc)
  const missing: string[] = []
  if (ev.lead.email === undefined && ev.lead.externalId === undefined) {
    const emails = list(m.email)
    const ids = list(m.leadExternalId)
    const email = emails.length > 0 ? `no email at ${orList(emails)}` : 'no email (mapping.email is not set)'
    const id = ids.length > 0 ? `no lead external id at ${orList(ids)}` : 'no lead external id (mapping.leadExternalId is not set)'
    missing.push(`no lead: ${email}, and ${id}; set mapping.email or mapping.leadExternalId`)
  }
  if (ev.type === '') {
    const types = list(m.type)
    missing.push(`${types.length > 0 ? `no event type at ${orList(types)}` : 'no event type (mapping.type is not set)'}; set mapping.type or mapping.fixedType`)
  }
  if (missing.length === 0) return ev
  const code = ev.lead.email === undefined && ev.lead.externalId === undefined ? 'LS_ERR_LEAD_IDENTITY_INVALID' : 'LS_ERR_EVENT_TYPE_INVALID'
  return refuseInput(code, `the mapping found ${missing.join('; it also found ')}`, payload)
}
