/**
 * Source positions, ranges and diagnostics reported by the rules DSL.
 *
 * Lines and columns are 1-based (the Monaco editor convention) and columns
 * count UTF-16 code units. A range's `end` is exclusive.
 *
 * @module
 */

import type { DiagnosticCode } from './diagnostic-codes.js'

/** A 1-based line/column position in DSL source text. */
export interface Position {
  /** 1-based line number. */
  line: number
  /** 1-based column, counted in UTF-16 code units. */
  column: number
}

/** A span of source text; `start` is inclusive, `end` is exclusive. */
export interface Range {
  start: Position
  end: Position
}

/** How serious a diagnostic is. Only `error` prevents compilation. */
export type Severity = 'error' | 'warning' | 'info'

/**
 * A problem found in DSL source text. `code` values are stable across
 * releases and documented in the package README.
 */
export interface Diagnostic {
  /** Stable identifier such as `DSL040`. */
  code: DiagnosticCode
  severity: Severity
  /** Human-readable explanation, suitable for an editor tooltip. */
  message: string
  /** Where the problem is. */
  range: Range
}
