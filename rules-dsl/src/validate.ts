/**
 * Catalog-independent semantic checks shared by {@link check} and
 * {@link compile}.
 *
 * @module
 * @internal
 */

import type {
  ActionAst,
  ComparisonAst,
  DurationAst,
  ExpressionAst,
  ComparisonValueAst,
  LiteralAst,
  NameAst,
  NumberAst,
  RecencyAst,
  RuleAst,
  RulesetAst,
} from './ast.js'
import type { Range } from './diagnostic.js'
import type { DiagnosticList } from './diagnostic-list.js'
import { clipText } from './clip-text.js'
import { closestMatch } from './closest-match.js'
import { parseDurationText } from './duration.js'
import { dimensions, forbiddenSegments, scoreTargets } from './keywords.js'
import { limits } from './limits.js'
import { measureCondition } from './measure-condition.js'
import { screenRegex } from './regex-screen.js'
import { slugify } from './slugify.js'

/** What {@link validate} learned that the catalog checks reuse. */
export interface ValidationResult {
  /** Comparisons of every rule whose condition is within the nesting and size limits. */
  leaves: Map<RuleAst, ComparisonAst[]>
  /** Declared event types (empty when `known events` is absent). */
  knownEvents: Set<string>
  /** Alias keys declared with `event type "…" is …`. */
  aliasKeys: Set<string>
}

