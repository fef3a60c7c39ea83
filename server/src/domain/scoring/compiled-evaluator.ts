import { Fact } from 'json-rules-engine'
import type { Contribution } from '../../contracts/index.js'
import { compileRegex, customOperators, FACT_VALUE_OPERATORS, FORBIDDEN_SEGMENTS, MATCH_TEXT_LIMIT, type RuleFacts } from './rule-operators.js'
import { pluginOperator } from './plugin-vocabulary.js'

// Compiles json-rules-engine rules into plain closures with exactly the engine's results (json-rules-engine 7.3 as
// configured in rules-engine.ts: our dot-path resolver, our operators, allowUndefinedFacts false, facts event, lead,
// score, offer, plugin; values that are fact references only for inText and matchesAnyWord). Rule values are data captured by closures; nothing in a rule ever becomes code.
//
// Semantics reproduced (see node_modules/json-rules-engine/dist: rule.js, condition.js, almanac.js, operator.js):
// - `all: []` and `any: []` are both true; a group of one condition is that condition.
// - A group of two or more is split into sets by condition priority (boolean: parseInt(priority) || 1; leaf: its
//   own priority, else the fact's, which is 1 here) and run from the highest set down. Within a set every condition
//   is evaluated; the next set runs only while the result is still open (all: true so far, any: false so far).
// - A path is only applied to an object fact value; a primitive or null fact value is compared as it is.
// - Equality is `===`; `in`/`notIn` call `value.indexOf(fact)` (so a string value is a substring test and any
//   other value throws); `contains`/`doesNotContain` need an array fact; the numeric operators need a fact for which
//   `parseFloat` is not NaN (so "12abc" passes) and then compare with `<`/`>` as JavaScript does ("10" > "9" is false).
// - The engine compares a deep copy of each rule value made by the `clone` package, which drops keys that
//   Object.prototype has as data properties: `{ toString: 1 }` compares as `{}`. Objects in values never `===` a fact.
// - An unknown fact or operator, or an operator that throws, rejects the whole run: the rules engine evaluates every
//   rule, so a run fails if any condition it evaluates throws. Here a condition that can throw is evaluated wherever
//   the engine would evaluate it, even when the result is already decided; only conditions that cannot throw are
//   skipped by short-circuiting. The numeric operators and `in` with a string value throw only for some object fact
//   values, so each rule is built twice: a careful variant for runs where such a condition reads an object, and a
//   faster one, which short-circuits them too, for all other runs.
// - Firing rules are returned by rule priority (highest first), then by ruleId, as rules-engine.ts orders them.
// - Each distinct fact path is read once per run; facts are data, so every read of it gives the same value. A rule
//   that cannot throw and needs the most tested read (usually event.type) to be one of a few values is skipped when
//   it is not.
// What is not reproduced is refused with a reason, and the caller falls back to json-rules-engine.

/** A compiled ruleset: `evaluateSync` returns what json-rules-engine returns for the same rules and facts. */
export interface CompiledRuleset {
  /** Contributions of the firing rules, highest priority first, then by ruleId. Throws when the engine would reject. */
  evaluateSync(facts: RuleFacts): Contribution[]
}

/** The result of {@link compileRuleset}: the compiled ruleset, or where and why it cannot be compiled exactly. */
export type CompileOutcome =
  | { ok: true; ruleset: CompiledRuleset }
  | { ok: false; pointer: string; reason: string }

/** Thrown inside the compiler for a construct whose json-rules-engine behaviour is not reproduced. */
class Unsupported extends Error {
  constructor (readonly pointer: string, reason: string) { super(reason) }
}

/**
 * One run: the fact values event, lead, score, offer and plugin at 0-4, then one slot per distinct fact path the rules read, filled
 * on first use (many rules read event.type; it is looked up once). An array, so every access is an element load.
 */
type Roots = unknown[]
const UNREAD = Symbol('unread')
type Test = (f: Roots) => boolean
type Getter = (f: Roots) => unknown

