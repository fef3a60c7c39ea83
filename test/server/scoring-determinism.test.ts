// Property: a lead's final state is a pure function of its set of unique events. Random streams for several leads
// are submitted shuffled, with duplicates, concurrently as single events and batches; the result must equal an
// independent re-implementation of the default model walked in canonical order.
import t from 'tap'
import fc from 'fast-check'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'
import { scenarioArb, materialize, plan, prng, mapLimit, type GenEvent } from '../helpers/model.js'
import { verifyLeads, type Get } from '../helpers/verify.js'

t.test('final scores and ledgers do not depend on arrival order, duplicates or batching', async (t) => {
  const { app, db } = await buildTestApp(t)
  const get: Get = async (path) => {
    const r = await app.inject({ url: path, headers: AUTH })
    return { status: r.statusCode, body: r.json() }
  }
  let run = 0
  const totals = { runs: 0, leads: 0, events: 0, capHits: 0, floorHits: 0, resets: 0, contentIds: 0, duplicatesAnswered: 0 }
  await fc.assert(fc.asyncProperty(scenarioArb({ minLeads: 3, maxLeads: 4, minEvents: 5, maxEvents: 30 }), async (scenario) => {
    const prefix = `r${run++}`
    const events = materialize(scenario, prefix)
    const rnd = prng(scenario.seed)
    const requests = plan(events, rnd)
    const submitted = requests.reduce((n, r) => n + (Array.isArray(r) ? r.length : 1), 0)
    let accepted = 0; let duplicates = 0
    const responses = await mapLimit(requests, 12, async (r) => {
      const body = Array.isArray(r) ? { events: r.map((e: GenEvent) => e.body) } : r.body
      return await postEvents(app, body)
    })
    for (const res of responses) {
      if (res.statusCode !== 202) throw new Error(`ingest answered ${res.statusCode}: ${res.body}`)
      const j = res.json() as { accepted: number; duplicates: number; rejected: number }
      if (j.rejected !== 0) throw new Error(`unexpected rejects: ${res.body}`)
      accepted += j.accepted; duplicates += j.duplicates
    }
    t.equal(accepted, events.length, `${prefix}: each unique event accepted exactly once`)
    t.equal(accepted + duplicates, submitted, `${prefix}: the rest answered duplicate`)
    await waitForScoring(db, 180_000) // generous: another test file shares the database and the 2 cores
    const checks = await verifyLeads(t, get, db, events)
    totals.runs++
    totals.leads += checks.length
    totals.events += events.length
    totals.duplicatesAnswered += duplicates
    totals.contentIds += events.filter((e) => e.body.externalId === undefined).length
    for (const c of checks) { totals.capHits += c.model.capHits; totals.floorHits += c.model.floorHits; totals.resets += c.model.resets }
    // fail the property (so fast-check reports the counterexample) when any assertion of this run failed
    if (!t.passing()) throw new Error(`run ${prefix} disagrees with the model`)
  }), { numRuns: 5, seed: 20250106, endOnFailure: true })
  t.comment(`runs ${totals.runs}, leads ${totals.leads}, events ${totals.events}, duplicates ${totals.duplicatesAnswered}, content ids ${totals.contentIds}, cap hits ${totals.capHits}, floor hits ${totals.floorHits}, resets ${totals.resets}`)
  // the generator really exercised the interesting paths
  t.ok(totals.capHits > 0, 'some stream hit the 1000 cap')
  t.ok(totals.floorHits > 0, 'some stream hit the floor')
  t.ok(totals.resets > 0, 'some stream had unsubscribes')
  t.ok(totals.contentIds > 0 && totals.duplicatesAnswered > 0, 'content-hashed ids and duplicates were exercised')
})
