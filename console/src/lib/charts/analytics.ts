// Analytics page helpers (pure; tested by test/console/logic.test.ts): time ranges that fit the server's bucket cap,
// chart rows from the aggregates the server returns, and UTC labels.
import type { EventsOverTime, EventsOverTimeQuery, Granularity, TopSources } from '../api/types.js'

/** The server answers at most this many time buckets (MAX_TIME_BUCKETS in the API schema). */
export const MAX_TIME_BUCKETS = 1000

const HOUR = 3_600_000
const DAY = 24 * HOUR
const SIZE: Record<Granularity, number> = { hour: HOUR, day: DAY, week: 7 * DAY }

export const GRANULARITIES: ReadonlyArray<{ value: Granularity; label: string }> = [
  { value: 'hour', label: 'Hourly' },
  { value: 'day', label: 'Daily' },
  { value: 'week', label: 'Weekly' },
]

export const RANGES = [
  { value: '24h', label: 'Last 24 hours', ms: DAY },
  { value: '7d', label: 'Last 7 days', ms: 7 * DAY },
  { value: '30d', label: 'Last 30 days', ms: 30 * DAY },
  { value: '90d', label: 'Last 90 days', ms: 90 * DAY },
  { value: '365d', label: 'Last 12 months', ms: 365 * DAY },
] as const
export type RangeName = typeof RANGES[number]['value']

const spanOf = (range: RangeName): number => RANGES.find((r) => r.value === range)?.ms ?? 30 * DAY

/** How many buckets the server will answer for a range (rounded out to whole buckets, as the server does). */
export function bucketCount (range: RangeName, g: Granularity): number {
  return Math.ceil(spanOf(range) / SIZE[g]) + 1
}

/** Whether a range at a granularity stays within the server's cap (hourly is for a month at most). */
export const fits = (range: RangeName, g: Granularity): boolean => bucketCount(range, g) <= MAX_TIME_BUCKETS

/** The granularity to use for a range: the one asked for when it fits, else the finest coarser one that does. */
export function fitGranularity (range: RangeName, g: Granularity): Granularity {
  if (fits(range, g)) return g
  return GRANULARITIES.map((x) => x.value).find((x) => SIZE[x] > SIZE[g] && fits(range, x)) ?? 'week'
}

/** The query of a range ending now. */
export function rangeQuery (range: RangeName, g: Granularity, top: number, now: number = Date.now()): EventsOverTimeQuery {
  return { granularity: g, from: new Date(now - spanOf(range)).toISOString(), to: new Date(now).toISOString(), top }
}

const PALETTE = ['#4f46e5', '#0891b2', '#16a34a', '#d97706', '#db2777', '#7c3aed', '#0d9488', '#ca8a04']
export const OTHER_COLOR = 'var(--chart-before)'

export interface EventSeries { key: string; label: string; color: string; total: number; counts: number[] }

/** One chart series per event type, then "Other types" when some were summed, with keys safe as object keys. */
export function eventSeries (r: EventsOverTime): EventSeries[] {
  const out: EventSeries[] = r.series.map((s, i) => ({ key: `s${i}`, label: s.type, color: PALETTE[i % PALETTE.length]!, total: s.total, counts: s.counts }))
  if (r.other.types > 0) out.push({ key: 'other', label: `Other types (${r.other.types})`, color: OTHER_COLOR, total: r.other.total, counts: r.other.counts })
  return out
}

export type EventRow = { label: string; start: string; total: number } & Record<string, number | string>

/** One row per time bucket: its UTC label, and the count of each series under the series key. */
export function eventRows (r: EventsOverTime, series: readonly EventSeries[] = eventSeries(r)): EventRow[] {
  return r.buckets.map((start, i) => {
    const row: EventRow = { label: bucketLabel(start, r.granularity), start, total: 0 }
    for (const s of series) {
      const n = s.counts[i] ?? 0
      row[s.key] = n
      row.total += n
    }
    return row
  })
}

const dayFormat = new Intl.DateTimeFormat('en', { month: 'short', day: 'numeric', timeZone: 'UTC' })
const hourFormat = new Intl.DateTimeFormat('en', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: 'UTC' })

/** A bucket's start, in UTC: `Mar 5, 10:00` (hour), `Mar 5` (day), `Week of Mar 4` (week). */
export function bucketLabel (iso: string, g: Granularity): string {
  const d = new Date(iso)
  if (g === 'hour') return hourFormat.format(d)
  if (g === 'week') return `Week of ${dayFormat.format(d)}`
  return dayFormat.format(d)
}

/** At most `max` evenly spaced labels of a band axis (the first one always). */
export function sparseTicks (labels: readonly string[], max = 8): string[] {
  const step = Math.max(1, Math.ceil(labels.length / max))
  return labels.filter((_, i) => i % step === 0)
}

export const SOURCE_SORTS: ReadonlyArray<{ value: TopSources['sort']; label: string }> = [
  { value: 'avgScore', label: 'Average score' },
  { value: 'conversionRate', label: 'Conversion rate' },
  { value: 'leads', label: 'Leads' },
]

/** A source's display name: its configured name, else its id. */
export const sourceLabel = (s: { sourceId: string; name: string | null }): string => s.name ?? s.sourceId

/** A 0–1 share as a percentage with at most one decimal: `44.4%`, `0%`, `100%`. */
export function formatShare (rate: number): string {
  if (!Number.isFinite(rate)) return '—'
  return `${Math.round(rate * 1000) / 10}%`
}
