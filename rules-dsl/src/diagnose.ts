/**
 * One-call diagnostics for editors.
 *
 * @module
 */

import type { Diagnostic } from './diagnostic.js'
import { mergeDiagnostics } from './diagnostic-list.js'
import { check } from './check.js'
import type { FactCatalog } from './fact-catalog.js'
import { parse } from './parse.js'

/**
 * Parses and checks DSL text: `parse(text)` followed by `check(ast, catalog)`.
 * Never throws on user input.
 *
 * @returns every diagnostic, ordered by position.
 * @throws TypeError if `text` is not a string or `catalog` is not an object.
 *
 * @example
 * ```ts
 * diagnose('rule "A" when event.typ == "x" then +1', catalog)
 * // → [{ code: 'DSL040', message: "Unknown fact 'event.typ'. Did you mean 'event.type'?", … }]
 * ```
 */
export function diagnose (text: string, catalog: FactCatalog): Diagnostic[] {
  const { ast, diagnostics } = parse(text)
  return mergeDiagnostics(diagnostics, check(ast, catalog))
}
