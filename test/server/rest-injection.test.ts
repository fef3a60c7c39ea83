// RELIABILITY.md cases 13 (NoSQL operator and key injection) and 14 (prototype pollution) over the REST API.
import t from 'tap'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'
import { assertLedger, assertProblem, rid } from '../helpers/ledger.js'
import { unpackProperties } from '../../server/src/domain/events/stored-properties.js'

function keysOf (v: unknown): string[] {
  if (v === null || typeof v !== 'object') return []
  if (Array.isArray(v)) return v.flatMap(keysOf)
  return Object.entries(v).flatMap(([k, x]) => [k, ...keysOf(x)])
}

const protoKeysBefore = Object.getOwnPropertyNames(Object.prototype).sort()

t.teardown(() => {
  // checked once more after every subtest and the app teardowns ran
  if (Object.getOwnPropertyNames(Object.prototype).sort().join() !== protoKeysBefore.join()) throw new Error('Object.prototype was polluted')
})

t.test('operator objects in typed lead fields are a 400 problem, stored as a reject, and match nothing', async (t) => {
  const { app, db } = await buildTestApp(t)
  // a lead that an operator, if it ever reached a query, would match
  t.equal((await postEvents(app, { externalId: 'seed', lead: { email: 'victim@example.com', externalId: 'crm-1' }, type: 'page_view' })).statusCode, 202)
  const cases: Array<[string, unknown, string]> = [
    ['email $gt', { email: { $gt: '' } }, '#/lead/email'],
    ['externalId $ne', { externalId: { $ne: null } }, '#/lead/externalId'],
    ['email $regex', { email: { $regex: '.*' } }, '#/lead/email'],
    ['email array', { email: ['victim@example.com'] }, '#/lead/email'],
    ['externalId number', { externalId: 123 }, '#/lead/externalId'],
  ]
  for (const [label, lead, pointer] of cases) {
    const id = rid(label.replace(/\W+/g, '-'))
    const ev = { externalId: `inj-${label}`, lead, type: 'page_view' }
    const res = await postEvents(app, ev, { 'x-request-id': id })
    const body = assertProblem(t, res, 400, 'LS_ERR_LEAD_IDENTITY_INVALID', label)
    t.match(body, { errors: [{ pointer }], submitted: 1, accepted: 0, duplicates: 0, rejected: 1 }, `${label}: pointer and counts`)
    const [rej] = await assertLedger(t, db, res, id, 1)
    t.match(rej, { code: 'LS_ERR_LEAD_IDENTITY_INVALID', raw: JSON.stringify(ev) }, `${label}: the raw event is kept with the reject`)
  }
  // the same shapes inside a batch are per-event rejects next to an accepted event
  const id = rid('batch-ops')
  const res = await postEvents(app, {
    events: [
      { externalId: 'b-ok', lead: { email: 'ok@example.com' }, type: 'page_view' },
      { externalId: 'b-1', lead: { email: { $gt: '' } }, type: 'page_view' },
      { externalId: 'b-2', lead: { externalId: { $ne: null } }, type: 'page_view' },
    ],
  }, { 'x-request-id': id })
  t.equal(res.statusCode, 202)
  t.match(res.json(), { submitted: 3, accepted: 1, duplicates: 0, rejected: 2, results: [{ status: 'accepted' }, { status: 'rejected', error: { code: 'LS_ERR_LEAD_IDENTITY_INVALID' } }, { status: 'rejected' }] })
  await assertLedger(t, db, res, id, 3)
  t.equal(await db.c.leads.countDocuments({}), 2, 'no lead was created or matched by an operator')
  t.equal(await db.c.events.countDocuments({ leadId: (await db.c.leads.findOne({ email: 'victim@example.com' }))!._id }), 1, 'the victim lead got no event')
})

t.test('operator objects are refused by the other REST routes and query strings', async (t) => {
  const { app, db } = await buildTestApp(t)
  const create = await app.inject({ method: 'POST', url: '/v1/leads', headers: AUTH, payload: { email: { $gt: '' } } })
  assertProblem(t, create, 400, 'LS_ERR_VALIDATION', 'POST /v1/leads email operator')
  const create2 = await app.inject({ method: 'POST', url: '/v1/leads', headers: AUTH, payload: { externalId: { $ne: null } } })
  assertProblem(t, create2, 400, 'LS_ERR_VALIDATION', 'POST /v1/leads externalId operator')
  t.equal(await db.c.leads.countDocuments({}), 0)
  for (const url of ['/v1/leads?q[$ne]=x', '/v1/leads?status[$ne]=x', '/v1/events?type[$ne]=x', '/v1/leads?minScore[$gt]=0']) {
    assertProblem(t, await app.inject({ url, headers: AUTH }), 400, 'LS_ERR_VALIDATION', url)
  }
  // a regex-looking search is a literal, not a pattern
  t.equal((await app.inject({ method: 'POST', url: '/v1/leads', headers: AUTH, payload: { email: 'a@example.com', name: 'Ada' } })).statusCode, 201)
  const search = await app.inject({ url: '/v1/leads?q=.*', headers: AUTH })
  t.equal(search.statusCode, 200)
  t.equal(search.json().items.length, 0, 'q=.* matches nothing literally')
})

