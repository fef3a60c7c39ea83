// RELIABILITY.md case 11: Idempotency-Key semantics on POST /v1/events.
import t from 'tap'
import { buildTestApp, postEvents, waitForScoring } from '../helpers/harness.js'
import { assertLedger, assertProblem, rid } from '../helpers/ledger.js'

const HOUR = 3_600_000

t.test('same key and same body: the stored response is replayed byte for byte, one event', async (t) => {
  const { app, db } = await buildTestApp(t)
  const ev = { externalId: 'idem-1', lead: { email: 'idem1@example.com' }, type: 'demo_request' }
  const r1 = rid('idem-first')
  const first = await postEvents(app, ev, { 'idempotency-key': 'key-same-body', 'x-request-id': r1 })
  t.equal(first.statusCode, 202)
  t.equal(first.headers['idempotent-replayed'], undefined, 'the first answer is not a replay')
  t.match(first.json(), { submitted: 1, accepted: 1, duplicates: 0, rejected: 0 })
  await assertLedger(t, db, first, r1, 1)

  const second = await postEvents(app, ev, { 'idempotency-key': 'key-same-body', 'x-request-id': rid('idem-second') })
  t.equal(second.statusCode, first.statusCode, 'identical status')
  t.equal(second.body, first.body, 'identical body')
  t.equal(second.headers['idempotent-replayed'], 'true')
  t.equal(second.headers['content-type'], first.headers['content-type'])
  t.equal(await db.c.events.countDocuments({}), 1, 'L1: exactly one event')
  await waitForScoring(db)
  const lead = await db.c.leads.findOne({ email: 'idem1@example.com' })
  t.equal(lead?.score, 50, 'scored once, not twice')
})

t.test('same key with a different body is refused with 422 and stores nothing', async (t) => {
  const { app, db } = await buildTestApp(t)
  const ev = { externalId: 'idem-2', lead: { email: 'idem2@example.com' }, type: 'page_view' }
  const first = await postEvents(app, ev, { 'idempotency-key': 'key-diff-body' })
  t.equal(first.statusCode, 202)
  const other = await postEvents(app, { ...ev, externalId: 'idem-2b' }, { 'idempotency-key': 'key-diff-body' })
  assertProblem(t, other, 422, 'LS_ERR_IDEMPOTENCY_KEY_REUSED')
  // a body that differs only in formatting is a different body too (the hash is over the raw bytes)
  const reformatted = await postEvents(app, JSON.stringify(ev, null, 2), { 'idempotency-key': 'key-diff-body' })
  assertProblem(t, reformatted, 422, 'LS_ERR_IDEMPOTENCY_KEY_REUSED')
  t.equal(await db.c.events.countDocuments({}), 1, 'only the first request stored an event')
  t.equal(await db.c.events.countDocuments({ externalId: 'idem-2b' }), 0)
  t.equal(await db.c.ingestRejects.countDocuments({}), 0, 'a refused request is not an ingest reject')
  // the original can still be replayed
  const again = await postEvents(app, ev, { 'idempotency-key': 'key-diff-body' })
  t.equal(again.body, first.body)
  t.equal(again.headers['idempotent-replayed'], 'true')
})

t.test('the same key sent concurrently x10: one event, the rest 409 in flight or replays, never 5xx', async (t) => {
  const { app, db } = await buildTestApp(t)
  // no externalId: the content hash is the event id, so this proves the key (not the id) is what holds the line
  const ev = { lead: { email: 'idem3@example.com' }, type: 'form_submit', properties: { n: 1 } }
  const ids = Array.from({ length: 10 }, (_, i) => rid(`conc-${i}`))
  const all = await Promise.all(ids.map(async (id) => await postEvents(app, ev, { 'idempotency-key': 'key-concurrent', 'x-request-id': id })))
  const codes = all.map((r) => r.statusCode)
  t.equal(codes.filter((c) => c >= 500).length, 0, `no 5xx (${codes.join(',')})`)
  const ok = all.filter((r) => r.statusCode === 202)
  const originals = ok.filter((r) => r.headers['idempotent-replayed'] === undefined)
  t.equal(originals.length, 1, 'exactly one request was processed')
  for (const r of ok) t.equal(r.body, originals[0]!.body, 'every 2xx carries the same body')
  for (const r of all.filter((x) => x.statusCode !== 202)) {
    assertProblem(t, r, 409, 'LS_ERR_IDEMPOTENCY_IN_FLIGHT')
    t.equal(r.headers['retry-after'], '1', '409 says when to retry')
  }
  t.equal(codes.filter((c) => c === 202 || c === 409).length, 10, 'only 202 or 409')
  t.equal(await db.c.events.countDocuments({}), 1, 'L1: never two events')
  const orig = originals[0]!
  t.match(orig.json(), { submitted: 1, accepted: 1, duplicates: 0, rejected: 0 })
  t.equal(await db.c.ingestRejects.countDocuments({}), 0)
  // once done, a late retry is a replay
  const late = await postEvents(app, ev, { 'idempotency-key': 'key-concurrent' })
  t.equal(late.statusCode, 202)
  t.equal(late.headers['idempotent-replayed'], 'true')
  t.equal(late.body, orig.body)
})

