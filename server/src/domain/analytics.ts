// Aggregates behind /v1/analytics/*. FerretDB 1.24 has no $bucket/$facet/$dateTrunc/$lookup and only $sum/$count in
// $group, so every aggregate here is counted in the server over a streamed, projected cursor: a few small fields per
// document in flight (batches of 1,000), never the documents themselves, and never a whole collection in memory.
import type { Collections } from '../infra/db.js'
import type { RulesetSettings } from './types.js'
import { mapEventType } from './rulesets/ruleset-service.js'

const BATCH = 1000

/**
 * What counts as a converted lead, as the backtest's lift already defines it (docs/rules.md): the lead's status is
 * `converted`, or it has at least one event whose type is `purchase` once the published ruleset's aliases apply.
 */
export const CONVERSION = { status: 'converted', eventType: 'purchase' } as const

/**
 * Ids of the leads with a conversion event. Cost: one `distinct` over event types (server-side; MongoDB serves it from
 * the `type` index), then one streamed pass over the conversion events only, projected to `leadId`. Memory: one id per
 * lead that converted by event.
 */
export async function leadsWithConversionEvent (c: Collections, settings: RulesetSettings): Promise<Set<string>> {
  const raw = (await c.events.distinct('type')).filter((t): t is string => typeof t === 'string')
  const types = raw.filter((t) => mapEventType(t, settings).type === CONVERSION.eventType)
  const ids = new Set<string>()
  if (types.length === 0) return ids
  for await (const e of c.events.find({ type: { $in: types } }).project<{ leadId?: unknown }>({ _id: 0, leadId: 1 }).batchSize(BATCH)) {
    if (typeof e.leadId === 'string') ids.add(e.leadId)
  }
  return ids
}

/** A lead's score as a finite number (a missing or broken score counts as 0, as in the score distribution). */
export const scoreOf = (s: unknown): number => typeof s === 'number' && Number.isFinite(s) ? s : 0

/** Rounds a share to 4 decimals (as the backtest's rates). */
export const rate = (part: number, of: number): number => of === 0 ? 0 : Math.round((part / of) * 10_000) / 10_000

/** Rounds a mean to 2 decimals. */
export const mean = (sum: number, n: number): number => n === 0 ? 0 : Math.round((sum / n) * 100) / 100

// Beyond this many bands, only the non-empty ones are returned.
export const MAX_FILLED_BANDS = 1000

/**
 * The bands `[from, from + width)` from the lowest to the highest non-empty one, contiguous (empty ones included)
 * unless that would be more than MAX_FILLED_BANDS bands, then only the non-empty ones.
 */
export function bandStarts (starts: Iterable<number>, width: number): number[] {
  const froms = [...starts].sort((a, b) => a - b)
  if (froms.length === 0) return []
  const lo = froms[0]!
  const hi = froms[froms.length - 1]!
  if ((hi - lo) / width + 1 > MAX_FILLED_BANDS) return froms
  const out: number[] = []
  for (let i = 0; lo + i * width <= hi; i++) out.push(lo + i * width)
  return out
}

export const bandOf = (score: number, width: number): number => Math.floor(score / width) * width

export type Granularity = 'hour' | 'day' | 'week'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const WEEK = 7 * DAY
// 1970-01-01 was a Thursday: ISO weeks (Monday 00:00 UTC) start 4 days after the epoch
const WEEK_OFFSET = 4 * DAY
const SIZE: Record<Granularity, number> = { hour: HOUR, day: DAY, week: WEEK }
const OFFSET: Record<Granularity, number> = { hour: 0, day: 0, week: WEEK_OFFSET }
/** The span shown when no `from` is given. */
export const DEFAULT_SPAN: Record<Granularity, number> = { hour: 48 * HOUR, day: 30 * DAY, week: 26 * WEEK }

/** Start (UTC) of the bucket holding `ms`. */
export function floorTo (ms: number, g: Granularity): number {
  return Math.floor((ms - OFFSET[g]) / SIZE[g]) * SIZE[g] + OFFSET[g]
}

/** Start (UTC) of the first bucket at or after `ms`. */
export function ceilTo (ms: number, g: Granularity): number {
  const f = floorTo(ms, g)
  return f === ms ? ms : f + SIZE[g]
}

export const bucketSize = (g: Granularity): number => SIZE[g]

export interface EventsOverTime {
  buckets: string[]
  total: number
  series: Array<{ type: string; total: number; counts: number[] }>
  other: { types: number; total: number; counts: number[] }
}

/**
 * Events per type per bucket of `[from, to)` (both on bucket boundaries), by event time. The `top` most frequent types
 * get a series each; the rest are summed into `other`. Cost: one server-side `$match` + `$group` with `$sum` per type
 * (FerretDB supports both), then one streamed pass over the events in range projected to `{ type, occurredAt }`.
 * Memory: (top + 1) × buckets counters.
 */
export async function eventsOverTime (c: Collections, from: number, to: number, g: Granularity, top: number): Promise<EventsOverTime> {
  const size = SIZE[g]
  const n = Math.round((to - from) / size)
  const range = { occurredAt: { $gte: new Date(from), $lt: new Date(to) } }
  const totals = await c.events.aggregate<{ _id: unknown; n: number }>([{ $match: range }, { $group: { _id: '$type', n: { $sum: 1 } } }]).toArray()
  const ranked = totals.filter((r): r is { _id: string; n: number } => typeof r._id === 'string')
    .sort((a, b) => b.n - a.n || (a._id < b._id ? -1 : a._id > b._id ? 1 : 0))
  const shown = ranked.slice(0, top)
  const index = new Map(shown.map((r, i) => [r._id, i]))
  const counts = shown.map(() => new Array<number>(n).fill(0))
  const other = new Array<number>(n).fill(0)
  let total = 0
  for await (const e of c.events.find(range).project<{ type?: unknown; occurredAt?: unknown }>({ _id: 0, type: 1, occurredAt: 1 }).batchSize(BATCH)) {
    if (!(e.occurredAt instanceof Date)) continue
    const i = Math.floor((e.occurredAt.getTime() - from) / size)
    if (i < 0 || i >= n) continue
    const s = typeof e.type === 'string' ? index.get(e.type) : undefined
    if (s !== undefined) counts[s]![i]!++
    else other[i]!++
    total++
  }
  return {
    buckets: Array.from({ length: n }, (_, i) => new Date(from + i * size).toISOString()),
    total,
    series: shown.map((r, i) => ({ type: r._id, total: counts[i]!.reduce((a, b) => a + b, 0), counts: counts[i]! })),
    other: { types: ranked.length - shown.length, total: other.reduce((a, b) => a + b, 0), counts: other },
  }
}
