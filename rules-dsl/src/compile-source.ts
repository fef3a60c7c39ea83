/**
 * Text-to-output convenience.
 *
 * @module
 */

import type { CompiledRuleset } from './compiled-ruleset.js'
import type { Diagnostic } from './diagnostic.js'
import { mergeDiagnostics } from './diagnostic-list.js'
import { check } from './check.js'
import { compile } from './compile.js'
import type { FactCatalog } from './fact-catalog.js'
import { parse } from './parse.js'

/** Result of {@link compileSource}. */
export interface CompileSourceResult {
  /** Present only when there are no error diagnostics. */
  ruleset?: CompiledRuleset
  /** All diagnostics (errors, warnings, infos), ordered by position. */
  diagnostics: Diagnostic[]
}

/**
 * Parses, checks and — if there are no errors — compiles DSL text.
 * Warnings and infos do not prevent compilation. Never throws on user input.
 *
 * @throws TypeError if `text` is not a string or `catalog` is not an object.
 */
export function compileSource (text: string, catalog: FactCatalog): CompileSourceResult {
  const parsed = parse(text)
  const diagnostics = mergeDiagnostics(parsed.diagnostics, check(parsed.ast, catalog))
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics }
  return { ruleset: compile(parsed.ast), diagnostics }
}
