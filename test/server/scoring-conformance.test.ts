// The scoring-plugin conformance suite (@leadscore/server/testing) on the built-in scorers: a ruleset's rules through
// the scoring-plugin contract (checked against json-rules-engine, the reference) and the predictive scorer with a
// trained, deployed model. And the suite itself: each of its checks fails a plugin that breaks that promise.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { compileSource } from '@leadscore/rules-dsl'
import type { RuleProperties } from 'json-rules-engine'
import { defineScoringPlugin, type Contribution, type ScoringInput, type ScoringPlugin } from '../../server/src/contracts/index.js'
import { runScoringConformance, type ConformanceTest } from '../../server/src/testing/index.js'
import { FACT_CATALOG } from '../../server/src/domain/rulesets/ruleset-service.js'
import { DEFAULT_SOURCE } from '../../server/src/domain/rulesets/default-ruleset.js'
import { createEngineEvaluator, createRulesEvaluator } from '../../server/src/domain/scoring/rules-engine.js'
import { createRulesPlugin, ruleFactsOf } from '../../server/src/domain/scoring/rules-plugin.js'
import { ModelRuntime, createPredictivePlugin } from '../../server/src/domain/predictive/service.js'
import { train } from '../../server/src/domain/predictive/trainer.js'
import { createRng } from '../../server/src/domain/predictive/rng.js'
import { openDatabase } from '../../server/src/infra/db.js'
import { testMongoUri, freshDbName } from '../helpers/harness.js'
import { Type } from '@sinclair/typebox'

const input = (type: string, over: Partial<ScoringInput['lead']> = {}): ScoringInput => ({
  lead: { id: 'ld_1', email: 'ann@acme.com', externalId: null, name: 'Ann', company: 'Acme', attributes: { industry: 'software', employees: 120, segment: 'hot', size: 400 }, status: 'open', sources: ['api'], ...over },
  event: { id: 'ev_1', sourceId: 'api', type, occurredAt: new Date('2026-03-01T10:00:00Z'), properties: { path: '/pricing', duration: 30 } },
  score: { total: 40, engagement: 30, fit: 10, intent: 0, stage: 'Nurture' },
  rulesetVersion: 1,
})

const RULES_SOURCE = `${DEFAULT_SOURCE}
rule "Enterprise visit" when event.type == "page_view" and lead.attributes.employees >= 100 then +5 fit "Enterprise-size company visited" once
rule "Pricing page" when event.type == "page_view" and event.properties.path startsWith "/pricing" then +10 intent "Looked at pricing" limit 3 per 30d
fit rule "Software" when lead.attributes.industry == "software" then +15 "Software company"
`

t.test('a ruleset\'s rules, through the scoring-plugin contract', async (t) => {
  const { ruleset, diagnostics } = compileSource(RULES_SOURCE, FACT_CATALOG)
  t.same(diagnostics.filter((d) => d.severity === 'error'), [], 'the ruleset compiles')
  const rules = ruleset!.rules as unknown as RuleProperties[]
  const evaluator = createRulesEvaluator(1, rules)
  t.equal(evaluator.mode, 'compiled')
  const reference = createEngineEvaluator(1, rules)
  const types = ['page_view', 'email_open', 'form_submit', 'demo_request', 'purchase', 'email_bounced', 'marked_spam', 'unsubscribed', 'webinar']
  const inputs = []
  for (const type of types) {
    const i = input(type)
    // what json-rules-engine fires for the same facts, fit rules left to the pipeline
    const expect = (await reference.evaluate(ruleFactsOf(i, null))).filter((c) => c.kind !== 'fit').map((c) => c.ruleId)
    inputs.push({ name: `${type}: ${expect.join(', ') || 'nothing'}`, input: i, expectRules: expect })
  }
  t.ok(inputs.some((x) => x.expectRules.length > 1), 'some events fire several rules')
  await runScoringConformance(t, createRulesPlugin({ version: 1, evaluator }), { inputs })
})

