/**
 * `@leadscore/rules-dsl` — the Leadscore rules language.
 *
 * DSL text → AST → diagnostics → json-rules-engine rules + rule-set
 * settings, plus a formatter and Monaco editor support data. Pure and
 * dependency-free: no I/O, no clock, no environment access; runs in Node.js
 * and in browsers.
 *
 * @example
 * ```ts
 * import { compileSource } from '@leadscore/rules-dsl'
 *
 * const { ruleset, diagnostics } = compileSource(text, catalog)
 * if (ruleset) engine.load(ruleset.rules, ruleset.settings)
 * ```
 *
 * @packageDocumentation
 */

export { parse, type ParseResult } from './parse.js'
export { check } from './check.js'
export { diagnose } from './diagnose.js'
export { compile } from './compile.js'
export { compileSource, type CompileSourceResult } from './compile-source.js'
export { format } from './format.js'
export { print } from './print.js'
export { slugify } from './slugify.js'
export { maxRegexRepeat, screenRegex, type RegexFinding } from './regex-screen.js'
export { lookupFact, type FactCatalog, type FactDescriptor, type FactType } from './fact-catalog.js'
export { diagnosticCodes, type DiagnosticCode, type DiagnosticCodeInfo, type DiagnosticPhase } from './diagnostic-codes.js'
export type { Diagnostic, Position, Range, Severity } from './diagnostic.js'
export { limits } from './limits.js'
export { engineOperators, factValueOperators, leadscoreOperators, pluginFactNamePattern, pluginOperatorPattern, ruleFacts } from './vocabulary.js'
export { durationToMs, durationUnitMs, durationUnits, parseDurationText, type DurationOptions, type DurationUnit, type ParsedDuration } from './duration.js'
export { keywords } from './keywords.js'
export { languageId, monarchLanguage } from './monarch-language.js'
export { languageConfiguration } from './language-configuration.js'
export { completionItems, type CompletionItem, type CompletionKind, type PropertyHint } from './completion-items.js'
export type {
  CompiledCondition,
  CompiledLeafCondition,
  CompiledOperator,
  CompiledRule,
  CompiledRuleset,
  CompiledTopLevelCondition,
  Dimension,
  FactValue,
  RegexValue,
  RulesetSettings,
  ScoreBounds,
  ScoreEvent,
  ScoreParams,
  ScoreTarget,
  Threshold,
} from './compiled-ruleset.js'
export type * from './ast.js'
