// Stage and grade crossings, found while a lead's events are scored in canonical order. A crossing's identity is the
// n-th entry of the lead into a stage (or grade) in its canonical history, so replaying the same history, from any
// checkpoint, finds the same identities again; the counts travel in the checkpointed state.
import type { RulesetSettings, ScoreState } from '../types.js'
import { gradeFor } from '../scoring/model.js'
import { encodeKey } from '../../lib/keys.js'

export type CrossingKind = 'stage' | 'grade'

/** The grade of a state: tracked per entry when present, otherwise derived from its fit. */
export function gradeOf (state: ScoreState, settings: RulesetSettings): string {
  return state.grade ?? gradeFor(state.fit, settings)
}

/** How often a state's history entered a stage or grade. */
export function enteredCount (state: ScoreState, kind: CrossingKind, name: string): number {
  return state.entered?.[`${kind}:${encodeKey(name)}`] ?? 0
}

/**
 * The notification id of a crossing: `<leadId>.<kind>.<to>.<n>`, plus a suffix for corrections. Names are
 * percent-encoded (dots too), so the id is plain ASCII and fits the `webhook-id` header.
 */
export function notificationIdOf (leadId: string, kind: CrossingKind, to: string, n: number, suffix?: string): string {
  const name = encodeURIComponent(to).replaceAll('.', '%2E')
  return `${leadId}.${kind}.${name}.${n}${suffix !== undefined ? `.${suffix}` : ''}`
}

/**
 * Compares the state before and after one scored event. Returns the next state with its grade and entry counts
 * updated, and the crossings it made. Changes from or to an empty name (no stages or grades defined) are not
 * crossings.
 */
export function trackCrossings (prev: ScoreState, next: ScoreState, settings: RulesetSettings): {
  state: ScoreState
  crossings: Array<{ kind: CrossingKind; from: string; to: string; n: number }>
} {
  const entered: Record<string, number> = { ...(prev.entered ?? {}) }
  const crossings: Array<{ kind: CrossingKind; from: string; to: string; n: number }> = []
  const grade = gradeFor(next.fit, settings)
  const pairs: Array<[CrossingKind, string, string]> = [['stage', prev.stage, next.stage], ['grade', gradeOf(prev, settings), grade]]
  for (const [kind, from, to] of pairs) {
    if (from === to || from === '' || to === '') continue
    const key = `${kind}:${encodeKey(to)}`
    const n = (entered[key] ?? 0) + 1
    entered[key] = n
    crossings.push({ kind, from, to, n })
  }
  return { state: { ...next, grade, entered }, crossings }
}
