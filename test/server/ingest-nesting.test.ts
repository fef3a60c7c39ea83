// A deeply nested event is a stored reject with its reason: its siblings in the request are stored, and requests
// stored in the same group commit are not failed with it.
import t from 'tap'
import { buildTestApp, postEvents } from '../helpers/harness.js'

/** An object nested `levels` deep: { a: { a: … { a: 1 } } }. */
function nested (levels: number): unknown {
  let v: unknown = 1
  for (let i = 0; i < levels; i++) v = { a: v }
  return v
}

t.test('an event nested too deeply is rejected alone, in its request and in its group', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const deep = { externalId: 'deep-1', lead: { email: 'deep@example.com' }, type: 'page_view', properties: nested(70) }

  // 50 good events and one bad one in one request
  const good = Array.from({ length: 50 }, (_, i) => ({ externalId: `g${i}`, lead: { email: `g${i}@example.com` }, type: 'page_view' }))
  const batch = await postEvents(app, { events: [...good.slice(0, 25), deep, ...good.slice(25)] }, { 'x-request-id': 'nest-batch-1' })
  t.equal(batch.statusCode, 202)
  t.match(batch.json(), { submitted: 51, accepted: 50, duplicates: 0, rejected: 1 })
  t.match(batch.json().results[25], { index: 25, status: 'rejected', error: { code: 'LS_ERR_EVENT_INVALID' } })
  t.match(batch.json().results[25].error.message, /more than 32 levels/)
  t.equal(await db.c.events.countDocuments({ externalId: { $in: good.map((g) => g.externalId) } }), 50, 'every good event stored')
  t.match(await db.c.ingestRejects.find({ requestId: 'nest-batch-1' }).toArray(), [{ index: 25, code: 'LS_ERR_EVENT_INVALID' }], 'the reject is stored with its code')

  // a bad request among 40 concurrent good ones: the group commit that stores them together fails none of them
  const singles = Array.from({ length: 40 }, (_, i) => ({ externalId: `s${i}`, lead: { email: `s${i}@example.com` }, type: 'email_open' }))
  const answers = await Promise.all([
    ...singles.slice(0, 20).map(async (ev) => await postEvents(app, ev)),
    postEvents(app, { ...deep, externalId: 'deep-2' }),
    ...singles.slice(20).map(async (ev) => await postEvents(app, ev)),
  ])
  const bad = answers[20]!
  t.equal(bad.statusCode, 400, 'the bad request gets its own problem')
  t.match(bad.json(), { code: 'LS_ERR_EVENT_INVALID' })
  const others = answers.filter((_, i) => i !== 20)
  t.same(others.map((r) => r.statusCode), others.map(() => 202), 'every good request is accepted')
  t.same(others.map((r) => r.json().accepted), others.map(() => 1))
  t.equal(await db.c.events.countDocuments({ externalId: { $in: singles.map((s) => s.externalId) } }), 40, 'and stored')
  t.equal(await db.c.leads.countDocuments({ email: 'deep@example.com' }), 0, 'no lead was created for the rejected event')

  // nesting up to the limit is stored and reads back whole
  const ok = await postEvents(app, { externalId: 'deep-ok', lead: { email: 'ok@example.com' }, type: 'page_view', properties: nested(30) })
  t.match(ok.json(), { accepted: 1 })
  const stored = await app.inject({ url: `/v1/events/${ok.json().results[0].eventId as string}`, headers: { authorization: 'Bearer lsk_test_admin_key_0123456789abcdef' } })
  t.same(stored.json().properties, nested(30), 'a 31-level event round-trips')
})
