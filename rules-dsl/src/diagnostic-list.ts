/**
 * Internal helper that accumulates diagnostics and enforces
 * {@link limits.maxDiagnostics}.
 *
 * @module
 * @internal
 */

import type { Diagnostic, Range } from './diagnostic.js'
import { diagnosticCodes, type DiagnosticCode } from './diagnostic-codes.js'
import { limits } from './limits.js'

/** Collects diagnostics, stopping (with a DSL014 note) once the cap is hit. */
export class DiagnosticList {
  readonly items: Diagnostic[] = []
  /** Number of `error` diagnostics added, including ones dropped by the cap. */
  errorCount = 0
  private truncated = false

  /** Adds a diagnostic with the code's default severity. */
  add (code: DiagnosticCode, message: string, range: Range): void {
    const severity = diagnosticCodes[code].severity
    if (severity === 'error') this.errorCount++
    if (this.truncated) return
    if (this.items.length >= limits.maxDiagnostics - 1) {
      this.truncated = true
      this.items.push({
        code: 'DSL014',
        severity: diagnosticCodes.DSL014.severity,
        message: `Too many problems; only the first ${limits.maxDiagnostics - 1} are reported.`,
        range,
      })
      return
    }
    this.items.push({ code, severity, message, range })
  }
}

/** Orders diagnostics by start position, keeping the original order for ties. */
export function sortDiagnostics (list: Diagnostic[]): Diagnostic[] {
  return list
    .map((d, i) => ({ d, i }))
    .sort(
      (a, b) =>
        a.d.range.start.line - b.d.range.start.line ||
        a.d.range.start.column - b.d.range.start.column ||
        a.i - b.i,
    )
    .map((x) => x.d)
}

/**
 * Merges diagnostics from several phases, orders them by position and keeps
 * the combined list within {@link limits.maxDiagnostics} (ending with one
 * DSL014 note when anything was dropped).
 */
export function mergeDiagnostics (...lists: Diagnostic[][]): Diagnostic[] {
  const all = sortDiagnostics(lists.flat())
  const notes = all.filter((d) => d.code === 'DSL014')
  const rest = all.filter((d) => d.code !== 'DSL014')
  if (notes.length === 0 && rest.length <= limits.maxDiagnostics) return all
  const kept = rest.slice(0, limits.maxDiagnostics - 1)
  const last = kept[kept.length - 1] ?? notes[0]
  if (last === undefined) return kept
  kept.push({
    code: 'DSL014',
    severity: diagnosticCodes.DSL014.severity,
    message: `Too many problems; only the first ${kept.length} are reported.`,
    range: last.range,
  })
  return kept
}
