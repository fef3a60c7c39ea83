// Completions of event properties a tracking plan declares: offered as facts, and what they insert is a fact path the
// language reads.
import t from 'tap'
import { completionItems, diagnose, type FactCatalog } from '@leadscore/rules-dsl'

const catalog: FactCatalog = {
  'event.type': { type: 'string' },
  'event.properties.*': { type: 'any' },
}

t.test('plan properties become event.properties.<name> facts with their types and event types', async (t) => {
  const items = completionItems(catalog, ['demo_request'], [
    { name: 'seats', types: ['integer'], eventTypes: ['demo_request'] },
    { name: 'plan', types: ['string'], eventTypes: ['demo_request', 'signup'] },
    { name: 'utm.source', types: ['string'] },
    { name: 'has space' },
    { name: 'plan', types: ['string'] },
  ])
  const facts = items.filter((i) => i.kind === 'fact')
  t.same(facts.map((f) => f.label), ['event.properties.', 'event.type', 'event.properties.plan', 'event.properties.seats'],
    'catalog facts first, then the plan properties once each, sorted; names the language cannot write are left out')
  const plan = facts.find((f) => f.label === 'event.properties.plan')!
  t.equal(plan.detail, 'string · demo_request, signup')
  t.equal(plan.insertText, 'event.properties.plan')
  t.match(plan.documentation, /tracking plan/)
  t.equal(facts.find((f) => f.label === 'event.properties.seats')?.detail, 'integer · demo_request')
  t.same(completionItems(catalog, []), completionItems(catalog, [], []), 'no properties: the same items as before')

  // each inserted path is a fact the checker accepts in a rule
  for (const f of facts.filter((x) => x.label.startsWith('event.properties.') && x.label !== 'event.properties.')) {
    const src = `rule "r"\n  when ${f.insertText} == "x"\n  then +1\n`
    t.same(diagnose(src, catalog).filter((d) => d.severity === 'error'), [], `${f.label} checks`)
  }
})

t.test('bad input is refused', async (t) => {
  t.throws(() => completionItems(catalog, [], [{}] as never), TypeError)
  t.throws(() => completionItems(catalog, [], 'plan' as never), TypeError)
})
