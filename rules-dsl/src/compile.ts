/**
 * The compiler: {@link RulesetAst} → json-rules-engine rules + settings.
 *
 * @module
 */

import type { ActionAst, ComparisonAst, ExpressionAst, NameAst, RuleAst, RulesetAst } from './ast.js'
import type {
  CompiledCondition,
  CompiledLeafCondition,
  CompiledOperator,
  CompiledRule,
  CompiledRuleset,
  CompiledTopLevelCondition,
  Dimension,
  FactValue,
  RulesetSettings,
  ScoreBounds,
  ScoreParams,
  ScoreTarget,
  Threshold,
} from './compiled-ruleset.js'
import { DiagnosticList } from './diagnostic-list.js'
import { parseDurationText } from './duration.js'
import { ruleFacts } from './vocabulary.js'
import { scoreTargets } from './keywords.js'
import { slugify } from './slugify.js'
import { validate } from './validate.js'

/** Facts whose first path segment names a built-in fact object. */
const BUILT_IN_FACTS: ReadonlySet<string> = new Set(ruleFacts)

const SYMBOL_OPERATORS: Record<string, CompiledOperator> = {
  '==': 'equal',
  '!=': 'notEqual',
  '<': 'lessThan',
  '<=': 'lessThanInclusive',
  '>': 'greaterThan',
  '>=': 'greaterThanInclusive',
}

/**
 * Compiles a rule set into json-rules-engine rules and rule-set settings.
 *
 * Output is deterministic: keys always appear in the same order, every rule
 * has an explicit `priority` (default 1), and nested `and`/`or` chains of the
 * same kind are flattened. See the package README for the exact format.
 *
 * Precondition: the tree has no error diagnostics. `compile` re-runs the
 * catalog-independent checks and throws if the tree had syntax errors or
 * fails them. Catalog checks (unknown facts, type mismatches) cannot be
 * re-run here: call {@link check} first, or use {@link compileSource}.
 *
 * @throws TypeError if the tree has error diagnostics or is malformed (API misuse).
 */
export function compile (ast: RulesetAst): CompiledRuleset {
  if (ast === null || typeof ast !== 'object' || !Array.isArray(ast.statements)) {
    throw new TypeError('compile(ast): ast must be a RulesetAst (as returned by parse)')
  }
  if ((ast.syntaxErrors ?? 0) > 0) {
    throw new TypeError(`compile(ast): the source has ${ast.syntaxErrors} syntax error(s); fix them before compiling`)
  }
  const diags = new DiagnosticList()
  validate(ast, diags)
  const firstError = diags.items.find((d) => d.severity === 'error')
  if (firstError) {
    const { line, column } = firstError.range.start
    throw new TypeError(
      `compile(ast): the rule set has error diagnostics; first: ${firstError.code} at ${line}:${column}: ${firstError.message}`,
    )
  }

  const rules: CompiledRule[] = []
  const caps: ScoreBounds = {}
  const floors: ScoreBounds = {}
  const decay: NonNullable<RulesetSettings['decay']> = []
  const stages: NonNullable<RulesetSettings['stages']> = []
  const grades: Threshold[] = []
  const intentLabels: Threshold[] = []
  const known: string[] = []
  let aliases: Record<string, string> | undefined

  for (const s of ast.statements) {
    switch (s.kind) {
      case 'rule':
        rules.push(compileRule(s))
        break
      case 'cap':
        caps[s.target.value as ScoreTarget] = s.value.value
        break
      case 'floor':
        floors[s.target.value as ScoreTarget] = s.value.value
        break
      case 'decay': {
        const entry: NonNullable<RulesetSettings['decay']>[number] = {
          dimension: 'engagement',
          percent: s.percent.value,
          every: duration(s.every.text),
        }
        if (s.after) entry.after = duration(s.after.text)
        if (s.curve) {
          if (s.curve.value !== 'linear' && s.curve.value !== 'exponential') {
            throw new TypeError(`compile(ast): unknown decay curve '${s.curve.value}'`)
          }
          entry.curve = s.curve.value
        }
        decay.push(entry)
        break
      }
      case 'stage': {
        const stage: Threshold & { exitBelow?: number } = { name: s.name.value, min: s.min.value }
        if (s.exitBelow) stage.exitBelow = s.exitBelow.value
        stages.push(stage)
        break
      }
      case 'grade':
        grades.push({ name: s.name.value, min: s.min.value })
        break
      case 'intentLabel':
        intentLabels.push({ name: s.name.value, min: s.min.value })
        break
      case 'eventAlias':
        aliases ??= {}
        Object.defineProperty(aliases, s.from.value, {
          value: s.to.value,
          enumerable: true,
          writable: true,
          configurable: true,
        })
        break
      case 'knownEvents':
        for (const t of s.types) if (!known.includes(t.value)) known.push(t.value)
        break
      default:
        throw new TypeError(`compile(ast): unknown statement kind '${(s as { kind: unknown }).kind}'`)
    }
  }

  const settings: RulesetSettings = {}
  const orderedCaps = orderBounds(caps)
  const orderedFloors = orderBounds(floors)
  if (orderedCaps) settings.caps = orderedCaps
  if (orderedFloors) settings.floors = orderedFloors
  if (decay.length > 0) settings.decay = decay
  if (stages.length > 0) settings.stages = stages
  if (grades.length > 0) settings.grades = ascending(grades)
  if (intentLabels.length > 0) settings.intentLabels = ascending(intentLabels)
  if (known.length > 0 || aliases) {
    settings.eventTypes = {}
    if (known.length > 0) settings.eventTypes.known = known
    if (aliases) settings.eventTypes.aliases = aliases
  }
  return { rules, settings }
}

