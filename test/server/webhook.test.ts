// The webhook source over real HTTP: Standard Webhooks deliveries signed with the standardwebhooks package, Stripe
// and GitHub deliveries signed with hand-computed HMACs. Valid deliveries are ingested and scored; every refused one
// is a 401 problem with a stable code, counted and stored with its reason; redeliveries are duplicates.
import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { readFileSync } from 'node:fs'
import { githubDeliveryKey, macEquals } from '../../plugins/source-webhook/src/adapters.js'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'
import { createSource, listen, post, standardHeaders, stripeHeader, githubSignature, waitForStats, TestClock } from '../helpers/sources.js'
import { unpackProperties } from '../../server/src/domain/events/stored-properties.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const demo = (email: string, extra: Json = {}): string => JSON.stringify({ type: 'demo_request', timestamp: new Date().toISOString(), data: { email, name: 'Ada Lovelace', company: 'Engines Ltd', ...extra } })

t.test('standard webhooks: a signed delivery is stored, scored and deduplicated on webhook-id', async (t) => {
  const { app, db } = await buildTestApp(t)
  const base = await listen(app)
  const src = await createSource(app, { type: 'webhook', name: 'app events' })
  const secret = src.secretValues.signingSecret as string
  t.match(secret, /^whsec_[A-Za-z0-9+/]+=*$/, 'a Standard Webhooks secret was generated')
  t.same(src.endpoints, [{ method: 'POST', url: `/v1/sources/${src.id as string}/webhook`, summary: src.endpoints[0].summary }])
  const url = `${base}/v1/sources/${src.id as string}/webhook`

  const body = demo('Ada@Example.com')
  const now = Math.floor(Date.now() / 1000)
  const first = await post(url, body, standardHeaders(secret, 'msg_1', now, body))
  t.equal(first.status, 202)
  t.match(first.body, { sourceId: src.id, status: 'accepted', duplicate: false, submitted: 1, accepted: 1, duplicates: 0, rejected: 0 })
  const ev = await db.c.events.findOne({ sourceId: src.id, externalId: 'msg_1' })
  t.ok(ev, 'the event is stored under the source id with the webhook-id as its externalId')
  t.equal(ev?.type, 'demo_request')
  await waitForScoring(db)
  const lead = (await app.inject({ url: `/v1/leads/${first.body.results[0].leadId as string}`, headers: AUTH })).json<Json>()
  t.match(lead, { email: 'ada@example.com', name: 'Ada Lovelace', company: 'Engines Ltd', score: 50, stage: 'MQL' })

  // a sender retry: same webhook-id, fresh timestamp and signature
  const again = await post(url, body, standardHeaders(secret, 'msg_1', now + 5, body))
  t.equal(again.status, 200)
  t.match(again.body, { status: 'duplicate', duplicate: true, accepted: 0, duplicates: 1 })

  // 20 identical deliveries at once: all 2xx, one event
  const body2 = demo('grace@example.com')
  const h2 = standardHeaders(secret, 'msg_concurrent', now, body2)
  const all = await Promise.all(Array.from({ length: 20 }, async () => await post(url, body2, h2)))
  t.ok(all.every((r) => r.status === 200 || r.status === 202), 'no 5xx, no 4xx')
  t.equal(all.filter((r) => r.body.status === 'accepted').length, 1, 'exactly one accepted')
  t.equal(all.filter((r) => r.body.duplicate === true).length, 19)
  t.equal(await db.c.events.countDocuments({ sourceId: src.id, externalId: 'msg_concurrent' }), 1)

  const stats = await waitForStats(app, src.id as string, (s) => s.deliveries === 22)
  t.match(stats, { deliveries: 22, accepted: 2, duplicates: 20, rejected: 0, rejectedDeliveries: 0, lastError: null })
  t.ok(stats.lastEventAt !== null && stats.lastDeliveryAt !== null)
})

