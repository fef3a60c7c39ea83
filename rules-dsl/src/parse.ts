/**
 * The parser: DSL text → {@link RulesetAst} + syntax diagnostics.
 *
 * @module
 */

import type {
  ActionAst,
  CapStatementAst,
  ComparisonAst,
  ComparisonOperator,
  DecayStatementAst,
  DurationAst,
  EventAliasStatementAst,
  ExpressionAst,
  FactRefAst,
  FloorStatementAst,
  GradeStatementAst,
  IntentLabelStatementAst,
  KnownEventsStatementAst,
  LimitAst,
  ListAst,
  NameAst,
  NumberAst,
  RuleAst,
  RecencyAst,
  RulesetAst,
  ScalarLiteralAst,
  StageStatementAst,
  StatementAst,
  StringAst,
} from './ast.js'
import type { Diagnostic, Range } from './diagnostic.js'
import type { DiagnosticCode } from './diagnostic-codes.js'
import { clipText } from './clip-text.js'
import { DiagnosticList, sortDiagnostics } from './diagnostic-list.js'
import { conditionReservedWords, keywords, wordOperators } from './keywords.js'
import { limits } from './limits.js'
import { Lexer, type Token } from './lexer.js'

/** Result of {@link parse}. */
export interface ParseResult {
  /** The syntax tree. Statements that could not be parsed are left out. */
  ast: RulesetAst
  /** Lexical and syntax problems, ordered by position. */
  diagnostics: Diagnostic[]
}

/**
 * Parses DSL source text.
 *
 * Never throws on user input: every lexical and syntax problem is reported
 * as a diagnostic, and parsing resumes at the next `rule` or top-level
 * statement so that all errors are collected in one pass. Nesting depth,
 * conditions per rule and the number of rules are bounded (see
 * {@link limits}), so pathological input is handled in linear time without
 * deep recursion.
 *
 * Semantic problems (unknown facts, invalid durations, out-of-range
 * numbers, …) are reported by {@link check}, not by `parse`.
 *
 * @param text - DSL source.
 * @throws TypeError if `text` is not a string.
 *
 * @example
 * ```ts
 * const { ast, diagnostics } = parse('rule "Visit" when event.type == "page_view" then +5')
 * ```
 */
export function parse (text: string): ParseResult {
  if (typeof text !== 'string') throw new TypeError('parse(text): text must be a string')
  const lexer = new Lexer(text)
  const parser = new Parser(lexer)
  const statements = parser.parseRuleset()
  const ast: RulesetAst = {
    kind: 'ruleset',
    statements,
    comments: lexer.comments,
    syntaxErrors: lexer.diagnostics.errorCount,
    range: { start: { line: 1, column: 1 }, end: parser.endOfInput().range.end },
  }
  return { ast, diagnostics: sortDiagnostics(lexer.diagnostics.items) }
}

/** Thrown internally to abandon the current statement after a syntax error. */
class SyntaxAbort {}
const ABORT = new SyntaxAbort()

const MULTIPLIER_RE = /^x(\d+(?:\.\d+)?)$/
const KEYWORDS: ReadonlySet<string> = new Set(keywords)
const MODIFIER_WORDS = new Set(['once', 'limit', 'per', 'within', 'weighted', 'after', 'to'])
const COMPARISON_PUNCT: ReadonlySet<string> = new Set(['==', '!=', '<', '<=', '>', '>='])
const OPERATOR_LIST = '==, !=, <, <=, >, >=, in, contains, startsWith, endsWith, includes, matches or exists'

const span = (a: Range, b: Range): Range => ({ start: a.start, end: b.end })

function describe (t: Token): string {
  if (t.kind === 'eof') return 'the end of the file'
  const text = t.text.length > 30 ? `${t.text.slice(0, 30)}…` : t.text
  return t.kind === 'string' ? text : `'${text}'`
}

