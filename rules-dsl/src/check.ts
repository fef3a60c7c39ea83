/**
 * Semantic checks: DSL AST + fact catalog → diagnostics.
 *
 * @module
 */

import type { ComparisonAst, ComparisonValueAst, RulesetAst } from './ast.js'
import type { Diagnostic } from './diagnostic.js'
import { DiagnosticList, sortDiagnostics } from './diagnostic-list.js'
import type { Range } from './diagnostic.js'
import { clipText } from './clip-text.js'
import { closestMatch } from './closest-match.js'
import { lookupFact, type FactCatalog, type FactType } from './fact-catalog.js'
import { checkFactPath, validate } from './validate.js'

const ISO_DATE_RE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/
const MAX_SUGGESTION_LOOKUPS = 1000

/**
 * Checks a parsed rule set against a fact catalog.
 *
 * Reports everything {@link parse} does not: unknown facts (with a "did you
 * mean" suggestion), type mismatches, unknown dimensions, duplicate rule
 * ids, invalid durations and numbers, unsafe regular expressions, forbidden
 * or malformed fact paths, stage ordering, conflicting settings, unknown
 * event types and rules shadowed by a reset rule. Parts of the tree that
 * failed to parse are skipped, so errors do not cascade.
 *
 * @param ast - a tree from {@link parse} (or built by hand).
 * @param catalog - the facts rules may use; see {@link FactCatalog}.
 * @returns diagnostics ordered by position.
 * @throws TypeError if `ast` or `catalog` is not an object of the expected shape.
 */
export function check (ast: RulesetAst, catalog: FactCatalog): Diagnostic[] {
  if (ast === null || typeof ast !== 'object' || !Array.isArray(ast.statements)) {
    throw new TypeError('check(ast, catalog): ast must be a RulesetAst (as returned by parse)')
  }
  if (catalog === null || typeof catalog !== 'object' || Array.isArray(catalog)) {
    throw new TypeError('check(ast, catalog): catalog must be an object mapping fact paths to descriptors')
  }
  const diags = new DiagnosticList()
  const { leaves } = validate(ast, diags)
  const resolver = new FactResolver(catalog)
  for (const comparisons of leaves.values()) {
    for (const leaf of comparisons) {
      const scratch = new DiagnosticList()
      if (!checkFactPath(leaf.fact.path, leaf.fact.range, scratch)) continue
      const type = resolver.typeOf(leaf, diags)
      checkTypes(leaf, type, diags)
      if (leaf.value?.kind === 'fact') checkFactValue(leaf, type, resolver, diags)
    }
  }
  return sortDiagnostics(diags.items)
}

/** Memoised catalog lookups and suggestions. */
class FactResolver {
  private readonly types = new Map<string, FactType | undefined>()
  private readonly suggestions = new Map<string, string | undefined>()
  private readonly exactKeys: string[]
  private readonly wildcardPrefixes: string[]

  constructor (private readonly catalog: FactCatalog) {
    const keys = Object.keys(catalog)
    this.exactKeys = keys.filter((k) => !k.endsWith('.*'))
    this.wildcardPrefixes = keys.filter((k) => k.endsWith('.*')).map((k) => k.slice(0, -2))
  }

  /** Returns the fact's type, reporting DSL040 (and returning 'any') if it is unknown. */
  typeOf (leaf: ComparisonAst, diags: DiagnosticList): FactType {
    return this.typeOfPath(leaf.fact.path, leaf.fact.range, diags)
  }

  /** Returns the type of the fact at `path`, reporting DSL040 at `range` (and returning 'any') if it is unknown. */
  typeOfPath (path: string, range: Range, diags: DiagnosticList): FactType {
    if (!this.types.has(path)) {
      const entry = lookupFact(this.catalog, path)
      const t = entry?.type
      this.types.set(path, isFactType(t) ? t : entry ? 'any' : undefined)
    }
    const type = this.types.get(path)
    if (type !== undefined) return type
    const guess = this.suggest(path)
    diags.add('DSL040', `Unknown fact '${clipText(path)}'.${guess ? ` Did you mean '${guess}'?` : ''}`, range)
    return 'any'
  }

  private suggest (path: string): string | undefined {
    if (this.suggestions.has(path)) return this.suggestions.get(path)
    let guess: string | undefined
    if (this.suggestions.size < MAX_SUGGESTION_LOOKUPS) {
      const segments = path.split('.')
      const candidates = [...this.exactKeys]
      for (const prefix of this.wildcardPrefixes) {
        const depth = prefix.split('.').length
        if (segments.length > depth) candidates.push(`${prefix}.${segments.slice(depth).join('.')}`)
      }
      guess = closestMatch(path, candidates)
    }
    this.suggestions.set(path, guess)
    return guess
  }
}

function isFactType (t: unknown): t is FactType {
  return t === 'number' || t === 'string' || t === 'boolean' || t === 'string[]' || t === 'date' || t === 'any'
}

type ValueKind = 'string' | 'number' | 'boolean' | 'list' | 'regex' | 'fact' | 'none'

function kindOf (value: ComparisonValueAst | undefined): ValueKind {
  return value === undefined ? 'none' : value.kind
}

function describeValue (value: ComparisonValueAst): string {
  switch (value.kind) {
    case 'string':
      return `the text ${JSON.stringify(clipText(value.value))}`
    case 'number':
      return `the number ${value.value}`
    case 'boolean':
      return `the boolean ${value.value}`
    case 'list':
      return 'a list'
    case 'regex':
      return 'a regular expression'
    case 'fact':
      return `the fact ${clipText(value.path)}`
  }
}

