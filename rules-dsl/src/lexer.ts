/**
 * The lexer: turns DSL source text into tokens and comments.
 *
 * Tokens are produced on demand ({@link Lexer.next}) so that the parser can
 * discard them as it goes; this keeps memory flat on megabyte-sized input.
 *
 * @module
 * @internal
 */

import type { CommentAst } from './ast.js'
import type { Range } from './diagnostic.js'
import { DiagnosticList } from './diagnostic-list.js'

/** Token categories. */
export type TokenKind = 'word' | 'string' | 'number' | 'duration' | 'regex' | 'punct' | 'eof'

/** One lexical token. Tokens never span lines. */
export class Token {
  constructor (
    /** Token category. */
    readonly kind: TokenKind,
    /** Raw source text of the token. */
    readonly text: string,
    /** Decoded string value (`string`), numeric value (`number`) or pattern (`regex`). */
    readonly value: string | number,
    /** Regex flags (`regex` tokens only). */
    readonly flags: string,
    /** Offset of the first character. */
    readonly start: number,
    /** Offset just past the last character. */
    readonly end: number,
    /** 1-based line. */
    readonly line: number,
    /** 1-based column of the first character. */
    readonly column: number,
    /** True when this is the first token on its line. */
    readonly lineStart: boolean,
    /** True when whitespace or a comment separates this token from the previous one. */
    readonly spaceBefore: boolean,
  ) {}

  /** The token's source range (computed on demand to keep tokens small). */
  get range (): Range {
    return {
      start: { line: this.line, column: this.column },
      end: { line: this.line, column: this.column + (this.end - this.start) },
    }
  }
}

const CH_NEWLINE = 10
const CH_RETURN = 13
const CH_QUOTE = 34
const CH_HASH = 35
const CH_SLASH = 47
const CH_BACKSLASH = 92

const isDigit = (c: number): boolean => c >= 48 && c <= 57
const isLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
const isWordStart = (c: number): boolean => isLetter(c) || c === 95 /* _ */ || c === 36 /* $ */
const isWordPart = (c: number): boolean => isWordStart(c) || isDigit(c) || c === 46 /* . */ || c === 45 /* - */
const isNumberPart = (c: number): boolean => isDigit(c) || isLetter(c) || c === 95 || c === 46
const isSpace = (c: number): boolean =>
  c === 32 ||
  c === 9 ||
  c === 11 ||
  c === 12 ||
  c === 0xa0 ||
  c === 0xfeff ||
  (c >= 0x2000 && c <= 0x200a) ||
  c === 0x3000 ||
  c === 0x202f ||
  c === 0x205f ||
  c === 0x1680

const NUMBER_RE = /^\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/
const DURATION_LIKE_RE = /^\d+(?:\.\d+)?[A-Za-z][A-Za-z0-9_]*$/
const TWO_CHAR_PUNCT: ReadonlySet<string> = new Set(['==', '!=', '<=', '>=', '&&', '||'])
const ONE_CHAR_PUNCT: ReadonlySet<string> = new Set([
  '<', '>', '(', ')', '[', ']', ',', '+', '-', '%', '=', '!', '&', '|', '*', '.', ':', ';', '{', '}',
])

function clip (s: string): string {
  return s.length > 24 ? `${s.slice(0, 24)}…` : s
}

/**
 * An on-demand tokenizer. Lexical problems (DSL001–DSL005) are added to
 * {@link Lexer.diagnostics}; lexing always continues.
 */
export class Lexer {
  /** Lexical diagnostics, shared with the parser. */
  readonly diagnostics = new DiagnosticList()
  /** Comments seen so far, in source order. */
  readonly comments: CommentAst[] = []
  /** `line:column` keys of the start of every lexical error. */
  readonly errorStarts = new Set<string>()

  private pos = 0
  private line = 1
  private lineOffset = 0
  private atLineStart = true
  private sawSpace = true
  private badRunStart = -1
  private previous: Token | undefined
  private readonly length: number

  constructor (private readonly text: string) {
    this.length = text.length
  }

  private rangeOf (start: number, end: number): Range {
    return {
      start: { line: this.line, column: start - this.lineOffset + 1 },
      end: { line: this.line, column: end - this.lineOffset + 1 },
    }
  }