/**
 * When evaluating a condition can throw: never; only when the fact value it reads is an object, function or symbol
 * (parseFloat or String() of it, in the numeric operators and in `in` with a string value); or always.
 */
type Throws = 'never' | 'object' | 'always'

/** A parsed condition, built into closures twice: once exact for any facts, once for facts that make no 'object' condition throw. */
type Cond =
  | { kind: 'leaf'; test: Test; throws: Throws; get: Getter | null; gate: ReadonlySet<unknown> | null; priority: number }
  | { kind: 'all' | 'any'; children: Cond[]; priority: number }
  | { kind: 'not'; child: Cond; priority: number }

interface Built { test: Test; mayThrow: boolean }

const own = Object.prototype.hasOwnProperty
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype

// json-rules-engine deep-copies conditions and events with the `clone` package before every rule evaluation. `clone`
// skips every key that Object.prototype holds as a data property: `{ toString: 1 }` arrives as `{}`.
const SKIPPED_BY_CLONE: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype).filter((k) => {
  const d = Object.getOwnPropertyDescriptor(Object.prototype, k)
  return d !== undefined && d.set == null
}))

/**
 * Copies rule data into what json-rules-engine's `clone` hands the operators, refusing anything that would not be
 * plain data there.
 */
function copyData (v: unknown, pointer: string): unknown {
  switch (typeof v) {
    case 'string': case 'number': case 'boolean': case 'undefined': return v
    case 'object': break
    default: throw new Unsupported(pointer, `a ${typeof v} value`)
  }
  if (v === null) return null
  if (Array.isArray(v)) {
    if (Object.getPrototypeOf(v) !== Array.prototype || Object.keys(v).length !== v.length) throw new Unsupported(pointer, 'an array with holes or extra properties')
    return v.map((x, i) => copyData(x, `${pointer}/${i}`))
  }
  if (!isPlainObject(v)) throw new Unsupported(pointer, 'an object that is not plain data')
  // the engine's clone assigns keys one by one, so an own "__proto__" key would become a prototype there
  if (own.call(v, '__proto__')) throw new Unsupported(pointer, 'an own "__proto__" key')
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(v)) if (!SKIPPED_BY_CLONE.has(k)) out[k] = copyData(v[k], `${pointer}/${k}`)
  return out
}

/** Copies already checked data (contribution fields are fresh objects on every run, as the engine's are). */
function copyChecked (v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v
  if (Array.isArray(v)) return v.map(copyChecked)
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(v)) out[k] = copyChecked((v as Record<string, unknown>)[k])
  return out
}

/** json-rules-engine's priority for rules and groups is parseInt(p) || 1, a leaf's is p || 1; we take integers only. */
function priorityOf (c: Record<string, unknown>, pointer: string): number {
  const p = c.priority
  if (!p) return 1
  if (typeof p !== 'number' || !Number.isSafeInteger(p) || p < 1) throw new Unsupported(`${pointer}/priority`, 'a priority that is not a positive integer')
  return p
}

const ROOT = { event: 0, lead: 1, score: 2, offer: 3, plugin: 4 } as const
type RootFact = keyof typeof ROOT
const ROOTS = Object.keys(ROOT).length
const isRoot = (f: unknown): f is RootFact => f === 'event' || f === 'lead' || f === 'score' || f === 'offer' || f === 'plugin'

/**
 * The fact path reads of one compiled ruleset, as almanac.factValue does them with resolveDotPath: a path applies
 * only to a truthy path and an object fact value (otherwise the fact value itself is compared); then each segment
 * must be an own property of an object. Each distinct path, and each prefix of one, is read at most once per run
 * (slot i + 5 of the run): when the fact value is an object, a path's value is its prefix's value stepped once.
 */
class Reads {
  private readonly slots = new Map<string, Getter>()
  get size (): number { return this.slots.size }

