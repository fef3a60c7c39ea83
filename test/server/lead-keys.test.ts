// The lead index keys of a lead (lead-views/keys.ts): search words that begin another word of the lead are left out
// without changing what a search finds, and no key is written for a filter no request uses (grade).
import t from 'tap'
import { keysOf, prefixOf, tokensOf } from '../../server/src/domain/lead-views/keys.js'
import type { LeadSummary } from '../../server/src/domain/lead-views/summary.js'

const ada: LeadSummary = {
  id: 'ld_ada', score: 42, stage: 'MQL', grade: 'B', status: 'open', sources: ['api', 'crm'], converted: false,
  createdAt: 1_700_000_000_000, updatedAt: 1_700_000_500_000, lastEventAt: 1_700_000_400_000,
  name: 'Ada Lovelace', email: 'ada.lovelace@acme.io', company: 'Acme Corp', externalId: 'crm-123',
}

t.test('a search word that begins another one is left out, and every query still finds the lead', async (t) => {
  const tokens = tokensOf(ada)
  t.same(tokens, ['123', 'acme.io', 'ada.lovelace@acme.io', 'corp', 'crm-123', 'io', 'lovelace'], 'ada, acme and crm begin longer words')
  // every word a search could start with, as the tokens were before (each word of each field, and the fields whole)
  const queries = ['ada', 'lovelace', 'acme', 'corp', 'ada.lovelace@acme.io', 'ada.lovelace', 'acme.io', 'io', 'crm-123', 'crm', '123', 'ad', 'acm']
  for (const q of queries) t.ok(tokens.some((w) => w.startsWith(q)), `"${q}" still finds the lead`)
  t.same(tokensOf({ ...ada, company: null, email: null, externalId: null, name: 'Ana Anabel' }), ['anabel'], 'a name word that begins another name word')
})

t.test('keys: a score copy per stage, status and source, none per grade', async (t) => {
  const keys = keysOf(ada)
  const scoreKeys = (f?: Parameters<typeof prefixOf>[1]): number => keys.filter((k) => k.startsWith(prefixOf('s', f))).length
  t.equal(scoreKeys({ field: 'stage', value: 'MQL' }), 1)
  t.equal(scoreKeys({ field: 'status', value: 'open' }), 1)
  t.equal(scoreKeys({ field: 'source', value: 'api' }) + scoreKeys({ field: 'source', value: 'crm' }), 2)
  t.notOk(keys.some((k) => k.startsWith('s|grade=')), 'no grade key')
  t.equal(keys.length, new Set(keys).size, 'no key twice')
  // score (all leads), 4 filtered score copies, ascending score, created, updated, last event, name, 7 search words
  t.equal(keys.length, 1 + 4 + 1 + 4 + tokensOf(ada).length)
})
