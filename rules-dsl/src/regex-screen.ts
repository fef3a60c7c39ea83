/**
 * Screening of `matches` patterns for what the RE2 engine that runs them
 * cannot do, or would read differently from JavaScript.
 *
 * Patterns are written in JavaScript syntax and run on RE2, which matches in
 * time linear in the text. This screen only produces diagnostics: it tells
 * the author about backreferences, lookaround, escapes whose meaning differs
 * between the two engines, and repetition counts over RE2's limit. It never
 * runs the pattern.
 *
 * @module
 */

import { limits } from './limits.js'

/** A problem found by {@link screenRegex}. */
export interface RegexFinding {
  /** `DSL055` for a feature RE2 does not support, `DSL026` for a pattern too large for it. */
  code: 'DSL026' | 'DSL055'
  message: string
  /** Offset of the construct in the pattern, in UTF-16 code units. */
  start: number
  /** Offset just after the construct. */
  end: number
}

/** RE2's largest repetition count; nested counts multiply. */
export const maxRegexRepeat = 1000

/** Escapes JavaScript and RE2 both read the same way (given a valid JavaScript pattern). */
const SHARED_ESCAPES = new Set(['d', 'D', 'w', 'W', 's', 'S', 'b', 'B', 'f', 'n', 'r', 't', 'v', '0'])
/** The same inside a character class, where JavaScript reads `\b` as a backspace and `\B` as B. */
const SHARED_CLASS_ESCAPES = new Set(['d', 'D', 'w', 'W', 's', 'S', 'f', 'n', 'r', 't', 'v', '0'])

const NO_BACKREFERENCES = 'Regular expressions run on RE2, which has no backreferences.'
const NO_LOOKAROUND = 'Regular expressions run on RE2, which has no lookahead or lookbehind.'

const isHex = (s: string): boolean => /^[0-9A-Fa-f]+$/.test(s)
const isSurrogate = (n: number): boolean => n >= 0xd800 && n <= 0xdfff
const hex2 = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0')

/** An open group. */
interface Frame {
  /** Largest repeat product (the counts applied to an atom and inside it, multiplied) of any atom in the group so far. */
  weight: number
}

/**
 * Finds the first construct in `pattern` that RE2 cannot run as JavaScript
 * would, or that makes the pattern too large for it.
 *
 * `pattern` must already be a valid JavaScript pattern for `flags` (the
 * checker tests that first); `flags` matters for the `u` flag only.
 *
 * @returns the first finding, or `undefined` if the pattern is fine.
 */
export function screenRegex (pattern: string, flags: string): RegexFinding | undefined {
  if (pattern.length > limits.maxPatternLength) {
    return {
      code: 'DSL026',
      message: `The pattern is longer than ${limits.maxPatternLength} characters.`,
      start: 0,
      end: pattern.length,
    }
  }
  const unicode = flags.includes('u')
  const stack: Frame[] = [{ weight: 0 }]
  /** Repeat product of the atom a quantifier would apply to; null when there is none. */
  let last: number | null = null
  const commit = (): void => {
    const top = stack[stack.length - 1] as Frame
    if (last !== null) top.weight = Math.max(top.weight, last)
    last = null
  }
  const n = pattern.length
  let i = 0
  while (i < n) {
    const ch = pattern[i] as string
    if (ch === '\\') {
      const finding = screenEscape(pattern, i, unicode, false)
      if (finding !== undefined) return finding
      commit()
      last = 1
      i = escapeEnd(pattern, i, unicode)
      continue
    }
    if (ch === '[') {
      const result = screenClass(pattern, i, unicode)
      if ('code' in result) return result
      commit()
      last = 1
      i = result.end
      continue
    }
    if (ch === '(') {
      commit()
      const open = pattern.slice(i, i + 4)
      if (open.startsWith('(?=') || open.startsWith('(?!')) {
        return { code: 'DSL055', message: `'${open.slice(0, 3)}' is a lookahead. ${NO_LOOKAROUND}`, start: i, end: i + 3 }
      }
      if (open === '(?<=' || open === '(?<!') {
        return { code: 'DSL055', message: `'${open}' is a lookbehind. ${NO_LOOKAROUND}`, start: i, end: i + 4 }
      }
      stack.push({ weight: 0 })
      i = groupBodyStart(pattern, i)
      continue
    }
    if (ch === ')') {
      commit()
      const group = stack.length > 1 ? (stack.pop() as Frame) : { weight: 0 }
      last = Math.max(1, group.weight)
      i++
      continue
    }
    if (ch === '|') {
      commit()
      i++
      continue
    }
    const quantifier = readQuantifier(pattern, i)
    if (quantifier !== undefined) {
      if (last !== null && quantifier.count !== undefined) {
        const product = quantifier.count === 0 ? 0 : quantifier.count * last
        if (quantifier.count > maxRegexRepeat || product > maxRegexRepeat) {
          return {
            code: 'DSL026',
            message: `'${pattern.slice(i, quantifier.end)}' repeats more than ${maxRegexRepeat} times; RE2 allows at most ${maxRegexRepeat} repetitions, with nested counts multiplied.`,
            start: i,
            end: quantifier.end,
          }
        }
        // `{0}` removes the atom; `{0,}` repeats it like `*`
        last = quantifier.zero ? 0 : quantifier.count === 0 ? last : product
      }
      i = quantifier.end
      if (pattern[i] === '?') i++
      continue
    }
    // any other character, `.`, `^` or `$`
    commit()
    last = ch === '^' || ch === '$' ? null : 1
    i += 1
  }
  return undefined
}

