/**
 * The pretty-printer: {@link RulesetAst} → canonical DSL text.
 *
 * @module
 */

import type {
  ActionAst,
  CommentAst,
  ExpressionAst,
  LiteralAst,
  NameAst,
  NumberAst,
  DurationAst,
  RuleAst,
  RulesetAst,
  StatementAst,
} from './ast.js'
import type { Position } from './diagnostic.js'
import { parseDurationText } from './duration.js'
import { keywords } from './keywords.js'
import { measureCondition } from './measure-condition.js'
import { quote } from './quote.js'

/** Lines longer than this are wrapped where the grammar allows it. */
const MAX_LINE = 100
const BARE_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*$/
const KEYWORDS = new Set(keywords)

type Item =
  | { kind: 'comment'; text: string; first: number; last: number; blank: boolean }
  | { kind: 'statement'; statement: StatementAst; trailing?: string; first: number; last: number; blank: boolean }

const before = (a: Position, b: Position): boolean => a.line < b.line || (a.line === b.line && a.column < b.column)

/**
 * Prints a rule set in canonical form.
 *
 * - one statement per line; rules use three lines (`rule`, `when`, `then`),
 *   indented by two spaces, with long conditions wrapped before `and`/`or`;
 * - rules are separated from their surroundings by one blank line; other
 *   blank lines from the source are kept (runs collapse to one);
 * - comments stay in place; a comment inside a statement moves to the line
 *   above it, and a comment after a statement's last token stays at the end
 *   of its last line;
 * - redundant parentheses are dropped and strings, numbers and durations
 *   are written in one canonical spelling.
 *
 * Comment and blank-line placement use node ranges; hand-built trees with
 * placeholder ranges print without extra blank lines.
 *
 * @throws TypeError if the tree is incomplete (a rule without condition or
 *   action) or nests deeper than the language allows.
 */
export function print (ast: RulesetAst): string {
  if (ast === null || typeof ast !== 'object' || !Array.isArray(ast.statements)) {
    throw new TypeError('print(ast): ast must be a RulesetAst (as returned by parse)')
  }
  const items = buildItems(ast.statements, Array.isArray(ast.comments) ? ast.comments : [])

  const forced = new Set<number>()
  items.forEach((item, r) => {
    if (item.kind !== 'statement' || item.statement.kind !== 'rule') return
    let s = r
    while (s > 0 && items[s - 1]?.kind === 'comment' && !items[s]?.blank) s--
    if (s > 0) forced.add(s)
    forced.add(r + 1)
  })

  const out: string[] = []
  items.forEach((item, i) => {
    if (i > 0 && (item.blank || forced.has(i))) out.push('')
    if (item.kind === 'comment') {
      out.push(item.text)
      return
    }
    const lines = printStatement(item.statement)
    if (item.trailing !== undefined) lines[lines.length - 1] += ` ${item.trailing}`
    out.push(...lines)
  })
  return out.length === 0 ? '' : `${out.join('\n')}\n`
}

function buildItems (statements: StatementAst[], comments: CommentAst[]): Item[] {
  const items: Item[] = []
  let ci = 0
  let lastLine = -Infinity
  const gap = (first: number): boolean => first - lastLine > 1
  const pushComment = (c: CommentAst): void => {
    items.push({ kind: 'comment', text: c.text.trimEnd(), first: c.range.start.line, last: c.range.start.line, blank: gap(c.range.start.line) })
    lastLine = c.range.start.line
  }
  for (const statement of statements) {
    const { start, end } = statement.range
    while (ci < comments.length && before((comments[ci] as CommentAst).range.start, start)) pushComment(comments[ci++] as CommentAst)
    const hoisted: CommentAst[] = []
    while (ci < comments.length && before((comments[ci] as CommentAst).range.start, end)) hoisted.push(comments[ci++] as CommentAst)
    let trailing: string | undefined
    const next = comments[ci]
    if (next !== undefined && next.range.start.line === end.line) {
      trailing = next.text.trimEnd()
      ci++
    }
    let blank = gap(start.line)
    for (const c of hoisted) {
      items.push({ kind: 'comment', text: c.text.trimEnd(), first: c.range.start.line, last: c.range.start.line, blank })
      blank = false
    }
    const item: Item = { kind: 'statement', statement, first: start.line, last: end.line, blank }
    if (trailing !== undefined) item.trailing = trailing
    items.push(item)
    lastLine = Math.max(lastLine, end.line)
  }
  while (ci < comments.length) pushComment(comments[ci++] as CommentAst)
  return items
}