class Parser {
  private pos = 0
  private ruleCount = 0
  private leafCount = 0
  /** Tokens from index `base` on; earlier ones have been released. */
  private readonly buffer: Token[] = []
  private base = 0
  private eof: Token | undefined
  private readonly diags: DiagnosticList

  constructor (private readonly lexer: Lexer) {
    this.diags = lexer.diagnostics
  }

  // ---------------------------------------------------------------- helpers

  /** The token at absolute index `i`, lexing on demand. */
  private tokenAt (i: number): Token {
    while (this.eof === undefined && this.base + this.buffer.length <= i) {
      const t = this.lexer.next()
      this.buffer.push(t)
      if (t.kind === 'eof') this.eof = t
    }
    return this.buffer[i - this.base] ?? (this.eof as Token)
  }

  /** The `eof` token (lexing everything that is left). */
  endOfInput (): Token {
    while (this.eof === undefined) this.tokenAt(this.base + this.buffer.length)
    return this.eof
  }

  private peek (k = 0): Token {
    return this.tokenAt(this.pos + k)
  }

  private previous (): Token {
    return this.tokenAt(Math.max(0, this.pos - 1))
  }

  /** Moves to the next token, releasing tokens that can no longer be looked at. */
  private step (): void {
    this.pos++
    const keepFrom = this.pos - 1
    if (keepFrom - this.base > 1024) {
      this.buffer.splice(0, keepFrom - this.base)
      this.base = keepFrom
    }
  }

  private advance (): Token {
    const t = this.peek()
    if (t.kind !== 'eof') this.step()
    return t
  }

  private static isWord (t: Token | undefined, word: string): boolean {
    return t !== undefined && t.kind === 'word' && t.text === word
  }

  private atWord (word: string): boolean {
    return Parser.isWord(this.peek(), word)
  }

  private atPunct (p: string): boolean {
    const t = this.peek()
    return t.kind === 'punct' && t.text === p
  }

  /**
   * True if the token at `index` begins a top-level statement. `rule` always
   * does; other statement keywords only count at the start of a line, so
   * that e.g. `set intent 100` is not mistaken for an `intent label`.
   */
  private isStatementStart (index = this.pos): boolean {
    const t = this.tokenAt(index)
    if (t.kind !== 'word') return false
    const next = this.tokenAt(index + 1)
    switch (t.text) {
      case 'rule':
        return true
      case 'fit':
        // at a line start only, so `then +5 fit rule "Next"` keeps reading as before
        return t.lineStart && Parser.isWord(next, 'rule')
      case 'cap':
      case 'floor':
      case 'decay':
      case 'stage':
      case 'grade':
        return t.lineStart
      case 'intent':
        return t.lineStart && Parser.isWord(next, 'label')
      case 'event':
        return t.lineStart && Parser.isWord(next, 'type')
      case 'known':
        return t.lineStart && Parser.isWord(next, 'events')
      default:
        return false
    }
  }

  /** Where to report "expected …": the current token, or the previous one if the current is on a later line. */
  private expectedRange (): Range {
    const t = this.peek()
    if ((t.kind === 'eof' || t.lineStart) && this.pos > 0) return this.previous().range
    return t.range
  }

  private report (code: DiagnosticCode, message: string, range: Range): void {
    if (this.lexer.errorStarts.has(`${range.start.line}:${range.start.column}`)) {
      // Already explained by a lexical error; still counts as a syntax error.
      this.diags.errorCount++
      return
    }
    this.diags.add(code, message, range)
  }

  private fail (code: DiagnosticCode, message: string, range: Range = this.expectedRange()): never {
    this.report(code, message, range)
    throw ABORT
  }

  private expectWord (word: string, context: string): Token {
    if (this.atWord(word)) return this.advance()
    return this.fail('DSL006', `Expected '${word}' ${context}, found ${describe(this.peek())}.`)
  }

  private syncToStatement (): void {
    while (this.peek().kind !== 'eof' && !this.isStatementStart()) this.step()
  }

  private syncWithinRule (): void {
    while (this.peek().kind !== 'eof' && !this.atWord('then') && !this.isStatementStart()) this.step()
  }

