// Rules that read a list fact as their value (`in offer.icp.industries`, `matches any …`): parse, check, compile,
// format. The language stays pure: it only names the fact; the list is read when the rules run.
import t from 'tap'
import { compileSource, diagnose, format, type FactCatalog } from '../../rules-dsl/src/index.js'

const catalog: FactCatalog = {
  'event.type': { type: 'string' },
  'lead.name': { type: 'string' },
  'lead.attributes.*': { type: 'any' },
  'score.fit': { type: 'number' },
  'offer.name': { type: 'string' },
  'offer.icp.industries': { type: 'string[]' },
  'offer.icp.adjacentIndustries': { type: 'string[]' },
  'offer.icp.roles.decisionMakers': { type: 'string[]' },
}

const codes = (src: string): string[] => diagnose(src, catalog).map((d) => d.code)

t.test('in <list fact> compiles to inText with a fact reference; not in wraps it in not', async (t) => {
  const { ruleset, diagnostics } = compileSource(`rule "ICP"
  when lead.attributes.industry in offer.icp.industries and lead.attributes.industry not in offer.icp.adjacentIndustries
  then +20 fit`, catalog)
  t.same(diagnostics, [])
  t.same(ruleset!.rules[0]!.conditions, {
    all: [
      { fact: 'lead', path: 'attributes.industry', operator: 'inText', value: { fact: 'offer', path: 'icp.industries' } },
      { not: { fact: 'lead', path: 'attributes.industry', operator: 'inText', value: { fact: 'offer', path: 'icp.adjacentIndustries' } } },
    ],
  })
})

t.test('in [literal list] keeps the exact json-rules-engine operators', async (t) => {
  const { ruleset } = compileSource('rule "L" when lead.attributes.industry not in ["SaaS"] then +1 fit', catalog)
  t.same(ruleset!.rules[0]!.conditions, { all: [{ fact: 'lead', path: 'attributes.industry', operator: 'notIn', value: ['SaaS'] }] })
})

t.test('matches any takes a list fact or a literal list of words', async (t) => {
  const { ruleset, diagnostics } = compileSource(`rule "DM" when lead.attributes.role matches any offer.icp.roles.decisionMakers then +20 fit
rule "Lit" when lead.attributes.role not matches any ["VP", "Head of"] then +1 fit`, catalog)
  t.same(diagnostics, [])
  t.same(ruleset!.rules[0]!.conditions, { all: [{ fact: 'lead', path: 'attributes.role', operator: 'matchesAnyWord', value: { fact: 'offer', path: 'icp.roles.decisionMakers' } }] })
  t.same(ruleset!.rules[1]!.conditions, { not: { fact: 'lead', path: 'attributes.role', operator: 'matchesAnyWord', value: ['VP', 'Head of'] } })
})

t.test('the checker types both sides', async (t) => {
  t.same(codes('rule "A" when lead.attributes.industry in offr.icp.industries then +1'), ['DSL040'], 'an unknown list fact')
  t.same(codes('rule "A" when lead.attributes.industry in offer.name then +1'), ['DSL041'], 'a fact that is not a list')
  t.same(codes('rule "A" when score.fit in offer.icp.industries then +1'), ['DSL041'], 'a number compared with text')
  t.same(codes('rule "A" when lead.name matches any [1, 2] then +1'), ['DSL041', 'DSL041'], 'a number is not a word')
  t.same(codes('rule "A" when lead.name matches any offer.icp.__proto__ then +1').includes('DSL050'), true, 'forbidden segments in the value path')
  t.same(codes('rule "A" when lead.name in offer then +1'), ['DSL010'], 'a bare word is a value without quotes, not a fact')
})

t.test('format prints fact values and matches any, and is stable', async (t) => {
  const src = 'rule "A" when lead.attributes.role   not matches any offer.icp.roles.decisionMakers and lead.attributes.industry in offer.icp.industries then +1 fit'
  const once = format(src)
  t.equal(once, `rule "A"
  when lead.attributes.role not matches any offer.icp.roles.decisionMakers
    and lead.attributes.industry in offer.icp.industries
  then +1 fit
`)
  t.equal(format(once), once)
  t.same(compileSource(once, catalog).ruleset, compileSource(src, catalog).ruleset, 'formatting does not change the rules')
})
