// Concurrent requests are stored together (one group commit per source). When the database refuses one of their
// events, the other requests of the group are not failed with it: the refused event is a stored reject of its own
// request, and `submitted = accepted + duplicates + rejected` holds for every request.
import t from 'tap'
import { buildTestApp, postEvents } from '../helpers/harness.js'

const counted = (b: { submitted: number; accepted: number; duplicates: number; rejected: number }): boolean =>
  b.submitted === b.accepted + b.duplicates + b.rejected

t.test('a number too large for a double is its own reject and fails no other request of its group', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  // JSON.parse reads 1e400 as Infinity: one server would store it, another refuse it, and it would be served back as
  // null, so validation refuses it
  const good = Array.from({ length: 10 }, (_, i) => JSON.stringify({ externalId: `b${i}`, lead: { email: `b${i}@example.com` }, type: 'page_view' }))
  const infinite = '{"externalId":"inf-1","lead":{"email":"inf@example.com"},"type":"page_view","properties":{"v":1e400}}'
  const batchText = `{"events":[${[...good.slice(0, 5), infinite, ...good.slice(5)].join(',')}]}`
  const singles = Array.from({ length: 40 }, (_, i) => ({ externalId: `s${i}`, lead: { email: `s${i % 7}@example.com` }, type: 'email_open' }))

  const answers = await Promise.all([
    ...singles.slice(0, 20).map(async (ev) => await postEvents(app, ev)),
    postEvents(app, batchText, { 'x-request-id': 'inf-batch' }),
    ...singles.slice(20).map(async (ev) => await postEvents(app, ev)),
  ])
  const others = answers.filter((_, i) => i !== 20)
  t.same(others.map((r) => r.statusCode), others.map(() => 202), 'every other request is accepted')
  t.same(others.map((r) => r.json().accepted), others.map(() => 1))
  t.equal(await db.c.events.countDocuments({ externalId: { $in: singles.map((s) => s.externalId) } }), 40, 'and stored')

  const batch = answers[20]!
  t.equal(batch.statusCode, 202, 'the batch with the refused event is answered item by item')
  const body = batch.json()
  t.ok(counted(body), 'submitted = accepted + duplicates + rejected')
  t.equal(await db.c.events.countDocuments({ externalId: { $regex: '^b' } }), 10, 'its good events are stored')
  t.match(body, { submitted: 11, accepted: 10, rejected: 1 })
  t.match(body.results[5], { index: 5, error: { code: 'LS_ERR_EVENT_INVALID', pointer: '#/properties/v' } })
  t.match(await db.c.ingestRejects.find({ requestId: 'inf-batch' }).toArray(), [{ index: 5, code: 'LS_ERR_EVENT_INVALID' }], 'the reject is stored with its reason')

  // the same event alone is a 400 problem, and the same inputs again are duplicates, never a 500
  const alone = await postEvents(app, infinite.replace('inf-1', 'inf-2'))
  t.equal(alone.statusCode, 400, 'a single refused event is its own problem')
  const again = await postEvents(app, batchText)
  t.equal(again.statusCode, 202)
  t.ok(counted(again.json()))
  t.equal(again.json().duplicates, 10, 'every event stored the first time is a duplicate now')
})

// An empty array is 3 bytes of JSON and 13 of BSON. The operator raised the per-event limit, so both events below are
// accepted as sent (4.5 and 6 MB) and too large once encoded: 1.5 million arrays in the properties are 19 MB when
// they are packed, past BSON's 16 MB; a million in the properties and a million in the attributes pack into 12.9 MB
// each, and the database (or its driver) refuses the event that holds both.
const arrays = (n: number): unknown[] => Array.from({ length: n }, () => [])
const tooLarge = [
  { name: 'properties too large to pack', properties: { v: arrays(1_500_000) } },
  { name: 'an event too large to store', properties: { v: arrays(1_000_000) }, attributes: { v: arrays(1_000_000) } },
]
for (const shape of tooLarge) t.test(`${shape.name} fails no other request of its group`, async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0', LEADSCORE_MAX_EVENT_BYTES: String(8 * 1024 * 1024), LEADSCORE_EVENTS_BODY_LIMIT: String(16 * 1024 * 1024) })
  const lead = shape.attributes === undefined ? { email: 'huge@example.com' } : { email: 'huge@example.com', attributes: shape.attributes }
  const huge = { externalId: 'huge-1', lead, type: 'page_view', properties: shape.properties }
  const singles = Array.from({ length: 30 }, (_, i) => ({ externalId: `h${i}`, lead: { email: `h${i}@example.com` }, type: 'email_open' }))
  const answers = await Promise.all([
    ...singles.slice(0, 15).map(async (ev) => await postEvents(app, ev)),
    postEvents(app, huge),
    ...singles.slice(15).map(async (ev) => await postEvents(app, ev)),
  ])
  const others = answers.filter((_, i) => i !== 15)
  t.same(others.map((r) => r.statusCode), others.map(() => 202), 'every other request is accepted')
  t.equal(await db.c.events.countDocuments({ externalId: { $in: singles.map((s) => s.externalId) } }), 30, 'and stored')
  const bad = answers[15]!
  t.equal(bad.statusCode, 413, 'the oversized event gets its own problem')
  t.match(bad.json(), { code: 'LS_ERR_EVENT_TOO_LARGE', submitted: 1, accepted: 0, rejected: 1 })
  t.equal(await db.c.events.countDocuments({ externalId: 'huge-1' }), 0)
})
