// Rules-language diagnostics → editor markers and the problems list (pure; tested by test/console/logic.test.ts).
import type { FactCatalog, FactType, Range, Severity } from '@leadscore/rules-dsl'

/** A problem to show: the library's diagnostics, or the server's (the same shape, with `code` as a plain string). */
export interface EditorProblem { code: string; severity: Severity; message: string; range: Range }

/** Monaco's `MarkerSeverity` values (a stable public enum), so this module needs no Monaco import. */
export const MARKER_SEVERITY = { error: 8, warning: 4, info: 2 } as const satisfies Record<Severity, number>

export interface MarkerData {
  startLineNumber: number
  startColumn: number
  endLineNumber: number
  endColumn: number
  message: string
  severity: (typeof MARKER_SEVERITY)[Severity]
  code: string
  source: string
}

/**
 * One marker per diagnostic. Positions are already 1-based with exclusive ends, as Monaco wants them; an empty range
 * (a problem *at* a position, such as an unexpected end of input) is widened to one column so it stays visible.
 */
export function toMarker (d: EditorProblem): MarkerData {
  const { start, end } = d.range
  const empty = end.line < start.line || (end.line === start.line && end.column <= start.column)
  return {
    startLineNumber: start.line,
    startColumn: start.column,
    endLineNumber: empty ? start.line : end.line,
    endColumn: empty ? start.column + 1 : end.column,
    message: d.message,
    severity: MARKER_SEVERITY[d.severity],
    code: d.code,
    source: 'rules',
  }
}

export interface ProblemCounts { error: number; warning: number; info: number }

export function countProblems (ds: ReadonlyArray<Pick<EditorProblem, 'severity'>>): ProblemCounts {
  const c: ProblemCounts = { error: 0, warning: 0, info: 0 }
  for (const d of ds) c[d.severity]++
  return c
}

/** "2 errors, 1 warning", or "No problems". */
export function problemSummary (c: ProblemCounts): string {
  const parts: string[] = []
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`
  if (c.error > 0) parts.push(plural(c.error, 'error'))
  if (c.warning > 0) parts.push(plural(c.warning, 'warning'))
  if (c.info > 0) parts.push(plural(c.info, 'note'))
  return parts.length === 0 ? 'No problems' : parts.join(', ')
}

/** Ordered by position, then errors before warnings before notes. */
export function sortProblems<D extends Pick<EditorProblem, 'severity' | 'range'>> (ds: readonly D[]): D[] {
  const rank = { error: 0, warning: 1, info: 2 }
  return ds.slice().sort((a, b) => a.range.start.line - b.range.start.line || a.range.start.column - b.range.start.column || rank[a.severity] - rank[b.severity])
}

const FACT_TYPES: readonly string[] = ['number', 'string', 'boolean', 'string[]', 'date', 'any'] satisfies FactType[]

/** The server's catalog (types as plain strings) as the rules library's FactCatalog; an unknown type is checked as `any`. */
export function factCatalog (facts: Record<string, { type: string; doc?: string }>): FactCatalog {
  const out: FactCatalog = {}
  for (const [k, f] of Object.entries(facts)) {
    out[k] = { type: (FACT_TYPES.includes(f.type) ? f.type : 'any') as FactType, ...(f.doc !== undefined ? { doc: f.doc } : {}) }
  }
  return out
}