  // ------------------------------------------------------------- statements

  parseRuleset (): StatementAst[] {
    const statements: StatementAst[] = []
    while (this.peek().kind !== 'eof') {
      const startPos = this.pos
      try {
        const statement = this.parseStatement()
        if (statement !== undefined) statements.push(statement)
      } catch (error) {
        if (error !== ABORT) throw error
        if (this.pos === startPos) this.advance()
        this.syncToStatement()
      }
    }
    return statements
  }

  private parseStatement (): StatementAst | undefined {
    const t = this.peek()
    if (t.kind === 'word') {
      const next = this.peek(1)
      switch (t.text) {
        case 'rule':
          return this.parseRule()
        case 'fit':
          if (Parser.isWord(next, 'rule')) return this.parseRule()
          break
        case 'cap':
        case 'floor':
          return this.parseBound()
        case 'decay':
          return this.parseDecay()
        case 'stage':
          return this.parseStage()
        case 'grade':
          return this.parseGrade()
        case 'intent':
          if (Parser.isWord(next, 'label')) return this.parseIntentLabel()
          break
        case 'event':
          if (Parser.isWord(next, 'type')) return this.parseEventAlias()
          break
        case 'known':
          if (Parser.isWord(next, 'events')) return this.parseKnownEvents()
          break
      }
    }
    return this.fail(
      'DSL006',
      `Expected a rule or a setting (rule, cap, floor, decay, stage, grade, intent label, event type, known events), found ${describe(t)}.`,
      t.range,
    )
  }

  private parseBound (): CapStatementAst | FloorStatementAst {
    const kw = this.advance()
    const kind = kw.text === 'cap' ? 'cap' : 'floor'
    const target = this.parseName('a target (total, engagement, fit or intent)')
    const value = this.parseSignedNumber(`the ${kind} value`)
    return { kind, target, value, range: span(kw.range, value.range) }
  }

  private parseDecay (): DecayStatementAst {
    const kw = this.advance()
    const dimension = this.parseName('the dimension to decay (engagement)')
    const percent = this.parseSignedNumber('a percentage such as 5%')
    if (!this.atPunct('%')) this.fail('DSL006', `Expected '%' after the decay percentage, found ${describe(this.peek())}.`)
    this.advance()
    this.expectWord('every', 'after the decay percentage')
    const every = this.parseDuration("after 'every'")
    const decay: DecayStatementAst = { kind: 'decay', dimension, percent, every, range: kw.range }
    if (this.atWord('after')) {
      this.advance()
      decay.after = this.parseDuration("after 'after'")
      if (this.atWord('inactivity')) this.advance()
    }
    if (this.atWord('curve')) {
      this.advance()
      const c = this.peek()
      if (!Parser.isWord(c, 'linear') && !Parser.isWord(c, 'exponential')) {
        this.fail('DSL006', `Expected 'linear' or 'exponential' after 'curve', found ${describe(c)}.`)
      }
      this.advance()
      decay.curve = { kind: 'name', value: c.text, range: c.range }
    }
    decay.range = span(kw.range, this.previous().range)
    return decay
  }

  private parseStage (): StageStatementAst {
    const kw = this.advance()
    const name = this.parseName('a stage name')
    this.expectWord('at', 'after the stage name')
    const min = this.parseSignedNumber('the stage threshold')
    const stage: StageStatementAst = { kind: 'stage', name, min, range: span(kw.range, min.range) }
    if (this.atWord('exit')) {
      this.advance()
      this.expectWord('below', "after 'exit'")
      stage.exitBelow = this.parseSignedNumber('the exit threshold')
      stage.range = span(kw.range, stage.exitBelow.range)
    }
    return stage
  }

  private parseGrade (): GradeStatementAst {
    const kw = this.advance()
    const name = this.parseName('a grade name')
    this.expectWord('at', 'after the grade name')
    const min = this.parseSignedNumber('the grade threshold')
    return { kind: 'grade', name, min, range: span(kw.range, min.range) }
  }

