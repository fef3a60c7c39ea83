// RELIABILITY.md cases 19 (JSON body shapes on POST /v1/events) and 21 (unknown event types).
import t from 'tap'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'
import { assertLedger, assertProblem, rid } from '../helpers/ledger.js'

t.test('a top-level array or a scalar is a 400 problem with the reject stored', async (t) => {
  const { app, db } = await buildTestApp(t)
  const valid = { externalId: 'arr-1', lead: { email: 'arr@example.com' }, type: 'page_view' }
  const shapes: Array<[string, string]> = [
    ['array of events', JSON.stringify([valid])],
    ['empty array', '[]'],
    ['number', '42'],
    ['string', '"page_view"'],
    ['true', 'true'],
    ['null', 'null'],
  ]
  for (const [label, payload] of shapes) {
    const id = rid(`shape-${label.replace(/\W+/g, '-')}`)
    const res = await postEvents(app, payload, { 'x-request-id': id })
    const p = assertProblem(t, res, 400, 'LS_ERR_EVENT_INVALID', label)
    t.match(p, { submitted: 1, accepted: 0, duplicates: 0, rejected: 1, detail: /JSON object/ }, `${label}: counted`)
    const [rej] = await assertLedger(t, db, res, id, 1)
    t.equal(rej?.raw, payload === 'null' ? 'null' : JSON.stringify(JSON.parse(payload)), `${label}: the raw body is kept`)
  }
  t.equal(await db.c.events.countDocuments({}), 0, 'the array\'s event was not silently unwrapped and stored')
})

t.test('{"events": []} is 202 with 0 accepted; other batch envelopes are refused as a whole', async (t) => {
  const { app, db } = await buildTestApp(t)
  const id = rid('empty-batch')
  const res = await postEvents(app, { events: [] }, { 'x-request-id': id })
  t.equal(res.statusCode, 202)
  t.match(res.json(), { submitted: 0, accepted: 0, duplicates: 0, rejected: 0, results: [] })
  await assertLedger(t, db, res, id, 0)

  const wrong: Array<[string, string]> = [
    ['events is an object', '{"events":{}}'],
    ['events is null', '{"events":null}'],
    ['extra key beside events', '{"events":[],"sentAt":"2024-01-01T00:00:00Z"}'],
  ]
  for (const [label, payload] of wrong) assertProblem(t, await postEvents(app, payload), 400, 'LS_ERR_VALIDATION', label)
  const tooMany = { events: Array.from({ length: app.config.limits.maxBatchEvents + 1 }, (_, i) => ({ externalId: `m-${i}`, lead: { email: 'many@example.com' }, type: 'page_view' })) }
  assertProblem(t, await postEvents(app, tooMany), 400, 'LS_ERR_BATCH_TOO_LARGE', `${tooMany.events.length} events`)
  t.equal(await db.c.events.countDocuments({}), 0, 'no partial insert')
  t.equal(await db.c.ingestRejects.countDocuments({}), 0)

  // scalars and arrays inside a batch are per-event rejects
  const mixedId = rid('mixed-batch')
  const mixed = await postEvents(app, { events: [1, 'x', null, [], { externalId: 'ok-1', lead: { email: 'ok@example.com' }, type: 'page_view' }] }, { 'x-request-id': mixedId })
  t.equal(mixed.statusCode, 202)
  t.match(mixed.json(), { submitted: 5, accepted: 1, duplicates: 0, rejected: 4 })
  const rejects = await assertLedger(t, db, mixed, mixedId, 5)
  t.same(rejects.map((r) => r.index).sort(), [0, 1, 2, 3])
})

t.test('NDJSON sent as application/json is 400; a wrong content type is 415', async (t) => {
  const { app, db } = await buildTestApp(t)
  const line = (i: number): string => JSON.stringify({ externalId: `nd-${i}`, lead: { email: 'nd@example.com' }, type: 'page_view' })
  const ndjson = `${line(1)}\n${line(2)}\n${line(3)}\n`
  assertProblem(t, await postEvents(app, ndjson), 400, 'LS_ERR_MALFORMED_JSON', 'NDJSON as application/json')
  for (const type of ['text/csv', 'application/x-ndjson', 'application/x-www-form-urlencoded', 'application/xml']) {
    const res = await app.inject({ method: 'POST', url: '/v1/events', headers: { ...AUTH, 'content-type': type }, payload: type === 'text/csv' ? 'email,type\na@example.com,page_view\n' : ndjson })
    assertProblem(t, res, 415, 'LS_ERR_UNSUPPORTED_MEDIA_TYPE', type)
  }
  for (const [label, payload] of [['empty body', ''], ['whitespace', '  \n'], ['truncated', line(4).slice(0, -3)], ['trailing garbage', `${line(5)}x`]] as const) {
    assertProblem(t, await postEvents(app, payload), 400, 'LS_ERR_MALFORMED_JSON', label)
  }
  t.equal(await db.c.events.countDocuments({}), 0)
  t.equal(await db.c.ingestRejects.countDocuments({}), 0)
})