function duration (text: string): string {
  const parsed = parseDurationText(text)
  if ('error' in parsed) throw new TypeError(`compile(ast): ${parsed.error}`)
  return parsed.text
}

function orderBounds (bounds: ScoreBounds): ScoreBounds | undefined {
  const out: ScoreBounds = {}
  let any = false
  for (const t of scoreTargets as readonly ScoreTarget[]) {
    const v = bounds[t]
    if (v !== undefined) {
      out[t] = v
      any = true
    }
  }
  return any ? out : undefined
}

function ascending (list: Threshold[]): Threshold[] {
  return list
    .map((t, i) => ({ t, i }))
    .sort((a, b) => a.t.min - b.t.min || a.i - b.i)
    .map((x) => x.t)
}

function compileRule (rule: RuleAst): CompiledRule {
  if (!rule.condition) throw new TypeError(`compile(ast): rule "${rule.name.value}" has no condition`)
  if (!rule.action) throw new TypeError(`compile(ast): rule "${rule.name.value}" has no action`)
  const ruleId = slugify(rule.name.value)
  const compiled = compileExpression(rule.condition)
  const conditions: CompiledTopLevelCondition = 'fact' in compiled ? { all: [compiled] } : compiled
  return {
    name: ruleId,
    priority: rule.priority?.value ?? 1,
    conditions,
    event: { type: 'score', params: compileAction(rule, ruleId, rule.action) },
  }
}

function compileAction (rule: RuleAst, ruleId: string, action: ActionAst): ScoreParams {
  const params: ScoreParams = { ruleId, action: action.kind }
  if (action.kind === 'add' || action.kind === 'set') {
    if (!action.points) throw new TypeError(`compile(ast): rule "${rule.name.value}" has no points`)
    params.dimension = rule.fit ? 'fit' : dimensionOf(action.dimension)
    params.points = action.points.value
  }
  params.reason = action.reason?.value ?? rule.name.value
  if (action.limit) {
    const limit: NonNullable<ScoreParams['limit']> = { count: action.limit.count.value }
    if (action.limit.per) limit.per = duration(action.limit.per.text)
    params.limit = limit
  }
  if (action.multiplier) {
    params.multiplier = { factor: action.multiplier.factor.value, after: action.multiplier.after.value }
  }
  if (action.within) params.within = duration(action.within.text)
  if (action.recency) {
    params.recency = {
      tiers: action.recency.tiers.map((t) => ({ within: duration(t.within.text), percent: t.percent.value })),
      otherwise: action.recency.otherwise?.value ?? 0,
    }
  }
  if (rule.fit) params.kind = 'fit'
  return params
}

