// The compiled evaluator against json-rules-engine, the reference semantics: a differential property test over random
// rules and facts (same firing rules, same order, same params, and a throw exactly when the engine rejects),
// example-based edge cases per operator, the fallback to the engine, and every DSL golden output.
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual, inspect } from 'node:util'
import type { RuleProperties } from 'json-rules-engine'
import { Type } from '@sinclair/typebox'
import { defineScoringPlugin, type Contribution } from '../../server/src/contracts/index.js'
import { registerPluginVocabulary } from '../../server/src/domain/scoring/plugin-vocabulary.js'
import { compileRuleset } from '../../server/src/domain/scoring/compiled-evaluator.js'
import { createEngineEvaluator, createRulesEvaluator, type RuleFacts } from '../../server/src/domain/scoring/rules-engine.js'

type Outcome = { fired: Contribution[] } | { threw: true }

async function viaEngine (rules: unknown[], facts: RuleFacts): Promise<Outcome> {
  const engine = createEngineEvaluator(0, rules as RuleProperties[])
  try { return { fired: await engine.evaluate(facts) } } catch { return { threw: true } }
}

function viaCompiled (rules: unknown[], facts: RuleFacts): Outcome {
  const c = compileRuleset(rules)
  if (!c.ok) throw new Error(`did not compile: ${c.pointer}: ${c.reason}`)
  try { return { fired: c.ruleset.evaluateSync(facts) } } catch { return { threw: true } }
}

const ids = (o: Outcome): string[] | 'threw' => 'threw' in o ? 'threw' : o.fired.map((c) => c.ruleId)

const rule = (name: string, conditions: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name, conditions, event: { type: 'score', params: { ruleId: name, action: 'add', points: 1 } }, ...extra,
})
const leaf = (fact: string, path: string | undefined, operator: string, value: unknown): Record<string, unknown> =>
  path === undefined ? { fact, operator, value } : { fact, path, operator, value }
const facts = (event: unknown, lead: unknown = {}, score: unknown = {}): RuleFacts => ({ event, lead, score }) as RuleFacts

/** Runs both evaluators, asserts they agree, and returns the ids that fired (or 'threw'). */
async function agree (t: Test, rules: unknown[], f: RuleFacts, label: string): Promise<string[] | 'threw'> {
  const a = await viaEngine(rules, f)
  const b = viaCompiled(rules, f)
  t.ok(isDeepStrictEqual(a, b), `${label}: compiled ${inspect(b, { depth: 6 })} equals engine ${inspect(a, { depth: 6 })}`)
  return ids(a)
}

// ---------------------------------------------------------------------------------------------------------------
// Random rules and facts

const PRIMS: unknown[] = [
  null, true, false, 0, -0, 1, 5, 9, 10, 12, -3, 2.5, 1e3, Infinity,
  '', 'a', 'A', 'abc', 'ABC', 'page_view', 'Page_View', 'x@example.com', 'DE', 'fr',
  '0', '5', '9', '10', '12abc', ' 7', '0x10', '1e3', 'Infinity', 'NaN', 'null', 'true', '[object Object]',
]
const prim = fc.constantFrom(...PRIMS)
const REGEXES: unknown[] = [
  { pattern: '^a', flags: '' }, { pattern: 'c$', flags: 'i' }, { pattern: 'page|view', flags: 'g' }, { pattern: '^\\d+$', flags: '' },
  { pattern: '[', flags: '' }, { pattern: '(', flags: 'i' }, { pattern: 'a', flags: 'ii' }, { pattern: 'a', flags: 'xyz' },
  { pattern: 'A', flags: 5 }, { pattern: 5 }, { flags: 'i' }, { pattern: '.', flags: 'su' }, { pattern: '\\p{L}', flags: 'u' },
  // RE2 cannot compile these: both evaluators treat them as never matching
  { pattern: '(a)\\1', flags: '' }, { pattern: 'a(?=b)', flags: '' }, { pattern: '(?<!x)a', flags: 'i' }, { pattern: 'x{1001}', flags: '' },
  // pathological for a backtracking engine, linear on RE2
  { pattern: '(?:\\w\\w?)+$', flags: '' }, { pattern: 'a*a*a*b', flags: 'i' }, { pattern: '\\u0061', flags: '' },
]
const regex = fc.constantFrom(...REGEXES)
const plainObj = fc.constantFrom<unknown>({}, { a: 1 }, { toString: 1 }, { valueOf: 'x' }, { indexOf: 2 }, { length: 1 }, { '0': 'a', length: 1 })
const value: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: prim },
  { weight: 3, arbitrary: fc.array(fc.oneof(prim, fc.constant<unknown>({})), { maxLength: 12 }) },
  { weight: 2, arbitrary: regex },
  { weight: 1, arbitrary: plainObj },
)

const KEYS = ['type', 'n', 's', 'tags', 'obj', 'url', 'employees', 'country', '__proto__', 'constructor', 'toString',
  'valueOf', 'hasOwnProperty', 'prototype', 'length', '0', 'b', 'c']