  getter (fact: RootFact, path: string): Getter {
    const r = ROOT[fact]
    if (path === '' || path === '$') return (f) => f[r]
    const segs = path.split('.')
    if (segs.some((x) => FORBIDDEN_SEGMENTS.has(x))) return (f) => { const v = f[r]; return v !== null && typeof v === 'object' ? undefined : v }
    return this.walk(r, segs)
  }

  private walk (r: number, segs: readonly string[]): Getter {
    const key = `${r}.${segs.join('.')}`
    const known = this.slots.get(key)
    if (known !== undefined) return known
    const last = segs[segs.length - 1]!
    let read: Getter
    if (segs.length === 1) {
      read = (f) => {
        const v = f[r]
        if (v === null || typeof v !== 'object') return v
        return own.call(v, last) ? (v as Record<string, unknown>)[last] : undefined
      }
    } else {
      const parent = this.walk(r, segs.slice(0, -1))
      read = (f) => {
        const v = f[r]
        if (v === null || typeof v !== 'object') return v
        const p = parent(f)
        return p !== null && typeof p === 'object' && own.call(p, last) ? (p as Record<string, unknown>)[last] : undefined
      }
    }
    const k = this.slots.size + ROOTS
    const g: Getter = (f) => { const v = f[k]; return v !== UNREAD ? v : (f[k] = read(f)) }
    this.slots.set(key, g)
    return g
  }
}

/** json-rules-engine's numeric fact validator: `Number.parseFloat(fact).toString() !== 'NaN'` (throws for some objects). */
function numeric (a: unknown): boolean {
  if (a === undefined || a === null || typeof a === 'boolean') return false // "undefined", "null", "true": NaN
  return !Number.isNaN(Number.parseFloat(a as string))
}

const thrower = (message: string): Test => () => { throw new Error(message) }

