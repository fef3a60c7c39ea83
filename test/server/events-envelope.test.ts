// POST /v1/events validates its envelope with a TypeBox schema (the whole request is refused when it is wrong) and
// leaves each event's shape to ingest (a bad event is a stored reject, its siblings are stored).
import t from 'tap'
import { buildTestApp, postEvents, AUTH } from '../helpers/harness.js'

t.test('a wrong batch envelope is refused as a whole, with a pointer to what is wrong', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const cases: Array<[string, string, string]> = [
    ['events is an object', '{"events":{}}', '#/events'],
    ['events is a string', '{"events":"x"}', '#/events'],
    ['a key beside events', '{"events":[],"sentAt":"2024-01-01T00:00:00Z"}', '#/sentAt'],
  ]
  for (const [label, payload, pointer] of cases) {
    const res = await postEvents(app, payload)
    t.equal(res.statusCode, 400, label)
    t.match(res.json(), { code: 'LS_ERR_VALIDATION', errors: [{ pointer }] }, label)
  }
  t.equal(await db.c.ingestRejects.countDocuments({}), 0, 'a refused envelope stores no reject')
})

t.test('events of every wrong shape inside a batch are rejects of their own; the good ones are stored', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const good = (i: number): unknown => ({ externalId: `env-${i}`, lead: { email: `env${i}@example.com` }, type: 'page_view' })
  const bad = [
    { externalId: 'bad-1', lead: { email: 'b@example.com' }, type: 5 },
    { externalId: 'bad-2', lead: 'b@example.com', type: 'page_view' },
    { externalId: 'bad-3', lead: { email: 'b@example.com' }, type: 'page_view', properties: [1, 2] },
    { externalId: 'bad-4', lead: { email: 'b@example.com' }, type: 'page_view', extra: true },
  ]
  const res = await postEvents(app, { events: [good(0), ...bad, good(1)] }, { 'x-request-id': 'env-mixed' })
  t.equal(res.statusCode, 202)
  t.match(res.json(), { submitted: 6, accepted: 2, duplicates: 0, rejected: 4 })
  t.same(res.json().results.map((r: { status: string }) => r.status), ['accepted', 'rejected', 'rejected', 'rejected', 'rejected', 'accepted'])
  t.equal(await db.c.events.countDocuments({ externalId: { $in: ['env-0', 'env-1'] } }), 2)
  const rejects = await db.c.ingestRejects.find({ requestId: 'env-mixed' }).sort({ index: 1 }).toArray()
  t.same(rejects.map((r) => r.index), [1, 2, 3, 4], 'each bad event is stored with its reason')
  t.ok(rejects.every((r) => r.reason.length > 0))
})

t.test('the OpenAPI document says what is checked as a whole and what per event; list limits are optional', async (t) => {
  const { app } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const spec = (await app.inject({ url: '/docs/json' })).json()
  const post = spec.paths['/v1/events'].post
  const body = post.requestBody.content['application/json'].schema
  t.match(body.description, /envelope is checked as a whole/)
  t.match(body.description, /stored reject/)
  const key = post.parameters.find((p: { name: string }) => p.name === 'idempotency-key')
  t.ok(key.schema.pattern !== undefined, 'the Idempotency-Key format is documented')
  for (const path of ['/v1/events', '/v1/rejects']) {
    const limit = spec.paths[path].get.parameters.find((p: { name: string }) => p.name === 'limit')
    t.notOk(limit.required, `${path}: limit has a default, so it is not required`)
    const res = await app.inject({ url: path, headers: AUTH })
    t.equal(res.statusCode, 200, `${path} without a limit`)
  }
})

t.test('a multipart upload without a boundary is a 400 problem, not a 500', async (t) => {
  const { app } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  for (const payload of [undefined, '', 'x']) {
    const res = await app.inject({ method: 'POST', url: '/v1/uploads', headers: { ...AUTH, 'content-type': 'multipart/form-data' }, payload })
    t.equal(res.statusCode, 400, `body ${JSON.stringify(payload)}`)
    t.match(res.json(), { code: 'LS_ERR_VALIDATION', detail: /boundary/ })
  }
})