t.test('standard webhooks: bad signatures, stale or malformed timestamps and missing headers are refused and counted', async (t) => {
  const clock = new TestClock()
  clock.freeze() // the tolerance boundaries are exact
  const { app, db } = await buildTestApp(t, {}, { now: clock.now })
  const base = await listen(app)
  const src = await createSource(app, { type: 'webhook', name: 'strict' })
  const secret = src.secretValues.signingSecret as string
  const url = `${base}/v1/sources/${src.id as string}/webhook`
  const other = `whsec_${Buffer.alloc(32, 7).toString('base64')}`
  const body = demo('lin@example.com')
  const now = clock.unix()

  const cases: Array<{ name: string; headers: Record<string, string>; body?: string; code: string }> = [
    { name: 'wrong secret', headers: standardHeaders(other, 'm-wrong', now, body), code: 'LS_ERR_WEBHOOK_SIGNATURE' },
    { name: 'one body byte flipped', headers: standardHeaders(secret, 'm-flip', now, body), body: body.replace('lin@', 'lim@'), code: 'LS_ERR_WEBHOOK_SIGNATURE' },
    { name: 'body pretty-printed', headers: standardHeaders(secret, 'm-pretty', now, body), body: JSON.stringify(JSON.parse(body), null, 2), code: 'LS_ERR_WEBHOOK_SIGNATURE' },
    { name: 'stale by 301 s', headers: standardHeaders(secret, 'm-stale', now - 301, body), code: 'LS_ERR_WEBHOOK_TIMESTAMP' },
    { name: 'future by 301 s', headers: standardHeaders(secret, 'm-future', now + 301, body), code: 'LS_ERR_WEBHOOK_TIMESTAMP' },
    { name: 'timestamp with trailing letters', headers: { ...standardHeaders(secret, 'm-abc', now, body), 'webhook-timestamp': `${now}abc` }, code: 'LS_ERR_WEBHOOK_HEADER_INVALID' },
    { name: 'negative timestamp', headers: { ...standardHeaders(secret, 'm-neg', now, body), 'webhook-timestamp': '-1' }, code: 'LS_ERR_WEBHOOK_HEADER_INVALID' },
    { name: '20-digit timestamp', headers: { ...standardHeaders(secret, 'm-20', now, body), 'webhook-timestamp': '1'.repeat(20) }, code: 'LS_ERR_WEBHOOK_HEADER_INVALID' },
    { name: 'only a v1a signature', headers: { ...standardHeaders(secret, 'm-v1a', now, body), 'webhook-signature': 'v1a,abc' }, code: 'LS_ERR_WEBHOOK_SIGNATURE' },
    { name: 'webhook-id with a dot', headers: standardHeaders(secret, 'm.dot', now, body), code: 'LS_ERR_WEBHOOK_HEADER_INVALID' },
    { name: '21 signature entries', headers: standardHeaders(Array.from({ length: 21 }, () => other), 'm-many', now, body), code: 'LS_ERR_WEBHOOK_HEADER_INVALID' },
  ]
  for (const h of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    const headers = standardHeaders(secret, `m-missing-${h}`, now, body)
    delete headers[h]
    cases.push({ name: `missing ${h}`, headers, code: 'LS_ERR_WEBHOOK_HEADER_MISSING' })
  }
  for (const c of cases) {
    const res = await post(url, c.body ?? body, c.headers)
    t.equal(res.status, 401, `${c.name}: 401`)
    t.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8', `${c.name}: a problem`)
    t.match(res.body, { code: c.code, status: 401, instance: `/v1/sources/${src.id as string}/webhook` }, `${c.name}: ${c.code}`)
  }
  t.equal(await db.c.events.countDocuments({ sourceId: src.id }), 0, 'nothing refused was stored as an event')

  // exactly at the tolerance (-300 s) is accepted; a valid v1 in 5th position of 5 is found
  const edge = await post(url, body, standardHeaders(secret, 'm-edge', now - 300, body))
  t.equal(edge.status, 202, 'exactly 300 s old is accepted')
  const five = standardHeaders(secret, 'm-fifth', now, body)
  const wrong = standardHeaders(other, 'm-fifth', now, body)['webhook-signature']!
  five['webhook-signature'] = [wrong, wrong, 'v1a,xyz', wrong, five['webhook-signature']].join(' ')
  t.equal((await post(url, body, five)).status, 202, 'a valid signature in 5th position of 5 is accepted')

  // the reasons are stored with the source id (headers only, no body, no credentials)
  const rj = await app.inject({ url: `/v1/rejects?sourceId=${src.id as string}&limit=100`, headers: AUTH })
  t.equal(rj.statusCode, 200, rj.body)
  const rejects = rj.json<Json>().items as Json[]
  t.equal(rejects.length, cases.length, 'every refused delivery is stored')
  const codes = rejects.map((r) => r.code as string).sort()
  t.same(codes, cases.map((c) => c.code).sort())
  const stale = rejects.find((r) => /old/.test(r.reason as string))
  t.ok(stale, 'a stale delivery is stored with why')
  t.match(JSON.parse(stale!.raw as string), { method: 'POST', headers: { 'webhook-id': 'm-stale' } })
  t.notOk((stale!.raw as string).includes('lin@example.com'), 'the body of a refused delivery is not stored')

  const stats = await waitForStats(app, src.id as string, (s) => s.deliveries === cases.length + 2)
  t.match(stats, { rejectedDeliveries: cases.length, rejected: cases.length, accepted: 2, lastError: { code: 'LS_ERR_WEBHOOK_HEADER_MISSING' } }, 'the last refusal is the last error')
})