  private parseIntentLabel (): IntentLabelStatementAst {
    const kw = this.advance()
    this.advance() // label
    const name = this.parseName('an intent label name')
    this.expectWord('at', 'after the intent label name')
    const min = this.parseSignedNumber('the intent threshold')
    return { kind: 'intentLabel', name, min, range: span(kw.range, min.range) }
  }

  private parseEventAlias (): EventAliasStatementAst {
    const kw = this.advance()
    this.advance() // type
    const from = this.parseName('the incoming event type (e.g. "Demo Booked")')
    this.expectWord('is', 'after the incoming event type')
    const to = this.parseName('the event type it stands for')
    return { kind: 'eventAlias', from, to, range: span(kw.range, to.range) }
  }

  private parseKnownEvents (): KnownEventsStatementAst {
    const kw = this.advance()
    this.advance() // events
    const types: NameAst[] = [this.parseName('an event type')]
    while (this.atPunct(',')) {
      this.advance()
      types.push(this.parseName('an event type'))
    }
    const last = types[types.length - 1] as NameAst
    return { kind: 'knownEvents', types, range: span(kw.range, last.range) }
  }

  // ------------------------------------------------------------------ rules

  private parseRule (): RuleAst | undefined {
    const first = this.advance()
    const fit = first.text === 'fit'
    const kw = fit ? span(first.range, this.advance().range) : first.range
    const nameTok = this.peek()
    if (nameTok.kind !== 'string') {
      this.fail('DSL006', `Expected the rule name in double quotes after 'rule', found ${describe(nameTok)}.`)
    }
    this.advance()
    const name: StringAst = { kind: 'string', value: String(nameTok.value), range: nameTok.range }
    const rule: RuleAst = { kind: 'rule', name, range: span(kw, nameTok.range) }
    if (fit) rule.fit = true
    if (this.atWord('priority')) {
      this.advance()
      rule.priority = this.parseSignedNumber('a priority between 1 and 100')
    }

    if (this.atWord('when')) {
      this.advance()
      let parsed = false
      try {
        rule.condition = this.parseCondition()
        parsed = true
      } catch (error) {
        if (error !== ABORT) throw error
        this.syncWithinRule()
      }
      if (parsed && !this.atWord('then')) {
        this.report(
          'DSL008',
          `Expected 'then' after the condition of rule "${clipText(name.value)}", found ${describe(this.peek())}.`,
          this.expectedRange(),
        )
        this.syncWithinRule()
      }
    } else {
      this.report(
        'DSL007',
        `Rule "${clipText(name.value)}" is missing 'when' before its condition (found ${describe(this.peek())}).`,
        this.expectedRange(),
      )
      this.syncWithinRule()
    }

    if (this.atWord('then')) {
      this.advance()
      try {
        rule.action = this.parseAction()
      } catch (error) {
        if (error !== ABORT) throw error
        this.syncToStatement()
      }
    }
    rule.range = span(kw, this.previous().range)

    this.ruleCount++
    if (this.ruleCount > limits.maxRules) {
      if (this.ruleCount === limits.maxRules + 1) {
        this.report(
          'DSL013',
          `A rule set may contain at most ${limits.maxRules} rules; this is rule ${this.ruleCount}.`,
          name.range,
        )
      }
      return undefined
    }
    return rule
  }

  private parseCondition (): ExpressionAst | undefined {
    this.leafCount = 0
    const expr = this.parseOr(0)
    return this.leafCount > limits.maxConditions ? undefined : expr
  }

  private checkCStyleOperator (): void {
    const t = this.peek()
    if (t.kind === 'punct' && (t.text === '&&' || t.text === '||')) {
      this.fail('DSL006', `Use '${t.text === '&&' ? 'and' : 'or'}' instead of '${t.text}'.`, t.range)
    }
  }