/** The offset of the first character inside the group opened at `i`: after `(`, `(?:`, `(?<name>` or `(?flags:`. */
function groupBodyStart (pattern: string, i: number): number {
  if (pattern[i + 1] !== '?') return i + 1
  const close = pattern.indexOf(pattern[i + 2] === '<' ? '>' : ':', i + 2)
  return close < 0 ? i + 1 : close + 1
}

/** The offset just after the escape at `i` (a screened one: `\cX`, `\k<…>` and lone `\u` are never passed on). */
function escapeEnd (pattern: string, i: number, unicode: boolean): number {
  const next = pattern[i + 1]
  const braced = (): number => {
    const close = pattern.indexOf('}', i + 3)
    return close < 0 ? i + 2 : close + 1
  }
  if (next === 'x') return i + 4
  if (next === 'u') return unicode && pattern[i + 2] === '{' ? braced() : i + 6
  if ((next === 'p' || next === 'P') && pattern[i + 2] === '{') return braced()
  const cp = pattern.codePointAt(i + 1)
  return i + 1 + (cp !== undefined && cp > 0xffff ? 2 : 1)
}

/** Screens the escape at `i`; `inClass` is true inside `[…]`. */
function screenEscape (pattern: string, i: number, unicode: boolean, inClass: boolean): RegexFinding | undefined {
  const next = pattern[i + 1] ?? ''
  const unsupported = (message: string, end = i + 2): RegexFinding => ({ code: 'DSL055', message, start: i, end })
  if (/[1-9]/.test(next)) {
    return unsupported(`'\\${next}' is a backreference. ${NO_BACKREFERENCES}`)
  }
  if (next === 'k') {
    const close = pattern.indexOf('>', i)
    const named = pattern[i + 2] === '<' && close > 0
    return named
      ? unsupported(`'${pattern.slice(i, close + 1)}' is a backreference. ${NO_BACKREFERENCES}`, close + 1)
      : unsupported("'\\k' is not a supported escape; write k for the letter.")
  }
  if (next === 'b' && inClass) {
    return unsupported("'\\b' inside a character class (a backspace) is not supported; write \\x08 instead.")
  }
  if (next === 'c') {
    const letter = pattern[i + 2] ?? ''
    return /[A-Za-z]/.test(letter)
      ? unsupported(`'\\c${letter}' (a control character) is not supported; write \\x${hex2(letter.charCodeAt(0) % 32)} instead.`, i + 3)
      : unsupported("'\\c' is not a supported escape; write \\\\c for a backslash and c.")
  }
  if (next === 'x') {
    const digits = pattern.slice(i + 2, i + 4)
    if (digits.length === 2 && isHex(digits)) return undefined
    return unsupported("'\\x' without two hex digits is not supported; write x for the letter.")
  }
  if (next === 'u') return screenUnicodeEscape(pattern, i, unicode)
  if ((next === 'p' || next === 'P') && unicode) return undefined
  if (next === 'p' || next === 'P') {
    return unsupported(
      `'\\${next}' is the letter ${next} in JavaScript without the u flag, but a Unicode class in RE2; write ${next}, or add the u flag for a Unicode class such as \\${next}{L}.`,
    )
  }
  if ((inClass ? SHARED_CLASS_ESCAPES : SHARED_ESCAPES).has(next)) return undefined
  if (/[A-Za-z]/.test(next)) {
    const hint = next === 'A' ? ' For the start of the text, use ^.' : next === 'z' || next === 'Z' ? ' For the end of the text, use $.' : ''
    return unsupported(`'\\${next}' is not a supported escape: JavaScript reads it as ${next}, RE2 differently or not at all. Write ${next} without the backslash.${hint}`)
  }
  const cp = pattern.codePointAt(i + 1) ?? 0
  if (cp >= 0x80) {
    const char = String.fromCodePoint(cp)
    return unsupported(`'\\${char}' is not a supported escape; write ${char} without the backslash.`, i + 1 + char.length)
  }
  return undefined // an escaped ASCII punctuation character or digit 0 means itself in both
}

