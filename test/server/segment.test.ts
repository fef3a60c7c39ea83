// The Segment-compatible source: Segment's message shapes over real HTTP, the write key as HTTP Basic user name,
// messageId as the event id, per-message rejects in a 200 batch, 400 only for malformed requests, skew correction.
import t from 'tap'
import { buildTestApp, waitForScoring, AUTH } from '../helpers/harness.js'
import { createSource, listen, post, waitForStats } from '../helpers/sources.js'
import { unpackProperties } from '../../server/src/domain/events/stored-properties.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const basic = (key: string): string => `Basic ${Buffer.from(`${key}:`).toString('base64')}`

t.test('track, identify and page calls with the write key', async (t) => {
  const { app, db } = await buildTestApp(t)
  const base = await listen(app)
  const src = await createSource(app, { type: 'segment', name: 'web' })
  const key = src.secretValues.writeKey as string
  t.match(key, /^wk_/)
  const url = (p: string): string => `${base}/v1/sources/${src.id as string}/segment/${p}`
  const h = { 'content-type': 'application/json', authorization: basic(key) }

  const ident = await post(url('identify'), JSON.stringify({ userId: 'u-1', messageId: 'm-ident', traits: { email: 'Seg@Example.com', firstName: 'Seg', lastName: 'Ment', company: { name: 'Acme' }, plan: 'pro' } }), h)
  t.equal(ident.status, 200)
  t.match(ident.body, { accepted: 1 })
  const track = await post(url('track'), JSON.stringify({ userId: 'u-1', event: 'Demo Request', messageId: 'm-track', properties: { plan: 'pro' }, context: { traits: { email: 'seg@example.com' } } }), h)
  t.match(track, { status: 200, body: { status: 'accepted' } })
  const page = await post(url('page'), JSON.stringify({ anonymousId: 'a-9', name: 'Pricing', properties: { path: '/pricing' }, messageId: 'm-page' }), h)
  t.equal(page.status, 200)

  const ev = await db.c.events.findOne({ sourceId: src.id, externalId: 'm-track' })
  t.equal(ev?.type, 'demo_request', 'the event name in snake_case')
  t.same(unpackProperties(ev?.properties), { plan: 'pro' })
  const pv = await db.c.events.findOne({ sourceId: src.id, externalId: 'm-page' })
  t.match(pv, { type: 'page_view' })
  t.match(unpackProperties(pv?.properties), { name: 'Pricing', path: '/pricing' })
  await waitForScoring(db)
  const lead = (await app.inject({ url: `/v1/leads/${track.body.results[0].leadId as string}`, headers: AUTH })).json<Json>()
  t.match(lead, { email: 'seg@example.com', name: 'Seg Ment', company: 'Acme', externalId: 'u-1', attributes: { plan: 'pro' }, score: 50 })

  const retry = await post(url('track'), JSON.stringify({ userId: 'u-1', event: 'Demo Request', messageId: 'm-track' }), h)
  t.match(retry.body, { duplicate: true }, 'an SDK retry (same messageId) is a duplicate')

  // both auth forms; a bad or missing key is 401
  const inBody = await post(url('track'), JSON.stringify({ writeKey: key, userId: 'u-2', event: 'x', messageId: 'm-body' }), { 'content-type': 'application/json' })
  t.equal(inBody.status, 200, 'writeKey in the body')
  t.match(await post(url('track'), JSON.stringify({ userId: 'u-2', event: 'x' }), { 'content-type': 'application/json', authorization: basic('wk_wrong_key_0123456789') }), { status: 401, body: { code: 'LS_ERR_SOURCE_AUTH' } })
  t.match(await post(url('track'), JSON.stringify({ userId: 'u-2', event: 'x' }), { 'content-type': 'application/json' }), { status: 401, body: { code: 'LS_ERR_SOURCE_AUTH' } })
  t.match(await post(url('track'), JSON.stringify({ userId: 'u-2', event: 'x' }), { 'content-type': 'application/json', ...AUTH }), { status: 401 }, 'an API key is not a write key')
})