const ALLOWED_FLAGS = new Set(['i', 'm', 's', 'u'])
const SEGMENT_RE = /^(?:[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*|\d+)$/

const isInteger = (n: number): boolean => Number.isSafeInteger(n)

function lineOf (range: Range): number {
  return range.start.line
}

/**
 * Runs every check that does not need a fact catalog: limits, number
 * ranges, durations, regular expressions, fact-path syntax, duplicate
 * names, stage ordering, event types and reset shadowing.
 */
export function validate (ast: RulesetAst, diags: DiagnosticList): ValidationResult {
  const knownEvents = new Set<string>()
  const aliasKeys = new Set<string>()
  const leaves = new Map<RuleAst, ComparisonAst[]>()

  // Event types and aliases first: rules are checked against them wherever they are declared.
  for (const s of ast.statements) {
    if (s.kind === 'eventAlias') aliasKeys.add(s.from.value)
    if (s.kind !== 'knownEvents') continue
    for (const t of s.types) {
      if (knownEvents.has(t.value)) diags.add('DSL047', `Event type "${clipText(t.value)}" is already declared.`, t.range)
      knownEvents.add(t.value)
    }
  }
  const seenAliases = new Set<string>()

  const bounds = new Map<string, NumberAst>()
  const stageNames = new Set<string>()
  const gradeNames = new Set<string>()
  const gradeMins = new Set<number>()
  const intentNames = new Set<string>()
  const intentMins = new Set<number>()
  let previousStage: NumberAst | undefined
  const ruleIds = new Map<string, RuleAst>()
  const resetRules: Array<{ rule: RuleAst; key: string }> = []
  let ruleCount = 0

  for (const s of ast.statements) {
    switch (s.kind) {
      case 'cap':
      case 'floor': {
        checkTarget(s.target, diags)
        checkWhole(s.value, `${s.kind} value`, limits.maxThreshold, diags)
        const key = `${s.kind}:${s.target.value}`
        if (bounds.has(key)) {
          diags.add('DSL047', `'${s.kind} ${s.target.value}' is already set on line ${lineOf(bounds.get(key)!.range)}.`, s.range)
        } else {
          bounds.set(key, s.value)
        }
        break
      }
      case 'decay': {
        if (s.dimension.value !== 'engagement') {
          const known = dimensions.includes(s.dimension.value)
          diags.add(
            'DSL042',
            known
              ? `Only engagement can decay; '${clipText(s.dimension.value)}' does not.`
              : `Unknown dimension '${clipText(s.dimension.value)}'; decay applies to engagement.`,
            s.dimension.range,
          )
        }
        const p = s.percent.value
        if (!Number.isFinite(p) || p <= 0 || p > 100) {
          diags.add('DSL022', `Decay percentage must be greater than 0 and at most 100 (got ${p}).`, s.percent.range)
        }
        checkDuration(s.every, diags)
        if (s.after) checkDuration(s.after, diags)
        break
      }
      case 'stage': {
        checkWhole(s.min, 'stage threshold', limits.maxThreshold, diags)
        if (stageNames.has(s.name.value)) diags.add('DSL047', `Stage "${clipText(s.name.value)}" is already defined.`, s.name.range)
        stageNames.add(s.name.value)
        if (previousStage !== undefined && !(s.min.value > previousStage.value)) {
          diags.add(
            'DSL045',
            `Stages must be listed in ascending order: ${s.min.value} is not above the previous stage's threshold ${previousStage.value} (line ${lineOf(previousStage.range)}).`,
            s.min.range,
          )
        }
        previousStage = s.min
        if (s.exitBelow) {
          checkWhole(s.exitBelow, 'exit threshold', limits.maxThreshold, diags)
          if (!(s.exitBelow.value < s.min.value)) {
            diags.add(
              'DSL046',
              `The exit threshold of stage "${clipText(s.name.value)}" (${s.exitBelow.value}) must be below its entry threshold (${s.min.value}).`,
              s.exitBelow.range,
            )
          }
        }
        break
      }
      case 'grade':
      case 'intentLabel': {
        const what = s.kind === 'grade' ? 'Grade' : 'Intent label'
        const names = s.kind === 'grade' ? gradeNames : intentNames
        const mins = s.kind === 'grade' ? gradeMins : intentMins
        checkWhole(s.min, `${what.toLowerCase()} threshold`, limits.maxThreshold, diags)
        if (names.has(s.name.value)) diags.add('DSL047', `${what} "${clipText(s.name.value)}" is already defined.`, s.name.range)
        else if (mins.has(s.min.value)) {
          diags.add('DSL047', `Another ${what.toLowerCase()} already starts at ${s.min.value}.`, s.min.range)
        }
        names.add(s.name.value)
        mins.add(s.min.value)
        break
      }
      case 'eventAlias': {
        if (forbiddenSegments.includes(s.from.value)) {
          diags.add('DSL050', `'${clipText(s.from.value)}' cannot be used as an event type.`, s.from.range)
        } else if (seenAliases.has(s.from.value)) {
          diags.add('DSL047', `Event type "${clipText(s.from.value)}" already has an alias.`, s.from.range)
        }
        seenAliases.add(s.from.value)
        if (knownEvents.size > 0 && !knownEvents.has(s.to.value)) {
          diags.add('DSL049', unknownEventMessage(s.to.value, knownEvents), s.to.range)
        }
        break
      }
      case 'knownEvents':
        break
      case 'rule': {
        ruleCount++
        if (ruleCount === limits.maxRules + 1) {
          diags.add('DSL013', `A rule set may contain at most ${limits.maxRules} rules.`, s.name.range)
        }
        const id = slugify(s.name.value)
        if (id === '') {
          diags.add('DSL044', `Rule name "${clipText(s.name.value)}" must contain at least one letter or digit.`, s.name.range)
        } else if (ruleIds.has(id)) {
          diags.add(
            'DSL043',
            `Rule id '${id}' is already used by rule "${clipText(ruleIds.get(id)!.name.value)}" on line ${lineOf(ruleIds.get(id)!.name.range)}; rename one of them.`,
            s.name.range,
          )
        } else {
          ruleIds.set(id, s)
        }
        if (s.priority) checkPriority(s.priority, diags)
        if (s.condition) {
          const measure = measureCondition(s.condition)
          if (measure.tooDeep) {
            diags.add('DSL011', `Conditions may nest at most ${limits.maxNesting} levels deep (parentheses and 'not').`, s.name.range)
          } else if (measure.comparisons > limits.maxConditions) {
            diags.add('DSL012', `A rule may contain at most ${limits.maxConditions} conditions.`, s.name.range)
          } else {
            leaves.set(s, measure.leaves)
            for (const leaf of measure.leaves) checkComparison(leaf, knownEvents, aliasKeys, diags)
            if (s.fit) checkFitFacts(measure.leaves, diags)
            const key = conditionKey(s.condition)
            const shadow = resetRules.find((r) => r.key === key)
            if (shadow) {
              diags.add(
                'DSL053',
                `Rule "${clipText(s.name.value)}" has the same condition as the reset rule "${clipText(shadow.rule.name.value)}" (line ${lineOf(shadow.rule.name.range)}): every event that fires it also resets all scores.`,
                s.name.range,
              )
            }
            if (s.action?.kind === 'reset' && !s.action.limit && !s.action.within) resetRules.push({ rule: s, key })
          }
        }
        if (s.action) checkAction(s.action, diags)
        if (s.action && s.fit) checkFitAction(s.action, diags)
        break
      }
    }
  }

  for (const target of scoreTargets) {
    const cap = bounds.get(`cap:${target}`)
    const floor = bounds.get(`floor:${target}`)
    if (cap && floor && cap.value < floor.value) {
      diags.add('DSL048', `cap ${target} (${cap.value}) is below floor ${target} (${floor.value}).`, cap.range)
    }
  }

  return { leaves, knownEvents, aliasKeys }
}

function checkTarget (target: NameAst, diags: DiagnosticList): void {
  if (scoreTargets.includes(target.value)) return
  const guess = closestMatch(target.value, scoreTargets)
  diags.add(
    'DSL042',
    `Unknown target '${clipText(target.value)}'; use total, engagement, fit or intent.${guess ? ` Did you mean '${guess}'?` : ''}`,
    target.range,
  )
}

function checkWhole (n: NumberAst, what: string, max: number, diags: DiagnosticList): void {
  if (!Number.isFinite(n.value)) {
    diags.add('DSL004', `The ${what} must be a finite number.`, n.range)
  } else if (!isInteger(n.value) || Math.abs(n.value) > max) {
    diags.add('DSL022', `The ${what} must be a whole number between -${max} and ${max} (got ${n.value}).`, n.range)
  }
}

function checkPriority (p: NumberAst, diags: DiagnosticList): void {
  if (!isInteger(p.value) || p.value < 1 || p.value > 100) {
    diags.add('DSL022', `Priority must be a whole number from 1 to 100 (got ${p.value}).`, p.range)
  }
}

function checkDuration (d: DurationAst, diags: DiagnosticList): void {
  const parsed = parseDurationText(d.text)
  if ('error' in parsed) diags.add('DSL020', parsed.error, d.range)
}

/** Fit rules are a function of the lead's attributes (and the offer), so they cannot read the event or the score. */
function checkFitFacts (leaves: readonly ComparisonAst[], diags: DiagnosticList): void {
  for (const leaf of leaves) {
    for (const f of [leaf.fact, leaf.value]) {
      if (f?.kind !== 'fact' || f.path.startsWith('lead.') || f.path.startsWith('offer.')) continue
      diags.add(
        'DSL059',
        `A fit rule is re-checked on the lead's current attributes at every event, so it can read only lead.* and offer.* facts, not '${clipText(f.path)}'.`,
        f.range,
      )
    }
  }
}

/** A fit rule holds `+N` fit points while it matches: no other action, dimension or modifier has a meaning for it. */
function checkFitAction (action: ActionAst, diags: DiagnosticList): void {
  if (action.kind !== 'add') {
    diags.add('DSL024', `A fit rule adds or subtracts fit points while it matches (+N or -N), it cannot '${action.kind}'.`, action.range)
    return
  }
  if (action.dimension && action.dimension.value !== 'fit') {
    diags.add('DSL024', `A fit rule scores the fit dimension, not '${clipText(action.dimension.value)}'.`, action.dimension.range)
  }
  for (const m of [action.limit, action.within, action.recency, action.multiplier]) {
    if (m) diags.add('DSL024', 'A fit rule holds its points while it matches, so it takes no once, limit, within, weighted or multiplier.', m.range)
  }
}

function checkRecency (action: ActionAst, r: RecencyAst, diags: DiagnosticList): void {
  if (action.kind !== 'add') {
    diags.add('DSL024', `Recency weights only apply to rules that add points, not to '${action.kind}'.`, r.range)
  }
  if (r.tiers.length === 0) {
    diags.add('DSL058', "'weighted' needs at least one tier such as '100% within 7d'.", r.range)
  } else if (r.tiers.length > limits.maxRecencyTiers) {
    diags.add('DSL058', `A rule can have at most ${limits.maxRecencyTiers} recency tiers (got ${r.tiers.length}).`, r.range)
  }
  const weights = [...r.tiers.map((t) => t.percent), ...(r.otherwise ? [r.otherwise] : [])]
  for (const w of weights) {
    if (!Number.isFinite(w.value) || w.value < 0 || w.value > limits.maxRecencyPercent) {
      diags.add('DSL057', `A recency weight must be between 0% and ${limits.maxRecencyPercent}% (got ${w.value}%).`, w.range)
    }
  }
  let previous: { ms: number; text: string } | null = null
  for (const t of r.tiers) {
    const parsed = parseDurationText(t.within.text)
    if ('error' in parsed) {
      diags.add('DSL020', parsed.error, t.within.range)
      continue
    }
    const ms = parsed.amount * UNIT_MINUTES[parsed.unit]
    // tiers are tried in order, so a tier not longer than the one before could never be reached
    if (previous !== null && ms <= previous.ms) {
      diags.add('DSL056', `Recency tiers must have increasing durations: '${parsed.text}' comes after '${previous.text}'.`, t.within.range)
    }
    previous = { ms, text: parsed.text }
  }
}

const UNIT_MINUTES = { m: 1, h: 60, d: 1440, w: 10080 } as const

function checkAction (action: ActionAst, diags: DiagnosticList): void {
  if (action.kind === 'add' || action.kind === 'set') {
    if (action.points) checkWhole(action.points, 'number of points', limits.maxPoints, diags)
    if (action.dimension && !dimensions.includes(action.dimension.value)) {
      const guess = closestMatch(action.dimension.value, dimensions)
      diags.add(
        'DSL042',
        `Unknown dimension '${clipText(action.dimension.value)}'; use engagement, fit or intent.${guess ? ` Did you mean '${guess}'?` : ''}`,
        action.dimension.range,
      )
    }
  } else if (action.dimension) {
    diags.add('DSL024', "'reset' clears every dimension and takes no dimension.", action.dimension.range)
  }
  if (action.limit) {
    const c = action.limit.count.value
    if (!isInteger(c) || c < 1) {
      diags.add('DSL021', `The limit count must be a whole number of at least 1 (got ${c}).`, action.limit.count.range)
    } else if (action.limit.per && c > limits.maxWindowedLimit) {
      diags.add(
        'DSL021',
        `A limit per time window may count at most ${limits.maxWindowedLimit} firings (got ${c}).`,
        action.limit.count.range,
      )
    }
    if (action.limit.per) checkDuration(action.limit.per, diags)
  }
  if (action.within) checkDuration(action.within, diags)
  if (action.recency) checkRecency(action, action.recency, diags)
  if (action.multiplier) {
    if (action.kind !== 'add') {
      diags.add('DSL024', `A multiplier only applies to rules that add points, not to '${action.kind}'.`, action.multiplier.range)
    }
    const f = action.multiplier.factor.value
    if (!Number.isFinite(f) || f < limits.minMultiplier || f > limits.maxMultiplier) {
      diags.add(
        'DSL022',
        `The multiplier must be between ${limits.minMultiplier} and ${limits.maxMultiplier} (got ${f}).`,
        action.multiplier.factor.range,
      )
    }
    const a = action.multiplier.after.value
    if (!isInteger(a) || a < 1) {
      diags.add('DSL022', `'after' must be a whole number of at least 1 (got ${a}).`, action.multiplier.after.range)
    }
  }
}

/**
 * Checks the syntax of a fact path.
 *
 * @returns true if the path is well-formed (so catalog lookups make sense).
 */
export function checkFactPath (path: string, range: Range, diags: DiagnosticList): boolean {
  const reserved = /[$[\]()]/.exec(path)
  if (reserved !== null) {
    diags.add(
      'DSL051',
      `'${reserved[0]}' is not allowed in fact paths. Paths are plain dot paths such as event.properties.path, not JSONPath.`,
      range,
    )
    return false
  }
  const segments = path.split('.')
  const forbidden = segments.find((s) => forbiddenSegments.includes(s))
  if (forbidden !== undefined) {
    diags.add('DSL050', `'${forbidden}' is not allowed in a fact path.`, range)
    return false
  }
  const first = segments[0] ?? ''
  if (segments.some((s) => !SEGMENT_RE.test(s)) || /^\d/.test(first)) {
    diags.add(
      'DSL052',
      `Malformed fact path '${clipText(path)}': use names separated by single dots, such as lead.attributes.industry.`,
      range,
    )
    return false
  }
  return true
}

function checkLiteral (value: LiteralAst, diags: DiagnosticList): void {
  switch (value.kind) {
    case 'number':
      if (!Number.isFinite(value.value)) diags.add('DSL004', 'Numbers must be finite.', value.range)
      break
    case 'list': {
      if (value.items.length === 0) {
        diags.add('DSL054', 'The list is empty, so this comparison never matches.', value.range)
        break
      }
      const kinds = new Set(value.items.map((i) => i.kind))
      if (kinds.size > 1) {
        diags.add('DSL041', `The list mixes ${[...kinds].sort().join(' and ')} values.`, value.range)
      }
      for (const item of value.items) checkLiteral(item, diags)
      break
    }
    case 'regex': {
      const badFlag = [...value.flags].find((f) => !ALLOWED_FLAGS.has(f))
      if (badFlag !== undefined) {
        diags.add('DSL025', `Regular expression flag '${badFlag}' is not supported; use i, m, s or u.`, value.range)
        break
      }
      try {
        new RegExp(value.pattern, value.flags)
      } catch (error) {
        const raw = error instanceof Error ? error.message : String(error)
        const reason = raw.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '')
        diags.add('DSL025', `Invalid regular expression /${value.pattern}/${value.flags}: ${reason}`, value.range)
        break
      }
      const finding = screenRegex(value.pattern, value.flags)
      if (finding !== undefined) diags.add(finding.code, finding.message, patternRange(value.range, finding))
      break
    }
    default:
      break
  }
}

