// Analytics over the counters the lead views keep at write time (lead-views/counters.ts): every figure here is
// read from a handful of counter documents, never by scanning leads or events.
import type { Collections } from '../infra/db.js'
import type { LeadViews } from './lead-views/service.js'
import { CONVERSION_EVENT, CONVERTED_STATUS } from './lead-views/summary.js'
import { nameOfSegment, namedCounts } from './lead-views/counters.js'

/**
 * What counts as a converted lead, as the backtest's lift already defines it (docs/rules.md): the lead's status is
 * `converted`, or scoring saw at least one event whose type is `purchase` once the published ruleset's aliases apply.
 */
export const CONVERSION = { status: CONVERTED_STATUS, eventType: CONVERSION_EVENT } as const

type Node = Record<string, unknown>
const node = (o: unknown): Node => o !== null && typeof o === 'object' ? o as Node : {}
const num = (v: unknown): number => typeof v === 'number' && Number.isFinite(v) ? v : 0

/** Leads (and converted leads) per whole score, of one stage or all, from the score histograms. */
export function scoreHistogram (counters: Node, stage: string | undefined): Map<number, { n: number; conv: number }> {
  const out = new Map<number, { n: number; conv: number }>()
  for (const [seg, bands] of Object.entries(node(counters.hist))) {
    if (stage !== undefined && nameOfSegment(seg) !== stage) continue
    for (const [band, v] of Object.entries(node(bands))) {
      const n = Math.round(num(node(v).n))
      const conv = Math.round(num(node(v).conv))
      if (n === 0) continue
      const b = Number(band)
      const cur = out.get(b) ?? { n: 0, conv: 0 }
      out.set(b, { n: cur.n + n, conv: cur.conv + conv })
    }
  }
  return out
}

/** Leads per stage name. */
export const stageCounts = (counters: Node): Map<string, number> => namedCounts(counters.stage)

/** Lead figures in total, per source and for leads with no source. */
export function sourceFigures (counters: Node): { all: Figures; none: Figures; per: Map<string, Figures> } {
  const fig = (o: unknown): Figures => ({ leads: Math.round(num(node(o).n)), scoreSum: num(node(o).score), converted: Math.round(num(node(o).conv)) })
  const per = new Map<string, Figures>()
  for (const [seg, v] of Object.entries(node(counters.src))) {
    const f = fig(v)
    if (f.leads > 0) per.set(nameOfSegment(seg), f)
  }
  return { all: fig(counters), none: fig(counters.none), per }
}

export interface Figures { leads: number; scoreSum: number; converted: number }

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
 * Events per type per bucket of `[from, to)` (both on bucket boundaries), by event time, counted when first scored.
 * Hours come from the day documents (counts per hour), days and weeks from the month documents (counts per day):
 * at most a few hundred `_id` reads for the widest range allowed. The `top` most frequent types get a series each;
 * the rest are summed into `other`.
 */
export async function eventsOverTime (views: LeadViews, from: number, to: number, g: Granularity, top: number): Promise<EventsOverTime> {
  const size = SIZE[g]
  const n = Math.round((to - from) / size)
  const hourly = g === 'hour'
  const first = new Date(from).toISOString()
  const last = new Date(to - 1).toISOString()
  const docs = hourly ? await views.eventDocs('d', first.slice(0, 10), last.slice(0, 10)) : await views.eventDocs('m', first.slice(0, 7), last.slice(0, 7))
  const perType = new Map<string, number[]>()
  for (const doc of docs) {
    // `ev:d:YYYY-MM-DD:<slot>` or `ev:m:YYYY-MM:<slot>`
    const date = doc._id.slice(5, hourly ? 15 : 12)
    const base = hourly ? Date.parse(`${date}T00:00:00Z`) : Date.parse(`${date}-01T00:00:00Z`)
    for (const [unit, types] of Object.entries(node(hourly ? doc.h : doc.d))) {
      const at = hourly ? base + Number(unit) * HOUR : base + (Number(unit) - 1) * DAY
      if (at < from || at >= to) continue
      const i = Math.floor((at - from) / size)
      for (const [seg, c] of Object.entries(node(types))) {
        const count = Math.round(num(c))
        if (count === 0) continue
        const type = nameOfSegment(seg)
        let row = perType.get(type)
        if (row === undefined) perType.set(type, row = new Array<number>(n).fill(0))
        row[i]! += count
      }
    }
  }
  const ranked = [...perType].map(([type, counts]) => ({ type, counts, total: counts.reduce((a, b) => a + b, 0) }))
    .filter((r) => r.total > 0)
    .sort((a, b) => b.total - a.total || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0))
  const shown = ranked.slice(0, top)
  const other = new Array<number>(n).fill(0)
  for (const r of ranked.slice(top)) r.counts.forEach((c, i) => { other[i]! += c })
  return {
    buckets: Array.from({ length: n }, (_, i) => new Date(from + i * size).toISOString()),
    total: ranked.reduce((t, r) => t + r.total, 0),
    series: shown.map((r) => ({ type: r.type, total: r.total, counts: r.counts })),
    other: { types: ranked.length - shown.length, total: other.reduce((a, b) => a + b, 0), counts: other },
  }
}

/**
 * The names of configured source instances (plugin-host), by instance id; ids without an instance are left out. Takes
 * the core itself, or anything with its plugin instances collection.
 */
export async function sourceNames (deps: { c: Pick<Collections, 'pluginInstances'> }, ids: readonly string[]): Promise<Map<string, string>> {
  const { c } = deps
  const names = new Map<string, string>()
  if (ids.length === 0) return names
  for (const p of await c.pluginInstances.find({ _id: { $in: [...ids] } }).project<{ _id: string; name?: unknown }>({ _id: 1, name: 1 }).toArray()) {
    if (typeof p.name === 'string') names.set(p._id, p.name)
  }
  return names
}
