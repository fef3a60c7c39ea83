// RELIABILITY.md cases 15 (body limits, REST part) and 16 (encoding hygiene, REST part).
import t from 'tap'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'
import { assertLedger, assertNoReplacementChar, assertProblem, rid } from '../helpers/ledger.js'

const KB = 1024
const MIB = 1024 * 1024

/** An event whose compact JSON is exactly `bytes` bytes long. */
function eventOfSize (bytes: number, externalId: string, email = 'size@example.com'): Record<string, unknown> {
  const ev = { externalId, lead: { email }, type: 'page_view', properties: { pad: '' } }
  const base = Buffer.byteLength(JSON.stringify(ev))
  ev.properties.pad = 'x'.repeat(bytes - base)
  if (Buffer.byteLength(JSON.stringify(ev)) !== bytes) throw new Error('eventOfSize miscounted')
  return ev
}

/** A { events: [...] } body of exactly `bytes` bytes, from events of about 20 KB. */
function batchOfSize (bytes: number, prefix: string): string {
  const events: Array<Record<string, unknown>> = []
  const EVENT = 20 * KB
  // '{"events":[' + events joined by ',' + ']}'
  let size = Buffer.byteLength('{"events":[]}')
  let i = 0
  while (size + EVENT + 1 + 1 + 200 < bytes) {
    events.push(eventOfSize(EVENT, `${prefix}-${i}`, `${prefix}@example.com`))
    size += EVENT + (i === 0 ? 0 : 1)
    i++
  }
  const rest = bytes - size - (i === 0 ? 0 : 1)
  if (rest < 200 || rest > 32 * KB) throw new Error(`batchOfSize cannot fill ${rest} bytes`)
  events.push(eventOfSize(rest, `${prefix}-${i}`, `${prefix}@example.com`))
  const body = JSON.stringify({ events })
  if (Buffer.byteLength(body) !== bytes) throw new Error(`batchOfSize miscounted: ${Buffer.byteLength(body)} != ${bytes}`)
  return body
}

function jsonBuffer (parts: Array<string | number[]>): Buffer {
  return Buffer.concat(parts.map((p) => typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p)))
}

t.test('a single event: 32 KB is accepted, 32 KB + 1 is 413, nothing stored', async (t) => {
  const { app, db } = await buildTestApp(t)
  const id = rid('32k')
  const ok = await postEvents(app, eventOfSize(32 * KB, 'e-32k'), { 'x-request-id': id })
  t.equal(ok.statusCode, 202, 'exactly the limit is accepted')
  t.match(ok.json(), { accepted: 1 })
  await assertLedger(t, db, ok, id, 1)

  const big = await postEvents(app, eventOfSize(32 * KB + 1, 'e-32k-plus'))
  const p = assertProblem(t, big, 413, 'LS_ERR_BODY_TOO_LARGE', '32 KB + 1')
  t.match(p, { detail: /32768/ })
  // the same size reached by whitespace only is judged on the bytes received, too
  const padded = await postEvents(app, JSON.stringify(eventOfSize(32 * KB - 10, 'e-32k-ws')) + ' '.repeat(11))
  assertProblem(t, padded, 413, 'LS_ERR_BODY_TOO_LARGE', 'whitespace-padded')
  t.equal(await db.c.events.countDocuments({}), 1, 'only the event at the limit is stored')
  t.equal(await db.c.events.countDocuments({ externalId: { $in: ['e-32k-plus', 'e-32k-ws'] } }), 0)
})

t.test('inside a batch, an event over 32 KB is a stored per-event reject; the others are accepted', async (t) => {
  const { app, db } = await buildTestApp(t)
  const id = rid('batch-big-item')
  const res = await postEvents(app, { events: [eventOfSize(1 * KB, 'b-1'), eventOfSize(40 * KB, 'b-2'), eventOfSize(32 * KB, 'b-3')] }, { 'x-request-id': id })
  t.equal(res.statusCode, 202)
  t.match(res.json(), { submitted: 3, accepted: 2, duplicates: 0, rejected: 1, results: [{ status: 'accepted' }, { status: 'rejected', error: { code: 'LS_ERR_EVENT_TOO_LARGE' } }, { status: 'accepted' }] })
  const [rej] = await assertLedger(t, db, res, id, 3)
  t.match(rej, { index: 1, code: 'LS_ERR_EVENT_TOO_LARGE', rawTruncated: false })
  t.equal(await db.c.events.countDocuments({}), 2)
})