t.test('standard webhooks: hostile and unusable bodies', async (t) => {
  const { app, db } = await buildTestApp(t)
  const base = await listen(app)
  const src = await createSource(app, { type: 'webhook', name: 'hostile', config: { maxBodyBytes: 2048 } })
  const secret = src.secretValues.signingSecret as string
  const url = `${base}/v1/sources/${src.id as string}/webhook`
  const now = Math.floor(Date.now() / 1000)

  const proto = '{"__proto__":{"isAdmin":true},"type":"lead.created","data":{"email":"p@example.com"}}'
  const unsigned = await post(url, proto, { 'content-type': 'application/json', 'webhook-id': 'p0', 'webhook-timestamp': String(now), 'webhook-signature': 'v1,' + 'A'.repeat(43) + '=' })
  t.equal(unsigned.status, 401, 'an unsigned hostile body is told only that it is unauthorized')
  const signed = await post(url, proto, standardHeaders(secret, 'p1', now, proto))
  t.equal(signed.status, 400, 'a signed __proto__ body is refused after verification')
  t.equal(signed.body.code, 'LS_ERR_FORBIDDEN_KEY')
  t.equal(({} as Json).isAdmin, undefined, 'Object.prototype is untouched')

  // authentic but not mappable: 202, the payload quarantined as a reject with its reason
  const noLead = JSON.stringify({ type: 'demo_request', data: { note: 'no email here' } })
  const q = await post(url, noLead, standardHeaders(secret, 'p2', now, noLead))
  t.equal(q.status, 202)
  t.match(q.body, { status: 'rejected', rejected: 1, results: [{ status: 'rejected', error: { code: 'LS_ERR_LEAD_IDENTITY_INVALID' } }] })
  const stored = await db.c.ingestRejects.findOne({ sourceId: src.id, code: 'LS_ERR_LEAD_IDENTITY_INVALID' })
  t.ok(stored?.raw.includes('no email here'), 'the payload is kept with the reject')
  t.same(JSON.parse(stored!.raw), JSON.parse(noLead), 'the sender\'s payload, as sent')
  // the reason names the paths the mapping looked at, and the keys to set
  const why = 'the mapping found no lead: no email at data.email, data.user.email, data.customer.email, data.lead.email or email, and no lead external id (mapping.leadExternalId is not set); set mapping.email or mapping.leadExternalId'
  t.equal(q.body.results[0].error.message, why)
  t.equal(stored?.reason, why)
  t.equal(stored?.index, 0)

  const noType = JSON.stringify({ data: { email: 'typeless@example.com' } })
  const nt = await post(url, noType, standardHeaders(secret, 'p2b', now, noType))
  t.equal(nt.status, 202)
  t.match(nt.body, { status: 'rejected', results: [{ status: 'rejected', error: { code: 'LS_ERR_EVENT_TYPE_INVALID', message: 'the mapping found no event type at type, event or eventType; set mapping.type or mapping.fixedType' } }] })
  const neither = JSON.stringify({ hello: 'world' })
  const ne = await post(url, neither, standardHeaders(secret, 'p2c', now, neither))
  t.match(ne.body.results[0].error, { code: 'LS_ERR_LEAD_IDENTITY_INVALID', message: /found no lead: .*; it also found no event type at type, event or eventType/ })
  const again = await post(url, noLead, standardHeaders(secret, 'p2', now, noLead))
  t.match(again.body, { status: 'rejected', rejected: 1 }, 'a redelivery is refused again, with the same reason')

  const notJson = 'type=demo'
  const h = standardHeaders(secret, 'p3', now, notJson)
  const tx = await post(url, notJson, { ...h, 'content-type': 'text/plain' })
  t.equal(tx.status, 415)
  t.equal(tx.body.code, 'LS_ERR_UNSUPPORTED_MEDIA_TYPE')

  const big = JSON.stringify({ type: 'x', data: { email: 'b@example.com', pad: 'x'.repeat(3000) } })
  const tooBig = await post(url, big, standardHeaders(secret, 'p4', now, big))
  t.equal(tooBig.status, 413, 'over the source\'s maxBodyBytes')
  t.equal(tooBig.body.code, 'LS_ERR_BODY_TOO_LARGE')

  const unknownSource = await post(`${base}/v1/sources/src_nope/webhook`, proto, standardHeaders(secret, 'p5', now, proto))
  t.equal(unknownSource.status, 404)
  t.equal(unknownSource.body.code, 'LS_ERR_SOURCE_NOT_FOUND')
})

