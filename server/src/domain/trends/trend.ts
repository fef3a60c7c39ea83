// A lead's score over time, in event time, from its visible ledger: pure functions, so the route only reads.
import type { LedgerDoc, RulesetSettings, ScoreState } from '../types.js'
import { gradeFor, intentLabelFor } from '../scoring/model.js'

export type BucketSize = 'hour' | 'day' | 'week' | 'month'
export const BUCKET_SIZES: readonly BucketSize[] = ['hour', 'day', 'week', 'month']
/** Most buckets one trend request answers. */
export const MAX_BUCKETS = 1000
/** Buckets a trend covers when `from` is not given. */
export const DEFAULT_BUCKETS: Record<BucketSize, number> = { hour: 48, day: 30, week: 26, month: 12 }

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** The UTC start of the bucket holding `t`; weeks start on Monday (ISO 8601). */
export function bucketStart (t: number, size: BucketSize): number {
  const d = new Date(t)
  switch (size) {
    case 'hour': return Math.floor(t / HOUR) * HOUR
    case 'day': return Math.floor(t / DAY) * DAY
    case 'week': {
      const day = Math.floor(t / DAY) * DAY
      return day - ((new Date(day).getUTCDay() + 6) % 7) * DAY
    }
    case 'month': return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
  }
}

/** The UTC start of the bucket after the one starting at `start`. */
export function nextBucket (start: number, size: BucketSize): number {
  if (size === 'month') { const d = new Date(start); return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) }
  return start + (size === 'hour' ? HOUR : size === 'day' ? DAY : 7 * DAY)
}

/** `n` buckets back from the bucket holding `to` (exclusive end), for a default `from`. */
export function defaultFrom (to: number, size: BucketSize): number {
  let start = bucketStart(to - 1, size)
  for (let i = 1; i < DEFAULT_BUCKETS[size]; i++) start = bucketStart(start - 1, size)
  return start
}

/** The bucket starts covering `[from, to)`; null when there are more than `max`. */
export function bucketStarts (from: number, to: number, size: BucketSize, max = MAX_BUCKETS): number[] | null {
  const out: number[] = []
  for (let s = bucketStart(from, size); s < to; s = nextBucket(s, size)) {
    if (out.length === max) return null
    out.push(s)
  }
  return out
}

export interface ScorePoint { score: number; engagement: number; fit: number; intent: number; stage: string; grade: string; intentLabel: string }

/** The fields of a state a point reads: the plain ones, which a stored state holds as they are. */
export type PointState = Pick<ScoreState, 'total' | 'engagement' | 'fit' | 'intent' | 'stage' | 'grade'>

/** The score fields of a state (grade and intent label from the entry when it recorded them, else from the settings). */
export function pointOf (s: PointState, settings: RulesetSettings): ScorePoint {
  return { score: s.total, engagement: s.engagement, fit: s.fit, intent: s.intent, stage: s.stage, grade: s.grade ?? gradeFor(s.fit, settings), intentLabel: intentLabelFor(s.intent, settings) }
}

export interface TrendBucket extends ScorePoint {
  start: Date
  end: Date
  /** Lowest and highest score the lead had within the bucket (the score carried in included). */
  min: number
  max: number
  /** Points added and removed within the bucket (the sums of the positive and of the negative reasons' points). */
  gained: number
  lost: number
  /** Ledger entries with event time within the bucket. */
  entries: number
}

/**
 * Buckets of a lead's score from its visible ledger in canonical order: each bucket holds the state after the last
 * entry whose event time is before its end (carried forward from earlier buckets), and the range and points of the
 * entries inside it. Before the first entry the lead has `initial`.
 */
export function trendOf (entries: readonly LedgerDoc[], starts: readonly number[], size: BucketSize, initial: ScoreState, settings: RulesetSettings): TrendBucket[] {
  const out: TrendBucket[] = []
  let i = 0
  let state: PointState = initial
  const first = starts[0]
  // the state carried into the first bucket
  if (first !== undefined) while (i < entries.length && entries[i]!.occurredAt.getTime() < first) state = entries[i++]!.state
  for (const start of starts) {
    const end = nextBucket(start, size)
    let min = state.total
    let max = state.total
    let gained = 0
    let lost = 0
    let n = 0
    while (i < entries.length && entries[i]!.occurredAt.getTime() < end) {
      const e = entries[i++]!
      state = e.state
      min = Math.min(min, state.total)
      max = Math.max(max, state.total)
      for (const r of e.reasons) { if (r.points > 0) gained += r.points; else lost -= r.points }
      n++
    }
    out.push({ start: new Date(start), end: new Date(end), ...pointOf(state, settings), min, max, gained, lost, entries: n })
  }
  return out
}