  private parseOr (depth: number): ExpressionAst {
    const first = this.parseAnd(depth)
    this.checkCStyleOperator()
    if (!this.atWord('or')) return first
    const operands = [first]
    while (this.atWord('or')) {
      this.advance()
      operands.push(this.parseAnd(depth))
      this.checkCStyleOperator()
    }
    const last = operands[operands.length - 1] as ExpressionAst
    return { kind: 'or', operands, range: span(first.range, last.range) }
  }

  private parseAnd (depth: number): ExpressionAst {
    const first = this.parseUnary(depth)
    this.checkCStyleOperator()
    if (!this.atWord('and')) return first
    const operands = [first]
    while (this.atWord('and')) {
      this.advance()
      operands.push(this.parseUnary(depth))
      this.checkCStyleOperator()
    }
    const last = operands[operands.length - 1] as ExpressionAst
    return { kind: 'and', operands, range: span(first.range, last.range) }
  }

  private enter (t: Token, depth: number): void {
    if (depth > limits.maxNesting) {
      this.fail(
        'DSL011',
        `Conditions may nest at most ${limits.maxNesting} levels deep (parentheses and 'not').`,
        t.range,
      )
    }
  }

  private parseUnary (depth: number): ExpressionAst {
    const t = this.peek()
    if (Parser.isWord(t, 'not')) {
      // A comparison directly under `not` counts as if written `not (…)`,
      // which is how the formatter prints it.
      const next = this.peek(1)
      const wrapsGroup = Parser.isWord(next, 'not') || (next.kind === 'punct' && next.text === '(')
      this.enter(t, wrapsGroup ? depth + 1 : depth + 2)
      this.advance()
      const operand = this.parseUnary(depth + 1)
      return { kind: 'not', operand, range: span(t.range, operand.range) }
    }
    if (t.kind === 'punct' && t.text === '(') {
      this.enter(t, depth + 1)
      this.advance()
      const inner = this.parseOr(depth + 1)
      if (!this.atPunct(')')) {
        this.fail(
          'DSL006',
          `Expected ')' to close the '(' at line ${t.range.start.line}, column ${t.range.start.column}; found ${describe(this.peek())}.`,
        )
      }
      const close = this.advance()
      inner.range = span(t.range, close.range)
      return inner
    }
    return this.parseComparison()
  }

  private parseComparison (): ComparisonAst {
    const t = this.peek()
    if (t.kind !== 'word' || conditionReservedWords.has(t.text) || this.isStatementStart()) {
      if (t.kind === 'word' && t.text === 'then') this.fail('DSL006', "Expected a condition before 'then'.", t.range)
      this.fail('DSL006', `Expected a fact such as event.type, found ${describe(t)}.`)
    }
    this.advance()
    const fact = { kind: 'fact' as const, path: t.text, range: t.range }
    const adjacent = this.peek()
    if (adjacent.kind === 'punct' && (adjacent.text === '[' || adjacent.text === '(') && !adjacent.spaceBefore) {
      this.fail(
        'DSL051',
        `'${adjacent.text}' is not allowed in a fact path; use a plain dot path such as event.properties.items.0.`,
        adjacent.range,
      )
    }
    this.leafCount++
    if (this.leafCount === limits.maxConditions + 1) {
      this.report('DSL012', `A rule may contain at most ${limits.maxConditions} conditions.`, t.range)
    }

    const opTok = this.peek()
    if (opTok.kind === 'punct' && COMPARISON_PUNCT.has(opTok.text)) {
      this.advance()
      const value = this.parseScalar(`after '${opTok.text}'`)
      return this.comparison(fact, opTok.text as ComparisonOperator, false, value, span(t.range, value.range))
    }
    if (opTok.kind === 'punct' && opTok.text === '=') {
      this.fail('DSL006', "Use '==' to compare values.", opTok.range)
    }
    let negated = false
    let wordTok = opTok
    if (Parser.isWord(opTok, 'not')) {
      this.advance()
      negated = true
      wordTok = this.peek()
      if (wordTok.kind !== 'word' || !wordOperators.includes(wordTok.text)) {
        this.fail(
          'DSL006',
          `Expected in, contains, exists, startsWith, endsWith, includes or matches after 'not', found ${describe(wordTok)}.`,
        )
      }
    }
    if (wordTok.kind !== 'word' || !wordOperators.includes(wordTok.text)) {
      return this.fail('DSL006', `Expected an operator (${OPERATOR_LIST}) after '${t.text}', found ${describe(wordTok)}.`)
    }
    this.advance()
    const operator = wordTok.text as ComparisonOperator
    switch (operator) {
      case 'exists':
        return this.comparison(fact, operator, negated, undefined, span(t.range, wordTok.range))
      case 'in': {
        const value = this.atFactValue() ? this.parseFactValue() : this.parseList()
        return this.comparison(fact, operator, negated, value, span(t.range, value.range))
      }
      case 'matches': {
        if (this.atWord('any')) {
          this.advance()
          const value = this.atFactValue() ? this.parseFactValue() : this.parseList('matches any')
          return this.comparison(fact, 'matchesAny', negated, value, span(t.range, value.range))
        }
        const r = this.peek()
        if (r.kind !== 'regex') {
          this.fail('DSL010', `Expected a regular expression such as /^\\/pricing/i after 'matches', found ${describe(r)}.`)
        }
        this.advance()
        const value = { kind: 'regex' as const, pattern: String(r.value), flags: r.flags, range: r.range }
        return this.comparison(fact, operator, negated, value, span(t.range, r.range))
      }
      default: {
        const value = this.parseScalar(`after '${operator}'`)
        return this.comparison(fact, operator, negated, value, span(t.range, value.range))
      }
    }
  }