const PATHS = ['type', 'n', 's', 'tags', 'obj', 'obj.n', 'obj.s', 'obj.tags', 'obj.obj.n', 'missing', 'obj.missing.x',
  '__proto__', 'constructor', 'toString', 'valueOf', 'obj.__proto__', 'obj.constructor.name', 'prototype', 'length',
  'tags.length', 'tags.0', 'obj.toString', 'b.c', '', '$', 'a..b']
const path = fc.option(fc.constantFrom(...PATHS), { nil: undefined, freq: 5 })
const factName = fc.oneof({ weight: 60, arbitrary: fc.constantFrom('event', 'event', 'lead', 'lead', 'score') }, { weight: 1, arbitrary: fc.constant('nope') })
const OPS = ['equal', 'notEqual', 'lessThan', 'lessThanInclusive', 'greaterThan', 'greaterThanInclusive', 'in', 'notIn',
  'contains', 'doesNotContain', 'startsWith', 'endsWith', 'includesText', 'matches', 'exists']
const operator = fc.oneof({ weight: 60, arbitrary: fc.constantFrom(...OPS) }, { weight: 1, arbitrary: fc.constant('bogus') })
// values of every type for every operator, but mostly the type the operator is meant for
const list = fc.array(fc.oneof(prim, fc.constant<unknown>({})), { maxLength: 12 })
const valueFor = (op: string): fc.Arbitrary<unknown> =>
  op === 'in' || op === 'notIn' ? fc.oneof({ weight: 6, arbitrary: list }, { weight: 1, arbitrary: value })
    : op === 'matches' ? fc.oneof({ weight: 4, arbitrary: regex }, { weight: 1, arbitrary: value })
      : value
const condPriority = fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined, freq: 6 })

function withPriority (c: Record<string, unknown>, p: number | undefined): Record<string, unknown> {
  return p === undefined ? c : { ...c, priority: p }
}

const { condition } = fc.letrec<{ condition: unknown; leafCond: unknown; group: unknown }>((tie) => ({
  leafCond: fc.tuple(factName, path, operator, condPriority).chain(([f, p, o, pr]) => valueFor(o).map((v) => withPriority(leaf(f, p, o, v), pr))),
  group: fc.tuple(fc.constantFrom('all', 'any', 'not'), fc.array(tie('condition'), { maxLength: 4 }), condPriority)
    .map(([k, cs, pr]) => withPriority(k === 'not' ? { not: cs[0] ?? { all: [] } } : { [k]: cs }, pr)),
  condition: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leafCond'), tie('leafCond'), tie('group')),
}))
const topLevel = fc.tuple(fc.constantFrom('all', 'any', 'not'), fc.array(condition, { maxLength: 4 }))
  .map(([k, cs]) => k === 'not' ? { not: cs[0] ?? { any: [] } } : { [k]: cs })

const params = fc.record({
  action: fc.constantFrom('add', 'set', 'reset'),
  dimension: fc.constantFrom('engagement', 'fit', 'intent'),
  points: fc.integer({ min: -50, max: 50 }),
  reason: fc.string({ maxLength: 8 }),
  limit: fc.record({ count: fc.integer({ min: 1, max: 5 }), per: fc.constantFrom('1d', '30d') }, { requiredKeys: ['count'] }),
  multiplier: fc.record({ factor: fc.constantFrom(0.5, 2), after: fc.integer({ min: 0, max: 3 }) }),
}, { requiredKeys: [] })

const rules = fc.array(
  fc.tuple(topLevel, fc.constantFrom(undefined, 1, 1, 2, 3, 10), params, fc.boolean()),
  { minLength: 1, maxLength: 6 },
).map((rs) => rs.map(([conditions, priority, p, ownId], i) => {
  // names sort differently from ids, so the order by ruleId is really checked
  const r: Record<string, unknown> = { name: `rule-${(7 * i) % 10}-${i}`, conditions, event: { type: 'score', params: ownId ? { ruleId: `id-${9 - i}`, ...p } : p } }
  if (priority !== undefined) r.priority = priority
  return r
}))

/** An object with these own properties, `__proto__` included (as JSON.parse makes them). */
function ownObject (entries: Array<[string, unknown]>): Record<string, unknown> {
  const o: Record<string, unknown> = {}
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })
  return o
}
const { factValue } = fc.letrec<{ factValue: unknown; obj: unknown }>((tie) => ({
  obj: fc.array(fc.tuple(fc.constantFrom(...KEYS), tie('factValue')), { maxLength: 6 }).map(ownObject),
  factValue: fc.oneof({ depthSize: 'small' },
    prim, prim, prim,
    fc.array(fc.oneof(prim, tie('factValue')), { maxLength: 4 }),
    tie('obj'),
  ),
}))
// the top-level facts are usually objects (as the pipeline passes them), sometimes anything
const topFact = fc.oneof({ weight: 6, arbitrary: fc.array(fc.tuple(fc.constantFrom(...KEYS), factValue), { maxLength: 8 }).map(ownObject) }, { weight: 1, arbitrary: factValue })
const factSet = fc.record({ event: topFact, lead: topFact, score: topFact }) as fc.Arbitrary<RuleFacts>

interface Stats { rulesets: number; fallbacks: number; evaluations: number; threw: number; fired: number; silent: number }

