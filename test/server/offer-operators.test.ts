// The offer operators (inText, matchesAnyWord) and fact-reference values: the compiled evaluator returns what
// json-rules-engine returns, over examples and random facts; the validator takes fact references only where they work.
import t from 'tap'
import fc from 'fast-check'
import type { RuleProperties } from 'json-rules-engine'
import { compileRuleset } from '../../server/src/domain/scoring/compiled-evaluator.js'
import { createEngineEvaluator, createRulesEvaluator, customOperators, type RuleFacts } from '../../server/src/domain/scoring/rules-engine.js'
import { validateRuleset } from '../../server/src/domain/rulesets/validate.js'
import { offerSnapshot, NO_OFFER } from '../../server/src/domain/offers/offer-facts.js'

const rule = (name: string, conditions: unknown): RuleProperties => ({
  name, conditions, event: { type: 'score', params: { ruleId: name, action: 'add', dimension: 'fit', points: 1, reason: name } },
}) as RuleProperties
const RULES = [
  rule('icp', { all: [{ fact: 'lead', path: 'attributes.industry', operator: 'inText', value: { fact: 'offer', path: 'icp.industries' } }] }),
  rule('not-icp', { not: { fact: 'lead', path: 'attributes.industry', operator: 'inText', value: { fact: 'offer', path: 'icp.industries' } } }),
  rule('dm', { all: [{ fact: 'lead', path: 'attributes.role', operator: 'matchesAnyWord', value: { fact: 'offer', path: 'icp.roles.decisionMakers' } }] }),
  rule('lit', { any: [{ fact: 'lead', path: 'attributes.role', operator: 'matchesAnyWord', value: ['Head of', 'VP'] }, { fact: 'lead', path: 'attributes.industry', operator: 'inText', value: ['fintech'] }] }),
  rule('offer-left', { all: [{ fact: 'offer', path: 'version', operator: 'greaterThan', value: 0 }] }),
]

const offer = offerSnapshot({
  id: 'of_1', version: 3, name: 'Acme', valuePropositions: [], useCases: [], createdAt: new Date(0), createdBy: 'x', active: true,
  icp: { industries: ['SaaS', 'FinTech'], adjacentIndustries: ['Software'], roles: { decisionMakers: ['CEO', 'VP', 'Head of Sales'], influencers: ['Manager'] } },
}).facts as Record<string, unknown>

const facts = (lead: Record<string, unknown>, o: unknown = offer): RuleFacts => ({ event: { type: 'lead_updated' }, lead: { attributes: lead }, score: {}, offer: o as Record<string, unknown> | null })

async function both (f: RuleFacts): Promise<{ engine: string[]; compiled: string[] }> {
  const engine = (await createEngineEvaluator(0, RULES).evaluate(f)).map((c) => c.ruleId)
  const c = compileRuleset(RULES)
  if (!c.ok) throw new Error(`${c.pointer}: ${c.reason}`)
  return { engine, compiled: c.ruleset.evaluateSync(f).map((x) => x.ruleId) }
}

t.test('the rules compile (no fallback to the engine)', async (t) => {
  t.equal(createRulesEvaluator(1, RULES).mode, 'compiled')
})

t.test('operators: case, spaces and whole words', async (t) => {
  const { inText, matchesAnyWord } = customOperators
  t.ok(inText!(' saas ', ['SaaS']), 'case and surrounding spaces do not count')
  t.notOk(inText!('SaaS platform', ['SaaS']), 'a different text')
  t.notOk(inText!('', ['']), 'empty text matches nothing')
  t.notOk(inText!('SaaS', 'SaaS'), 'a value that is not a list matches nothing')
  t.ok(matchesAnyWord!('VP of Sales', ['VP']), 'VP of Sales is a VP')
  t.ok(matchesAnyWord!('Senior Head of Sales, EMEA', ['head of sales']), 'a phrase matches as consecutive words')
  t.notOk(matchesAnyWord!('VPN administrator', ['VP']), 'VPN is not VP')
  t.notOk(matchesAnyWord!('Team Leader', ['Lead']), 'Leader is not Lead')
  t.ok(matchesAnyWord!('Co-Founder & CEO', ['founder']), 'punctuation separates words')
  t.notOk(matchesAnyWord!(42, ['42']), 'only text is matched')
})

t.test('engine and compiled evaluator agree on examples', async (t) => {
  const cases: Array<[RuleFacts, string[]]> = [
    [facts({ industry: 'saas', role: 'VP of Sales' }), ['dm', 'icp', 'lit', 'offer-left']],
    [facts({ industry: 'Retail', role: 'Engineer' }), ['not-icp', 'offer-left']],
    [facts({ industry: 'FinTech', role: 'Head of Sales' }), ['dm', 'icp', 'lit', 'offer-left']],
    [facts({ industry: 'SaaS', role: 'CEO' }, NO_OFFER.facts), ['not-icp']],
    [facts({ industry: 'SaaS', role: 'CEO' }, null), ['not-icp']],
    [facts({ industry: 'SaaS' }, { icp: 'not an object' }), ['not-icp']],
  ]
  for (const [f, want] of cases) {
    const r = await both(f)
    t.same(r.compiled, r.engine, `same result for ${JSON.stringify(f.lead)}`)
    t.same([...r.engine].sort(), want, `fires ${want.join(', ')}`)
  }
})

t.test('engine and compiled evaluator agree on random leads and offers', async (t) => {
  const word = fc.constantFrom('SaaS', 'saas', ' FinTech', 'VP', 'vp of sales', 'Head of Sales', 'CEO', 'Retail', '', 'VPN', 'Lead')
  const value = fc.oneof(word, fc.integer(), fc.constant(null), fc.array(word, { maxLength: 3 }), fc.constant(undefined))
  const list = fc.oneof(fc.array(fc.oneof(word, fc.integer()), { maxLength: 4 }), fc.constant(undefined), fc.constant('SaaS'), fc.constant(null))
  await fc.assert(fc.asyncProperty(value, value, list, list, async (industry, role, industries, dms) => {
    const o = { version: 1, icp: { industries, roles: { decisionMakers: dms } } }
    const r = await both(facts({ industry, role }, o))
    return JSON.stringify(r.compiled) === JSON.stringify(r.engine)
  }), { numRuns: 300 })
  t.pass('300 random cases agree')
})

t.test('the validator takes fact references only with the list operators and known facts', async (t) => {
  t.same(validateRuleset({ rules: RULES }), [])
  const bad = (value: unknown, operator = 'inText') => validateRuleset({ rules: [rule('x', { all: [{ fact: 'lead', path: 'attributes.industry', operator, value }] })] })
  t.match(bad({ fact: 'offer', path: 'icp.industries' }, 'equal'), [{ pointer: '#/rules/0/conditions/all/0/value' }])
  t.match(bad({ fact: 'secrets', path: 'x' }), [{ pointer: '#/rules/0/conditions/all/0/value' }])
  t.match(bad({ fact: 'offer', path: '$.icp' }), [{ pointer: '#/rules/0/conditions/all/0/value/path' }])
  t.match(bad({ fact: 'offer', path: 'icp.__proto__' }), [{ pointer: '#/rules/0/conditions/all/0/value/path' }])
  t.match(bad({ fact: 'offer', params: { a: 1 } }), [{ pointer: '#/rules/0/conditions/all/0/value' }])
})