/** The leaf operators; `b` is this compiler's private copy of the rule value, as the engine compares a clone. */
function leaf (op: string, get: Getter, b: unknown): { test: Test; throws: Throws; gate?: ReadonlySet<unknown> } {
  // Relational and `indexOf` calls are written exactly as json-rules-engine writes them, so coercions match.
  /* eslint-disable @typescript-eslint/no-explicit-any */
  const B = b as any
  switch (op) {
    case 'equal': return { test: (f) => get(f) === b, throws: 'never', gate: new Set(b === null || (typeof b !== 'object' && b === b) ? [b] : []) }
    case 'notEqual': return { test: (f) => get(f) !== b, throws: 'never' }
    case 'in':
    case 'notIn': {
      const want = op === 'in'
      if (Array.isArray(b)) {
        // an object in the value is never `===` a fact value (the engine compares a fresh clone); NaN never matches
        const prims = b.filter((x) => (x === null || typeof x !== 'object') && x === x)
        const set = new Set<unknown>(prims) // SameValueZero is `===` here: NaN is left out
        const gate = want ? set : undefined
        if (prims.length === 0) return { test: () => !want, throws: 'never', gate }
        if (prims.length === 1) {
          const [x] = prims
          return { test: (f) => (get(f) === x) === want, throws: 'never', gate }
        }
        return { test: (f) => set.has(get(f)) === want, throws: 'never', gate }
      }
      // a string value is a substring test on String(fact); anything else throws, as in the engine
      return { test: want ? (f) => B.indexOf(get(f)) > -1 : (f) => B.indexOf(get(f)) === -1, throws: typeof b === 'string' ? 'object' : 'always' }
    }
    case 'contains': return { test: (f) => { const a = get(f) as any; return Array.isArray(a) && a.indexOf(b) > -1 }, throws: 'never' }
    case 'doesNotContain': return { test: (f) => { const a = get(f) as any; return Array.isArray(a) && a.indexOf(b) === -1 }, throws: 'never' }
    case 'lessThan': return { test: (f) => { const a = get(f) as any; return typeof a === 'number' ? a === a && a < B : numeric(a) && a < B }, throws: 'object' }
    case 'lessThanInclusive': return { test: (f) => { const a = get(f) as any; return typeof a === 'number' ? a === a && a <= B : numeric(a) && a <= B }, throws: 'object' }
    case 'greaterThan': return { test: (f) => { const a = get(f) as any; return typeof a === 'number' ? a === a && a > B : numeric(a) && a > B }, throws: 'object' }
    case 'greaterThanInclusive': return { test: (f) => { const a = get(f) as any; return typeof a === 'number' ? a === a && a >= B : numeric(a) && a >= B }, throws: 'object' }
    case 'startsWith': {
      if (typeof b !== 'string') return { test: () => false, throws: 'never' }
      return { test: (f) => { const a = get(f); return typeof a === 'string' && a.startsWith(b) }, throws: 'never' }
    }
    case 'endsWith': {
      if (typeof b !== 'string') return { test: () => false, throws: 'never' }
      return { test: (f) => { const a = get(f); return typeof a === 'string' && a.endsWith(b) }, throws: 'never' }
    }
    case 'includesText': {
      if (typeof b !== 'string') return { test: () => false, throws: 'never' }
      const lower = b.toLowerCase()
      return { test: (f) => { const a = get(f); return typeof a === 'string' && a.toLowerCase().includes(lower) }, throws: 'never' }
    }
    case 'matches': {
      const re = compileRegex(b)
      if (re === null) return { test: () => false, throws: 'never' }
      return { test: (f) => { const a = get(f); return typeof a === 'string' && re.test(a.length > MATCH_TEXT_LIMIT ? a.slice(0, MATCH_TEXT_LIMIT) : a) }, throws: 'never' }
    }
    case 'inText':
    case 'matchesAnyWord': {
      const fn = customOperators[op]!
      return { test: (f) => fn(get(f), b), throws: 'never' }
    }
    case 'exists': {
      const want = b !== false
      return { test: (f) => { const a = get(f); return (a !== undefined && a !== null) === want }, throws: 'never' }
    }
    default: {
      // a scoring plugin's operator (looked up when the rules are compiled, as the engine gets it when built): it
      // may throw, and the engine then rejects the run, so it is evaluated wherever the engine would evaluate it
      const fn = pluginOperator(op)
      if (fn !== undefined) return { test: (f) => fn(get(f), b), throws: 'always' }
      // the engine looks operators up when it evaluates the condition
      return { test: thrower(`Unknown operator: ${op}`), throws: 'always' }
    }
  }
  /* eslint-enable @typescript-eslint/no-explicit-any */
}

const KNOWN_OPERATORS = new Set(['equal', 'notEqual', 'in', 'notIn', 'contains', 'doesNotContain', 'lessThan',
  'lessThanInclusive', 'greaterThan', 'greaterThanInclusive', 'startsWith', 'endsWith', 'includesText', 'matches', 'exists', 'inText', 'matchesAnyWord'])

function compileLeaf (c: Record<string, unknown>, pointer: string, reads: Reads): Cond {
  for (const k of ['fact', 'operator', 'value']) if (!own.call(c, k)) throw new Unsupported(pointer, `a condition without "${k}"`)
  const priority = priorityOf(c, pointer)
  const { fact, operator, path } = c
  if (typeof operator !== 'string') throw new Unsupported(`${pointer}/operator`, 'an operator that is not a string')
  if (operator.includes(':')) throw new Unsupported(`${pointer}/operator`, 'an operator decorator')
  if (path !== undefined && path !== null && typeof path !== 'string') throw new Unsupported(`${pointer}/path`, 'a path that is not a string')
  const value = c.value
  if (value !== null && typeof value === 'object' && own.call(value, 'fact')) return factValueLeaf(c, operator, value as Record<string, unknown>, pointer, reads, priority)
  const b = copyData(value, `${pointer}/value`)
  if (!KNOWN_OPERATORS.has(operator) && pluginOperator(operator) === undefined) return { kind: 'leaf', ...leaf(operator, () => undefined, b), get: null, gate: null, priority }
  if (!isRoot(fact)) {
    // the run only defines these facts; any other fact id rejects when the condition is evaluated
    return { kind: 'leaf', test: thrower(`Undefined fact: ${String(fact)}`), throws: 'always', get: null, gate: null, priority }
  }
  const get = reads.getter(fact, path ?? '')
  const { test, throws, gate } = leaf(operator, get, b)
  return { kind: 'leaf', test, throws, get, gate: gate ?? null, priority }
}

