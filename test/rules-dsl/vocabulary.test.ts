// The vocabulary rules-dsl exports for the server: one duration parser (rules, the scoring model and plugin poll
// periods), the facts and operators compiled rules may use, and plugin facts compiled to the `plugin` fact.
import t from 'tap'
import { compileSource, durationToMs, engineOperators, leadscoreOperators, parseDurationText, ruleFacts, type FactCatalog } from '@leadscore/rules-dsl'
import { durationMs } from '../../server/src/domain/scoring/model.js'
import { parseDuration } from '../../server/src/plugin-host/registry.js'
import { ALLOWED_FACTS, BUILTIN_OPERATORS, CUSTOM_OPERATORS } from '../../server/src/domain/scoring/rule-operators.js'

t.test('one duration parser', async (t) => {
  t.equal(durationToMs('30d'), 30 * 86_400_000)
  t.equal(durationToMs('2w'), 2 * 604_800_000)
  t.equal(durationToMs('15m'), 900_000)
  t.equal(durationToMs('500ms'), null, 'rules take m h d w only, by default')
  t.equal(durationToMs('500ms', { units: ['ms', 's'] }), 500)
  for (const bad of ['', 'd', '30', '30 d', '-1d', '1.5h', '30D', '30dd', ' 30d', '30d ', 'constructor', '1toString']) t.equal(durationToMs(bad, { units: ['ms', 's', 'm', 'h', 'd', 'w'] }), null, `'${bad}' is not a duration`)
  t.equal(durationToMs('100001d'), null, 'beyond the DSL limit')
  t.equal(durationToMs('100001d', { maxAmount: 999_999 }), 100_001 * 86_400_000)
  t.equal(durationToMs('0d'), 0, 'zero is a duration (stored rules may hold it)')
  t.equal(durationToMs('0d', { minAmount: 1 }), null)
  t.same(parseDurationText('030d'), { amount: 30, unit: 'd', text: '30d' })
  t.match(parseDurationText('0d'), { error: /between 1 and/ })
  t.match(parseDurationText('3y'), { error: /Unknown duration unit 'y'/ })

  // the scoring model and the plugin host are this parser with their units and bounds
  t.equal(durationMs('90d'), 90 * 86_400_000)
  t.equal(durationMs('999999m'), 999_999 * 60_000)
  t.equal(durationMs('1000000m'), null)
  t.equal(durationMs('5s'), null, 'rules have no seconds')
  t.equal(parseDuration('500ms'), 500)
  t.equal(parseDuration('30s'), 30_000)
  t.equal(parseDuration('1d'), 86_400_000)
  t.equal(parseDuration('2w'), null, 'poll periods have no weeks')
  t.equal(parseDuration('999999999ms'), 999_999_999)
  t.equal(parseDuration('1000000000ms'), null)
})

t.test('the server validates rules against the language\'s vocabulary', async (t) => {
  t.same([...ALLOWED_FACTS], [...ruleFacts])
  t.same([...BUILTIN_OPERATORS], [...engineOperators])
  for (const op of leadscoreOperators) t.ok(CUSTOM_OPERATORS.has(op), `${op} is ours`)
})

t.test('plugin facts compile to the plugin fact and are checked against the catalog', async (t) => {
  const catalog: FactCatalog = { 'event.type': { type: 'string' }, 'plugin.email_domain.kind': { type: 'string' }, 'plugin.firmo.employees': { type: 'number' } }
  const ok = compileSource('rule "Biz" when plugin.email_domain.kind == "business" and plugin.firmo.employees >= 100 then +5 fit', catalog)
  t.same(ok.diagnostics, [])
  t.same(ok.ruleset!.rules[0]!.conditions, { all: [
    { fact: 'plugin', path: 'email_domain.kind', operator: 'equal', value: 'business' },
    { fact: 'plugin', path: 'firmo.employees', operator: 'greaterThanInclusive', value: 100 },
  ] })
  const typo = compileSource('rule "Biz" when plugin.email_domain.knd == "business" then +5 fit', catalog)
  t.match(typo.diagnostics, [{ code: 'DSL040', message: /Did you mean 'plugin\.email_domain\.kind'/ }])
  const typed = compileSource('rule "Big" when plugin.firmo.employees == "many" then +5 fit', catalog)
  t.ok(typed.diagnostics.some((d) => d.severity === 'error'), 'a comparison of the wrong type is an error')
})