t.test('a batch body over the events body limit is 413 with nothing stored (default 5 MiB and a configured 500 KB)', async (t) => {
  const { app, db } = await buildTestApp(t)
  const over = await postEvents(app, batchOfSize(app.config.limits.eventsBodyLimit + 1, 'd'))
  assertProblem(t, over, 413, 'LS_ERR_BODY_TOO_LARGE', 'default events body limit + 1')
  t.equal(await db.c.events.countDocuments({}), 0)
  t.equal(await db.c.leads.countDocuments({}), 0)
  t.equal(await db.c.ingestRejects.countDocuments({}), 0)

  const small = await buildTestApp(t, { LEADSCORE_EVENTS_BODY_LIMIT: String(500 * KB) })
  const atLimit = batchOfSize(500 * KB, 's')
  const id = rid('500k')
  const ok = await postEvents(small.app, atLimit, { 'x-request-id': id })
  t.equal(ok.statusCode, 202, 'exactly 500 KB is accepted')
  const n = (JSON.parse(atLimit) as { events: unknown[] }).events.length
  t.match(ok.json(), { submitted: n, accepted: n })
  await assertLedger(t, small.db, ok, id, n)
  const tooBig = await postEvents(small.app, batchOfSize(500 * KB + 1, 't'))
  assertProblem(t, tooBig, 413, 'LS_ERR_BODY_TOO_LARGE', '500 KB + 1')
  t.equal(await small.db.c.events.countDocuments({ externalId: /^t-/ }), 0, 'no partial insert from the refused batch')
  t.equal(await small.db.c.events.countDocuments({}), n)
})

t.test('1 MiB + 1 on POST /v1/leads (the default body limit) is 413; exactly 1 MiB is not', async (t) => {
  const { app, db } = await buildTestApp(t)
  const bodyOf = (size: number, fields: Record<string, string>): string => {
    const b = { ...fields, attributes: { blob: '' } }
    b.attributes.blob = 'y'.repeat(size - Buffer.byteLength(JSON.stringify(b)))
    const s = JSON.stringify(b)
    if (Buffer.byteLength(s) !== size) throw new Error('miscounted')
    return s
  }
  const over = await app.inject({ method: 'POST', url: '/v1/leads', headers: { ...AUTH, 'content-type': 'application/json' }, payload: bodyOf(MIB + 1, { email: 'big@example.com' }) })
  assertProblem(t, over, 413, 'LS_ERR_BODY_TOO_LARGE', 'POST /v1/leads 1 MiB + 1')
  t.equal(await db.c.leads.countDocuments({}), 0)
  const at = await app.inject({ method: 'POST', url: '/v1/leads', headers: { ...AUTH, 'content-type': 'application/json' }, payload: bodyOf(MIB, { email: 'fits@example.com' }) })
  t.equal(at.statusCode, 201, 'exactly 1 MiB is accepted')
  // another route with a body, same limit
  const rs = await app.inject({ method: 'PATCH', url: `/v1/leads/${at.json().id as string}`, headers: { ...AUTH, 'content-type': 'application/json' }, payload: bodyOf(MIB + 1, { name: 'n' }) })
  assertProblem(t, rs, 413, 'LS_ERR_BODY_TOO_LARGE', 'PATCH /v1/leads/:id over 1 MiB')
})

