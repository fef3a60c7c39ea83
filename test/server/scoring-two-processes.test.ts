// Horizontal scale: two real server processes on one database get the same event stream concurrently over HTTP.
// The result must equal the independent model, every event scored exactly once (one visible ledger entry each) and
// every lead's watermark at its newest seq.
import t from 'tap'
import fc from 'fast-check'
import { testMongoUri, freshDbName } from '../helpers/harness.js'
import { startServer, http, waitUntil } from '../helpers/processes.js'
import { scenarioArb, materialize, plan, prng, mapLimit, type GenEvent } from '../helpers/model.js'
import { verifyLeads, fullHistory, type Get } from '../helpers/verify.js'
import { openDatabase } from '../../server/src/infra/db.js'

const SCENARIO = fc.sample(scenarioArb({ minLeads: 5, maxLeads: 5, minEvents: 20, maxEvents: 40 }), { numRuns: 1, seed: 4242 })[0]!

t.test('two server processes score one stream exactly like the model', async (t) => {
  const uri = await testMongoUri(t)
  const dbName = freshDbName()
  const env = { LEADSCORE_LOCK_LIFETIME_MS: '5000', LEADSCORE_SWEEP_EVERY_MS: '500' }
  const [a, b] = await Promise.all([startServer(t, uri, dbName, env), startServer(t, uri, dbName, env)])
  const db = await openDatabase(uri, dbName)
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })

  const events = materialize(SCENARIO, 'tp')
  // each process gets every event (so every event also arrives twice), in its own shuffled order and batching
  const send = async (base: string, seed: number): Promise<{ accepted: number; duplicates: number }> => {
    const requests = plan(events, prng(seed))
    let accepted = 0; let duplicates = 0
    await mapLimit(requests, 6, async (r) => {
      const body = Array.isArray(r) ? { events: r.map((e: GenEvent) => e.body) } : r.body
      const res = await http(base, '/v1/events', { method: 'POST', body })
      if (res.status !== 202) throw new Error(`ingest answered ${res.status}: ${JSON.stringify(res.body)}; server log: ${(base === a.url ? a : b).output().slice(-1500)}`)
      accepted += res.body.accepted; duplicates += res.body.duplicates
    })
    return { accepted, duplicates }
  }
  const started = Date.now()
  const [ra, rb] = await Promise.all([send(a.url, SCENARIO.seed), send(b.url, SCENARIO.seed ^ 0x5bd1e995)])
  t.equal(ra.accepted + rb.accepted, events.length, 'each unique event accepted exactly once across both processes')
  t.comment(`ingest took ${Date.now() - started} ms: ${events.length} events, ${ra.duplicates + rb.duplicates} duplicates; a accepted ${ra.accepted}, b accepted ${rb.accepted}`)

  let stats: { events: { pending: number; total: number } } = { events: { pending: -1, total: -1 } }
  await waitUntil(async () => {
    stats = (await http(a.url, '/v1/stats')).body
    return stats.events.pending === 0
  }, 240_000, () => `stats ${JSON.stringify(stats)}; a: ${a.output()} b: ${b.output()}`, 300)
  t.comment(`caught up after ${Date.now() - started} ms`)

  // both processes answer the same (shared database); check through each
  const getA: Get = async (path) => await http(a.url, path)
  const getB: Get = async (path) => await http(b.url, path)
  const checks = await verifyLeads(t, getA, db, events)
  t.equal(checks.length, SCENARIO.leads.length, 'every lead checked')
  for (const c of checks) {
    const lead = (await getB(`/v1/leads/${c.leadId}`)).body
    t.equal(lead.score, c.model.total, `${c.email}: process b shows the same score`)
    // no event scored twice: among committed entries, each event has exactly one that is not superseded
    const all = await fullHistory(getA, c.leadId, true)
    const live = new Map<string, number>()
    for (const e of all) if (!e.superseded) live.set(e.eventId, (live.get(e.eventId) ?? 0) + 1)
    t.same([...live.values()].filter((n) => n !== 1), [], `${c.email}: every event has exactly one visible entry`)
    t.equal(live.size, c.events.length, `${c.email}: every event scored`)
  }
  t.ok(a.proc.exitCode === null && b.proc.exitCode === null, 'both processes still running')
})