t.test('a batch with mixed validity is 200; bad items are stored as rejects with reasons', async (t) => {
  const { app, db } = await buildTestApp(t)
  const base = await listen(app)
  const src = await createSource(app, { type: 'segment', name: 'sdk' })
  const key = src.secretValues.writeKey as string
  const url = `${base}/v1/sources/${src.id as string}/segment/batch`
  const h = { 'content-type': 'application/json', authorization: basic(key) }
  const items: Json[] = Array.from({ length: 96 }, (_, i) => ({ type: 'track', userId: `u${i % 10}`, event: 'Page Viewed', messageId: `b-${i}`, properties: { i } }))
  items.splice(10, 0, { type: 'track', event: 'No One', messageId: 'bad-1' })
  items.splice(20, 0, { type: 'track', userId: 'u1', messageId: 'bad-2' })
  items.splice(30, 0, { type: 'track', userId: 'u1', event: 'Big', messageId: 'bad-3', properties: { pad: 'x'.repeat(40 * 1024) } })
  items.splice(40, 0, { type: 'track', userId: 'u1', event: 'Long id', messageId: 'm'.repeat(150) })
  const res = await post(url, JSON.stringify({ batch: items, sentAt: new Date().toISOString() }), h)
  t.equal(res.status, 200)
  t.match(res.body, { submitted: 100, accepted: 96, duplicates: 0, rejected: 4, status: 'partial' })
  t.equal(await db.c.events.countDocuments({ sourceId: src.id }), 96)
  const rejects = await db.c.ingestRejects.find({ sourceId: src.id }).toArray()
  t.same(rejects.map((r) => r.code).sort(), ['LS_ERR_EVENT_INVALID', 'LS_ERR_EVENT_TOO_LARGE', 'LS_ERR_EVENT_TYPE_INVALID', 'LS_ERR_LEAD_IDENTITY_INVALID'])
  const stats = await waitForStats(app, src.id as string, (s) => s.deliveries === 1)
  t.match(stats, { accepted: 96, rejected: 4, rejectedDeliveries: 0 })

  // malformed requests are 400 and store nothing
  t.match(await post(url, 'not json', h), { status: 400, body: { code: 'LS_ERR_MALFORMED_JSON' } })
  t.match(await post(url, JSON.stringify({ batch: {} }), h), { status: 400, body: { code: 'LS_ERR_VALIDATION' } })
  t.match(await post(url, JSON.stringify({ batch: Array.from({ length: 2501 }, () => ({})) }), h), { status: 400, body: { code: 'LS_ERR_BATCH_TOO_LARGE' } })
  t.match(await post(url, JSON.stringify({ batch: [{ pad: 'x'.repeat(501 * 1024) }] }), h), { status: 413 })
  t.equal(await db.c.events.countDocuments({ sourceId: src.id }), 96, 'nothing from a refused request')
  // the SDK's default path under the source's segment prefix
  t.equal((await post(`${base}/v1/sources/${src.id as string}/segment/v1/batch`, JSON.stringify({ batch: [{ type: 'identify', userId: 'u-x', messageId: 'v1b' }] }), h)).status, 200)
})

t.test('clock-skew correction', async (t) => {
  const { app, db } = await buildTestApp(t)
  const src = await createSource(app, { type: 'segment', name: 'skew' })
  const h = { 'content-type': 'application/json', authorization: basic(src.secretValues.writeKey as string) }
  const now = Date.now()
  const iso = (ms: number): string => new Date(ms).toISOString()
  const batch = [
    { type: 'track', userId: 'slow', event: 'e', messageId: 'slow', originalTimestamp: iso(now - 3_600_000 - 5000), sentAt: iso(now - 3_600_000) },
    { type: 'track', userId: 'fast', event: 'e', messageId: 'fast', timestamp: iso(now + 2 * 86_400_000 - 5000), sentAt: iso(now + 2 * 86_400_000) },
    { type: 'track', userId: 'far', event: 'e', messageId: 'far', timestamp: '2999-01-01T00:00:00Z' },
    { type: 'track', userId: 'old', event: 'e', messageId: 'old', timestamp: '2019-06-01T00:00:00Z' },
  ]
  const res = await app.inject({ method: 'POST', url: `/v1/sources/${src.id as string}/segment/batch`, headers: h, payload: JSON.stringify({ batch }) })
  t.match(res.json(), { accepted: 4, rejected: 0 })
  const ev = async (id: string) => (await db.c.events.findOne({ sourceId: src.id, externalId: id }))!
  const near = (a: Date, b: number, what: string) => t.ok(Math.abs(a.getTime() - b) < 3000, `${what}: ${a.toISOString()} ≈ ${iso(b)}`)
  near((await ev('slow')).occurredAt, now - 5000, 'a slow device clock is corrected')
  near((await ev('fast')).occurredAt, now - 5000, 'a fast device clock is corrected')
  const far = await ev('far')
  t.equal(far.timestampAdjusted, true, '2999 is clamped and flagged')
  near(far.occurredAt, now, '2999 is clamped to the receive time')
  t.equal((await ev('old')).occurredAt.toISOString(), '2019-06-01T00:00:00.000Z', 'a historical import without sentAt is kept')
})