/** Asserts that both evaluators agree on every generated ruleset and fact set; returns what happened. */
async function differential (rulesets: fc.Arbitrary<Array<Record<string, unknown>>>, factSets: fc.Arbitrary<RuleFacts>, seed: number, numRuns: number): Promise<Stats> {
  const stats: Stats = { rulesets: 0, fallbacks: 0, evaluations: 0, threw: 0, fired: 0, silent: 0 }
  await fc.assert(fc.asyncProperty(rulesets, fc.array(factSets, { minLength: 1, maxLength: 6 }), async (rs, fss) => {
    stats.rulesets++
    const compiled = compileRuleset(rs)
    if (!compiled.ok) { stats.fallbacks++; return }
    const engine = createEngineEvaluator(0, rs as unknown as RuleProperties[])
    for (const f of fss) {
      stats.evaluations++
      let a: Outcome
      try { a = { fired: await engine.evaluate(f) } } catch { a = { threw: true } }
      let b: Outcome
      try { b = { fired: compiled.ruleset.evaluateSync(f) } } catch { b = { threw: true } }
      if ('threw' in a) stats.threw++
      else if (a.fired.length > 0) stats.fired++
      else stats.silent++
      if (!isDeepStrictEqual(a, b)) throw new Error(`engine ${inspect(a, { depth: 5 })} but compiled ${inspect(b, { depth: 5 })}`)
    }
  }), { seed, numRuns })
  return stats
}

t.test('differential: the compiled evaluator returns exactly what json-rules-engine returns', async (t) => {
  const stats = await differential(rules, factSet, 20250301, 2000)
  t.comment(JSON.stringify(stats))
  // the test means something only if most rulesets compile and outcomes of every kind occur
  t.ok(stats.fallbacks < stats.rulesets * 0.02, `few random rulesets fall back (${stats.fallbacks}/${stats.rulesets})`)
  t.ok(stats.fired > stats.evaluations * 0.2, 'rules fire in many evaluations')
  t.ok(stats.threw > 0 && stats.threw < stats.evaluations * 0.5, 'some evaluations throw in both, most do not')
  t.ok(stats.silent > 0, 'some evaluations fire nothing')
})

// The params recency weights and fit rules add (`recency`, `kind`) reach the contribution the same way in both
const recencyParams = fc.record({
  action: fc.constantFrom('add', 'add', 'set'),
  dimension: fc.constantFrom('engagement', 'fit'),
  points: fc.integer({ min: -50, max: 50 }),
  reason: fc.string({ maxLength: 8 }),
  within: fc.constantFrom('90d', '1w'),
  recency: fc.record({
    tiers: fc.array(fc.record({ within: fc.constantFrom('1h', '7d', '30d'), percent: fc.integer({ min: 0, max: 200 }) }), { minLength: 1, maxLength: 3 }),
    otherwise: fc.integer({ min: 0, max: 100 }),
  }),
  kind: fc.constant('fit'),
}, { requiredKeys: [] })
const recencyRules = fc.array(fc.tuple(topLevel, fc.constantFrom(undefined, 1, 2), recencyParams), { minLength: 1, maxLength: 6 })
  .map((rs) => rs.map(([conditions, priority, p], i) => {
    const r: Record<string, unknown> = { name: `rule-${(7 * i) % 10}-${i}`, conditions, event: { type: 'score', params: p } }
    if (priority !== undefined) r.priority = priority
    return r
  }))

t.test('differential: recency tiers and fit rules come out of both evaluators alike', async (t) => {
  const stats = await differential(recencyRules, factSet, 20261205, 600)
  t.comment(JSON.stringify(stats))
  t.ok(stats.fallbacks < stats.rulesets * 0.02, `few random rulesets fall back (${stats.fallbacks}/${stats.rulesets})`)
  t.ok(stats.fired > stats.evaluations * 0.2, 'rules fire in many evaluations')
  // the fields really travel: a fit rule with tiers fires and both evaluators hand back its params
  const fit = { ruleId: 'f', action: 'add', dimension: 'fit', points: 5, reason: 'F', recency: { tiers: [{ within: '7d', percent: 50 }], otherwise: 0 }, kind: 'fit' }
  const rs = [{ name: 'f', conditions: { all: [{ fact: 'lead', path: 'attributes.role', operator: 'equal', value: 'CEO' }] }, event: { type: 'score', params: fit } }]
  const got = await agree(t, rs, facts({ type: 'x' }, { attributes: { role: 'CEO' } }), 'fit rule with tiers')
  t.same(got, ['f'])
  t.same((viaCompiled(rs, facts({ type: 'x' }, { attributes: { role: 'CEO' } })) as { fired: Contribution[] }).fired, [fit], 'params kept whole')
})