/**
 * A condition whose value is read from a fact when the rules run (`in offer.icp.industries`): the engine reads both
 * facts with the same resolver and calls the operator, which never throws. Only our list operators are compiled.
 */
function factValueLeaf (c: Record<string, unknown>, operator: string, value: Record<string, unknown>, pointer: string, reads: Reads, priority: number): Cond {
  if (!FACT_VALUE_OPERATORS.has(operator)) throw new Unsupported(`${pointer}/value`, `a fact reference as the value of ${operator}`)
  if (Object.keys(value).some((k) => k !== 'fact' && k !== 'path')) throw new Unsupported(`${pointer}/value`, 'a fact reference with params')
  const vpath = value.path
  if (vpath !== undefined && vpath !== null && typeof vpath !== 'string') throw new Unsupported(`${pointer}/value/path`, 'a path that is not a string')
  const { fact, path } = c
  if (!isRoot(fact) || !isRoot(value.fact)) {
    return { kind: 'leaf', test: thrower(`Undefined fact: ${String(isRoot(fact) ? value.fact : fact)}`), throws: 'always', get: null, gate: null, priority }
  }
  const get = reads.getter(fact, typeof path === 'string' ? path : '')
  const list = reads.getter(value.fact, vpath ?? '')
  const op = customOperators[operator]!
  return { kind: 'leaf', test: (f) => op(get(f), list(f)), throws: 'never', get, gate: null, priority }
}

/** A set of conditions that the engine evaluates together, then combines with every (all) or some (any). */
function buildSet (nodes: readonly Built[], all: boolean): Built {
  const tests = nodes.map((n) => n.test)
  const throwing = nodes.map((n) => n.mayThrow)
  const mayThrow = throwing.includes(true)
  const n = tests.length
  let test: Test
  if (!mayThrow) {
    if (n === 2) {
      const [x, y] = tests as [Test, Test]
      test = all ? (f) => x(f) && y(f) : (f) => x(f) || y(f)
    } else if (n === 3) {
      const [x, y, z] = tests as [Test, Test, Test]
      test = all ? (f) => x(f) && y(f) && z(f) : (f) => x(f) || y(f) || z(f)
    } else {
      test = all
        ? (f) => { for (let i = 0; i < n; i++) if (!tests[i]!(f)) return false; return true }
        : (f) => { for (let i = 0; i < n; i++) if (tests[i]!(f)) return true; return false }
    }
  } else {
    // once the set's result is known, conditions that can throw are still evaluated, as Promise.all does
    test = (f) => {
      let r = all
      for (let i = 0; i < n; i++) {
        if (r === all) r = tests[i]!(f)
        else if (throwing[i]!) tests[i]!(f)
      }
      return r
    }
  }
  return { test, mayThrow }
}

function buildGroup (all: boolean, children: readonly Cond[], careful: boolean): Built {
  if (children.length === 0) return { test: () => true, mayThrow: false }
  if (children.length === 1) return build(children[0]!, careful)
  const byPriority = new Map<number, Built[]>()
  for (const c of children) {
    const set = byPriority.get(c.priority)
    if (set === undefined) byPriority.set(c.priority, [build(c, careful)])
    else set.push(build(c, careful))
  }
  const sets = [...byPriority.entries()].sort((a, b) => b[0] - a[0]).map(([, s]) => buildSet(s, all))
  if (sets.length === 1) return sets[0]!
  // later sets run only while the result is open
  const tests = sets.map((s) => s.test)
  const test: Test = (f) => {
    for (const t of tests) if (t(f) !== all) return !all
    return all
  }
  return { test, mayThrow: sets.some((s) => s.mayThrow) }
}