  private comparison (
    fact: ComparisonAst['fact'],
    operator: ComparisonOperator,
    negated: boolean,
    value: ComparisonAst['value'],
    range: Range,
  ): ComparisonAst {
    const node: ComparisonAst = { kind: 'comparison', fact, operator, negated, range }
    if (value !== undefined) node.value = value
    return node
  }

  private parseScalar (context: string, inList = false): ScalarLiteralAst {
    const t = this.peek()
    switch (t.kind) {
      case 'string':
        this.advance()
        return { kind: 'string', value: String(t.value), range: t.range }
      case 'number':
        this.advance()
        return { kind: 'number', value: Number(t.value), range: t.range }
      case 'duration':
        return this.fail('DSL004', `'${t.text}' is not a number.`, t.range)
      case 'punct':
        if (t.text === '+' || t.text === '-') return this.parseSignedNumber(`a number ${context}`)
        if (t.text === '[') {
          this.fail(
            'DSL010',
            inList ? 'Lists cannot be nested.' : "Lists are only allowed after 'in' and 'not in'.",
            t.range,
          )
        }
        break
      case 'word':
        if (t.text === 'true' || t.text === 'false') {
          this.advance()
          return { kind: 'boolean', value: t.text === 'true', range: t.range }
        }
        if (!this.isStatementStart() && !t.lineStart && !KEYWORDS.has(t.text)) {
          this.fail(
            'DSL010',
            `Expected a value ${context}, found '${t.text}'. Text values need double quotes: "${t.text}".`,
            t.range,
          )
        }
        break
      default:
        break
    }
    return this.fail('DSL010', `Expected a value (text, number, true or false) ${context}, found ${describe(t)}.`)
  }

  /** A dotted fact path where a value is expected (`in offer.icp.industries`); a bare word is a missing quote. */
  private atFactValue (): boolean {
    const t = this.peek()
    return t.kind === 'word' && t.text.includes('.') && !this.isStatementStart() && !conditionReservedWords.has(t.text)
  }

  private parseFactValue (): FactRefAst {
    const t = this.advance()
    return { kind: 'fact', path: t.text, range: t.range }
  }