  private error (code: 'DSL001' | 'DSL002' | 'DSL003' | 'DSL004' | 'DSL005', message: string, range: Range): void {
    this.errorStarts.add(`${range.start.line}:${range.start.column}`)
    this.diagnostics.add(code, message, range)
  }

  private flushBadRun (): void {
    if (this.badRunStart < 0) return
    const raw = this.text.slice(this.badRunStart, this.pos)
    const shown = raw.length > 20 ? `${raw.slice(0, 20)}…` : raw
    const hint = raw.startsWith("'") ? ' Strings use double quotes.' : ''
    this.error(
      'DSL001',
      `Unexpected character${raw.length > 1 ? 's' : ''} '${shown}'.${hint}`,
      this.rangeOf(this.badRunStart, this.pos),
    )
    this.badRunStart = -1
    this.sawSpace = true
  }

  private make (kind: TokenKind, start: number, end: number, value: string | number, flags = ''): Token {
    const token = new Token(
      kind,
      this.text.slice(start, end),
      value,
      flags,
      start,
      end,
      this.line,
      start - this.lineOffset + 1,
      this.atLineStart,
      this.sawSpace,
    )
    this.atLineStart = false
    this.sawSpace = false
    this.previous = token
    return token
  }

  /** Returns the next token; after the end of input, always an `eof` token. */
  next (): Token {
    const text = this.text
    const length = this.length
    while (this.pos < length) {
      const pos = this.pos
      const c = text.charCodeAt(pos)

      if (c === CH_NEWLINE || c === CH_RETURN) {
        this.flushBadRun()
        this.pos += c === CH_RETURN && text.charCodeAt(pos + 1) === CH_NEWLINE ? 2 : 1
        this.line++
        this.lineOffset = this.pos
        this.atLineStart = true
        this.sawSpace = true
        continue
      }
      if (isSpace(c)) {
        this.flushBadRun()
        this.pos++
        this.sawSpace = true
        continue
      }
      if (c === CH_HASH) {
        this.flushBadRun()
        let end = pos
        while (end < length && text.charCodeAt(end) !== CH_NEWLINE && text.charCodeAt(end) !== CH_RETURN) end++
        this.comments.push({ kind: 'comment', text: text.slice(pos, end).trimEnd(), range: this.rangeOf(pos, end) })
        this.pos = end
        this.sawSpace = true
        continue
      }
      if (c === CH_QUOTE) {
        this.flushBadRun()
        return this.lexString(pos)
      }
      if (c === CH_SLASH && this.previous?.kind === 'word' && this.previous.text === 'matches') {
        this.flushBadRun()
        return this.lexRegex(pos)
      }
      if (isWordStart(c)) {
        this.flushBadRun()
        let end = pos + 1
        while (end < length && isWordPart(text.charCodeAt(end))) end++
        this.pos = end
        return this.make('word', pos, end, '')
      }
      if (isDigit(c)) {
        this.flushBadRun()
        return this.lexNumber(pos)
      }
      const next = text.charCodeAt(pos + 1)
      if (next === 61 /* = */ || next === 38 /* & */ || next === 124 /* | */) {
        const two = text.slice(pos, pos + 2)
        if (TWO_CHAR_PUNCT.has(two)) {
          this.flushBadRun()
          this.pos = pos + 2
          return this.make('punct', pos, pos + 2, two)
        }
      }
      const one = text[pos] as string
      if (ONE_CHAR_PUNCT.has(one)) {
        this.flushBadRun()
        this.pos = pos + 1
        return this.make('punct', pos, pos + 1, one)
      }
      // Anything else is unknown; consecutive unknown characters form one diagnostic.
      if (this.badRunStart < 0) this.badRunStart = pos
      this.pos++
    }
    this.flushBadRun()
    const eof = new Token('eof', '', '', '', length, length, this.line, length - this.lineOffset + 1, this.atLineStart, true)
    return eof
  }