t.test('hostile property keys are stored encoded and GET returns them exactly as sent', async (t) => {
  const { app, db } = await buildTestApp(t)
  const properties = {
    $where: 'sleep(1000)',
    'a.b': 1,
    x: { $set: { score: 100 } },
    $inc: { score: 1e9 },
    'literal%2E': 'percent stays percent',
    '100%': { '$': '$', '.': '.', '..$..': [{ '$ne': null }] },
    nested: [{ 'k.$x': { '$gt': '' } }, 'plain', 3.5, null, true],
    'nul\u0000key': 'nul\u0000value',
  }
  const id = rid('props')
  const res = await postEvents(app, { externalId: 'props-1', lead: { email: 'props@example.com' }, type: 'page_view', properties }, { 'x-request-id': id })
  t.equal(res.statusCode, 202)
  t.match(res.json(), { submitted: 1, accepted: 1, rejected: 0 })
  await assertLedger(t, db, res, id, 1)
  const eventId = res.json().results[0].eventId as string
  const stored = await db.c.events.findOne({ _id: eventId })
  const bad = keysOf(unpackProperties(stored?.properties)).filter((k) => k.startsWith('$') || k.includes('.') || k.includes('\u0000'))
  t.same(bad, [], 'no stored key starts with $ or contains a dot or NUL')
  const got = await app.inject({ url: `/v1/events/${eventId}`, headers: AUTH })
  t.equal(got.statusCode, 200)
  t.same(got.json().properties, properties, 'properties round-trip exactly')
  t.equal(JSON.stringify(got.json().properties), JSON.stringify(properties), 'byte-for-byte, key order included')

  await waitForScoring(db)
  const lead = await db.c.leads.findOne({ email: 'props@example.com' })
  t.equal(lead?.score, 5, 'only the page_view rule changed the score; $set/$inc in properties did nothing')
  t.equal(await db.c.events.countDocuments({}), 1)
})

t.test('lead.attributes cannot change the score or other lead fields', async (t) => {
  const { app, db } = await buildTestApp(t)
  const id = rid('attrs')
  const attributes = { score: 1e9, stage: 'SQL', 'scores.fit': 999, $set: { score: 100 }, email: 'other@example.com' }
  const res = await postEvents(app, { externalId: 'attr-1', lead: { email: 'attr@example.com', attributes }, type: 'page_view' }, { 'x-request-id': id })
  t.equal(res.statusCode, 202)
  await assertLedger(t, db, res, id, 1)
  await waitForScoring(db)
  const leadId = res.json().results[0].leadId as string
  const lead = (await app.inject({ url: `/v1/leads/${leadId}`, headers: AUTH })).json()
  t.match(lead, { score: 5, stage: 'Cold', email: 'attr@example.com', scores: { fit: 0, engagement: 5 } }, 'score and identity come from scoring only')
  t.same(lead.attributes, attributes, 'the attributes are kept as given (keys decoded)')
  // again through PATCH
  const patch = await app.inject({ method: 'PATCH', url: `/v1/leads/${leadId}`, headers: AUTH, payload: { attributes: { score: 5e9, 'a.b': 1, $inc: { score: 1 } } } })
  t.equal(patch.statusCode, 200)
  t.match(patch.json(), { score: 5, attributes: { score: 5e9, 'a.b': 1, $inc: { score: 1 } } })
  t.equal((await db.c.leads.findOne({ _id: leadId }))?.score, 5)
  const withScore = await app.inject({ method: 'PATCH', url: `/v1/leads/${leadId}`, headers: AUTH, payload: { score: 1e9 } })
  assertProblem(t, withScore, 400, 'LS_ERR_VALIDATION', 'PATCH score')
})