// Rules gated on event.type (which the compiled evaluator uses to skip rules) mixed with conditions that throw
// always or only for object fact values, over facts that hit every case.
const TYPES = ['page_view', 'email_open', 'form_submit', 'demo']
const typeGate = fc.oneof(
  fc.constantFrom(...TYPES).map((v) => leaf('event', 'type', 'equal', v)),
  fc.subarray(TYPES).map((v) => leaf('event', 'type', 'in', v)),
)
const throwingLeaf = fc.oneof(
  fc.constant(leaf('nope', 'x', 'equal', 1)),
  fc.constant(leaf('event', 'x', 'bogus', 1)),
  fc.tuple(fc.constantFrom('lessThan', 'greaterThanInclusive'), fc.constantFrom('n', 'o', 's')).map(([op, p]) => leaf('event', p, op, 5)),
  fc.tuple(fc.constantFrom('in', 'notIn'), fc.constantFrom<unknown>('a5b', 5, null)).map(([op, v]) => leaf('event', 'o', op, v)),
)
const gatedConditions = fc.tuple(typeGate, fc.array(fc.oneof(condition, throwingLeaf, typeGate), { maxLength: 3 }), fc.constantFrom('all', 'any-of-all', 'all-of-all', 'any', 'not'), condPriority)
  .map(([gate, rest, shape, pr]) => {
    const inner = { all: [withPriority(gate, pr), ...rest] }
    // a gate under any or not is no gate
    if (shape === 'any') return { any: [withPriority(gate, pr), ...rest] }
    if (shape === 'not') return { not: inner }
    return shape === 'all' ? inner : shape === 'any-of-all' ? { any: [inner] } : { all: [inner] }
  })
const gatedRules = fc.array(fc.tuple(fc.oneof(gatedConditions, gatedConditions, topLevel), fc.constantFrom(undefined, 1, 2), params), { minLength: 2, maxLength: 6 })
  .map((rs) => rs.map(([conditions, priority, p], i) => ({ name: `g${i}`, conditions, event: { type: 'score', params: p }, ...(priority === undefined ? {} : { priority }) })))
const riskyValue = fc.oneof({ weight: 6, arbitrary: prim }, { weight: 1, arbitrary: plainObj }, { weight: 1, arbitrary: fc.constant<unknown>({ toString: null }) })
const gatedFacts = fc.tuple(factSet, fc.option(fc.constantFrom(...TYPES, 'other'), { nil: undefined, freq: 8 }), riskyValue, riskyValue, riskyValue)
  .map(([f, type, n, o, str]) => {
    if (f.event === null || typeof f.event !== 'object') return f
    const event = ownObject([...Object.entries(f.event), ['n', n], ['o', o], ['s', str], ...(type === undefined ? [] : [['type', type] as [string, unknown]])])
    return { ...f, event }
  })

t.test('differential: rules gated on event.type, with conditions that throw', async (t) => {
  const stats = await differential(gatedRules, gatedFacts, 77, 1200)
  t.comment(JSON.stringify(stats))
  t.ok(stats.fallbacks < stats.rulesets * 0.02, `few random rulesets fall back (${stats.fallbacks}/${stats.rulesets})`)
  t.ok(stats.fired > stats.evaluations * 0.2, 'rules fire in many evaluations')
  t.ok(stats.threw > stats.evaluations * 0.05, 'many evaluations throw in both')
})

// ---------------------------------------------------------------------------------------------------------------
// Operators, one quirk at a time: both evaluators agree, and this is what they return

t.test('equality is strict', async (t) => {
  const r = [rule('eq-num', { all: [leaf('event', 'n', 'equal', 5)] }), rule('eq-str', { all: [leaf('event', 'n', 'equal', '5')] }),
    rule('ne-null', { all: [leaf('event', 'missing', 'notEqual', null)] }), rule('eq-obj', { all: [leaf('event', 'o', 'equal', {})] }),
    rule('eq-undef-null', { all: [leaf('event', 'missing', 'equal', null)] })]
  t.same(await agree(t, r, facts({ n: 5, o: {} }), 'number'), ['eq-num', 'ne-null'])
  t.same(await agree(t, r, facts({ n: '5' }), 'string'), ['eq-str', 'ne-null'])
})

t.test('numeric operators: the fact must parse as a float, then JavaScript compares', async (t) => {
  const gt = (v: unknown): unknown[] => [rule('gt', { all: [leaf('event', 'n', 'greaterThan', v)] })]
  const cases: Array<[unknown, unknown, boolean | 'threw']> = [
    [10, 5, true], ['10', 5, true], [10, '5', true],
    ['10', '9', false], // both strings: compared as text
    ['12abc', 5, false], // passes parseFloat, but "12abc" > 5 is NaN > 5
    ['0x10', 5, true], // parseFloat gives 0, Number gives 16
    [' 7', 5, true], ['', -1, false], [null, -1, false], [true, 0, false], [[6], 5, true], [[], -1, false],
    [Infinity, 1e308, true], [undefined, -1, false], [{}, 0, false], [{ toString: 1 }, 0, 'threw'],
    [5, { toString: 1 }, false], // the engine compares a clone, and its clone drops keys Object.prototype has
    [5, [4], true], [5, null, true], [5, 'x', false],
  ]
  for (const [fact, v, want] of cases) {
    const got = await agree(t, gt(v), facts({ n: fact }), `${inspect(fact)} > ${inspect(v)}`)
    t.same(got, want === 'threw' ? 'threw' : want ? ['gt'] : [], `${inspect(fact)} > ${inspect(v)} is ${String(want)}`)
  }
  const le = [rule('le', { all: [leaf('score', 'total', 'lessThanInclusive', 5)] }), rule('lt', { all: [leaf('score', 'total', 'lessThan', 5)] }),
    rule('ge', { all: [leaf('score', 'total', 'greaterThanInclusive', 5)] })]
  t.same(await agree(t, le, facts({}, {}, { total: 5 }), 'boundaries'), ['ge', 'le'])
})