function printStatement (s: StatementAst): string[] {
  switch (s.kind) {
    case 'cap':
    case 'floor':
      return [`${s.kind} ${word(s.target)} ${num(s.value)}`]
    case 'decay': {
      let line = `decay ${word(s.dimension)} ${num(s.percent)}% every ${duration(s.every)}`
      if (s.after) line += ` after ${duration(s.after)} inactivity`
      if (s.curve) line += ` curve ${s.curve.value}`
      return [line]
    }
    case 'stage':
      return [`stage ${name(s.name)} at ${num(s.min)}${s.exitBelow ? ` exit below ${num(s.exitBelow)}` : ''}`]
    case 'grade':
      return [`grade ${name(s.name)} at ${num(s.min)}`]
    case 'intentLabel':
      return [`intent label ${name(s.name)} at ${num(s.min)}`]
    case 'eventAlias':
      return [`event type ${name(s.from)} is ${name(s.to)}`]
    case 'knownEvents':
      return wrapList('known events ', s.types.map(name))
    case 'rule':
      return printRule(s)
    default:
      throw new TypeError(`print(ast): unknown statement kind '${(s as { kind: unknown }).kind}'`)
  }
}

function wrapList (prefix: string, parts: string[]): string[] {
  const oneLine = prefix + parts.join(', ')
  if (oneLine.length <= MAX_LINE) return [oneLine]
  const lines: string[] = []
  let current = prefix
  let currentHasItem = false
  parts.forEach((part, i) => {
    const piece = part + (i < parts.length - 1 ? ',' : '')
    if (currentHasItem && current.length + 1 + piece.length > MAX_LINE) {
      lines.push(current)
      current = `  ${piece}`
    } else {
      current += currentHasItem ? ` ${piece}` : piece
    }
    currentHasItem = true
  })
  lines.push(current)
  return lines
}

function printRule (rule: RuleAst): string[] {
  if (!rule.condition || !rule.action) {
    throw new TypeError(`print(ast): rule "${rule.name.value}" is incomplete (missing condition or action)`)
  }
  if (measureCondition(rule.condition).tooDeep) {
    throw new TypeError(`print(ast): the condition of rule "${rule.name.value}" nests too deeply`)
  }
  const header = `${rule.fit ? 'fit ' : ''}rule ${quote(rule.name.value)}${rule.priority ? ` priority ${num(rule.priority)}` : ''}`
  return [header, ...printWhen(rule.condition), `  then ${printAction(rule.action)}`]
}

function printWhen (condition: ExpressionAst): string[] {
  const oneLine = `  when ${expr(condition)}`
  if (oneLine.length <= MAX_LINE || (condition.kind !== 'and' && condition.kind !== 'or')) return [oneLine]
  const parts = operandsOf(condition)
  return parts.map((p, i) => (i === 0 ? `  when ${operand(p, condition.kind)}` : `    ${condition.kind} ${operand(p, condition.kind)}`))
}

/** Operands of an and/or node with same-kind children flattened. */
function operandsOf (node: ExpressionAst & { kind: 'and' | 'or' }): ExpressionAst[] {
  const out: ExpressionAst[] = []
  const stack = [...node.operands].reverse()
  while (stack.length > 0) {
    const op = stack.pop() as ExpressionAst
    if (op.kind === node.kind) {
      for (let i = op.operands.length - 1; i >= 0; i--) stack.push(op.operands[i] as ExpressionAst)
    } else {
      out.push(op)
    }
  }
  return out
}