t.test('keys live 24 h: replayed just before expiry, new after 25 h (controlled clock)', async (t) => {
  let clock = Date.now()
  const { app, db } = await buildTestApp(t, {}, { now: () => new Date(clock) })
  const ev = { externalId: 'idem-4', lead: { email: 'idem4@example.com' }, type: 'page_view' }
  const first = await postEvents(app, ev, { 'idempotency-key': 'key-ttl' })
  t.equal(first.statusCode, 202)
  const key = await db.c.idempotencyKeys.findOne({})
  t.ok(key !== null && key.expiresAt.getTime() - key.createdAt.getTime() >= 24 * HOUR, 'the key is kept at least 24 h')
  await waitForScoring(db)

  clock += 24 * HOUR - 60_000
  const before = await postEvents(app, ev, { 'idempotency-key': 'key-ttl' })
  t.equal(before.headers['idempotent-replayed'], 'true', 'still a replay at 23 h 59 min')
  t.equal(before.body, first.body)
  const reused = await postEvents(app, { ...ev, externalId: 'idem-4-other' }, { 'idempotency-key': 'key-ttl' })
  assertProblem(t, reused, 422, 'LS_ERR_IDEMPOTENCY_KEY_REUSED', 'a different body before expiry')

  clock += 61 * 60_000 // 25 h after the first request
  const r1 = rid('ttl-same')
  const same = await postEvents(app, ev, { 'idempotency-key': 'key-ttl', 'x-request-id': r1 })
  t.equal(same.statusCode, 202)
  t.equal(same.headers['idempotent-replayed'], undefined, 'after expiry the request is processed again')
  t.match(same.json(), { submitted: 1, accepted: 0, duplicates: 1, rejected: 0, results: [{ status: 'duplicate' }] }, 'the event itself still dedupes on its id')
  await assertLedger(t, db, same, r1, 1)
  t.equal(await db.c.events.countDocuments({ externalId: 'idem-4' }), 1, 'L1: still one event')

  // and the key, now re-claimed, takes a new body once it has expired again
  clock += 25 * HOUR
  const r2 = rid('ttl-new')
  const fresh = await postEvents(app, { ...ev, externalId: 'idem-4-new' }, { 'idempotency-key': 'key-ttl', 'x-request-id': r2 })
  t.equal(fresh.statusCode, 202, 'a different body is accepted once the key expired')
  t.match(fresh.json(), { accepted: 1 })
  await assertLedger(t, db, fresh, r2, 1)
  t.equal(await db.c.events.countDocuments({}), 2)
})

t.test('an expired key found in the database (expiresAt in the past) is treated as new', async (t) => {
  const { app, db } = await buildTestApp(t)
  const ev = { externalId: 'idem-5', lead: { email: 'idem5@example.com' }, type: 'page_view' }
  t.equal((await postEvents(app, ev, { 'idempotency-key': 'key-db-expiry' })).statusCode, 202)
  const upd = await db.c.idempotencyKeys.updateMany({}, { $set: { expiresAt: new Date(Date.now() - 1000) } })
  t.equal(upd.modifiedCount, 1)
  const other = await postEvents(app, { ...ev, externalId: 'idem-5b' }, { 'idempotency-key': 'key-db-expiry' })
  t.equal(other.statusCode, 202)
  t.equal(other.headers['idempotent-replayed'], undefined)
  t.match(other.json(), { accepted: 1 })
  t.equal(await db.c.events.countDocuments({}), 2)
})

t.test('malformed Idempotency-Key headers are refused before anything is stored', async (t) => {
  const { app, db } = await buildTestApp(t)
  const ev = { externalId: 'idem-6', lead: { email: 'idem6@example.com' }, type: 'page_view' }
  for (const [label, key] of [['empty', ''], ['space', 'a b'], ['too long', 'k'.repeat(256)], ['control', 'a\u0001b']] as const) {
    const res = await postEvents(app, ev, { 'idempotency-key': key })
    // light-my-request refuses some header values itself; anything reaching the app must be a coded 400
    assertProblem(t, res, 400, 'LS_ERR_IDEMPOTENCY_KEY_INVALID', label)
  }
  t.equal(await db.c.events.countDocuments({}), 0)
  t.equal(await db.c.idempotencyKeys.countDocuments({}), 0)
})

t.test('a rejected single event does not burn the key: a corrected retry with the same key is processed', async (t) => {
  const { app, db } = await buildTestApp(t)
  const r1 = rid('reject-with-key')
  const bad = await postEvents(app, { externalId: 'idem-7', lead: { email: 'not-an-email' }, type: 'page_view' }, { 'idempotency-key': 'key-bad', 'x-request-id': r1 })
  assertProblem(t, bad, 400, 'LS_ERR_LEAD_IDENTITY_INVALID')
  await assertLedger(t, db, bad, r1, 1)
  t.equal(await db.c.idempotencyKeys.countDocuments({}), 0, 'the claim was released')
  const again = await postEvents(app, { externalId: 'idem-7', lead: { email: 'idem7@example.com' }, type: 'page_view' }, { 'idempotency-key': 'key-bad' })
  t.equal(again.statusCode, 202)
  t.match(again.json(), { accepted: 1 })
})
