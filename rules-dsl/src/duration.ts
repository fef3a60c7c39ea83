/**
 * Duration literals such as `30d`.
 *
 * @module
 * @internal
 */

import { limits } from './limits.js'

/** Units a duration may use: minutes, hours, days, weeks. */
export const durationUnits = ['m', 'h', 'd', 'w'] as const

/** A successfully parsed duration. */
export interface ParsedDuration {
  amount: number
  unit: (typeof durationUnits)[number]
  /** Canonical text, e.g. `30d` for `030d`. */
  text: string
}

const DURATION_RE = /^(\d+)([A-Za-z]*)$/

/**
 * Parses a duration literal.
 *
 * @returns the parsed duration, or an explanation of why the text is invalid.
 */
export function parseDurationText(text: string): ParsedDuration | { error: string } {
  const m = DURATION_RE.exec(text)
  if (m === null) {
    return { error: `Invalid duration '${text}': use a whole number followed by m, h, d or w (e.g. 30d).` }
  }
  const amount = Number(m[1])
  const unit = m[2] ?? ''
  if (unit === '') return { error: `Duration '${text}' needs a unit: m (minutes), h (hours), d (days) or w (weeks).` }
  if (!(durationUnits as readonly string[]).includes(unit)) {
    return { error: `Unknown duration unit '${unit}' in '${text}': use m, h, d or w.` }
  }
  if (amount < 1 || amount > limits.maxDurationAmount) {
    return { error: `Duration '${text}' must be between 1 and ${limits.maxDurationAmount} ${unit}.` }
  }
  return { amount, unit: unit as ParsedDuration['unit'], text: `${amount}${unit}` }
}
