// Aggregates kept at write time: what the analytics pages, the stage funnel, /v1/stats and /metrics show, as
// counters the writer of a change increments (`$inc`) instead of counts a reader would scan the data for.
//
// Each writing process increments its own documents (suffixed `:<slot>`; see the service), because the embedded
// database applies an update as a read and a write: two processes incrementing one document could lose a count. A
// read adds the documents of every slot up. Lead counters (`leads:<slot>`): leads, score sums and conversions in
// total, per stage, grade, status and source, and a histogram of whole scores per stage. Event counters live in
// one document per UTC day (`ev:d:<day>`, counts per hour and type) and per UTC month (`ev:m:<month>`, per day and
// type), by event time, counted once when an event is first scored; `ev:status` counts stored, scored and
// unmapped events.
import { decodeKey, encodeKey } from '../../lib/keys.js'
import type { LeadSummary } from './summary.js'

export const LEADS_ID = 'leads'
export const STATUS_ID = 'ev:status'

/** A set of `$inc` increments by field path. */
export type Increments = Record<string, number>

const add = (inc: Increments, path: string, n: number): void => {
  if (n === 0) return
  inc[path] = (inc[path] ?? 0) + n
}

// names may be empty or hold '.' or '$': an 'x' in front makes every one a valid, non-empty path segment
const seg = (name: string): string => `x${encodeKey(name)}`
/** The name a path segment stands for. */
export const nameOfSegment = (s: string): string => decodeKey(s.slice(1))

/** Adds a lead's contribution to the lead counters, `sign` 1 or -1. */
export function addLead (inc: Increments, s: LeadSummary, sign: 1 | -1): void {
  const conv = s.converted ? sign : 0
  add(inc, 'n', sign)
  add(inc, 'score', sign * s.score)
  add(inc, 'conv', conv)
  add(inc, `stage.${seg(s.stage)}`, sign)
  add(inc, `grade.${seg(s.grade)}`, sign)
  add(inc, `status.${seg(s.status)}`, sign)
  const band = String(Math.floor(s.score))
  add(inc, `hist.${seg(s.stage)}.${band}.n`, sign)
  add(inc, `hist.${seg(s.stage)}.${band}.conv`, conv)
  for (const src of s.sources.length > 0 ? s.sources.map(seg) : ['none']) {
    const base = src === 'none' ? 'none' : `src.${src}`
    add(inc, `${base}.n`, sign)
    add(inc, `${base}.score`, sign * s.score)
    add(inc, `${base}.conv`, conv)
  }
}

/** The counter changes of a lead change (nothing when the summaries count the same). */
export function leadIncrements (changes: ReadonlyArray<{ before: LeadSummary | null; after: LeadSummary | null }>): Increments {
  const inc: Increments = {}
  for (const { before, after } of changes) {
    if (before !== null) addLead(inc, before, -1)
    if (after !== null) addLead(inc, after, 1)
  }
  for (const [k, v] of Object.entries(inc)) if (v === 0) delete inc[k]
  return inc
}

const pad = (n: number): string => String(n).padStart(2, '0')

/** The day and month documents an event time counts in, and the paths of its hour and day. */
export function eventPaths (at: Date, type: string): { day: string; hour: string; month: string; dayPath: string } {
  const iso = at.toISOString()
  const date = iso.slice(0, iso.indexOf('T'))
  return {
    day: `ev:d:${date}`,
    hour: `h.${pad(at.getUTCHours())}.${seg(type)}`,
    month: `ev:m:${date.slice(0, date.lastIndexOf('-'))}`,
    dayPath: `d.${pad(at.getUTCDate())}.${seg(type)}`,
  }
}

/** Increments per document for events first scored (sign 1) or erased (sign -1). */
export function eventIncrements (events: ReadonlyArray<{ occurredAt: Date; type: string }>, sign: 1 | -1, into = new Map<string, Increments>()): Map<string, Increments> {
  const bump = (id: string, path: string): void => {
    let inc = into.get(id)
    if (inc === undefined) into.set(id, inc = {})
    add(inc, path, sign)
  }
  for (const e of events) {
    if (!(e.occurredAt instanceof Date) || !Number.isFinite(e.occurredAt.getTime())) continue
    const p = eventPaths(e.occurredAt, e.type)
    bump(p.day, p.hour)
    bump(p.month, p.dayPath)
  }
  return into
}

/** Sums shard documents into one plain object of counters (nested as stored). */
export function mergeCounters (docs: ReadonlyArray<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const merge = (into: Record<string, unknown>, from: Record<string, unknown>): void => {
    for (const [k, v] of Object.entries(from)) {
      if (k === '_id') continue
      if (typeof v === 'number') into[k] = (typeof into[k] === 'number' ? into[k] as number : 0) + v
      else if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
        if (into[k] === undefined || typeof into[k] !== 'object') into[k] = {}
        merge(into[k] as Record<string, unknown>, v as Record<string, unknown>)
      }
    }
  }
  for (const d of docs) merge(out, d)
  return out
}

/** Counters of named things (`{ x<name>: n }`) as a map by name, zeros left out. */
export function namedCounts (o: unknown): Map<string, number> {
  const out = new Map<string, number>()
  if (o === null || typeof o !== 'object') return out
  for (const [k, v] of Object.entries(o)) if (typeof v === 'number' && Math.round(v) !== 0) out.set(nameOfSegment(k), Math.round(v))
  return out
}
