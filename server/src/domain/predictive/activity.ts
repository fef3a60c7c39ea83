// Engagement aggregates of a lead's events, folded one event at a time in canonical (event-time) order. The same
// fold runs in the scoring worker (kept in the lead's score state, so replay from a checkpoint restores it) and in
// training (over the events up to the prediction point), so a model sees the same numbers in both places.

import type { ActivityView } from '../../contracts/index.js'

const DAY = 86_400_000
/** Time constants of the exponentially decayed counts: a 7-day and a 30-day memory. */
export const DECAY_DAYS = [7, 30] as const
const MAX_TYPES = 64
const MAX_TIME_ON_SITE_S = 86_400

/** Event properties read as seconds spent on the site (the first one present and numeric counts). */
export const TIME_ON_SITE_PROPERTIES = ['timeOnSite', 'time_on_site', 'timeOnSiteSeconds', 'durationSeconds', 'duration_seconds', 'duration'] as const

export interface TypeActivity {
  /** Event type (after the ruleset's aliases). */
  t: string
  n: number
  /** Event time (ms) of the latest event of this type. */
  last: number
  /** Counts decayed with 7- and 30-day time constants, as of `last`. */
  d7: number
  d30: number
}

/** The stored form of {@link ActivityView}. */
export interface ActivityState extends ActivityView { types: TypeActivity[] }

export function emptyActivity (): ActivityState {
  return { n: 0, first: null, last: null, gap: null, tos: 0, types: [] }
}

function timeOnSite (properties: Readonly<Record<string, unknown>>): number {
  for (const k of TIME_ON_SITE_PROPERTIES) {
    const v = properties[k]
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN
    if (Number.isFinite(n) && n >= 0) return Math.min(n, MAX_TIME_ON_SITE_S)
  }
  return 0
}

/** The activity after one more event (a new object; the input is not changed). Events must come in canonical order. */
export function foldActivity (a: ActivityView | null | undefined, type: string, at: number, properties: Readonly<Record<string, unknown>>): ActivityState {
  const prev = a ?? emptyActivity()
  const types = prev.types.map((x) => ({ ...x }))
  let rec = types.find((x) => x.t === type)
  if (rec === undefined && types.length < MAX_TYPES) {
    rec = { t: type, n: 0, last: at, d7: 0, d30: 0 }
    types.push(rec)
  }
  if (rec !== undefined) {
    const dt = Math.max(0, at - rec.last)
    rec.d7 = rec.d7 * Math.exp(-dt / (DECAY_DAYS[0] * DAY)) + 1
    rec.d30 = rec.d30 * Math.exp(-dt / (DECAY_DAYS[1] * DAY)) + 1
    rec.n += 1
    rec.last = Math.max(rec.last, at)
  }
  return {
    n: prev.n + 1,
    first: prev.first === null ? at : Math.min(prev.first, at),
    last: prev.last === null ? at : Math.max(prev.last, at),
    gap: prev.last === null ? null : Math.max(0, at - prev.last),
    tos: prev.tos + timeOnSite(properties),
    types,
  }
}

/** Activity features as of time `at` (ms), which is at or after the last folded event. */
export function activityFeatures (a: ActivityView | null | undefined, at: number): Record<string, number | null> {
  const s = a ?? emptyActivity()
  const tenure = s.first === null ? null : Math.max(0, at - s.first) / DAY
  return {
    'activity.events': s.n,
    'activity.tenure_days': tenure,
    'activity.days_since_last': s.last === null ? null : Math.max(0, at - s.last) / DAY,
    'activity.gap_days': s.gap === null ? null : s.gap / DAY,
    'activity.events_per_week': tenure === null ? null : s.n / Math.max(1, tenure / 7),
    'activity.time_on_site_s': s.tos,
  }
}

/** Per-type count and decayed counts (as of `at`) of one event type; zeros when the lead never had it. */
export function typeFeatures (a: ActivityView | null | undefined, type: string, at: number): { count: number; d7: number; d30: number } {
  const rec = (a ?? emptyActivity()).types.find((x) => x.t === type)
  if (rec === undefined) return { count: 0, d7: 0, d30: 0 }
  const dt = Math.max(0, at - rec.last)
  return { count: rec.n, d7: rec.d7 * Math.exp(-dt / (DECAY_DAYS[0] * DAY)), d30: rec.d30 * Math.exp(-dt / (DECAY_DAYS[1] * DAY)) }
}
