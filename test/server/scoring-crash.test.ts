// Crash recovery: a server process is SIGKILLed while scoring; a fresh process on the same database (lock expiry +
// sweeper) must finish the work with nothing lost and nothing counted twice.
import t from 'tap'
import { testMongoUri, freshDbName, eventStatusCounts } from '../helpers/harness.js'
import { startServer, http, waitUntil } from '../helpers/processes.js'
import { materialize, plan, prng, mapLimit, type GenEvent, type Scenario } from '../helpers/model.js'
import { verifyLeads, fullHistory, type Get } from '../helpers/verify.js'
import { openDatabase } from '../../server/src/infra/db.js'

// one big lead (300 events) and four small ones, deterministic
function scenario (): Scenario {
  const rnd = prng(777)
  const types = ['email_open', 'page_view', 'form_submit', 'demo_request', 'purchase', 'purchase', 'email_bounced', 'marked_spam', 'unsubscribed']
  const lead = (n: number) => Array.from({ length: n }, () => ({ type: types[Math.floor(rnd() * (rnd() < 0.03 ? types.length : types.length - 1))]!, hour: Math.floor(rnd() * 96), jitter: Math.floor(rnd() * 1000), withId: rnd() < 0.7 }))
  return { leads: [lead(300), lead(12), lead(10), lead(8), lead(15)], seed: 99 }
}

t.test('a process killed mid-scoring loses nothing and double-counts nothing', async (t) => {
  const uri = await testMongoUri(t)
  const dbName = freshDbName()
  const env = { LEADSCORE_LOCK_LIFETIME_MS: '2000', LEADSCORE_SWEEP_EVERY_MS: '500', LEADSCORE_EVENTS_PER_RUN: '10' }
  const db = await openDatabase(uri, dbName)
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const events = materialize(scenario(), 'cr')
  const unbalanced: unknown[] = []
  const send = async (base: string, evs: GenEvent[]): Promise<void> => {
    await mapLimit(plan(evs, prng(5), 0.1), 4, async (r) => {
      const body = Array.isArray(r) ? { events: r.map((e: GenEvent) => e.body) } : r.body
      const res = await http(base, '/v1/events', { method: 'POST', body })
      if (res.status !== 202) throw new Error(`ingest answered ${res.status}: ${JSON.stringify(res.body)}; server log: ${first.output().slice(-1500)}`)
      const n = Array.isArray(r) ? r.length : 1
      if (res.body.accepted + res.body.duplicates + res.body.rejected !== n) unbalanced.push(res.body)
    })
  }
  const counts = async (): Promise<{ pending: number; scored: number }> => {
    const n = await eventStatusCounts(db)
    return { pending: n.pending, scored: n.scored }
  }

  const first = await startServer(t, uri, dbName, env)
  await send(first.url, events)
  t.same(unbalanced, [], 'every answer: submitted = accepted + duplicates + rejected (L2)')
  // kill it while some but not all events are scored
  let c = await counts()
  await waitUntil(async () => { c = await counts(); return c.scored > 0 && c.pending > 0 }, 60_000, () => `counts ${JSON.stringify(c)}: ${first.output()}`, 20)
  await first.kill('SIGKILL')
  c = await counts()
  t.ok(c.pending > 0, `killed mid-scoring (${c.scored} scored, ${c.pending} pending)`)
  const uncommitted = await db.c.scoreHistory.countDocuments({ committed: false })
  t.comment(`after the kill: ${JSON.stringify(c)}, uncommitted ledger entries ${uncommitted}, locks ${await db.c.locks.countDocuments({})}`)

  const started = Date.now()
  const second = await startServer(t, uri, dbName, env)
  await waitUntil(async () => { c = await counts(); return c.pending === 0 }, 240_000, () => `counts ${JSON.stringify(c)}: ${second.output()}`, 300)
  t.comment(`the fresh process caught up in ${Date.now() - started} ms`)
  const get: Get = async (path) => await http(second.url, path)
  const checks = await verifyLeads(t, get, db, events)
  t.equal(checks.length, 5, 'every lead checked')
  for (const ch of checks) {
    const all = await fullHistory(get, ch.leadId, true)
    const live = new Map<string, number>()
    for (const e of all) if (!e.superseded) live.set(e.eventId, (live.get(e.eventId) ?? 0) + 1)
    t.same([...live.values()].filter((n) => n !== 1), [], `${ch.email}: one visible entry per event`)
    t.equal(live.size, ch.events.length, `${ch.email}: every stored event scored exactly once`)
  }
})
