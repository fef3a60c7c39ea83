// The industry taxonomy file: checked at boot (a wrong file stops the server), adjacency symmetric, and an offer's
// adjacency resolved from it and from the offer's own additions.
import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadTaxonomy } from '../../server/src/domain/offers/taxonomy.js'

const dir = mkdtempSync(join(tmpdir(), 'ls-taxonomy-'))
const file = (name: string, body: unknown): string => { const p = join(dir, name); writeFileSync(p, JSON.stringify(body)); return p }

t.test('the shipped taxonomy loads: at least 40 industries, symmetric adjacency, lookups ignore case', async (t) => {
  const tax = loadTaxonomy()
  t.ok(tax.industries.length >= 40, `${tax.industries.length} industries`)
  for (const i of tax.industries) {
    for (const a of i.adjacent) t.ok(tax.adjacent(a).includes(i.name), `${a} is next to ${i.name} as ${i.name} is next to ${a}`)
  }
  t.equal(tax.canonical('  saas '), 'SaaS')
  t.equal(tax.canonical('Basket weaving'), null)
  t.same(tax.adjacent('Basket weaving'), [])
  t.ok(tax.adjacent('saas').includes('Software'))
})

t.test('a wrong file fails at boot with what is wrong', async (t) => {
  t.throws(() => loadTaxonomy(file('a.json', { industries: [] })), /expected \{ version, industries/)
  t.throws(() => loadTaxonomy(file('b.json', { version: 1, industries: [{ name: 'A', adjacent: ['B'] }] })), /'A' is next to 'B', which is not a listed industry/)
  t.throws(() => loadTaxonomy(file('c.json', { version: 1, industries: [{ name: 'A', adjacent: [] }, { name: 'a', adjacent: [] }] })), /listed twice/)
  t.throws(() => loadTaxonomy(file('d.json', { version: 1, industries: [{ name: 'A' }] })), /industries\[0\] must be/)
  const ok = loadTaxonomy(file('e.json', { version: 2, industries: [{ name: 'A', adjacent: ['B'] }, { name: 'B', adjacent: [] }] }))
  t.same(ok.adjacent('B'), ['A'], 'a pair listed once is adjacent both ways')
})
