/**
 * Duration literals such as `30d`: the one parser the rules language, the scoring model and the plugin host share.
 *
 * @module
 */

import { limits } from './limits.js'

/** Units a rule's duration may use: minutes, hours, days, weeks. */
export const durationUnits = ['m', 'h', 'd', 'w'] as const

/** Every unit a duration may have, in milliseconds. Callers pick the units they accept. */
export const durationUnitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const

/** A duration unit: `ms`, `s`, `m`, `h`, `d` or `w`. */
export type DurationUnit = keyof typeof durationUnitMs

/** A successfully parsed duration. */
export interface ParsedDuration {
  amount: number
  unit: (typeof durationUnits)[number]
  /** Canonical text, e.g. `30d` for `030d`. */
  text: string
}

const DURATION_RE = /^(\d+)([A-Za-z]*)$/

/** What {@link durationToMs} accepts. */
export interface DurationOptions {
  /** Units accepted (default: those of rules, m h d w). */
  units?: readonly DurationUnit[]
  /** Largest amount (default {@link limits.maxDurationAmount}). */
  maxAmount?: number
  /** Smallest amount (default 0). */
  minAmount?: number
}

/**
 * Milliseconds of a duration such as `30d`, `12h` or `500ms`: a whole number and one of the accepted units, nothing
 * else (no spaces, no signs, no fractions). null when the text is not such a duration.
 */
export function durationToMs (text: string, options: DurationOptions = {}): number | null {
  const m = DURATION_RE.exec(text)
  if (m === null) return null
  const unit = m[2] as DurationUnit
  const units = options.units ?? durationUnits
  if (!Object.prototype.hasOwnProperty.call(durationUnitMs, unit) || !units.includes(unit)) return null
  const amount = Number(m[1])
  if (amount < (options.minAmount ?? 0) || amount > (options.maxAmount ?? limits.maxDurationAmount)) return null
  return amount * durationUnitMs[unit]
}

/**
 * Parses a duration literal.
 *
 * @returns the parsed duration, or an explanation of why the text is invalid.
 */
export function parseDurationText (text: string): ParsedDuration | { error: string } {
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