t.test('in / notIn: an array value is a strict member test, a string value a substring test, anything else throws', async (t) => {
  const inR = (v: unknown): unknown[] => [rule('in', { all: [leaf('lead', 'c', 'in', v)] }), rule('not-in', { all: [leaf('lead', 'c', 'notIn', v)] })]
  t.same(await agree(t, inR(['DE', 'FR']), facts({}, { c: 'DE' }), 'member'), ['in'])
  t.same(await agree(t, inR([1, 2]), facts({}, { c: '1' }), 'strict'), ['not-in'])
  t.same(await agree(t, inR([null]), facts({}, {}), 'missing is not null'), ['not-in'])
  t.same(await agree(t, inR([{}]), facts({}, { c: {} }), 'objects never match'), ['not-in'])
  t.same(await agree(t, inR(Array.from({ length: 20 }, (_, i) => i)), facts({}, { c: 13 }), 'long list'), ['in'])
  t.same(await agree(t, inR('GERMANY'), facts({}, { c: 'MAN' }), 'substring'), ['in'])
  t.same(await agree(t, inR('a null b'), facts({}, { c: null }), 'String(null) is a substring'), ['in'])
  t.same(await agree(t, inR(5), facts({}, { c: 5 }), 'number value'), 'threw')
  t.same(await agree(t, inR(null), facts({}, { c: 5 }), 'null value'), 'threw')
})

t.test('contains / doesNotContain need an array fact', async (t) => {
  const r = [rule('has', { all: [leaf('lead', 'tags', 'contains', 'vip')] }), rule('lacks', { all: [leaf('lead', 'tags', 'doesNotContain', 'vip')] })]
  t.same(await agree(t, r, facts({}, { tags: ['vip'] }), 'array with'), ['has'])
  t.same(await agree(t, r, facts({}, { tags: [] }), 'array without'), ['lacks'])
  t.same(await agree(t, r, facts({}, { tags: 'vip' }), 'string fact'), [])
  t.same(await agree(t, r, facts({}, {}), 'missing'), [])
})

t.test('string operators and exists', async (t) => {
  const r = [rule('starts', { all: [leaf('event', 'u', 'startsWith', '/pricing')] }), rule('ends', { all: [leaf('event', 'u', 'endsWith', 'team')] }),
    rule('text', { all: [leaf('event', 'u', 'includesText', 'PRICING')] }), rule('num-prefix', { all: [leaf('event', 'u', 'startsWith', 5)] }),
    rule('exists', { all: [leaf('event', 'u', 'exists', true)] }), rule('absent', { all: [leaf('event', 'u', 'exists', false)] }),
    rule('exists-any', { all: [leaf('event', 'u', 'exists', 'yes')] })]
  t.same(await agree(t, r, facts({ u: '/pricing/team' }), 'string'), ['ends', 'exists', 'exists-any', 'starts', 'text'])
  t.same(await agree(t, r, facts({ u: 5 }), 'number'), ['exists', 'exists-any'])
  t.same(await agree(t, r, facts({ u: null }), 'null'), ['absent'])
})

t.test('matches: invalid patterns and flags never match, g and y are dropped', async (t) => {
  const m = (v: unknown): unknown[] => [rule('m', { all: [leaf('event', 'u', 'matches', v)] })]
  t.same(await agree(t, m({ pattern: '^/p', flags: 'i' }), facts({ u: '/P' }), 'flag i'), ['m'])
  t.same(await agree(t, m({ pattern: 'a', flags: 'g' }), facts({ u: 'a' }), 'g is dropped'), ['m'])
  t.same(await agree(t, m({ pattern: '[', flags: '' }), facts({ u: '[' }), 'invalid pattern'), [])
  t.same(await agree(t, m({ pattern: 'a', flags: 'ii' }), facts({ u: 'a' }), 'repeated flag'), [])
  t.same(await agree(t, m('a'), facts({ u: 'a' }), 'a string value'), [])
  t.same(await agree(t, m({ pattern: 'b$' }), facts({ u: 'a'.repeat(10_000) + 'b' }), 'only the first 10,000 characters'), [])
})