t.test('the predictive scorer, with a trained and deployed model', async (t) => {
  const rng = createRng(11)
  const examples = Array.from({ length: 300 }, (_, i) => {
    const hot = rng() < 0.4
    const size = Math.floor(rng() * 1000)
    const y: 0 | 1 = rng() < (hot ? 0.7 : 0.1) ? 1 : 0
    return { leadId: `l${i}`, eventId: `e${i}`, at: 0, label: y, input: { attributes: { segment: hot ? 'hot' : 'cold', size }, activity: null, scores: { engagement: 0, fit: 0, intent: 0 }, at: 0 } }
  })
  const r = await train(examples, { seed: 1, folds: 3, testFraction: 0.25, candidates: [{ algorithm: 'logistic', l2: 1 }], calibration: 'platt', features: {}, excludeAttributes: [], excludeEventTypes: [] })
  const db = await openDatabase(await testMongoUri(t), freshDbName())
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const { featureSet, ...artifact } = r.artifact
  // the runtime reads a model's artifact and feature set, and the latest deployment
  await db.c.models.insertOne({ _id: 'mdl_1', version: 1, featureSet, artifact } as never)
  await db.c.modelDeployments.insertOne({ _id: 'dep_1', seq: 1, champion: { id: 'mdl_1', version: 1 }, challenger: null, challengerShare: 0, action: 'deploy', actor: 'test', at: new Date() } as never)
  const runtime = new ModelRuntime(db.c, { info () {}, warn () {}, error () {} } as never)
  await runtime.ensureFresh(true)
  const plugin = createPredictivePlugin(runtime)
  const probe = plugin.predict!({ ...input('page_view'), activity: { n: 1, first: 0, last: 0, gap: null, tos: 0, types: [] } }, {} as never)
  t.match(probe, { model: { id: 'mdl_1', arm: 'champion' }, probability: Number }, 'the deployed model predicts')
  await runScoringConformance(t, plugin, {
    inputs: [
      { name: 'a hot lead', input: input('page_view') },
      { name: 'a cold lead', input: input('email_open', { attributes: { segment: 'cold', size: 10 } }) },
    ],
  })
})

/** A runner that records what failed instead of failing, to show each check can fail. */
function recorder (): ConformanceTest & { failures: string[] } {
  const failures: string[] = []
  const make = (prefix: string): ConformanceTest => ({
    async test (name, fn) { await fn(make(`${prefix}${name} > `)) },
    ok (v, m) { if (!v) failures.push(prefix + m) },
    equal (a, b, m) { if (a !== b) failures.push(prefix + m) },
    fail (m) { failures.push(prefix + m) },
  })
  return Object.assign(make(''), { failures })
}

const bad = (name: string, score: ScoringPlugin['score'], extra: Partial<ScoringPlugin> = {}): ScoringPlugin => defineScoringPlugin({
  kind: 'scoring', manifest: { id: 'bad_plugin', version: '1.0.0', contract: 1, config: Type.Object({}) }, score, ...extra,
}) as ScoringPlugin
const ok = (reason = 'Fine'): Contribution[] => [{ ruleId: 'r', action: 'add', dimension: 'fit', points: 3, reason }]

t.test('each check fails a plugin that breaks its promise', async (t) => {
  const cases: Array<[string, ScoringPlugin, RegExp]> = [
    ['mutates its input', bad('m', (i) => { (i.lead.attributes as Record<string, unknown>).seen = true; return ok() }), /mutate its input/],
    ['reads the context clock', bad('c', (_i, ctx) => [{ ...ok()[0]!, points: ctx.now().getTime() % 7 }]), /read the clock/],
    ['is random', bad('r', () => [{ ...ok()[0]!, points: Math.floor(Math.random() * 1e9) }]), /the same output/],
    ['depends on key order', bad('k', (i) => [{ ...ok()[0]!, points: Object.keys(i.lead.attributes)[0]!.length }]), /the same output/],
    ['reads a file', bad('f', () => { readFileSync('/etc/hostname'); return ok() }), /no I\/O/],
    ['waits on a timer', bad('w', async () => { await new Promise((resolve) => setTimeout(resolve, 1)); return ok() }), /no I\/O/],
    ['is slow', bad('s', () => { const end = performance.now() + 8; while (performance.now() < end); return ok() }), /at most 2 ms/],
    ['gives no reason', bad('n', () => [{ ruleId: 'r', action: 'add', points: 1 }]), /well formed/],
    ['proposes fit-rule contributions', bad('k2', () => [{ ...ok()[0]!, kind: 'fit' }]), /well formed/],
    ['has a fact of the wrong type', bad('t', () => ok(), { facts: { n: { type: 'number', compute: () => 'seven' } } }), /a number/],
    ['has an operator that throws', bad('o', () => ok(), { operators: { broken: (f) => (f as string).length > 1 } }), /a boolean, not a throw/],
  ]
  for (const [what, plugin, expected] of cases) {
    const r = recorder()
    await runScoringConformance(r, plugin, { inputs: [{ name: 'an event', input: input('page_view') }], operators: plugin.operators !== undefined ? { broken: [['ab', null, true]] } : {}, repeat: 10 })
    t.ok(r.failures.some((f) => expected.test(f)), `a plugin that ${what} fails (${r.failures.join(' | ') || 'nothing failed'})`)
  }
  const good = recorder()
  await runScoringConformance(good, bad('g', () => ok()), { inputs: [{ name: 'an event', input: input('page_view') }] })
  t.same(good.failures, [], 'a well-behaved plugin passes')
})
