// Ledger entries → score trend points (pure; tested by test/console/logic.test.ts).
import type { LedgerEntry } from '../api/types.js'

export interface TrendPoint { at: Date; total: number; engagement: number; fit: number; intent: number }

/**
 * One point per ledger entry, oldest first, starting with the score before the first entry. Superseded entries are
 * skipped: the trend shows the lead's current history, whatever the order the entries arrive in.
 */
export function trendPoints (entries: readonly LedgerEntry[]): TrendPoint[] {
  const live = entries.filter((e) => !e.superseded).slice().sort((a, b) => {
    const t = new Date(a.occurredAt).getTime() - new Date(b.occurredAt).getTime()
    return t !== 0 ? t : (a.seq ?? 0) - (b.seq ?? 0)
  })
  const first = live[0]
  if (first === undefined) return []
  const points: TrendPoint[] = [{ at: new Date(first.occurredAt), ...parts(first.before) }]
  for (const e of live) points.push({ at: new Date(e.occurredAt), ...parts(e.after) })
  return points
}

function parts (p: { total: number; engagement: number; fit: number; intent: number }) {
  return { total: p.total, engagement: p.engagement, fit: p.fit, intent: p.intent }
}

export const DIMENSION_SERIES = [
  { key: 'total', label: 'Total', color: 'var(--chart-total)' },
  { key: 'engagement', label: 'Engagement', color: 'var(--chart-engagement)' },
  { key: 'fit', label: 'Fit', color: 'var(--chart-fit)' },
  { key: 'intent', label: 'Intent', color: 'var(--chart-intent)' },
] as const

/** Trend buckets (`GET /v1/leads/{id}/trend`) → one point per bucket, at its start, with the values at its end. */
export function bucketPoints (buckets: ReadonlyArray<{ start: string; score: number; engagement: number; fit: number; intent: number }>): TrendPoint[] {
  return buckets.map((b) => ({ at: new Date(b.start), total: b.score, engagement: b.engagement, fit: b.fit, intent: b.intent }))
}

/** The `asOf` of a date picked as `YYYY-MM-DD`: the end of that day, UTC; null when the value is not such a date. */
export function endOfDayUtc (day: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return null
  const t = Date.parse(`${day}T23:59:59.999Z`)
  // Date.parse rolls 2025-02-30 over to March: only a day that exists is taken
  const iso = Number.isFinite(t) ? new Date(t).toISOString() : null
  return iso !== null && iso.startsWith(day) ? iso : null
}

const BUCKET_MS = { hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000, month: 31 * 86_400_000 } as const

/**
 * The end of a lead's trend range: a bucket after its last event when that is before now (the score stays what it
 * was until the next event, decay ticks being events too), so a lead quiet for months shows its history; else now.
 */
export function trendEnd (lastEventAt: string | null, bucket: keyof typeof BUCKET_MS, now: number): string | undefined {
  if (lastEventAt === null) return undefined
  const end = new Date(lastEventAt).getTime() + BUCKET_MS[bucket]
  return Number.isFinite(end) && end < now ? new Date(end).toISOString() : undefined
}
