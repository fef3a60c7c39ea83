/**
 * The stable catalogue of diagnostic codes.
 *
 * @module
 */

import type { Severity } from './diagnostic.js'

/** Which function reports a diagnostic code. */
export type DiagnosticPhase = 'parse' | 'check'

/** Description of one diagnostic code. */
export interface DiagnosticCodeInfo {
  /** Default severity of the code. */
  severity: Severity
  /** Short title, as used in documentation. */
  title: string
  /** Functions that can report it (`check` also runs inside `diagnose`). */
  phases: readonly DiagnosticPhase[]
}

/**
 * Every diagnostic code the DSL can report, with its severity and title.
 * Codes are never renumbered or reused; new codes are only ever appended.
 */
export const diagnosticCodes = {
  DSL001: { severity: 'error', title: 'Unknown character', phases: ['parse'] },
  DSL002: { severity: 'error', title: 'Unterminated string', phases: ['parse'] },
  DSL003: { severity: 'error', title: 'Invalid escape sequence', phases: ['parse'] },
  DSL004: { severity: 'error', title: 'Malformed number', phases: ['parse', 'check'] },
  DSL005: { severity: 'error', title: 'Unterminated regular expression', phases: ['parse'] },
  DSL006: { severity: 'error', title: 'Unexpected token', phases: ['parse'] },
  DSL007: { severity: 'error', title: "Missing 'when'", phases: ['parse'] },
  DSL008: { severity: 'error', title: "Missing 'then'", phases: ['parse'] },
  DSL009: { severity: 'error', title: 'Rule without action', phases: ['parse'] },
  DSL010: { severity: 'error', title: 'Expected a value', phases: ['parse'] },
  DSL011: { severity: 'error', title: 'Nesting too deep', phases: ['parse', 'check'] },
  DSL012: { severity: 'error', title: 'Too many conditions in one rule', phases: ['parse', 'check'] },
  DSL013: { severity: 'error', title: 'Too many rules', phases: ['parse', 'check'] },
  DSL014: { severity: 'info', title: 'Too many diagnostics', phases: ['parse', 'check'] },
  DSL020: { severity: 'error', title: 'Invalid duration', phases: ['parse', 'check'] },
  DSL021: { severity: 'error', title: 'Invalid limit count', phases: ['check'] },
  DSL022: { severity: 'error', title: 'Number out of range', phases: ['check'] },
  DSL023: { severity: 'error', title: 'Duplicate action modifier', phases: ['parse'] },
  DSL024: { severity: 'error', title: 'Modifier not allowed for this action', phases: ['check'] },
  DSL025: { severity: 'error', title: 'Invalid regular expression', phases: ['check'] },
  DSL026: { severity: 'error', title: 'Regular expression too large', phases: ['check'] },
  DSL040: { severity: 'error', title: 'Unknown fact', phases: ['check'] },
  DSL041: { severity: 'error', title: 'Type mismatch', phases: ['check'] },
  DSL042: { severity: 'error', title: 'Unknown dimension', phases: ['check'] },
  DSL043: { severity: 'error', title: 'Duplicate rule id', phases: ['check'] },
  DSL044: { severity: 'error', title: 'Invalid rule name', phases: ['check'] },
  DSL045: { severity: 'error', title: 'Stage thresholds not ascending', phases: ['check'] },
  DSL046: { severity: 'error', title: 'Invalid stage exit threshold', phases: ['check'] },
  DSL047: { severity: 'error', title: 'Duplicate setting', phases: ['check'] },
  DSL048: { severity: 'error', title: 'Conflicting settings', phases: ['check'] },
  DSL049: { severity: 'warning', title: 'Unknown event type', phases: ['check'] },
  DSL050: { severity: 'error', title: 'Forbidden name', phases: ['check'] },
  DSL051: { severity: 'error', title: 'Reserved character in fact path', phases: ['parse', 'check'] },
  DSL052: { severity: 'error', title: 'Malformed fact path', phases: ['check'] },
  DSL053: { severity: 'warning', title: 'Rule shadowed by a reset rule', phases: ['check'] },
  DSL054: { severity: 'warning', title: 'Empty list', phases: ['check'] },
  DSL055: { severity: 'error', title: 'Regular expression feature not supported', phases: ['check'] },
  DSL056: { severity: 'error', title: 'Recency tiers not ascending', phases: ['check'] },
  DSL057: { severity: 'error', title: 'Recency weight out of range', phases: ['check'] },
  DSL058: { severity: 'error', title: 'Too many recency tiers', phases: ['check'] },
  DSL059: { severity: 'error', title: 'Fit rule reads more than the lead', phases: ['check'] },
} as const satisfies Record<string, DiagnosticCodeInfo>

/** A stable diagnostic code, e.g. `'DSL040'`. */
export type DiagnosticCode = keyof typeof diagnosticCodes