t.test('invalid UTF-8 is 400 LS_ERR_INVALID_ENCODING, never stored as U+FFFD', async (t) => {
  const { app, db } = await buildTestApp(t)
  const head = '{"externalId":"utf-'
  const cases: Array<[string, Buffer]> = [
    ['lone 0xff in a value', jsonBuffer([head, '1","lead":{"email":"u@example.com"},"type":"page_view","properties":{"v":"a', [0xff], 'b"}}'])],
    ['bad bytes in a key', jsonBuffer([head, '2","lead":{"email":"u@example.com"},"type":"page_view","properties":{"k', [0xc3, 0x28], '":1}}'])],
    ['overlong "/"', jsonBuffer([head, '3","lead":{"email":"u@example.com"},"type":"page_view","properties":{"v":"', [0xc0, 0xaf], '"}}'])],
    ['UTF-8-encoded surrogate', jsonBuffer([head, '4","lead":{"email":"u@example.com"},"type":"page_view","properties":{"v":"', [0xed, 0xa0, 0x80], '"}}'])],
    ['truncated sequence in the name', jsonBuffer([head, '5","lead":{"email":"u@example.com","name":"Zo', [0xc3], '"},"type":"page_view"}'])],
    ['Latin-1 é in the email', jsonBuffer([head, '6","lead":{"email":"jos', [0xe9], '@example.com"},"type":"page_view"}'])],
    ['UTF-16LE with BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"externalId":"utf-7","lead":{"email":"u@example.com"},"type":"page_view"}', 'utf16le')])],
  ]
  for (const [label, payload] of cases) {
    const res = await app.inject({ method: 'POST', url: '/v1/events', headers: { ...AUTH, 'content-type': 'application/json' }, payload })
    assertProblem(t, res, 400, 'LS_ERR_INVALID_ENCODING', label)
  }
  const lead = await app.inject({ method: 'POST', url: '/v1/leads', headers: { ...AUTH, 'content-type': 'application/json' }, payload: jsonBuffer(['{"email":"v@example.com","name":"', [0xfe, 0xff], '"}']) })
  assertProblem(t, lead, 400, 'LS_ERR_INVALID_ENCODING', 'POST /v1/leads')
  t.equal(await db.c.events.countDocuments({}), 0, 'nothing stored')
  t.equal(await db.c.leads.countDocuments({}), 0)
  await assertNoReplacementChar(t, db)
})

t.test('a lone surrogate written as a JSON escape is refused too (it cannot be stored as UTF-8)', async (t) => {
  const { app, db } = await buildTestApp(t)
  const payloads = [
    '{"externalId":"sur-1","lead":{"email":"s@example.com"},"type":"page_view","properties":{"v":"a\\ud800b"}}',
    '{"externalId":"sur-2","lead":{"email":"s@example.com"},"type":"page_view","properties":{"\\udfff":1}}',
    '{"events":[{"externalId":"sur-3","lead":{"email":"s@example.com","name":"x\\ud83d"},"type":"page_view"}]}',
  ]
  for (const p of payloads) assertProblem(t, await postEvents(app, p), 400, 'LS_ERR_INVALID_ENCODING', p)
  // a correctly paired escape is fine and round-trips
  const id = rid('pair')
  const ok = await postEvents(app, '{"externalId":"sur-ok","lead":{"email":"s@example.com"},"type":"page_view","properties":{"v":"\\ud83d\\ude80"}}', { 'x-request-id': id })
  t.equal(ok.statusCode, 202)
  await assertLedger(t, db, ok, id, 1)
  const ev = await app.inject({ url: `/v1/events/${ok.json().results[0].eventId as string}`, headers: AUTH })
  t.equal(ev.json().properties.v, '🚀')
  t.equal(await db.c.events.countDocuments({}), 1)
  await assertNoReplacementChar(t, db)
})