/** The part of a one-line `/pattern/flags` literal at `range` that spans pattern offsets `start` to `end`. */
function patternRange (range: Range, part: { start: number; end: number }): Range {
  const column = range.start.column + 1 // after the opening slash
  return {
    start: { line: range.start.line, column: column + part.start },
    end: { line: range.start.line, column: column + part.end },
  }
}

function checkComparison (
  leaf: ComparisonAst,
  knownEvents: Set<string>,
  aliasKeys: Set<string>,
  diags: DiagnosticList,
): void {
  checkFactPath(leaf.fact.path, leaf.fact.range, diags)
  if (leaf.value?.kind === 'fact') {
    checkFactPath(leaf.value.path, leaf.value.range, diags)
    return
  }
  if (leaf.value) checkLiteral(leaf.value, diags)
  if (leaf.fact.path !== 'event.type' || knownEvents.size === 0 || leaf.value === undefined) return
  if (leaf.operator !== '==' && leaf.operator !== '!=' && leaf.operator !== 'in') return
  const candidates = leaf.value.kind === 'list' ? leaf.value.items : [leaf.value]
  for (const c of candidates) {
    if (c.kind !== 'string') continue
    if (!knownEvents.has(c.value) && !aliasKeys.has(c.value)) {
      diags.add('DSL049', unknownEventMessage(c.value, knownEvents), c.range)
    }
  }
}