t.test('matches runs on RE2: linear time, and patterns RE2 cannot compile never match in either evaluator', async (t) => {
  const m = (v: unknown): unknown[] => [rule('m', { all: [leaf('event', 'u', 'matches', v)] })]
  const adversarial = `${'a'.repeat(5_000)}!`
  for (const pattern of ['(?:\\w\\w?)+$', 'a*a*a*b', '(a+)+$', '(a|aa)+$', '(\\w*\\s?)*x']) {
    const started = performance.now()
    t.same(await agree(t, m({ pattern, flags: '' }), facts({ u: adversarial }), `/${pattern}/ on 5,000 a's`), [])
    t.ok(performance.now() - started < 1000, `/${pattern}/: ${Math.round(performance.now() - started)} ms for both evaluators`)
  }
  t.same(await agree(t, m({ pattern: '(?:\\w\\w?)+$', flags: '' }), facts({ u: 'a'.repeat(401) }), 'and it matches where it should'), ['m'])
  for (const pattern of ['(a)\\1', 'a(?=a)', 'a(?!b)', '(?<=a)a', '(?<!b)a', '\\k<x>(?<x>a)', 'x{1001}', '\\p{Script=Greek}']) {
    t.same(await agree(t, m({ pattern, flags: pattern.includes('\\p') ? 'u' : '' }), facts({ u: 'aa' }), `/${pattern}/ never matches`), [])
    t.same(await agree(t, [rule('n', { not: leaf('event', 'u', 'matches', { pattern }) })], facts({ u: 'aa' }), `not /${pattern}/`), ['n'])
  }
  // JavaScript spellings RE2 lacks are translated; flags keep their meaning
  t.same(await agree(t, m({ pattern: '^\\u0041\\uD83D\\uDE00$' }), facts({ u: 'A\u{1F600}' }), 'a \\u escape and a surrogate pair'), ['m'])
  t.same(await agree(t, m({ pattern: '^\\u{1F600}$', flags: 'u' }), facts({ u: '\u{1F600}' }), 'a code point escape'), ['m'])
  t.same(await agree(t, m({ pattern: '^b$', flags: 'm' }), facts({ u: 'a\nb\nc' }), 'flag m'), ['m'])
  t.same(await agree(t, m({ pattern: '^b$' }), facts({ u: 'a\nb\nc' }), 'no flag m'), [])
  t.same(await agree(t, m({ pattern: 'a.b', flags: 's' }), facts({ u: 'a\nb' }), 'flag s'), ['m'])
  t.same(await agree(t, m({ pattern: 'a.b' }), facts({ u: 'a\nb' }), 'no flag s'), [])
  t.same(await agree(t, m({ pattern: 'ÄRGER', flags: 'i' }), facts({ u: 'ärger' }), 'flag i beyond ASCII'), ['m'])
})

t.test('paths: own properties only; a primitive fact ignores the path', async (t) => {
  const r = [rule('ctor', { all: [leaf('event', 'constructor', 'exists', true)] }), rule('tostr', { all: [leaf('event', 'toString', 'exists', true)] }),
    rule('len', { all: [leaf('event', 'tags.length', 'equal', 2)] }), rule('whole', { all: [leaf('event', 'x.y', 'equal', 'flat')] }),
    rule('proto', { all: [leaf('event', '__proto__', 'exists', false)] })]
  t.same(await agree(t, r, facts({ tags: [1, 2] }), 'object'), ['len', 'proto'])
  t.same(await agree(t, r, facts(JSON.parse('{"constructor": 1, "toString": 2, "__proto__": 3}')), 'own prototype-named keys'), ['proto', 'tostr'])
  t.same(await agree(t, r, facts('flat'), 'a string fact'), ['ctor', 'tostr', 'whole'])
})

t.test('groups: empty all and any are true, not negates, priorities decide what is evaluated', async (t) => {
  const r = [rule('all-empty', { all: [] }), rule('any-empty', { any: [] }), rule('not-empty', { not: { any: [] } }),
    rule('not-leaf', { not: leaf('event', 'type', 'equal', 'x') })]
  t.same(await agree(t, r, facts({ type: 'y' }), 'groups'), ['all-empty', 'any-empty', 'not-leaf'])
  const throwing = leaf('event', 'n', 'in', 5)
  // one set: the throwing condition is evaluated even though the first one decides
  t.same(await agree(t, [rule('a', { any: [leaf('event', 'n', 'equal', 5), throwing] })], facts({ n: 5 }), 'same priority'), 'threw')
  // a higher-priority set that decides skips the lower one entirely
  t.same(await agree(t, [rule('a', { any: [{ ...leaf('event', 'n', 'equal', 5), priority: 2 }, throwing] })], facts({ n: 5 }), 'higher first'), ['a'])
  t.same(await agree(t, [rule('a', { any: [{ ...leaf('event', 'n', 'equal', 5), priority: 2 }, throwing] })], facts({ n: 4 }), 'undecided'), 'threw')
  t.same(await agree(t, [rule('a', { all: [{ all: [throwing], priority: 1 }, { ...leaf('event', 'n', 'equal', 5), priority: 3 }] })], facts({ n: 4 }), 'all decided false'), [])
  // a failing condition in one rule rejects the whole run, whatever the other rules do
  t.same(await agree(t, [rule('ok', { all: [] }, { priority: 9 }), rule('bad', { all: [leaf('nope', undefined, 'equal', 1)] })], facts({}), 'undefined fact'), 'threw')
  t.same(await agree(t, [rule('ok', { all: [] }), rule('bad', { all: [leaf('event', 'x', 'bogus', 1)] })], facts({}), 'unknown operator'), 'threw')
})