  private parseList (after = 'in'): ListAst {
    const open = this.peek()
    if (open.kind !== 'punct' || open.text !== '[') {
      this.fail('DSL010', `Expected a list such as ["a", "b"] or a list fact such as offer.icp.industries after '${after}', found ${describe(open)}.`)
    }
    this.advance()
    const items: ScalarLiteralAst[] = []
    while (!this.atPunct(']')) {
      if (this.peek().kind === 'eof' || this.isStatementStart()) {
        this.fail('DSL006', `Expected ']' to close the list opened at line ${open.range.start.line}.`)
      }
      items.push(this.parseScalar('in the list', true))
      if (this.atPunct(',')) {
        this.advance()
      } else if (!this.atPunct(']')) {
        this.fail('DSL006', `Expected ',' or ']' in the list, found ${describe(this.peek())}.`)
      }
    }
    const close = this.advance()
    return { kind: 'list', items, range: span(open.range, close.range) }
  }

  // ---------------------------------------------------------------- actions

  private isDimensionCandidate (): boolean {
    const t = this.peek()
    return (
      t.kind === 'word' &&
      !t.lineStart &&
      !this.isStatementStart() &&
      !MODIFIER_WORDS.has(t.text) &&
      !MULTIPLIER_RE.test(t.text) &&
      t.text !== 'x' &&
      !conditionReservedWords.has(t.text)
    )
  }

  private parseAction (): ActionAst {
    const t = this.peek()
    let action: ActionAst
    if (t.kind === 'punct' && (t.text === '+' || t.text === '-')) {
      this.advance()
      const n = this.peek()
      if (n.kind !== 'number') {
        this.fail('DSL009', `Expected points after '${t.text}', e.g. ${t.text}10; found ${describe(n)}.`)
      }
      this.advance()
      const magnitude = Number(n.value)
      const value = t.text === '-' && magnitude !== 0 ? -magnitude : magnitude
      action = { kind: 'add', points: { kind: 'number', value, range: span(t.range, n.range) }, range: t.range }
      if (this.isDimensionCandidate()) action.dimension = this.nameFromToken(this.advance())
    } else if (Parser.isWord(t, 'set')) {
      this.advance()
      action = { kind: 'set', range: t.range }
      if (this.isDimensionCandidate()) action.dimension = this.nameFromToken(this.advance())
      if (this.atWord('to')) this.advance()
      action.points = this.parseSignedNumber("the value to set (e.g. 'set intent 100')")
    } else if (Parser.isWord(t, 'reset')) {
      this.advance()
      action = { kind: 'reset', range: t.range }
    } else if (t.kind === 'number') {
      return this.fail(
        'DSL009',
        `Points need a sign: write +${t.text} to add or -${t.text} to subtract (or 'set <dimension> ${t.text}').`,
        t.range,
      )
    } else {
      return this.fail(
        'DSL009',
        `Expected an action after 'then' (+N or -N [dimension], set <dimension> N, or reset), found ${describe(t)}.`,
      )
    }
    this.parseModifiers(action)
    action.range = span(t.range, this.previous().range)
    return action
  }