t.test('stripe adapter: Stripe-Signature with a hand-computed HMAC, default mapping and a type map', async (t) => {
  const { app, db } = await buildTestApp(t)
  const base = await listen(app)
  const secret = 'whsec_stripe_test_secret_0123456789'
  const src = await createSource(app, { type: 'webhook', name: 'stripe', config: { adapter: 'stripe', signingSecret: secret, mapping: { typeMap: { 'checkout.session.completed': 'purchase' } } } })
  t.same(src.secretValues, { signingSecret: secret }, 'a supplied secret is echoed once')
  const url = `${base}/v1/sources/${src.id as string}/webhook`
  const created = Math.floor(Date.now() / 1000) - 60
  const event = JSON.stringify({
    id: 'evt_1', object: 'event', type: 'checkout.session.completed', created,
    data: { object: { id: 'cs_1', object: 'checkout.session', customer: 'cus_9', customer_email: 'Buyer@Example.com', customer_details: { name: 'Bea Buyer' }, amount_total: 4900 } },
  })
  const now = Math.floor(Date.now() / 1000)
  const ok = await post(url, event, { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': stripeHeader(secret, now, event) })
  t.equal(ok.status, 202)
  const ev = await db.c.events.findOne({ sourceId: src.id, externalId: 'evt_1' })
  t.ok(ev, 'stored under the Stripe event id')
  t.equal(ev?.type, 'purchase', 'renamed by the type map')
  t.equal(ev?.occurredAt.toISOString(), new Date(created * 1000).toISOString(), 'occurredAt from created')
  t.match(unpackProperties(ev?.properties), { id: 'cs_1', amount_total: 4900 })
  await waitForScoring(db)
  const lead = (await app.inject({ url: `/v1/leads/${ok.body.results[0].leadId as string}`, headers: AUTH })).json<Json>()
  t.match(lead, { email: 'buyer@example.com', externalId: 'stripe:cus_9', name: 'Bea Buyer' })

  const retry = await post(url, event, { 'content-type': 'application/json', 'stripe-signature': stripeHeader(secret, now + 30, event) })
  t.match(retry, { status: 200, body: { duplicate: true } }, 'Stripe resending the event is a duplicate')

  const stale = await post(url, event, { 'content-type': 'application/json', 'stripe-signature': stripeHeader(secret, now - 301, event) })
  t.match(stale, { status: 401, body: { code: 'LS_ERR_WEBHOOK_TIMESTAMP' } })
  const wrong = await post(url, event, { 'content-type': 'application/json', 'stripe-signature': stripeHeader('whsec_other_secret_000', now, event) })
  t.match(wrong, { status: 401, body: { code: 'LS_ERR_WEBHOOK_SIGNATURE' } })
  const rotating = await post(url, event.replace('evt_1', 'evt_2'), { 'content-type': 'application/json', 'stripe-signature': `${stripeHeader('whsec_old_secret_000', now, event)},v1=${stripeHeader(secret, now, event.replace('evt_1', 'evt_2')).split('v1=')[1]!}` })
  t.equal(rotating.status, 202, 'any v1 entry may match')
  const noT = await post(url, event, { 'content-type': 'application/json', 'stripe-signature': `v1=${'0'.repeat(64)}` })
  t.match(noT, { status: 401, body: { code: 'LS_ERR_WEBHOOK_HEADER_INVALID' } })
  const none = await post(url, event, { 'content-type': 'application/json' })
  t.match(none, { status: 401, body: { code: 'LS_ERR_WEBHOOK_HEADER_MISSING' } })
})

t.test('github adapter: X-Hub-Signature-256, the event header as type, a hash of the signed body as id', async (t) => {
  const { app, db } = await buildTestApp(t)
  const base = await listen(app)
  const secret = 'a github hook secret'
  const src = await createSource(app, { type: 'webhook', name: 'github', config: { adapter: 'github', signingSecret: secret, mapping: { typeMap: { 'pull_request.opened': 'form_submit' } } } })
  const url = `${base}/v1/sources/${src.id as string}/webhook`
  const pr = JSON.stringify({ action: 'opened', number: 7, pull_request: { title: 'Add scoring', html_url: 'https://github.com/o/r/pull/7' }, repository: { full_name: 'o/r' }, sender: { login: 'octocat' } })
  const headers = (delivery: string, event: string, body: string, s = secret): Record<string, string> => ({
    'content-type': 'application/json', 'x-github-event': event, 'x-github-delivery': delivery, 'x-hub-signature-256': githubSignature(s, body),
  })
  const ok = await post(url, pr, headers('d-1', 'pull_request', pr))
  t.equal(ok.status, 202)
  // the id is a hash of the signed body: X-GitHub-Delivery is not signed, so a replay under a new one is a duplicate
  const ev = await db.c.events.findOne({ sourceId: src.id, externalId: githubDeliveryKey(Buffer.from(pr)) })
  t.equal(ev?.type, 'form_submit', 'pull_request.opened, renamed by the type map')
  t.same(unpackProperties(ev?.properties), { action: 'opened', repository: 'o/r', sender: 'octocat', url: 'https://github.com/o/r/pull/7', title: 'Add scoring' })
  await waitForScoring(db)
  const lead = (await app.inject({ url: `/v1/leads/${ok.body.results[0].leadId as string}`, headers: AUTH })).json<Json>()
  t.equal(lead.externalId, 'github:octocat')

  t.match(await post(url, pr, headers('d-1', 'pull_request', pr)), { status: 200, body: { duplicate: true } }, 'a redelivery is a duplicate')
  const ping = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1, sender: { login: 'octocat' } })
  t.match(await post(url, ping, headers('d-ping', 'ping', ping)), { status: 200, body: { status: 'empty', submitted: 0 } }, 'ping carries no event')
  t.match(await post(url, pr, headers('d-2', 'pull_request', pr, 'wrong')), { status: 401, body: { code: 'LS_ERR_WEBHOOK_SIGNATURE' } })
  const h = headers('d-3', 'pull_request', pr)
  delete h['x-github-delivery']
  t.match(await post(url, pr, h), { status: 401, body: { code: 'LS_ERR_WEBHOOK_HEADER_MISSING' } })

  // GitHub's form-encoded content type carries the JSON in payload=
  const form = `payload=${encodeURIComponent(pr)}`
  const f = await post(url, form, { ...headers('d-form', 'pull_request', form), 'content-type': 'application/x-www-form-urlencoded' })
  t.equal(f.status, 202)
})