function dimensionOf (name: NameAst | undefined): Dimension {
  return (name?.value ?? 'engagement') as Dimension
}

function compileExpression (expr: ExpressionAst): CompiledCondition {
  switch (expr.kind) {
    case 'comparison':
      return compileComparison(expr)
    case 'not':
      return { not: compileExpression(expr.operand) }
    case 'and':
    case 'or': {
      if (expr.operands.length === 0) throw new TypeError(`compile(ast): empty '${expr.kind}'`)
      const items: CompiledCondition[] = []
      const stack: ExpressionAst[] = [...expr.operands].reverse()
      while (stack.length > 0) {
        const op = stack.pop() as ExpressionAst
        if (op.kind === expr.kind) {
          for (let i = op.operands.length - 1; i >= 0; i--) stack.push(op.operands[i] as ExpressionAst)
        } else {
          items.push(compileExpression(op))
        }
      }
      return expr.kind === 'and' ? { all: items } : { any: items }
    }
    default:
      throw new TypeError(`compile(ast): unknown expression kind '${(expr as { kind: unknown }).kind}'`)
  }
}

function compileComparison (c: ComparisonAst): CompiledCondition {
  const base = factValue(c.fact.path)

  let operator: CompiledOperator
  let value: CompiledLeafCondition['value']
  let wrapInNot = false
  switch (c.operator) {
    case '==':
    case '!=':
    case '<':
    case '<=':
    case '>':
    case '>=':
      operator = SYMBOL_OPERATORS[c.operator] as CompiledOperator
      value = literal(c)
      wrapInNot = c.negated
      break
    case 'in':
      if (c.value?.kind === 'fact') {
        // text against a list read when the rule runs: case and surrounding spaces do not count
        operator = 'inText'
        value = factValue(c.value.path)
        wrapInNot = c.negated
      } else {
        operator = c.negated ? 'notIn' : 'in'
        value = literal(c)
      }
      break
    case 'matchesAny':
      operator = 'matchesAnyWord'
      value = c.value?.kind === 'fact' ? factValue(c.value.path) : literal(c)
      wrapInNot = c.negated
      break
    case 'contains':
      operator = c.negated ? 'doesNotContain' : 'contains'
      value = literal(c)
      break
    case 'exists':
      operator = 'exists'
      value = !c.negated
      break
    case 'includes':
      operator = 'includesText'
      value = literal(c)
      wrapInNot = c.negated
      break
    case 'startsWith':
    case 'endsWith':
    case 'matches':
      operator = c.operator
      value = literal(c)
      wrapInNot = c.negated
      break
    default:
      throw new TypeError(`compile(ast): unknown operator '${String((c as { operator: unknown }).operator)}'`)
  }
  const leaf: CompiledLeafCondition = { ...base, operator, value }
  return wrapInNot ? { not: leaf } : leaf
}

/** `lead.attributes.industry` → `{ fact: 'lead', path: 'attributes.industry' }`; a plugin fact is its whole name. */
function factValue (path: string): FactValue {
  const dot = path.indexOf('.')
  const head = dot < 0 ? path : path.slice(0, dot)
  if (!BUILT_IN_FACTS.has(head)) return { fact: path }
  return dot < 0 ? { fact: head } : { fact: head, path: path.slice(dot + 1) }
}

function literal (c: ComparisonAst): CompiledLeafCondition['value'] {
  const v = c.value
  if (v === undefined) throw new TypeError(`compile(ast): '${c.fact.path} ${c.operator}' needs a value`)
  switch (v.kind) {
    case 'fact':
      return factValue(v.path)
    case 'list':
      return v.items.map((i) => i.value)
    case 'regex':
      return { pattern: v.pattern, flags: v.flags }
    default:
      return v.value
  }
}