  private parseModifiers (action: ActionAst): void {
    for (;;) {
      const m = this.peek()
      if (m.kind === 'string') {
        this.advance()
        if (action.reason) this.report('DSL023', 'A rule can have only one note.', m.range)
        else action.reason = { kind: 'string', value: String(m.value), range: m.range }
        continue
      }
      if (m.kind !== 'word' || this.isStatementStart()) return
      if (m.text === 'once' || m.text === 'limit') {
        this.advance()
        const count: NumberAst =
          m.text === 'once' ? { kind: 'number', value: 1, range: m.range } : this.parseSignedNumber("a count after 'limit'")
        const limit: LimitAst = { kind: 'limit', count, range: span(m.range, count.range) }
        if (this.atWord('per')) {
          this.advance()
          limit.per = this.parseDuration("after 'per'")
          limit.range = span(m.range, limit.per.range)
        }
        if (action.limit) this.report('DSL023', "A rule can have only one 'once' or 'limit'.", limit.range)
        else action.limit = limit
        continue
      }
      if (m.text === 'within') {
        this.advance()
        const within = this.parseDuration("after 'within'")
        if (action.within) this.report('DSL023', "A rule can have only one 'within'.", span(m.range, within.range))
        else action.within = within
        continue
      }
      if (m.text === 'weighted') {
        this.advance()
        const recency = this.parseRecency(m.range)
        if (action.recency) this.report('DSL023', "A rule can have only one 'weighted'.", recency.range)
        else action.recency = recency
        continue
      }
      const mult = MULTIPLIER_RE.exec(m.text)
      if (mult !== null || (m.text === 'x' && this.peek(1).kind === 'number')) {
        this.advance()
        let factor: NumberAst
        if (mult !== null) {
          factor = { kind: 'number', value: Number(mult[1]), range: m.range }
        } else {
          const n = this.advance()
          factor = { kind: 'number', value: Number(n.value), range: span(m.range, n.range) }
        }
        this.expectWord('after', 'after the multiplier (e.g. x2 after 3)')
        const after = this.parseSignedNumber("a count after 'after'")
        const multiplier = { kind: 'multiplier' as const, factor, after, range: span(m.range, after.range) }
        if (action.multiplier) this.report('DSL023', 'A rule can have only one multiplier.', multiplier.range)
        else action.multiplier = multiplier
        continue
      }
      return
    }
  }

  /** After `weighted`: `P% within D` tiers separated by commas, optionally ending with a bare `P%` for older events. */
  private parseRecency (start: Range): RecencyAst {
    const recency: RecencyAst = { kind: 'recency', tiers: [], range: start }
    for (;;) {
      const percent = this.parseSignedNumber("a weight such as 50% after 'weighted'")
      if (!this.atPunct('%')) this.fail('DSL006', `Expected '%' after the weight, found ${describe(this.peek())}.`)
      const pct = this.advance()
      if (this.atWord('within')) {
        this.advance()
        const within = this.parseDuration("after the weight's 'within'")
        recency.tiers.push({ percent, within, range: span(percent.range, within.range) })
        recency.range = span(start, within.range)
        if (!this.atPunct(',')) return recency
        this.advance()
        continue
      }
      // a bare percentage weighs every older event and ends the list
      recency.otherwise = percent
      recency.range = span(start, pct.range)
      return recency
    }
  }

  // ----------------------------------------------------------------- values

  private nameFromToken (t: Token): NameAst {
    return { kind: 'name', value: t.kind === 'string' ? String(t.value) : t.text, range: t.range }
  }

  private parseName (what: string): NameAst {
    const t = this.peek()
    if (t.kind === 'string' || (t.kind === 'word' && !this.isStatementStart())) {
      this.advance()
      return this.nameFromToken(t)
    }
    return this.fail('DSL006', `Expected ${what}, found ${describe(t)}.`)
  }

  private parseSignedNumber (what: string): NumberAst {
    const first = this.peek()
    let sign = 1
    if (first.kind === 'punct' && (first.text === '+' || first.text === '-')) {
      sign = first.text === '-' ? -1 : 1
      this.advance()
    }
    const t = this.peek()
    if (t.kind === 'number') {
      this.advance()
      const magnitude = Number(t.value)
      const value = sign < 0 && magnitude !== 0 ? -magnitude : magnitude
      return { kind: 'number', value, range: span(first.range, t.range) }
    }
    if (t.kind === 'duration') return this.fail('DSL004', `'${t.text}' is not a number.`, t.range)
    return this.fail('DSL006', `Expected ${what}, found ${describe(t)}.`)
  }

  private parseDuration (context: string): DurationAst {
    const t = this.peek()
    if (t.kind === 'duration' || t.kind === 'number') {
      this.advance()
      return { kind: 'duration', text: t.text, range: t.range }
    }
    return this.fail(
      'DSL020',
      `Expected a duration such as 30d (units: m, h, d, w) ${context}, found ${describe(t)}.`,
    )
  }
}