  private lexNumber (start: number): Token {
    const text = this.text
    let p = start
    while (p < this.length) {
      const ch = text.charCodeAt(p)
      if (isNumberPart(ch)) {
        p++
      } else if (
        (ch === 43 || ch === 45) /* + - */ &&
        (text.charCodeAt(p - 1) === 101 || text.charCodeAt(p - 1) === 69) /* e E */ &&
        isDigit(text.charCodeAt(p + 1)) &&
        /^\d+(?:\.\d+)?[eE]$/.test(text.slice(start, p))
      ) {
        p++
      } else {
        break
      }
    }
    this.pos = p
    const raw = text.slice(start, p)
    if (NUMBER_RE.test(raw)) {
      const value = Number(raw)
      if (Number.isFinite(value)) return this.make('number', start, p, value)
      this.error('DSL004', `Number '${clip(raw)}' is too large.`, this.rangeOf(start, p))
      return this.make('number', start, p, 0)
    }
    if (DURATION_LIKE_RE.test(raw)) return this.make('duration', start, p, raw)
    this.error('DSL004', `Malformed number '${clip(raw)}'.`, this.rangeOf(start, p))
    return this.make('number', start, p, 0)
  }

  private lexString (start: number): Token {
    const text = this.text
    let p = start + 1
    let value = ''
    let chunkStart = p
    for (;;) {
      const ch = text.charCodeAt(p)
      if (p >= this.length || ch === CH_NEWLINE || ch === CH_RETURN) {
        value += text.slice(chunkStart, p)
        this.error('DSL002', 'Unterminated string: add a closing double quote (").', this.rangeOf(start, p))
        this.pos = p
        return this.make('string', start, p, value)
      }
      if (ch === CH_QUOTE) {
        value += text.slice(chunkStart, p)
        this.pos = p + 1
        return this.make('string', start, p + 1, value)
      }
      if (ch !== CH_BACKSLASH) {
        p++
        continue
      }
      value += text.slice(chunkStart, p)
      const esc = text[p + 1]
      let consumed = 2
      switch (esc) {
        case '"':
        case '\\':
        case '/':
          value += esc
          break
        case 'n':
          value += '\n'
          break
        case 'r':
          value += '\r'
          break
        case 't':
          value += '\t'
          break
        case 'u': {
          const braced = /^\{([0-9A-Fa-f]{1,6})\}/.exec(text.slice(p + 2, p + 10))
          const plain = /^[0-9A-Fa-f]{4}/.exec(text.slice(p + 2, p + 6))
          const hex = braced?.[1] ?? plain?.[0]
          const code = hex === undefined ? NaN : parseInt(hex, 16)
          if (hex !== undefined && code <= 0x10ffff) {
            value += String.fromCodePoint(code)
            consumed = 2 + (braced ? hex.length + 2 : 4)
          } else {
            this.error('DSL003', 'Invalid unicode escape; use \\uXXXX or \\u{X…}.', this.rangeOf(p, p + 2))
            value += 'u'
          }
          break
        }
        default:
          if (esc === undefined || esc === '\n' || esc === '\r') {
            // The string is unterminated; the next loop iteration reports it.
            consumed = 1
            break
          }
          this.error(
            'DSL003',
            `Invalid escape sequence '\\${esc}'. Valid escapes: \\" \\\\ \\/ \\n \\r \\t \\uXXXX \\u{X…}.`,
            this.rangeOf(p, p + 2),
          )
          value += esc
      }
      p += consumed
      chunkStart = p
    }
  }

  private lexRegex (start: number): Token {
    const text = this.text
    let p = start + 1
    let inClass = false
    for (;;) {
      const ch = text.charCodeAt(p)
      if (p >= this.length || ch === CH_NEWLINE || ch === CH_RETURN) {
        this.error('DSL005', 'Unterminated regular expression: add a closing slash (/).', this.rangeOf(start, p))
        this.pos = p
        return this.make('regex', start, p, text.slice(start + 1, p))
      }
      if (ch === CH_BACKSLASH) {
        const next = text.charCodeAt(p + 1)
        p += next === CH_NEWLINE || next === CH_RETURN || Number.isNaN(next) ? 1 : 2
        continue
      }
      if (ch === 91 /* [ */) inClass = true
      else if (ch === 93 /* ] */) inClass = false
      else if (ch === CH_SLASH && !inClass) break
      p++
    }
    const pattern = text.slice(start + 1, p)
    p++
    const flagStart = p
    while (p < this.length && isLetter(text.charCodeAt(p))) p++
    this.pos = p
    return this.make('regex', start, p, pattern, text.slice(flagStart, p))
  }
}