t.test('a custom mapping: dot paths, a fixed type and a body id', async (t) => {
  const { app, db } = await buildTestApp(t)
  const base = await listen(app)
  const src = await createSource(app, {
    type: 'webhook', name: 'forms',
    config: { mapping: { email: 'submission.contact.mail', name: 'submission.contact.fullName', fixedType: 'form_submit', externalId: 'submission.id', occurredAt: 'submittedAt', properties: 'submission.answers' } },
  })
  const secret = src.secretValues.signingSecret as string
  const url = `${base}/v1/sources/${src.id as string}/webhook`
  const body = JSON.stringify({ submittedAt: 1700000000, submission: { id: 'sub-42', contact: { mail: 'Form@Example.com', fullName: 'Fo Rm' }, answers: { plan: 'pro', 'seats.count': 12 } } })
  const res = await post(url, body, standardHeaders(secret, 'wh-1', Math.floor(Date.now() / 1000), body))
  t.equal(res.status, 202)
  const ev = await db.c.events.findOne({ sourceId: src.id })
  t.equal(ev?.externalId, 'sub-42', 'the body id wins over the webhook-id')
  t.equal(ev?.type, 'form_submit')
  t.equal(ev?.occurredAt.toISOString(), '2023-11-14T22:13:20.000Z')
  const stored = (await app.inject({ url: `/v1/events/${ev!._id}`, headers: AUTH })).json<Json>()
  t.same(stored.properties, { plan: 'pro', 'seats.count': 12 }, 'properties root, keys round-trip')
})