t.test('"Demo Booked" maps to demo_request (+50); "demo_booked_v2" is unmapped; a 300-character type is a stored reject', async (t) => {
  const { app, db } = await buildTestApp(t)
  const email = 'types@example.com'
  const id = rid('types')
  const long = 'x'.repeat(300)
  const res = await postEvents(app, {
    events: [
      { externalId: 'ty-1', lead: { email }, type: 'Demo Booked', occurredAt: '2024-05-01T10:00:00Z' },
      { externalId: 'ty-2', lead: { email }, type: 'demo_booked_v2', occurredAt: '2024-05-01T11:00:00Z' },
      { externalId: 'ty-3', lead: { email }, type: long, occurredAt: '2024-05-01T12:00:00Z' },
    ],
  }, { 'x-request-id': id })
  t.equal(res.statusCode, 202)
  t.match(res.json(), {
    submitted: 3, accepted: 2, duplicates: 0, rejected: 1,
    results: [{ status: 'accepted' }, { status: 'accepted' }, { status: 'rejected', error: { code: 'LS_ERR_EVENT_TYPE_INVALID', pointer: '#/type' } }],
  })
  const [rej] = await assertLedger(t, db, res, id, 3)
  t.match(rej, { index: 2, code: 'LS_ERR_EVENT_TYPE_INVALID', reason: /300/ })
  const leadId = res.json().results[0].leadId as string
  await waitForScoring(db)

  const mappedId = res.json().results[0].eventId as string
  const unmappedId = res.json().results[1].eventId as string
  const mapped = (await app.inject({ url: `/v1/events/${mappedId}`, headers: AUTH })).json()
  t.match(mapped, { type: 'Demo Booked', status: 'scored' }, 'the submitted type is kept; the event is scored')
  const unmapped = (await app.inject({ url: `/v1/events/${unmappedId}`, headers: AUTH })).json()
  t.match(unmapped, { type: 'demo_booked_v2', status: 'unmapped' })

  const lead = (await app.inject({ url: `/v1/leads/${leadId}`, headers: AUTH })).json()
  t.match(lead, { score: 50, stage: 'MQL' }, 'L4: only the mapped event scored')
  const hist = (await app.inject({ url: `/v1/leads/${leadId}/history`, headers: AUTH })).json()
  t.equal(hist.items.length, 1, 'one ledger entry')
  t.match(hist.items[0], { eventId: mappedId, eventType: 'demo_request', delta: 50, reasons: [{ ruleId: 'demo-request', points: 50 }] })

  const list = await app.inject({ url: '/v1/events?status=unmapped', headers: AUTH })
  t.equal(list.statusCode, 200)
  t.same(list.json().items.map((e: { id: string }) => e.id), [unmappedId], 'the admin unmapped view lists exactly the unknown event')
  const stats = await app.inject({ url: '/v1/stats', headers: AUTH })
  t.equal(stats.statusCode, 200)
  t.match(stats.json(), { events: { unmapped: 1 } }, 'the stats count it')

  // the same 300-character type sent alone is a 400 problem, stored all the same
  const aloneId = rid('long-type')
  const alone = await postEvents(app, { externalId: 'ty-4', lead: { email }, type: long }, { 'x-request-id': aloneId })
  assertProblem(t, alone, 400, 'LS_ERR_EVENT_TYPE_INVALID', '300-character type alone')
  await assertLedger(t, db, alone, aloneId, 1)
  t.equal(await db.c.events.countDocuments({}), 2)
})

t.test('type length boundary and built-in names: 100 characters is stored, 101 rejected; toString/constructor are just unknown', async (t) => {
  const { app, db } = await buildTestApp(t)
  const id = rid('type-edges')
  const email = 'edges@example.com'
  const res = await postEvents(app, {
    events: [
      { externalId: 'te-1', lead: { email }, type: 'y'.repeat(100) },
      { externalId: 'te-2', lead: { email }, type: 'y'.repeat(101) },
      { externalId: 'te-3', lead: { email }, type: 'toString' },
      { externalId: 'te-4', lead: { email }, type: 'hasOwnProperty' },
      { externalId: 'te-5', lead: { email }, type: '__proto__' },
      { externalId: 'te-6', lead: { email }, type: '   ' },
      { externalId: 'te-7', lead: { email }, type: 'page\nview' },
    ],
  }, { 'x-request-id': id })
  t.equal(res.statusCode, 202)
  t.match(res.json(), { submitted: 7, accepted: 4, rejected: 3 })
  const rejects = await assertLedger(t, db, res, id, 7)
  t.same(rejects.map((r) => r.index).sort(), [1, 5, 6])
  for (const r of rejects) t.equal(r.code, 'LS_ERR_EVENT_TYPE_INVALID')
  await waitForScoring(db)
  t.equal(await db.c.events.countDocuments({ status: 'unmapped' }), 4, 'the four accepted unknown types are unmapped')
  t.equal((await db.c.leads.findOne({ email }))?.score, 0, 'and change nothing')
})