/** The value kinds each operator accepts, regardless of the fact. */
const OPERATOR_VALUES: Record<ComparisonAst['operator'], readonly ValueKind[]> = {
  '==': ['string', 'number', 'boolean'],
  '!=': ['string', 'number', 'boolean'],
  '<': ['number', 'string'],
  '<=': ['number', 'string'],
  '>': ['number', 'string'],
  '>=': ['number', 'string'],
  in: ['list', 'fact'],
  contains: ['string', 'number', 'boolean'],
  startsWith: ['string'],
  endsWith: ['string'],
  includes: ['string'],
  matches: ['regex'],
  matchesAny: ['list', 'fact'],
  exists: ['none'],
}

/** Operators allowed for each fact type. */
const TYPE_OPERATORS: Record<Exclude<FactType, 'any'>, ReadonlySet<string>> = {
  number: new Set(['==', '!=', '<', '<=', '>', '>=', 'in', 'exists']),
  string: new Set(['==', '!=', 'in', 'startsWith', 'endsWith', 'includes', 'matches', 'matchesAny', 'exists']),
  boolean: new Set(['==', '!=', 'in', 'exists']),
  'string[]': new Set(['contains', 'exists']),
  date: new Set(['==', '!=', '<', '<=', '>', '>=', 'in', 'exists']),
}

function operatorName (leaf: ComparisonAst): string {
  const op = leaf.operator === 'matchesAny' ? 'matches any' : leaf.operator
  return leaf.negated ? `not ${op}` : op
}

/**
 * `in <fact>` and `matches any <fact>` compare text with the entries of a list fact read when the rule runs: the
 * fact must be a list of strings (or untyped), and the compared fact text.
 */
function checkFactValue (leaf: ComparisonAst, type: FactType, resolver: FactResolver, diags: DiagnosticList): void {
  const value = leaf.value
  if (value?.kind !== 'fact') return
  const scratch = new DiagnosticList()
  if (!checkFactPath(value.path, value.range, scratch)) return
  if (type !== 'any' && type !== 'string') {
    diags.add('DSL041', `'${operatorName(leaf)} ${clipText(value.path)}' compares text, but ${leaf.fact.path} is ${article(type)}.`, leaf.range)
    return
  }
  const listType = resolver.typeOfPath(value.path, value.range, diags)
  if (listType !== 'any' && listType !== 'string[]') {
    diags.add('DSL041', `${clipText(value.path)} is ${article(listType)}; '${operatorName(leaf)}' needs a list of strings.`, value.range)
  }
}

function operatorHint (leaf: ComparisonAst, type: FactType): string {
  if (type === 'string[]' && (leaf.operator === '==' || leaf.operator === '!=' || leaf.operator === 'in')) {
    return " Use 'contains' to test whether the list has an element."
  }
  if (type === 'string' && leaf.operator === 'contains') return " Use 'includes' for a case-insensitive substring test."
  return ''
}

function checkTypes (leaf: ComparisonAst, type: FactType, diags: DiagnosticList): void {
  const path = leaf.fact.path
  const op = operatorName(leaf)
  const value = leaf.value
  const kind = kindOf(value)

  if (type !== 'any' && !TYPE_OPERATORS[type].has(leaf.operator)) {
    diags.add(
      'DSL041',
      `'${op}' cannot be used with ${path}, which is ${article(type)}.${operatorHint(leaf, type)}`,
      leaf.range,
    )
    return
  }
  if (!OPERATOR_VALUES[leaf.operator].includes(kind)) {
    if (value === undefined) return
    diags.add('DSL041', `'${op}' cannot compare ${path} with ${describeValue(value)}.`, value.range)
    return
  }
  if (leaf.operator === 'matchesAny' && value?.kind === 'list') {
    for (const item of value.items) {
      if (item.kind !== 'string') diags.add('DSL041', `'${op}' looks for words, not ${describeValue(item)}.`, item.range)
    }
    return
  }
  if (type === 'any' || value === undefined) {
    // Relational operators still need numbers (or date strings).
    if (value && ['<', '<=', '>', '>='].includes(leaf.operator) && value.kind === 'string' && !ISO_DATE_RE.test(value.value)) {
      diags.add('DSL041', `'${op}' compares numbers or ISO dates, not ${describeValue(value)}.`, value.range)
    }
    return
  }
  const scalars = value.kind === 'list' ? value.items : value.kind === 'regex' || value.kind === 'fact' ? [] : [value]
  for (const item of scalars) {
    const expected: ValueKind =
      type === 'number' ? 'number' : type === 'boolean' ? 'boolean' : 'string' // string, string[] (element), date
    if (item.kind !== expected) {
      const hint = expected === 'number' && item.kind === 'string' && /^-?\d+(\.\d+)?$/.test(item.value) ? ' Remove the quotes.' : ''
      diags.add('DSL041', `${path} is ${article(type)}, but it is compared with ${describeValue(item)}.${hint}`, item.range)
    } else if (type === 'date' && item.kind === 'string' && !ISO_DATE_RE.test(item.value)) {
      diags.add('DSL041', `${path} is a date; compare it with an ISO 8601 date such as "2025-01-31".`, item.range)
    }
  }
}

function article (type: FactType): string {
  switch (type) {
    case 'string[]':
      return 'a list of strings'
    case 'any':
      return 'untyped'
    default:
      return `a ${type}`
  }
}
