// Four real server processes score one shuffled stream with duplicates, sent to all of them at once; one of them is
// SIGKILLed while batches are being scored. The three left must finish the work: every lead equal to the
// independent model, every event scored exactly once (one visible ledger entry each), nothing left pending.
import t from 'tap'
import fc from 'fast-check'
import { testMongoUri, freshDbName, eventStatusCounts } from '../helpers/harness.js'
import { startServer, http, waitUntil, type ServerProcess } from '../helpers/processes.js'
import { scenarioArb, materialize, plan, prng, mapLimit, type GenEvent } from '../helpers/model.js'
import { verifyLeads, fullHistory, type Get } from '../helpers/verify.js'
import { openDatabase } from '../../server/src/infra/db.js'

const SCENARIO = fc.sample(scenarioArb({ minLeads: 12, maxLeads: 12, minEvents: 15, maxEvents: 35 }), { numRuns: 1, seed: 9001 })[0]!

t.test('four processes, one killed mid-batch, score a shuffled stream with duplicates exactly like the model', async (t) => {
  const uri = await testMongoUri(t)
  const dbName = freshDbName()
  // small batches of leads and short leases, so the kill lands inside batches and their locks expire soon
  const env = { LEADSCORE_LOCK_LIFETIME_MS: '2000', LEADSCORE_SWEEP_EVERY_MS: '500', LEADSCORE_SCORING_BATCH: '4', LEADSCORE_EVENTS_PER_RUN: '5' }
  const servers: ServerProcess[] = await Promise.all([0, 1, 2, 3].map(async () => await startServer(t, uri, dbName, env)))
  const db = await openDatabase(uri, dbName)
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const events = materialize(SCENARIO, 'fp')

  // every process gets the whole stream (so every event arrives four times or more), each in its own order
  let accepted = 0
  const unbalanced: unknown[] = []
  const send = async (s: ServerProcess, seed: number): Promise<void> => {
    await mapLimit(plan(events, prng(seed), 0.2), 3, async (r) => {
      const body = Array.isArray(r) ? { events: r.map((e: GenEvent) => e.body) } : r.body
      const res = await http(s.url, '/v1/events', { method: 'POST', body })
      if (res.status !== 202) throw new Error(`ingest answered ${res.status}: ${JSON.stringify(res.body)}`)
      accepted += res.body.accepted
      if (res.body.accepted + res.body.duplicates + res.body.rejected !== (Array.isArray(r) ? r.length : 1)) unbalanced.push(res.body)
    })
  }
  const counts = async (): Promise<{ pending: number; scored: number }> => {
    const n = await eventStatusCounts(db)
    return { pending: n.pending, scored: n.scored + n.unmapped }
  }
  const victim = servers[3]!
  const sending = Promise.all(servers.slice(0, 3).map(async (s, i) => { await send(s, SCENARIO.seed + i) }))
  // the fourth process gets its share too, until it is killed once some but not all events are scored
  const victimSending = send(victim, SCENARIO.seed + 3).catch(() => undefined)
  let c = await counts()
  await waitUntil(async () => { c = await counts(); return c.scored >= Math.min(40, events.length / 4) && c.pending > 0 }, 120_000, () => `counts ${JSON.stringify(c)}`, 20)
  await victim.kill('SIGKILL')
  t.comment(`killed one process at ${JSON.stringify(c)}`)
  await sending
  await victimSending
  // the killed process may have stored events whose answers it never sent, so count what is stored
  t.equal(await db.c.events.countDocuments({}), events.length, 'each unique event stored exactly once across the processes')
  t.ok(accepted <= events.length, `no event accepted twice (${accepted} acceptances answered)`)
  t.same(unbalanced, [], 'every answer: submitted = accepted + duplicates + rejected')

  const started = Date.now()
  await waitUntil(async () => { c = await counts(); return c.pending === 0 }, 240_000, () => `counts ${JSON.stringify(c)}: ${servers[0]!.output().slice(-2000)}`, 300)
  t.comment(`the three left caught up ${Date.now() - started} ms after the last send`)
  const get: Get = async (path) => await http(servers[0]!.url, path)
  const checks = await verifyLeads(t, get, db, events)
  t.equal(checks.length, SCENARIO.leads.length, 'every lead checked')
  for (const ch of checks) {
    const all = await fullHistory(get, ch.leadId, true)
    const live = new Map<string, number>()
    for (const e of all) if (!e.superseded) live.set(e.eventId, (live.get(e.eventId) ?? 0) + 1)
    t.same([...live.values()].filter((n) => n !== 1), [], `${ch.email}: one visible entry per event`)
    t.equal(live.size, ch.events.length, `${ch.email}: every stored event scored exactly once`)
  }
  t.ok(servers.slice(0, 3).every((s) => s.proc.exitCode === null), 'the three others still running')
})