/** `\uXXXX` (a surrogate must be half of a pair) or, with the u flag, `\u{X…}`. */
function screenUnicodeEscape (pattern: string, i: number, unicode: boolean): RegexFinding | undefined {
  if (unicode && pattern[i + 2] === '{') return undefined
  const digits = pattern.slice(i + 2, i + 6)
  if (digits.length !== 4 || !isHex(digits)) {
    return { code: 'DSL055', message: "'\\u' without four hex digits is not supported; write u for the letter.", start: i, end: i + 2 }
  }
  const unit = parseInt(digits, 16)
  if (!isSurrogate(unit)) return undefined
  const pair = pattern.slice(i + 6, i + 12)
  const low = /^\\u[0-9A-Fa-f]{4}$/.test(pair) ? parseInt(pair.slice(2), 16) : -1
  if (unit <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) return undefined
  // a low surrogate right after a high one was accepted with it
  const before = pattern.slice(i - 6, i)
  const high = /^\\u[0-9A-Fa-f]{4}$/.test(before) ? parseInt(before.slice(2), 16) : -1
  if (unit >= 0xdc00 && high >= 0xd800 && high <= 0xdbff) return undefined
  return {
    code: 'DSL055',
    message: `'\\u${digits}' is half of a UTF-16 surrogate pair; RE2 matches whole characters, so write the character itself (or \\u{…} with the u flag).`,
    start: i,
    end: i + 6,
  }
}

/** Screens the character class at `i`; returns its end offset when it is fine. */
function screenClass (pattern: string, i: number, unicode: boolean): RegexFinding | { end: number } {
  const n = pattern.length
  let p = i + 1
  if (pattern[p] === '^') p++
  if (pattern[p] === ']') {
    const text = pattern.slice(i, p + 1)
    const meaning = text === '[]' ? 'matches nothing' : 'matches any character'
    const advice = text === '[]' ? 'remove it' : 'write [\\s\\S] instead'
    return { code: 'DSL055', message: `'${text}' (which ${meaning}) is not supported; ${advice}.`, start: i, end: p + 1 }
  }
  while (p < n && pattern[p] !== ']') {
    if (pattern[p] === '\\') {
      const finding = screenEscape(pattern, p, unicode, true)
      if (finding !== undefined) return finding
      p = escapeEnd(pattern, p, unicode)
      continue
    }
    if (pattern[p] === '[' && pattern[p + 1] === ':') {
      // RE2 reads `[:` up to the next `:]` as a POSIX class such as [:alpha:]; JavaScript reads the characters
      const close = pattern.indexOf(':]', p + 2)
      if (close >= 0) {
        return {
          code: 'DSL055',
          message: `'${pattern.slice(p, close + 2)}' inside a character class is a POSIX class in RE2 but plain characters in JavaScript; write \\[ for a bracket, or the characters you mean (such as a-zA-Z).`,
          start: p,
          end: close + 2,
        }
      }
    }
    p++
  }
  return { end: p + 1 }
}

/**
 * Reads a quantifier at `i`. `count` is the repetition count RE2 checks
 * (the maximum, or the minimum when unbounded); undefined for `*`, `+`, `?`.
 * `zero` is true for `{0}` and `{0,0}`.
 */
function readQuantifier (pattern: string, i: number): { end: number; count?: number; zero?: boolean } | undefined {
  const ch = pattern[i]
  if (ch === '*' || ch === '+' || ch === '?') return { end: i + 1 }
  if (ch !== '{') return undefined
  const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i, i + 24))
  if (m === null) return undefined // a literal brace
  const min = Number(m[1])
  const max = m[2] === undefined ? min : m[3] === '' ? undefined : Number(m[3])
  return { end: i + m[0].length, count: max ?? min, zero: max === 0 }
}