t.test('order and params: priority first, then ruleId; params copied as the engine copies them', async (t) => {
  const r = [
    rule('b', { all: [] }, { priority: 2 }), rule('a', { all: [] }, { priority: 2 }), rule('z', { all: [] }, { priority: 7 }),
    { name: 'n', conditions: { all: [] }, event: { type: 'score', params: { ruleId: 'c', action: 'set', dimension: 'fit', points: 3, reason: 'r', limit: { count: 1 }, multiplier: { factor: 2, after: 1 }, within: '30d' } } },
    { name: 'no-params', conditions: { all: [] }, event: { type: 'score' } },
    { name: '', conditions: { all: [] }, event: { type: 'score', params: { points: 1 } } },
  ]
  const a = await viaEngine(r, facts({}))
  const b = viaCompiled(r, facts({}))
  t.strictSame(b, a)
  t.same(ids(b), ['z', 'a', 'b', 'c', 'no-params', 'undefined'])
  t.same(JSON.stringify(b), JSON.stringify(a), 'same key order')
  const c = compileRuleset(r)
  if (!c.ok) throw new Error('compiles')
  const first = c.ruleset.evaluateSync(facts({}))
  first.find((x) => x.ruleId === 'c')!.limit!.count = 99
  t.equal(c.ruleset.evaluateSync(facts({})).find((x) => x.ruleId === 'c')!.limit!.count, 1, 'each run returns fresh objects')
})

// ---------------------------------------------------------------------------------------------------------------
// What does not compile falls back to json-rules-engine

t.test('constructs outside the compiled subset fall back to json-rules-engine', async (t) => {
  const cases: Array<[string, unknown[], RuleFacts, string[] | 'threw']> = [
    ['operator decorator', [rule('d', { all: [leaf('lead', 'tags', 'someFact:equal', 'vip')] })], facts({}, { tags: ['vip'] }), ['d']],
    ['fact reference as value', [rule('f', { all: [leaf('event', 'a', 'equal', { fact: 'lead', path: 'a' })] })], facts({ a: 1 }, { a: 1 }), ['f']],
    ['same ruleId and priority', [rule('x', { all: [] }), rule('x', { any: [] })], facts({}), ['x', 'x']],
    ['fractional priority', [rule('p', { all: [] }, { priority: 1.5 })], facts({}), ['p']],
    ['condition priority as text', [rule('q', { all: [{ ...leaf('event', 'a', 'equal', 1), priority: '2' }, leaf('event', 'a', 'equal', 1)] })], facts({ a: 1 }), ['q']],
    ['a condition with an own __proto__', [rule('pr', { any: [JSON.parse('{"fact":"event","path":"a","operator":"equal","value":1,"__proto__":{}}'), leaf('event', 'a', 'equal', 1)] })], facts({ a: 1 }), 'threw'],
    ['a Date value', [rule('dt', { all: [leaf('event', 'a', 'lessThan', new Date(0))] })], facts({ a: -1 }), ['dt']],
  ]
  for (const [label, rs, f, want] of cases) {
    const c = compileRuleset(rs)
    t.notOk(c.ok, `${label}: not compiled`)
    if (!c.ok) t.match(c.pointer, /^#\/rules/, `${label}: says where (${c.pointer}: ${c.reason})`)
    const ev = createRulesEvaluator(1, rs as RuleProperties[])
    t.equal(ev.mode, 'engine', `${label}: runs on json-rules-engine`)
    t.type(ev.fallbackReason, 'string')
    t.equal(ev.evaluateSync, null)
    t.same(ids(await ev.evaluate(f).then((fired) => ({ fired }), () => ({ threw: true as const }))), want, `${label}: evaluates as the engine does`)
  }
  t.throws(() => createRulesEvaluator(1, [{ name: 'x', conditions: { all: [{ fact: 'event' }] }, event: { type: 'score' } }] as unknown as RuleProperties[]),
    'rules the engine refuses still fail when the evaluator is built')
  const compiled = createRulesEvaluator(1, [rule('ok', { all: [] })] as unknown as RuleProperties[])
  t.equal(compiled.mode, 'compiled')
  t.same(await compiled.evaluate(facts({})), [{ ruleId: 'ok', action: 'add', points: 1 }])
  t.same(compiled.evaluateSync?.(facts({})), [{ ruleId: 'ok', action: 'add', points: 1 }])
})

// ---------------------------------------------------------------------------------------------------------------
// Every DSL golden output

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const fixtureDir = join(root, 'fixtures/rules')

interface Leaf { fact: string; path?: string; value: unknown }
function leaves (c: unknown, out: Leaf[]): Leaf[] {
  if (c === null || typeof c !== 'object') return out
  const o = c as Record<string, unknown>
  for (const k of ['all', 'any']) if (Array.isArray(o[k])) (o[k] as unknown[]).forEach((x) => leaves(x, out))
  if (o.not !== undefined) leaves(o.not, out)
  if (typeof o.fact === 'string') out.push({ fact: o.fact, path: o.path as string | undefined, value: o.value })
  return out
}

/** Facts that set each path a rule reads to the rule's value, an element of it, a near miss, or nothing. */
function factsFor (rs: Array<{ conditions: unknown }>): fc.Arbitrary<RuleFacts> {
  const ls = rs.flatMap((r) => leaves(r.conditions, []))
  const choice = (l: Leaf): fc.Arbitrary<unknown> => {
    const v = l.value
    const opts: unknown[] = [v, undefined, null, 0, '', 'other', 1_000_000, -1]
    if (Array.isArray(v)) opts.push(...v, v.slice(1))
    if (typeof v === 'number') opts.push(v - 1, v + 1, String(v))
    if (typeof v === 'string') opts.push(v.toUpperCase(), `${v}x`, `x${v}`, [v])
    if (v !== null && typeof v === 'object' && 'pattern' in v) opts.push('/pricing', 'ann@gmail.com', 'x@uni.edu', 'Enterprise Ltd')
    return fc.constantFrom(...opts)
  }
  return fc.tuple(...ls.map(choice)).map((vals) => {
    const f: Record<string, Record<string, unknown>> = { event: {}, lead: {}, score: {} }
    ls.forEach((l, i) => {
      const v = vals[i]
      if (v === undefined || !(l.fact in f) || l.path === undefined) return
      let cur = f[l.fact]!
      const segs = l.path.split('.')
      segs.forEach((s, j) => {
        if (j === segs.length - 1) cur[s] = v
        else {
          if (cur[s] === null || typeof cur[s] !== 'object' || Array.isArray(cur[s])) cur[s] = {}
          cur = cur[s] as Record<string, unknown>
        }
      })
    })
    return f as unknown as RuleFacts
  })
}

t.test('every DSL golden output compiles and agrees with json-rules-engine', async (t) => {
  const files = readdirSync(fixtureDir).filter((f) => f.endsWith('.json') && f !== 'catalog.json').sort()
  t.ok(files.length >= 9, 'the golden outputs are there')
  for (const file of files) {
    const { rules: rs } = JSON.parse(readFileSync(join(fixtureDir, file), 'utf8')) as { rules: Array<{ name: string; conditions: unknown }> }
    const c = compileRuleset(rs)
    t.ok(c.ok, `${file} compiles`)
    if (!c.ok || rs.length === 0) continue
    // the whole ruleset, and each rule alone (a rule on a plugin fact rejects every run of its ruleset here)
    const sets = [rs, ...rs.map((r) => [r])]
    let firings = 0
    let runs = 0
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: sets.length - 1 }).chain((i) => fc.tuple(fc.constant(i), factsFor(sets[i]!))), async ([i, f]) => {
      const a = await viaEngine(sets[i]!, f)
      const b = viaCompiled(sets[i]!, f)
      runs++
      if ('fired' in a) firings += a.fired.length
      if (!isDeepStrictEqual(a, b)) throw new Error(`${file}: engine ${inspect(a)} but compiled ${inspect(b)}`)
    }), { seed: 7, numRuns: 20 * sets.length + 40 })
    t.ok(firings > 0, `${file}: ${runs} agreeing evaluations, ${firings} firings`)
  }
})