t.test('the REST envelope: the JSON of POST /v1/events, posted to a webhook source, is read as the REST API reads it', async (t) => {
  const { app, db } = await buildTestApp(t)
  const base = await listen(app)
  const src = await createSource(app, { type: 'webhook', name: 'rest-shaped' })
  const secret = src.secretValues.signingSecret as string
  const url = `${base}/v1/sources/${src.id as string}/webhook`
  const now = Math.floor(Date.now() / 1000)

  // the lead first arrives over the REST API, with an email and a CRM id
  const rest = await postEvents(app, { externalId: 'rest-1', lead: { email: 'rest@example.com', externalId: 'crm-42', name: 'Rest Lead' }, type: 'page_view', occurredAt: new Date((now - 120) * 1000).toISOString() })
  t.equal(rest.statusCode, 202)
  const leadId = rest.json().results[0].leadId as string
  await waitForScoring(db) // scoring gives the lead its external id (and the alias that id finds it by)

  const occurredAt = new Date((now - 60) * 1000).toISOString()
  const body = JSON.stringify({ externalId: 'evt-rest-7', lead: { email: 'Rest@Example.com', name: 'Rest Lead', company: 'Rest Co', attributes: { plan: 'pro' } }, type: 'demo_request', occurredAt, properties: { page: '/pricing' } })
  const res = await post(url, body, standardHeaders(secret, 'msg_rest_1', now, body))
  t.equal(res.status, 202, res.text)
  t.match(res.body, { status: 'accepted', accepted: 1, rejected: 0, results: [{ status: 'accepted', leadId }] }, 'scored to the lead the REST API made')
  const ev = await db.c.events.findOne({ sourceId: src.id })
  t.equal(ev?.externalId, 'evt-rest-7', 'the body\'s externalId is the event id, as over REST')
  t.equal(ev?.type, 'demo_request')
  t.equal(ev?.occurredAt.toISOString(), occurredAt)
  const stored = (await app.inject({ url: `/v1/events/${ev!._id}`, headers: AUTH })).json<Json>()
  t.same(stored.properties, { page: '/pricing' }, 'properties are the envelope\'s properties, not the whole body')

  // the lead named by its external id alone
  const byId = JSON.stringify({ lead: { externalId: 'crm-42' }, type: 'form_submit', occurredAt: new Date((now - 30) * 1000).toISOString() })
  const res2 = await post(url, byId, standardHeaders(secret, 'msg_rest_2', now, byId))
  t.match(res2.body, { status: 'accepted', results: [{ leadId }] }, 'lead.externalId finds the same lead')
  t.ok(await db.c.events.findOne({ sourceId: src.id, externalId: 'msg_rest_2' }), 'without a body id, the webhook-id is the event id')

  // a redelivery of the first body under a new webhook-id is a duplicate: the body id decides, as over REST
  const again = await post(url, body, standardHeaders(secret, 'msg_rest_3', now, body))
  t.match(again.body, { status: 'duplicate', duplicates: 1 })

  await waitForScoring(db)
  const lead = (await app.inject({ url: `/v1/leads/${leadId}`, headers: AUTH })).json<Json>()
  t.match(lead, { email: 'rest@example.com', externalId: 'crm-42', company: 'Rest Co', score: 75 }, 'page view 5 + demo request 50 + form 20')
  t.match(lead.attributes, { plan: 'pro' })

  // today's defaults still read Standard Webhooks payloads, even ones that also carry a `lead` key
  const classic = JSON.stringify({ type: 'page_view', data: { email: 'classic@example.com' }, lead: { email: 'other@example.com' } })
  const res3 = await post(url, classic, standardHeaders(secret, 'msg_classic', now, classic))
  t.equal(res3.body.status, 'accepted')
  const classicLead = (await app.inject({ url: `/v1/leads/${res3.body.results[0].leadId as string}`, headers: AUTH })).json<Json>()
  t.equal(classicLead.email, 'classic@example.com')
})