/**
 * Closures for a condition. `careful`: exact for any facts. Otherwise exact only when no 'object' condition throws,
 * which evaluateSync checks first by reading their fact values.
 */
function build (c: Cond, careful: boolean): Built {
  switch (c.kind) {
    case 'leaf': return { test: c.test, mayThrow: c.throws === 'always' || (careful && c.throws === 'object') }
    case 'not': {
      const child = build(c.child, careful)
      const t = child.test
      return { test: (f) => !t(f), mayThrow: child.mayThrow }
    }
    default: return buildGroup(c.kind === 'all', c.children, careful)
  }
}

/**
 * Necessary conditions of a rule: `read(facts)` must be in `values` for the rule to be true (from equal and in
 * conditions directly under a top-level all).
 */
interface Gate { read: Getter; values: ReadonlySet<unknown> }
function gatesOf (c: Cond): Gate[] {
  const top = c.kind !== 'leaf' && c.kind !== 'not' && c.children.length === 1 ? c.children[0]! : c
  const conds = top.kind === 'all' ? top.children : [top]
  return conds.flatMap((x) => x.kind === 'leaf' && x.gate !== null && x.get !== null ? [{ read: x.get, values: x.gate }] : [])
}

/** Fact reads of the conditions that throw only for object values. */
function objectThrowReads (c: Cond, out: Set<Getter>): Set<Getter> {
  if (c.kind === 'leaf') { if (c.throws === 'object' && c.get !== null) out.add(c.get) } else if (c.kind === 'not') objectThrowReads(c.child, out)
  else for (const x of c.children) objectThrowReads(x, out)
  return out
}

function compileCondition (c: unknown, pointer: string, depth: number, reads: Reads): Cond {
  if (depth > 200) throw new Unsupported(pointer, 'conditions nested deeper than 200 levels')
  if (!isPlainObject(c)) throw new Unsupported(pointer, 'a condition that is not an object')
  if (own.call(c, 'condition')) throw new Unsupported(pointer, 'a shared condition reference')
  // Condition copies its properties with Object.assign, which turns an own "__proto__" into its prototype
  if (own.call(c, '__proto__')) throw new Unsupported(pointer, 'a condition with an own "__proto__" key')
  // Condition.booleanOperator: the first own key of any, all, not decides; the others are ignored
  const kind = own.call(c, 'any') ? 'any' : own.call(c, 'all') ? 'all' : own.call(c, 'not') ? 'not' : null
  if (kind === null) return compileLeaf(c, pointer, reads)
  const priority = priorityOf(c, pointer)
  const inner = c[kind]
  if (kind === 'not') {
    if (Array.isArray(inner)) throw new Unsupported(`${pointer}/not`, '"not" with an array')
    return { kind, child: compileCondition(inner, `${pointer}/not`, depth + 1, reads), priority }
  }
  if (!Array.isArray(inner)) throw new Unsupported(`${pointer}/${kind}`, `"${kind}" that is not an array`)
  return { kind, children: inner.map((x, i) => compileCondition(x, `${pointer}/${kind}/${i}`, depth + 1, reads)), priority }
}

// the fields and their order as rules-engine.ts builds a contribution
const CONTRIBUTION_FIELDS = ['dimension', 'points', 'reason', 'limit', 'multiplier', 'within', 'recency', 'kind'] as const

interface CompiledRule {
  priority: number
  ruleId: string
  conditions: Cond
  make: () => Contribution
}