t.test('__proto__ and constructor.prototype in REST bodies are 400 LS_ERR_FORBIDDEN_KEY and pollute nothing', async (t) => {
  const { app, db } = await buildTestApp(t)
  const { _id: seedLeadId } = await (async () => {
    const r = await postEvents(app, { externalId: 'seed', lead: { email: 'seed@example.com' }, type: 'page_view' })
    return { _id: r.json().results[0].leadId as string }
  })()
  const bodies: Array<[string, string]> = [
    ['top-level __proto__', '{"__proto__":{"polluted":"yes"},"externalId":"p1","lead":{"email":"p@example.com"},"type":"page_view"}'],
    ['__proto__ in properties', '{"externalId":"p2","lead":{"email":"p@example.com"},"type":"page_view","properties":{"__proto__":{"isAdmin":true}}}'],
    ['__proto__ in attributes', '{"externalId":"p3","lead":{"email":"p@example.com","attributes":{"__proto__":{"polluted":1}}},"type":"page_view"}'],
    ['escaped \\u005f_proto__', '{"externalId":"p4","lead":{"email":"p@example.com"},"type":"page_view","properties":{"\\u005f_proto__":{"polluted":1}}}'],
    ['constructor.prototype', '{"externalId":"p5","lead":{"email":"p@example.com"},"type":"page_view","properties":{"constructor":{"prototype":{"polluted":1}}}}'],
    ['__proto__ in a batch item', '{"events":[{"externalId":"p6","lead":{"email":"p@example.com"},"type":"page_view"},{"externalId":"p7","lead":{"email":"p@example.com"},"type":"page_view","properties":{"a":[{"__proto__":{"polluted":1}}]}}]}'],
  ]
  for (const [label, payload] of bodies) {
    assertProblem(t, await postEvents(app, payload), 400, 'LS_ERR_FORBIDDEN_KEY', `POST /v1/events ${label}`)
  }
  const leadBodies: Array<[string, string, string]> = [
    ['POST', '/v1/leads', '{"email":"q@example.com","__proto__":{"polluted":1}}'],
    ['POST', '/v1/leads', '{"email":"q@example.com","attributes":{"constructor":{"prototype":{"polluted":1}}}}'],
    ['PATCH', `/v1/leads/${seedLeadId}`, '{"attributes":{"__proto__":{"isAdmin":true}}}'],
    ['POST', `/v1/leads/${seedLeadId}/adjustments`, '{"points":1,"note":"x","__proto__":{"points":100000}}'],
  ]
  for (const [method, url, payload] of leadBodies) {
    const res = await app.inject({ method: method as 'POST' | 'PATCH', url, headers: { ...AUTH, 'content-type': 'application/json' }, payload })
    assertProblem(t, res, 400, 'LS_ERR_FORBIDDEN_KEY', `${method} ${url}`)
  }
  t.equal(await db.c.events.countDocuments({}), 1, 'nothing from a refused body was stored (no partial batch)')
  t.equal(await db.c.leads.countDocuments({}), 1)
  t.equal(await db.c.ingestRejects.countDocuments({}), 0, 'a body refused as a whole is not an ingest reject')
  const seed = await db.c.leads.findOne({ _id: seedLeadId })
  t.same(seed?.attributes, {}, 'the PATCH did not touch the lead')
  t.equal(({} as Record<string, unknown>).polluted, undefined)
  t.equal(({} as Record<string, unknown>).isAdmin, undefined)
  t.same(Object.getOwnPropertyNames(Object.prototype).sort(), protoKeysBefore, 'Object.prototype has no new keys')
})

t.test('plain "constructor"/"prototype" keys (no pollution shape) are per-event rejects with a stored reason', async (t) => {
  const { app, db } = await buildTestApp(t)
  const id = rid('ctor-keys')
  const res = await postEvents(app, {
    events: [
      { externalId: 'c1', lead: { email: 'c@example.com' }, type: 'page_view', properties: { constructor: 'x' } },
      { externalId: 'c2', lead: { email: 'c@example.com', attributes: { prototype: 1 } }, type: 'page_view' },
      { externalId: 'c3', lead: { email: 'c@example.com' }, type: 'page_view', properties: { toString: 'fine', hasOwnProperty: 1, valueOf: null } },
    ],
  }, { 'x-request-id': id })
  t.equal(res.statusCode, 202)
  t.match(res.json(), { submitted: 3, accepted: 1, rejected: 2, results: [{ status: 'rejected', error: { code: 'LS_ERR_EVENT_INVALID' } }, { status: 'rejected' }, { status: 'accepted' }] })
  const rejects = await assertLedger(t, db, res, id, 3)
  t.same(rejects.map((r) => r.index).sort(), [0, 1])
  const ev = await app.inject({ url: `/v1/events/${res.json().results[2].eventId as string}`, headers: AUTH })
  t.same(ev.json().properties, { toString: 'fine', hasOwnProperty: 1, valueOf: null }, 'harmless built-in names round-trip')
  const create = await app.inject({ method: 'POST', url: '/v1/leads', headers: AUTH, payload: { email: 'd@example.com', attributes: { constructor: 1 } } })
  assertProblem(t, create, 400, 'LS_ERR_VALIDATION', 'POST /v1/leads constructor attribute')
  t.same(Object.getOwnPropertyNames(Object.prototype).sort(), protoKeysBefore)
})
