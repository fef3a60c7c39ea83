// Rule regexes (the `matches` operator) run on RE2 through re2js: matching takes time linear in the text, whatever
// the pattern, so no pattern can stall scoring, dry runs or backtests. Patterns are written in JavaScript syntax;
// the rules language's screen refuses what RE2 would read differently, and the few spellings RE2 lacks are
// translated here. Used by the operators (live evaluation) and by validation, so both accept the same patterns.
import { RE2JS } from 're2js'
import { screenRegex } from '@leadscore/rules-dsl'

/** The flags a `matches` value may carry: i (ignore case), m (multi-line ^ $), s (. matches \n), u (Unicode syntax). */
export const RULE_REGEX_FLAGS: ReadonlySet<string> = new Set(['i', 'm', 's', 'u'])

/** A pattern compiled for RE2; `test` is stateless and linear in the length of the text. */
export interface RuleRegex { test(text: string): boolean }

export type RuleRegexResult = { ok: true; regex: RuleRegex } | { ok: false; reason: string }

const isHex4 = (s: string): boolean => /^[0-9A-Fa-f]{4}$/.test(s)

/**
 * RE2 syntax for a JavaScript pattern: `\uXXXX` (a surrogate pair as one code point) and, with the u flag,
 * `\u{X…}` become `\x{…}`. Everything else is spelled the same in both.
 */
export function toRe2Syntax (pattern: string, unicode: boolean): string {
  if (!pattern.includes('\\u')) return pattern
  let out = ''
  let i = 0
  while (i < pattern.length) {
    const ch = pattern[i]!
    if (ch !== '\\') { out += ch; i++; continue }
    const next = pattern[i + 1] ?? ''
    if (next !== 'u') { out += ch + next; i += 2; continue }
    if (unicode && pattern[i + 2] === '{') {
      const close = pattern.indexOf('}', i + 3)
      if (close > 0) { out += `\\x{${pattern.slice(i + 3, close)}}`; i = close + 1; continue }
    }
    const digits = pattern.slice(i + 2, i + 6)
    if (!isHex4(digits)) { out += ch + next; i += 2; continue }
    const unit = parseInt(digits, 16)
    const low = pattern.slice(i + 6, i + 8) === '\\u' && isHex4(pattern.slice(i + 8, i + 12)) ? parseInt(pattern.slice(i + 8, i + 12), 16) : -1
    if (unit >= 0xd800 && unit <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
      out += `\\x{${(((unit - 0xd800) << 10) + (low - 0xdc00) + 0x10000).toString(16)}}`
      i += 12
    } else {
      out += `\\x{${digits}}`
      i += 6
    }
  }
  return out
}

/** RE2 flags for JavaScript flags (already checked); u changes nothing: RE2 always matches whole code points. */
function re2Flags (flags: string): number {
  let f = 0
  if (flags.includes('i')) f |= RE2JS.CASE_INSENSITIVE
  if (flags.includes('m')) f |= RE2JS.MULTILINE
  if (flags.includes('s')) f |= RE2JS.DOTALL
  return f
}

/** Compiles a pattern with flags from {@link RULE_REGEX_FLAGS} (each at most once) for RE2. Never throws. */
export function compileRuleRegex (pattern: string, flags: string): RuleRegexResult {
  try {
    return { ok: true, regex: RE2JS.compile(toRe2Syntax(pattern, flags.includes('u')), re2Flags(flags)) }
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message.replace(/^error parsing regexp: /, '') : String(err) }
  }
}

/** Whether `flags` is a string of flags from {@link RULE_REGEX_FLAGS}, each at most once. */
export function validRegexFlags (flags: unknown): flags is string {
  return typeof flags === 'string' && [...flags].every((f) => RULE_REGEX_FLAGS.has(f)) && new Set(flags).size === flags.length
}

/** What is wrong with a `matches` value, checked as the rules language checks a regex literal; null when nothing. */
export function regexProblem (pattern: string, flags: unknown = ''): { field: 'pattern' | 'flags'; detail: string } | null {
  if (!validRegexFlags(flags)) return { field: 'flags', detail: 'flags must be a string of i, m, s and u, each at most once' }
  try {
    // a syntax check as the rules language makes it: the RegExp is never used to match
    new RegExp(pattern, flags)
  } catch (err) {
    return { field: 'pattern', detail: `invalid regular expression: ${err instanceof Error ? err.message : String(err)}` }
  }
  const finding = screenRegex(pattern, flags)
  if (finding !== undefined) return { field: 'pattern', detail: `${finding.code} ${finding.message}` }
  const compiled = compileRuleRegex(pattern, flags)
  return compiled.ok ? null : { field: 'pattern', detail: `RE2 cannot run this regular expression: ${compiled.reason}` }
}