function compileRule (r: unknown, pointer: string, reads: Reads): CompiledRule {
  if (!isPlainObject(r)) throw new Unsupported(pointer, 'a rule that is not an object')
  if (!own.call(r, 'event') || !own.call(r, 'conditions')) throw new Unsupported(pointer, 'a rule without event or conditions')
  if (r.onSuccess || r.onFailure) throw new Unsupported(pointer, 'a rule with event handlers')
  // Rule: name is kept when truthy or 0; priority is parseInt(priority || 1)
  const name = r.name || r.name === 0 ? r.name : undefined
  if (name !== undefined && typeof name !== 'string' && typeof name !== 'number') throw new Unsupported(`${pointer}/name`, 'a name that is not a string or number')
  const priority = priorityOf(r, pointer)
  const conditions = r.conditions
  if (!isPlainObject(conditions) || !(own.call(conditions, 'all') || own.call(conditions, 'any') || own.call(conditions, 'not'))) {
    throw new Unsupported(`${pointer}/conditions`, 'conditions without all, any or not at the top')
  }
  const root = compileCondition(conditions, `${pointer}/conditions`, 1, reads)
  const event = r.event
  if (!isPlainObject(event) || !own.call(event, 'type')) throw new Unsupported(`${pointer}/event`, 'an event that is not an object with a type')
  const params = event.params ? event.params : {}
  if (!isPlainObject(params)) throw new Unsupported(`${pointer}/event/params`, 'event params that are not an object')
  const p = copyData(params, `${pointer}/event/params`) as Record<string, unknown>
  const ruleIdParam = p.ruleId ?? String(name)
  if (typeof ruleIdParam !== 'string') throw new Unsupported(`${pointer}/event/params/ruleId`, 'a ruleId that is not a string')
  const ruleId = ruleIdParam
  const action = (p.action ?? 'add') as Contribution['action']
  // field order and presence as rules-engine.ts builds a contribution
  const template: Record<string, unknown> = { ruleId, action }
  for (const k of CONTRIBUTION_FIELDS) if (p[k] !== undefined) template[k] = p[k]
  return { priority, ruleId, conditions: root, make: maker(template) }
}

/**
 * Builds a rule's contribution: fresh objects on every run, as the engine clones its event for every rule result.
 * The shapes the DSL emits are object literals (one hidden class each); anything else is copied generically.
 */
function maker (t: Record<string, unknown>): () => Contribution {
  const { ruleId, action, dimension, points, reason, limit, multiplier } = t as unknown as Contribution
  const shape = Object.keys(t).join()
  const primitive = (v: unknown): boolean => v === null || typeof v !== 'object'
  const flat = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every(primitive)
  if ([ruleId, action, dimension, points, reason].every(primitive)) {
    if (shape === 'ruleId,action,dimension,points,reason') return () => ({ ruleId, action, dimension, points, reason })
    if (shape === 'ruleId,action,dimension,points,reason,limit' && flat(limit)) return () => ({ ruleId, action, dimension, points, reason, limit: { ...limit! } })
    if (shape === 'ruleId,action,dimension,points,reason,multiplier' && flat(multiplier)) return () => ({ ruleId, action, dimension, points, reason, multiplier: { ...multiplier! } })
    if (shape === 'ruleId,action,dimension,points,reason,limit,multiplier' && flat(limit) && flat(multiplier)) {
      return () => ({ ruleId, action, dimension, points, reason, limit: { ...limit! }, multiplier: { ...multiplier! } })
    }
    if (shape === 'ruleId,action,reason') return () => ({ ruleId, action, reason })
  }
  if (Object.values(t).every(primitive)) return () => ({ ...t }) as unknown as Contribution
  return () => copyChecked(t) as Contribution
}

/** The engine computes a fact given as a function or a Fact instead of using it as a value. */
export function isComputedFact (v: unknown): boolean {
  return typeof v === 'function' || v instanceof Fact
}

/**
 * Compiles json-rules-engine rules for `evaluateSync`, or says where and why they cannot be compiled exactly (the
 * caller then uses json-rules-engine). The rules are copied; later changes to them have no effect.
 */