t.test('a UTF-8 BOM is accepted and not kept', async (t) => {
  const { app, db } = await buildTestApp(t)
  const id = rid('bom')
  const res = await app.inject({ method: 'POST', url: '/v1/events', headers: { ...AUTH, 'content-type': 'application/json', 'x-request-id': id }, payload: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"externalId":"bom-1","lead":{"email":"bom@example.com"},"type":"page_view"}')]) })
  t.equal(res.statusCode, 202)
  await assertLedger(t, db, res, id, 1)
  t.equal(await db.c.events.countDocuments({ externalId: 'bom-1' }), 1)
})

t.test('NUL in lead.email, lead.externalId and type is rejected with a stored reason; NUL in properties is stored as is', async (t) => {
  const { app, db } = await buildTestApp(t)
  const cases: Array<[string, Record<string, unknown>, string, string]> = [
    ['email', { lead: { email: 'a\u0000b@example.com' }, type: 'page_view' }, 'LS_ERR_LEAD_IDENTITY_INVALID', '#/lead/email'],
    ['email tail', { lead: { email: 'ab@example.com\u0000' }, type: 'page_view' }, 'LS_ERR_LEAD_IDENTITY_INVALID', '#/lead/email'],
    ['email other control', { lead: { email: 'a\u0007b@example.com' }, type: 'page_view' }, 'LS_ERR_LEAD_IDENTITY_INVALID', '#/lead/email'],
    ['lead externalId', { lead: { externalId: 'crm\u00001' }, type: 'page_view' }, 'LS_ERR_LEAD_IDENTITY_INVALID', '#/lead/externalId'],
    ['type', { lead: { email: 'nul@example.com' }, type: 'page\u0000view' }, 'LS_ERR_EVENT_TYPE_INVALID', '#/type'],
  ]
  for (const [label, ev, code, pointer] of cases) {
    const id = rid(`nul-${label.replace(/\W+/g, '-')}`)
    const res = await postEvents(app, { externalId: `nul-${label}`, ...ev }, { 'x-request-id': id })
    const p = assertProblem(t, res, 400, code, `NUL in ${label}`)
    t.match(p, { errors: [{ pointer }], rejected: 1 })
    await assertLedger(t, db, res, id, 1)
  }
  const create = await app.inject({ method: 'POST', url: '/v1/leads', headers: AUTH, payload: { email: 'a\u0000b@example.com' } })
  assertProblem(t, create, 400, 'LS_ERR_VALIDATION', 'POST /v1/leads with NUL in email')
  t.equal(await db.c.leads.countDocuments({}), 0, 'no lead with a NUL in its identity')
  t.equal(await db.c.events.countDocuments({}), 0)

  const id = rid('nul-props')
  const properties = { 'k\u0000': 'v\u0000w', list: ['\u0000'] }
  const ok = await postEvents(app, { externalId: 'nul-props', lead: { email: 'nul@example.com' }, type: 'page_view', properties }, { 'x-request-id': id })
  t.equal(ok.statusCode, 202)
  await assertLedger(t, db, ok, id, 1)
  const ev = await app.inject({ url: `/v1/events/${ok.json().results[0].eventId as string}`, headers: AUTH })
  t.same(ev.json().properties, properties, 'NUL inside free-form properties round-trips')
})

t.test('4-byte emoji round-trip in properties, keys and names', async (t) => {
  const { app, db } = await buildTestApp(t)
  const properties = { '🚀': '👩‍👩‍👧‍👦 𝄞 😀', nested: { '𝕏': ['🇫🇷', '🏳️‍🌈'] }, mixed: 'a😀b' }
  const id = rid('emoji')
  const res = await postEvents(app, { externalId: 'emoji-1', lead: { email: 'emoji@example.com', name: 'Zoë 🚀', company: '🏢 Corp' }, type: 'page_view', properties }, { 'x-request-id': id })
  t.equal(res.statusCode, 202)
  await assertLedger(t, db, res, id, 1)
  const ev = await app.inject({ url: `/v1/events/${res.json().results[0].eventId as string}`, headers: AUTH })
  t.equal(JSON.stringify(ev.json().properties), JSON.stringify(properties), 'byte-for-byte')
  await waitForScoring(db) // the profile an event carries reaches the lead when the event is scored
  const lead = await app.inject({ url: `/v1/leads/${res.json().results[0].leadId as string}`, headers: AUTH })
  t.match(lead.json(), { name: 'Zoë 🚀', company: '🏢 Corp' })
  await assertNoReplacementChar(t, db)
})

t.test('combining characters in email are NFC-normalized: both spellings are one lead', async (t) => {
  const { app, db } = await buildTestApp(t)
  const nfd = 'jose\u0301@example.com'
  const nfc = 'jos\u00e9@example.com'
  t.not(nfd, nfc)
  const r1 = await postEvents(app, { externalId: 'nfc-1', lead: { email: nfd }, type: 'page_view' })
  const r2 = await postEvents(app, { externalId: 'nfc-2', lead: { email: nfc }, type: 'page_view' })
  const r3 = await postEvents(app, { externalId: 'nfc-3', lead: { email: '  JOSE\u0301@Example.COM ' }, type: 'email_open' })
  for (const r of [r1, r2, r3]) t.match(r.json(), { submitted: 1, accepted: 1, rejected: 0 })
  const ids = new Set([r1, r2, r3].map((r) => r.json().results[0].leadId as string))
  t.equal(ids.size, 1, 'one lead id for every spelling')
  t.equal(await db.c.leads.countDocuments({}), 1)
  const lead = await db.c.leads.findOne({})
  t.equal(lead?.email, nfc, 'stored in NFC')
  const dup = await app.inject({ method: 'POST', url: '/v1/leads', headers: AUTH, payload: { email: nfd } })
  assertProblem(t, dup, 409, 'LS_ERR_LEAD_EXISTS', 'creating the NFD spelling finds the NFC lead')
  await waitForScoring(db)
  t.equal((await db.c.leads.findOne({}))?.score, 20, 'the three events scored on the one lead (5 + 5 + 10)')
})