function unknownEventMessage (type: string, known: Set<string>): string {
  const guess = closestMatch(type, known)
  return `Unknown event type "${clipText(type)}"; it is not listed in 'known events'.${guess ? ` Did you mean "${guess}"?` : ''}`
}

/** A structural key for a condition, ignoring ranges and redundant grouping. */
function conditionKey (expr: ExpressionAst): string {
  switch (expr.kind) {
    case 'comparison':
      return JSON.stringify([expr.fact.path, expr.operator, expr.negated, literalKey(expr.value)])
    case 'not':
      return `not(${conditionKey(expr.operand)})`
    case 'and':
    case 'or': {
      const parts: string[] = []
      for (const op of expr.operands) {
        if (op.kind === expr.kind) {
          const inner = conditionKey(op)
          parts.push(inner.slice(expr.kind.length + 1, -1))
        } else {
          parts.push(conditionKey(op))
        }
      }
      return `${expr.kind}(${parts.join(',')})`
    }
  }
}

function literalKey (value: ComparisonValueAst | undefined): unknown {
  if (value === undefined) return null
  switch (value.kind) {
    case 'fact':
      return ['fact', value.path]
    case 'list':
      return value.items.map((i) => [i.kind, i.value])
    case 'regex':
      return ['regex', value.pattern, value.flags]
    default:
      return [value.kind, value.value]
  }
}