// ---------------------------------------------------------------------------------------------------------------
// Scoring plugins' facts and operators (registered as the plugin host registers an installed plugin)

t.test('plugin facts and operators: both evaluators agree, and an operator that throws rejects the run in both', async (t) => {
  const plugin = defineScoringPlugin({
    kind: 'scoring',
    manifest: { id: 'test_vocab', version: '1.0.0', contract: 1, config: Type.Object({}) },
    facts: { tier: { type: 'string', compute: () => 'gold' } },
    operators: {
      longer_than: (f, v) => typeof f === 'string' && typeof v === 'number' && f.length > v,
      strict: (f) => { if (typeof f !== 'string') throw new TypeError('not a string'); return f === 'x' },
    },
  })
  t.equal(registerPluginVocabulary(plugin), null)
  const r = [
    rule('gold', { all: [leaf('plugin', 'test_vocab.tier', 'equal', 'gold')] }),
    rule('long-email', { all: [leaf('lead', 'email', 'test_vocab.longer_than', 10)] }),
    rule('not-long', { not: leaf('lead', 'email', 'test_vocab.longer_than', 10) }),
    rule('strict', { any: [leaf('event', 'type', 'equal', 'page_view'), leaf('event', 'tag', 'test_vocab.strict', null)] }),
  ]
  const f = (lead: unknown, event: unknown, plugin: unknown): RuleFacts => ({ event, lead, score: {}, plugin }) as RuleFacts
  t.same(await agree(t, r, f({ email: 'a@b.co' }, { type: 'page_view', tag: 'x' }, { test_vocab: { tier: 'gold' } }), 'short email'), ['gold', 'not-long', 'strict'])
  t.same(await agree(t, r, f({ email: 'someone@example.com' }, { type: 'form_submit', tag: 'y' }, { test_vocab: { tier: 'silver' } }), 'long email'), ['long-email'])
  t.same(await agree(t, r, f({ email: 'a@b.co' }, { type: 'page_view' }, null), 'no plugin facts, a throwing operator'), 'threw', 'the operator throws even though any is already true')
  const other = [rule('unknown-op', { all: [leaf('lead', 'email', 'test_vocab.missing', 1)] })]
  t.same(await agree(t, other, f({ email: 'a@b.co' }, {}, null), 'an operator no plugin declares'), 'threw')
  t.equal(createRulesEvaluator(1, r as unknown as RuleProperties[]).mode, 'compiled', 'rules with plugin operators compile')
})
