/**
 * Static screening of regular expressions for constructs that can make
 * matching take exponential time (ReDoS).
 *
 * @module
 */

import { limits } from './limits.js'

interface GroupFrame {
  /** True once any quantifier (or quantified group) occurs inside the group. */
  hasQuantifier: boolean
  /** Offset of the opening parenthesis. */
  start: number
}

/**
 * Looks for risky constructs in a regular-expression pattern:
 *
 * - a quantified group that itself contains a quantifier, e.g. `(a+)+`,
 *   `(\w*)*`, `(a{1,3}){2,}` (nested quantifiers);
 * - backreferences such as `\1` or `\k<name>`;
 * - patterns longer than {@link limits.maxPatternLength}.
 *
 * The check is conservative and purely syntactic: it never runs the pattern.
 *
 * @returns a description of the first problem, or `undefined` if none was found.
 */
export function findUnsafeRegexConstruct(pattern: string): string | undefined {
  if (pattern.length > limits.maxPatternLength) {
    return `the pattern is longer than ${limits.maxPatternLength} characters`
  }
  const stack: GroupFrame[] = [{ hasQuantifier: false, start: 0 }]
  /** Whether the atom just before the current position was a group that contains a quantifier. */
  let lastAtomWasRiskyGroup = false
  let lastGroupStart = 0
  let i = 0
  const n = pattern.length
  while (i < n) {
    const ch = pattern[i] as string
    const top = stack[stack.length - 1] as GroupFrame
    if (ch === '\\') {
      const next = pattern[i + 1] ?? ''
      if (/[1-9]/.test(next)) return `backreference '\\${next}'`
      if (next === 'k' && pattern[i + 2] === '<') return 'named backreference \\k<…>'
      lastAtomWasRiskyGroup = false
      i += 2
      continue
    }
    if (ch === '[') {
      // Skip a character class.
      i++
      if (pattern[i] === '^') i++
      if (pattern[i] === ']') i++
      while (i < n && pattern[i] !== ']') i += pattern[i] === '\\' ? 2 : 1
      i++
      lastAtomWasRiskyGroup = false
      continue
    }
    if (ch === '(') {
      stack.push({ hasQuantifier: false, start: i })
      lastAtomWasRiskyGroup = false
      i++
      if (pattern[i] === '?') {
        // (?: (?= (?! (?<= (?<! (?<name>
        i++
        if (pattern[i] === '<' && pattern[i + 1] !== '=' && pattern[i + 1] !== '!') {
          while (i < n && pattern[i] !== '>') i++
        }
        i++
      }
      continue
    }
    if (ch === ')') {
      const closed = stack.length > 1 ? (stack.pop() as GroupFrame) : { hasQuantifier: false, start: i }
      const parent = stack[stack.length - 1] as GroupFrame
      if (closed.hasQuantifier) parent.hasQuantifier = true
      lastAtomWasRiskyGroup = closed.hasQuantifier
      lastGroupStart = closed.start
      i++
      continue
    }
    const quantifier = readQuantifier(pattern, i)
    if (quantifier !== undefined) {
      if (quantifier.repeats && lastAtomWasRiskyGroup) {
        return `nested quantifier '${pattern.slice(lastGroupStart, quantifier.end)}' (a repeated group that itself contains a repetition)`
      }
      if (quantifier.repeats) top.hasQuantifier = true
      lastAtomWasRiskyGroup = false
      i = quantifier.end
      // Lazy / possessive suffix.
      if (pattern[i] === '?') i++
      continue
    }
    lastAtomWasRiskyGroup = false
    i++
  }
  return undefined
}

/** Reads a quantifier at `i`; `repeats` is true when it allows more than one repetition. */
function readQuantifier(pattern: string, i: number): { end: number; repeats: boolean } | undefined {
  const ch = pattern[i]
  if (ch === '*' || ch === '+') return { end: i + 1, repeats: true }
  if (ch === '?') return { end: i + 1, repeats: false }
  if (ch === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i, i + 24))
    if (m === null) return undefined
    const min = Number(m[1])
    const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3])
    return { end: i + m[0].length, repeats: max > 1 }
  }
  return undefined
}
