// GET /v1/sources/:id/errors: a source's recent problems (refused deliveries, rejected events, failures), newest
// first, bounded, each pointing at its stored reject; kept per server process and merged, and read without scanning
// the rejects.
import t from 'tap'
import { buildTestApp, AUTH } from '../helpers/harness.js'
import { createSource, listen, post, standardHeaders, waitForStats } from '../helpers/sources.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const demo = (email: string): string => JSON.stringify({ type: 'demo_request', data: { email } })

t.test('a source lists its recent refusals and rejects with their codes and where they are stored', async (t) => {
  const { app } = await buildTestApp(t)
  const base = await listen(app)
  const src = await createSource(app, { type: 'webhook', name: 'errors' })
  const other = await createSource(app, { type: 'webhook', name: 'quiet' })
  const id = src.id as string
  const url = `${base}/v1/sources/${id}/webhook`
  const secret = src.secretValues.signingSecret as string
  const now = Math.floor(Date.now() / 1000)

  const empty = await app.inject({ url: `/v1/sources/${id}/errors`, headers: AUTH })
  t.equal(empty.statusCode, 200)
  t.same(empty.json(), { items: [] }, 'a new source has no problems')

  const ok = demo('ok@example.com')
  t.equal((await post(url, ok, standardHeaders(secret, 'e1', now, ok))).status, 202)
  const forged = await post(url, ok, standardHeaders('whsec_' + Buffer.alloc(32, 9).toString('base64'), 'e2', now, ok))
  t.equal(forged.status, 401)
  const noLead = JSON.stringify({ type: 'demo_request', data: {} })
  const rejected = await post(url, noLead, standardHeaders(secret, 'e3', now, noLead))
  t.match(rejected, { status: 202, body: { status: 'rejected' } })

  await waitForStats(app, id, (s) => s.deliveries === 3)
  const res = await app.inject({ url: `/v1/sources/${id}/errors`, headers: AUTH })
  t.equal(res.statusCode, 200)
  const items = res.json().items as Json[]
  t.equal(items.length, 2, 'the accepted delivery is not a problem')
  t.match(items[0], { kind: 'event', code: 'LS_ERR_LEAD_IDENTITY_INVALID', message: String, requestId: String, index: 0 }, 'the rejected event, newest first')
  t.match(items[1], { kind: 'delivery', code: 'LS_ERR_WEBHOOK_SIGNATURE', message: String, requestId: forged.body.requestId, index: null }, 'the refused delivery')
  t.ok(new Date(items[0]!.at as string).getTime() >= new Date(items[1]!.at as string).getTime())
  t.equal(items[0]!.requestId, rejected.body.requestId, 'the event points at its delivery')

  // each problem finds its stored reject, with the same code and reason
  for (const p of items) {
    const stored = (await app.inject({ url: `/v1/rejects?requestId=${p.requestId as string}`, headers: AUTH })).json().items as Json[]
    t.match(stored, [{ sourceId: id, requestId: p.requestId, index: p.index ?? 0, code: p.code, reason: p.message }], `${p.kind as string}: stored with its reason`)
  }
  t.same((await app.inject({ url: `/v1/sources/${other.id as string}/errors`, headers: AUTH })).json(), { items: [] }, 'problems stay with their source')

  const missing = await app.inject({ url: '/v1/sources/src_missing/errors', headers: AUTH })
  t.match(missing.json(), { status: 404, code: 'LS_ERR_SOURCE_NOT_FOUND' })
})

t.test('source types say which secrets must be supplied', async (t) => {
  const { app } = await buildTestApp(t)
  const items = (await app.inject({ url: '/v1/source-types', headers: AUTH })).json().items as Json[]
  const byId = new Map(items.map((x) => [x.id as string, x]))
  t.match(byId.get('webhook'), { secrets: ['signingSecret'], suppliedSecrets: [] }, 'the webhook secret is generated')
  t.match(byId.get('segment'), { secrets: ['writeKey'], suppliedSecrets: [] })
  t.match(byId.get('imap'), { secrets: ['password'], suppliedSecrets: ['password'], polls: String }, 'a mailbox password is never generated')
})

t.test('the list is bounded, newest first, and stored with the counters', async (t) => {
  const { app, db } = await buildTestApp(t)
  const base = await listen(app)
  const src = await createSource(app, { type: 'webhook', name: 'noisy' })
  const id = src.id as string
  const url = `${base}/v1/sources/${id}/webhook`
  const body = demo('x@example.com')
  for (let i = 0; i < 55; i++) {
    // every one lacks its signature header
    const h = standardHeaders(src.secretValues.signingSecret as string, `n${i}`, Math.floor(Date.now() / 1000), body)
    delete h['webhook-signature']
    t.equal((await post(url, body, h)).status, 401)
  }
  await waitForStats(app, id, (s) => s.rejectedDeliveries === 55)
  const items = (await app.inject({ url: `/v1/sources/${id}/errors`, headers: AUTH })).json().items as Json[]
  t.equal(items.length, 50, 'at most 50')
  t.ok(items.every((p) => p.kind === 'delivery' && p.code === 'LS_ERR_WEBHOOK_HEADER_MISSING'))
  const times = items.map((p) => new Date(p.at as string).getTime())
  t.same(times, [...times].sort((a, b) => b - a), 'newest first')

  // written with the counters: after they are flushed, the stored document carries them
  await app.sources.stats.flush()
  const docs = await db.c.sourceStats.find({ sourceId: id }).toArray()
  t.equal(docs.length, 1)
  t.equal(docs[0]!.recent?.length, 50, 'stored with the process\'s counters')
})
