import { createHash } from 'node:crypto'
import { LEAD_UPDATED } from '@leadscore/server/contracts'
import type { RowReject } from './json-records.js'

/** What the rows of a file are: events, or lead profiles (each row a {@link LEAD_UPDATED} event). */
export type UploadKind = 'events' | 'leads'

function sha256 (data: string): string {
  return createHash('sha256').update(data).digest('hex')
}

/** JSON with object keys sorted: row ids hash it, so they must not change (a re-upload is recognised by them). */
function canonicalJson (value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const obj = value as Record<string, unknown>
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`
}

/**
 * Field paths a column (or JSON key) can be mapped to. `lead`, `properties` and `lead.attributes` take a whole JSON
 * object (JSON uploads); the others take one value. `null` (or "") drops the column.
 */
const SCALAR_PATHS = new Set(['lead.email', 'lead.externalId', 'lead.name', 'lead.company', 'type', 'occurredAt', 'externalId'])
const OBJECT_PATHS = new Set(['lead', 'properties', 'lead.attributes'])
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype'])
const MAX_KEY = 200

export type FieldPath = string

/** Why a path cannot be used, or null when it can. */
export function checkPath (path: string, kind: UploadKind): string | null {
  if (SCALAR_PATHS.has(path) || OBJECT_PATHS.has(path)) {
    if (kind === 'leads' && (path === 'type' || path === 'properties')) return `'${path}' cannot be set in a leads upload (each row is a ${LEAD_UPDATED} event)`
    return null
  }
  const m = /^(properties|lead\.attributes)\.(.+)$/s.exec(path)
  if (m === null) return `'${path}' is not a field (use lead.email, lead.externalId, lead.name, lead.company, lead.attributes.<name>, type, occurredAt, externalId or properties.<name>)`
  if (kind === 'leads' && m[1] === 'properties') return `'${path}' cannot be set in a leads upload (use lead.attributes.<name>)`
  const key = m[2]!
  if (key.length > MAX_KEY) return `the key in '${path.slice(0, 40)}…' is longer than ${MAX_KEY} characters`
  if (FORBIDDEN.has(key)) return `the key '${key}' is not allowed`
  return null
}

/** Header spelling that is ignored when matching: case, spaces, dashes, underscores and dots. */
function squash (name: string): string {
  return name.normalize('NFKC').toLowerCase().replace(/[\s_.\-/]+/g, '')
}

const COMMON: Record<string, string> = {
  email: 'lead.email', emailaddress: 'lead.email', mail: 'lead.email', leademail: 'lead.email', contactemail: 'lead.email',
  name: 'lead.name', fullname: 'lead.name', leadname: 'lead.name', contactname: 'lead.name',
  company: 'lead.company', companyname: 'lead.company', organization: 'lead.company', organisation: 'lead.company', account: 'lead.company',
  timestamp: 'occurredAt', occurredat: 'occurredAt', date: 'occurredAt', datetime: 'occurredAt', time: 'occurredAt', eventtime: 'occurredAt', ts: 'occurredAt',
}
const EVENTS: Record<string, string> = {
  ...COMMON,
  event: 'type', type: 'type', eventtype: 'type', eventname: 'type', action: 'type',
  id: 'externalId', eventid: 'externalId', externalid: 'externalId', messageid: 'externalId',
  leadid: 'lead.externalId', leadexternalid: 'lead.externalId', externalleadid: 'lead.externalId', contactid: 'lead.externalId', userid: 'lead.externalId', crmid: 'lead.externalId',
}
const LEADS: Record<string, string> = {
  ...COMMON,
  id: 'lead.externalId', externalid: 'lead.externalId', leadid: 'lead.externalId', leadexternalid: 'lead.externalId', contactid: 'lead.externalId', userid: 'lead.externalId', crmid: 'lead.externalId',
  updatedat: 'occurredAt',
}
// JSON records may already be shaped like the API's events: these keys keep their meaning there
const JSON_EXACT: Record<string, string> = { lead: 'lead', properties: 'properties', attributes: 'lead.attributes', externalId: 'externalId', type: 'type', occurredAt: 'occurredAt' }

/**
 * The external id of a lead known only by its name and company (a leads file without email or id column): the same
 * person at the same company in a later file is the same lead, whatever the case and spacing.
 */
export function nameIdentity (name: string, company: string): string {
  const norm = (s: string): string => s.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim()
  return `name:${norm(name)}|${norm(company)}`
}

/** The path a column is mapped to when the mapping does not name it. */
export function autoPath (column: string, kind: UploadKind, json: boolean): string {
  if (json) {
    const exact = Object.prototype.hasOwnProperty.call(JSON_EXACT, column) ? JSON_EXACT[column] : undefined
    if (exact !== undefined && checkPath(exact, kind) === null) return exact
  }
  const table = kind === 'leads' ? LEADS : EVENTS
  const s = squash(column)
  const known = Object.prototype.hasOwnProperty.call(table, s) ? table[s] : undefined
  if (known !== undefined) return known
  return kind === 'leads' ? `lead.attributes.${column}` : `properties.${column}`
}

/** Validates an upload's `mapping` option: an object of column → path (or null to drop the column). */
export function checkMapping (value: unknown, kind: UploadKind, maxColumns: number): { mapping: Record<string, string | null> } | { error: string } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { error: 'mapping must be a JSON object of column → field path' }
  const entries = Object.entries(value)
  if (entries.length > maxColumns) return { error: `mapping names ${entries.length} columns; the limit is ${maxColumns}` }
  const mapping: Record<string, string | null> = Object.create(null) as Record<string, string | null>
  for (const [col, path] of entries) {
    if (FORBIDDEN.has(col)) return { error: `the column name '${col}' is not allowed` }
    if (path === null || path === '') { mapping[col] = null; continue }
    if (typeof path !== 'string') return { error: `the path of column '${col}' must be a string or null` }
    const bad = checkPath(path, kind)
    if (bad !== null) return { error: `column '${col}': ${bad}` }
    mapping[col] = path
  }
  return { mapping }
}

/** A value of a CSV cell as stored: canonical numbers and true/false become JSON numbers and booleans. */
export function cellValue (s: string): unknown {
  if (s === 'true') return true
  if (s === 'false') return false
  if (s.length <= 16 && /^-?\d/.test(s)) {
    const n = Number(s)
    // only a canonical spelling: 007, 1e3, +1 or 1.50 stay strings (zip codes, phone numbers, versions)
    if (Number.isFinite(n) && String(n) === s) return n
  }
  return s
}

/** Epoch seconds (10 digits) or milliseconds (13 digits) become ISO 8601; anything else is left to validation. */
function timeValue (v: unknown): unknown {
  if (typeof v === 'number' && Number.isInteger(v)) v = String(v)
  if (typeof v !== 'string') return v
  const s = v.trim()
  if (/^\d{10}$/.test(s)) return new Date(Number(s) * 1000).toISOString()
  if (/^\d{13}$/.test(s)) return new Date(Number(s)).toISOString()
  return s
}

interface Draft {
  externalId?: unknown
  type?: unknown
  occurredAt?: unknown
  lead: Record<string, unknown> & { attributes?: Record<string, unknown> }
  properties: Record<string, unknown>
}

function newDraft (): Draft {
  return { lead: {}, properties: {} }
}

function place (d: Draft, path: string, value: unknown): string | null {
  switch (path) {
    case 'type': d.type = value; return null
    case 'occurredAt': d.occurredAt = timeValue(value); return null
    case 'externalId': d.externalId = value; return null
    case 'lead.email': d.lead.email = value; return null
    case 'lead.externalId': d.lead.externalId = value; return null
    case 'lead.name': d.lead.name = value; return null
    case 'lead.company': d.lead.company = value; return null
    case 'lead':
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'lead must be an object'
      for (const [k, v] of Object.entries(value)) {
        if (k === 'attributes' && v !== null && typeof v === 'object' && !Array.isArray(v)) d.lead.attributes = { ...d.lead.attributes, ...(v as Record<string, unknown>) }
        else d.lead[k] = v
      }
      return null
    case 'properties':
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'properties must be an object'
      Object.assign(d.properties, value)
      return null
    case 'lead.attributes':
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'lead.attributes must be an object'
      d.lead.attributes = { ...d.lead.attributes, ...(value as Record<string, unknown>) }
      return null
  }
  if (path.startsWith('properties.')) { d.properties[path.slice(11)] = value; return null }
  if (path.startsWith('lead.attributes.')) { (d.lead.attributes ??= {})[path.slice(16)] = value; return null }
  return `unknown field '${path}'`
}

/**
 * The event a row becomes. Without an id column, the event's `externalId` is a hash of everything the row says,
 * so the same row uploaded again is a duplicate, while a changed row (even only a lead attribute) is new.
 */
function finish (d: Draft, kind: UploadKind): Record<string, unknown> {
  const ev: Record<string, unknown> = { lead: d.lead }
  if (kind === 'leads') ev.type = LEAD_UPDATED
  else if (d.type !== undefined) ev.type = d.type
  if (d.occurredAt !== undefined) ev.occurredAt = d.occurredAt
  if (kind === 'events' && Object.keys(d.properties).length > 0) ev.properties = d.properties
  if (d.externalId !== undefined && d.externalId !== null && d.externalId !== '') {
    ev.externalId = typeof d.externalId === 'number' ? String(d.externalId) : d.externalId
  } else {
    ev.externalId = `row:${sha256(canonicalJson(ev)).slice(0, 40)}`
  }
  return ev
}

export type MappedRow = { ok: true; event: Record<string, unknown>; raw: Record<string, unknown> } | { ok: false; reject: RowReject }

/** A compiled CSV mapping: header → per-row function. */
export interface CsvMapper {
  /** column → path (null: dropped), for the upload record. */
  resolved: Record<string, string | null>
  map(cells: readonly string[]): MappedRow
}

/**
 * Compiles the mapping of a CSV header, or says why the header cannot be used: duplicate or forbidden column
 * names, too many columns, a mapping entry for a column the file lacks, two columns for one field, or no column for
 * the lead's identity (or, for events, the type).
 */
export function compileCsvMapping (header: readonly string[], kind: UploadKind, explicit: Record<string, string | null> | null, maxColumns: number): { mapper: CsvMapper } | { headerError: string } | { mappingError: string } {
  const names = header.map((h) => h.trim())
  if (names.length > maxColumns) return { headerError: `the file has ${names.length} columns; the limit is ${maxColumns}` }
  const seen = new Set<string>()
  for (const [i, n] of names.entries()) {
    if (n === '') return { headerError: `column ${i + 1} has no name` }
    if (n.length > MAX_KEY) return { headerError: `column ${i + 1}'s name is longer than ${MAX_KEY} characters` }
    if (FORBIDDEN.has(n)) return { headerError: `the column name '${n}' is not allowed` }
    if (seen.has(n)) return { headerError: `the column '${n}' appears twice` }
    seen.add(n)
  }
  if (explicit !== null) {
    for (const col of Object.keys(explicit)) if (!seen.has(col)) return { mappingError: `the mapping names the column '${col}', which the file does not have` }
  }
  const resolved: Record<string, string | null> = Object.create(null) as Record<string, string | null>
  const byPath = new Map<string, string>()
  for (const n of names) {
    const path = explicit !== null && Object.prototype.hasOwnProperty.call(explicit, n) ? explicit[n]! : autoPath(n, kind, false)
    resolved[n] = path
    if (path === null) continue
    if (OBJECT_PATHS.has(path)) return { mappingError: `column '${n}' cannot fill '${path}' in a CSV file (map it to a field such as ${path === 'lead' ? 'lead.email' : `${path}.<name>`})` }
    const bad = checkPath(path, kind)
    if (bad !== null) return { mappingError: `column '${n}': ${bad}` }
    const other = byPath.get(path)
    if (other !== undefined) return { mappingError: `the columns '${other}' and '${n}' both map to ${path}; map one of them to another field or to null` }
    byPath.set(path, n)
  }
  // a leads file with names but no id (the seed's `name, role, company, …`): each lead is known by name and company
  const byName = kind === 'leads' && !byPath.has('lead.email') && !byPath.has('lead.externalId') && byPath.has('lead.name')
  if (!byName && !byPath.has('lead.email') && !byPath.has('lead.externalId')) return { mappingError: 'no column holds the lead\'s identity (lead.email or lead.externalId, or lead.name in a leads file)' }
  if (kind === 'events' && !byPath.has('type')) return { mappingError: 'no column holds the event type (type); name it event, type or event_type, or give a mapping' }
  const plan = names.map((n) => resolved[n]!)
  const width = names.length
  return {
    mapper: {
      resolved: { ...resolved },
      map (cells) {
        const raw: Record<string, unknown> = Object.create(null) as Record<string, unknown>
        for (let i = 0; i < cells.length; i++) raw[i < width ? names[i]! : `#${i + 1}`] = cells[i]
        if (cells.length !== width) {
          return { ok: false, reject: { code: 'LS_ERR_UPLOAD_ROW_INVALID', reason: `the row has ${cells.length} cells; the header has ${width}`, raw: JSON.stringify(raw) } }
        }
        const d = newDraft()
        for (let i = 0; i < width; i++) {
          const path = plan[i]
          if (path === null || path === undefined) continue
          const cell = cells[i]!.trim()
          if (cell === '') continue // an empty cell sets nothing (it never clears an attribute)
          place(d, path, path.startsWith('properties.') || path.startsWith('lead.attributes.') ? cellValue(cell) : cell)
        }
        if (byName) {
          if (typeof d.lead.name !== 'string') return { ok: false, reject: { code: 'LS_ERR_UPLOAD_ROW_INVALID', reason: 'the row has no name, and the file has no email or id column to identify the lead', raw: JSON.stringify(raw) } }
          d.lead.externalId = nameIdentity(d.lead.name, typeof d.lead.company === 'string' ? d.lead.company : '')
        }
        return { ok: true, event: finish(d, kind), raw }
      },
    },
  }
}

/** The mapper of JSON records: each key through the mapping, else the automatic rules (cached per key). */
export function jsonMapper (kind: UploadKind, explicit: Record<string, string | null> | null): (rec: Record<string, unknown>) => MappedRow {
  const cache = new Map<string, string | null>()
  const pathOf = (key: string): string | null => {
    let p = cache.get(key)
    if (p === undefined) {
      p = explicit !== null && Object.prototype.hasOwnProperty.call(explicit, key) ? explicit[key]! : autoPath(key, kind, true)
      if (p !== null && checkPath(p, kind) !== null) p = kind === 'leads' ? `lead.attributes.${key}` : `properties.${key}`
      if (cache.size < 10_000) cache.set(key, p)
    }
    return p
  }
  return (rec) => {
    const d = newDraft()
    for (const [k, v] of Object.entries(rec)) {
      const path = pathOf(k)
      if (path === null || v === undefined) continue
      const bad = place(d, path, v)
      if (bad !== null) return { ok: false, reject: { code: 'LS_ERR_UPLOAD_ROW_INVALID', reason: `${k}: ${bad}`, raw: JSON.stringify(rec).slice(0, 64 * 1024) } }
    }
    return { ok: true, event: finish(d, kind), raw: rec }
  }
}