export function compileRuleset (rules: unknown): CompileOutcome {
  let compiled: CompiledRule[]
  const reads = new Reads()
  try {
    if (!Array.isArray(rules)) throw new Unsupported('#/rules', 'rules that are not an array')
    // createRulesEvaluator hands the engine structured clones; compile what the engine sees
    let copy: unknown[]
    try { copy = structuredClone(rules) } catch { throw new Unsupported('#/rules', 'rules that cannot be cloned') }
    compiled = copy.map((r, i) => compileRule(r, `#/rules/${i}`, reads))
  } catch (err) {
    if (err instanceof Unsupported) return { ok: false, pointer: err.pointer, reason: err.message }
    throw err
  }
  // rules-engine.ts sorts by priority, then ruleId; equal pairs keep the engine's completion order, not reproduced
  compiled.sort((a, b) => b.priority - a.priority || (a.ruleId < b.ruleId ? -1 : a.ruleId > b.ruleId ? 1 : 0))
  for (let i = 1; i < compiled.length; i++) {
    const a = compiled[i - 1]!
    const b = compiled[i]!
    if (a.priority === b.priority && a.ruleId === b.ruleId) {
      return { ok: false, pointer: '#/rules', reason: `two rules with ruleId '${a.ruleId}' and priority ${a.priority}` }
    }
  }
  const careful = compiled.map((r) => build(r.conditions, true).test)
  const fastBuilt = compiled.map((r) => build(r.conditions, false))
  const fast = fastBuilt.map((b) => b.test)
  const risky = [...compiled.reduce((set, r) => objectThrowReads(r.conditions, set), new Set<Getter>())]
  const makers = compiled.map((r) => r.make)
  const all = compiled.map((_, i) => i)
  const blank: Roots = [...Array.from({ length: ROOTS }, () => undefined), ...Array.from({ length: reads.size }, () => UNREAD)]
  // Most rules test one read (usually event.type) for a few values. In the fast variant, a rule that cannot throw
  // and whose gate excludes the value read is false without evaluating it; the rules left per value are cached.
  const gates = compiled.map((r) => gatesOf(r.conditions))
  const counts = new Map<Getter, number>()
  for (const g of gates) for (const read of new Set(g.map((x) => x.read))) counts.set(read, (counts.get(read) ?? 0) + 1)
  const [gateRead, gateCount] = [...counts].reduce<[Getter | null, number]>((best, [read, c]) => (c > best[1] ? [read, c] : best), [null, 1])
  const gateOf = gates.map((g, i) => (fastBuilt[i]!.mayThrow ? null : g.find((x) => x.read === gateRead)?.values ?? null))
  const byValue = new Map<unknown, number[]>()
  const rulesFor = (v: unknown): number[] => {
    let idx = byValue.get(v)
    if (idx === undefined) {
      idx = all.filter((i) => gateOf[i] === null || gateOf[i]!.has(v))
      if (byValue.size >= 256) byValue.clear()
      byValue.set(v, idx)
    }
    return idx
  }
  return {
    ok: true,
    ruleset: {
      evaluateSync (facts) {
        const f = blank.slice()
        f[0] = facts.event
        f[1] = facts.lead
        f[2] = facts.score
        f[3] = facts.offer ?? null
        f[4] = facts.plugin ?? null
        if (isComputedFact(f[0]) || isComputedFact(f[1]) || isComputedFact(f[2]) || isComputedFact(f[3]) || isComputedFact(f[4])) {
          throw new TypeError('evaluateSync takes fact values; the rules engine would call a function or Fact')
        }
        let tests = fast
        for (const g of risky) {
          const v = g(f)
          if (v !== null && (typeof v === 'object' || typeof v === 'function' || typeof v === 'symbol')) { tests = careful; break }
        }
        let idx = all
        if (tests === fast && gateRead !== null && gateCount > 1) {
          const v = gateRead(f)
          if (v === null || (typeof v !== 'object' && typeof v !== 'function')) idx = rulesFor(v)
        }
        const out: Contribution[] = []
        // every rule that can throw is evaluated, as the engine evaluates every rule
        for (let j = 0; j < idx.length; j++) {
          const i = idx[j]!
          if (tests[i]!(f)) out.push(makers[i]!())
        }
        return out
      },
    },
  }
}