function operand (e: ExpressionAst, parent: 'and' | 'or'): string {
  return (e.kind === 'and' || e.kind === 'or') && e.kind !== parent ? `(${expr(e)})` : expr(e)
}

function expr (e: ExpressionAst): string {
  switch (e.kind) {
    case 'comparison': {
      const word = e.operator === 'matchesAny' ? 'matches any' : e.operator
      const op = e.negated ? `not ${word}` : word
      if (e.value === undefined) return `${e.fact.path} ${op}`
      return `${e.fact.path} ${op} ${e.value.kind === 'fact' ? e.value.path : literal(e.value)}`
    }
    case 'not':
      return e.operand.kind === 'not' ? `not ${expr(e.operand)}` : `not (${expr(e.operand)})`
    case 'and':
    case 'or': {
      if (e.operands.length === 0) throw new TypeError(`print(ast): empty '${e.kind}'`)
      return operandsOf(e)
        .map((p) => operand(p, e.kind))
        .join(` ${e.kind} `)
    }
    default:
      throw new TypeError(`print(ast): unknown expression kind '${(e as { kind: unknown }).kind}'`)
  }
}

function printAction (a: ActionAst): string {
  const parts: string[] = []
  switch (a.kind) {
    case 'add': {
      const p = a.points?.value ?? 0
      parts.push(p < 0 ? `-${numText(-p)}` : `+${numText(p)}`)
      if (a.dimension) parts.push(word(a.dimension))
      break
    }
    case 'set':
      parts.push('set')
      if (a.dimension) parts.push(word(a.dimension))
      parts.push(a.points ? num(a.points) : '0')
      break
    case 'reset':
      parts.push('reset')
      break
    default:
      throw new TypeError(`print(ast): unknown action kind '${(a as { kind: unknown }).kind}'`)
  }
  if (a.limit) {
    parts.push(a.limit.count.value === 1 ? 'once' : `limit ${num(a.limit.count)}`)
    if (a.limit.per) parts.push(`per ${duration(a.limit.per)}`)
  }
  if (a.within) parts.push(`within ${duration(a.within)}`)
  if (a.recency) {
    const tiers = a.recency.tiers.map((t) => `${numText(t.percent.value)}% within ${duration(t.within)}`)
    if (a.recency.otherwise) tiers.push(`${numText(a.recency.otherwise.value)}%`)
    parts.push(`weighted ${tiers.join(', ')}`)
  }
  if (a.multiplier) parts.push(`x${numText(a.multiplier.factor.value)} after ${num(a.multiplier.after)}`)
  if (a.reason) parts.push(quote(a.reason.value))
  return parts.join(' ')
}

function literal (v: LiteralAst): string {
  switch (v.kind) {
    case 'string':
      return quote(v.value)
    case 'number':
      return numText(v.value)
    case 'boolean':
      return v.value ? 'true' : 'false'
    case 'list':
      return `[${v.items.map(literal).join(', ')}]`
    case 'regex':
      return `/${v.pattern}/${v.flags}`
  }
}

function num (n: NumberAst): string {
  return numText(n.value)
}

function numText (n: number): string {
  return Object.is(n, -0) ? '0' : String(n)
}

function duration (d: DurationAst): string {
  const parsed = parseDurationText(d.text)
  return 'error' in parsed ? d.text : parsed.text
}

/** Prints a dimension or target: keywords such as `intent` stay bare here. */
function word (n: NameAst): string {
  return BARE_NAME_RE.test(n.value) ? n.value : quote(n.value)
}

/** Prints a user-chosen name (stage, grade, event type), quoting it if needed. */
function name (n: NameAst): string {
  return BARE_NAME_RE.test(n.value) && !KEYWORDS.has(n.value) ? n.value : quote(n.value)
}