t.test('the standardwebhooks signer and our verifier agree on the spec\'s test vector', async (t) => {
  // the example of the Standard Webhooks specification (msg_p5jXN8AQM9LWM0D4loKWxJek, 1614265330)
  const wh = new Webhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')
  const body = '{"test": 2432232314}'
  t.equal(wh.sign('msg_p5jXN8AQM9LWM0D4loKWxJek', new Date(1614265330 * 1000), body), 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')
  const clock = new TestClock()
  clock.offsetMs = 1614265330 * 1000 + 10_000 - Date.now()
  const { app } = await buildTestApp(t, {}, { now: clock.now })
  const src = await createSource(app, { type: 'webhook', name: 'vector', config: { signingSecret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', mapping: { fixedType: 'page_view', email: 'email' } } })
  const res = await app.inject({
    method: 'POST', url: `/v1/sources/${src.id as string}/webhook`, payload: body,
    headers: { 'content-type': 'application/json', 'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek', 'webhook-timestamp': '1614265330', 'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' },
  })
  t.equal(res.statusCode, 202, 'verified (the event itself is rejected: it names no lead)')
  t.match(res.json(), { status: 'rejected', results: [{ error: { code: 'LS_ERR_LEAD_IDENTITY_INVALID' } }] })
})

t.test('signatures are compared in constant time', async (t) => {
  const a = Buffer.alloc(32, 1)
  t.ok(macEquals(a, Buffer.alloc(32, 1)))
  t.notOk(macEquals(a, Buffer.alloc(32, 2)))
  t.notOk(macEquals(a, Buffer.alloc(31, 1)), 'a different length is not equal (and does not throw)')
  const src = readFileSync(new URL('../../plugins/source-webhook/src/adapters.ts', import.meta.url), 'utf8')
  t.match(src, /function macEquals[^}]*timingSafeEqual\(expected, given\)/, 'macEquals is timingSafeEqual')
  t.equal((src.match(/macEquals\(expected, g(iven)?\)/g) ?? []).length, 3, 'every adapter compares through macEquals')
  t.notOk(/\.equals\(|(expected|given|sig|g)\s*===\s*(expected|given|sig|g)\b/.test(src), 'no other comparison of signatures')
})
