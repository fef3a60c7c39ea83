// Outbound webhooks: stage crossings reach a real HTTP receiver exactly once — through duplicates, late events that
// replay a lead and bulk re-scores (held while they run) — signed with Standard Webhooks, retried with backoff.
import t, { type Test } from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, postEvents, waitForScoring, AUTH, eventStatusCounts } from '../helpers/harness.js'
import { leadIdOf } from '../../server/src/domain/ids.js'
import type { Database } from '../../server/src/infra/db.js'

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any
/* eslint-enable @typescript-eslint/no-explicit-any */

const ENV = {
  LEADSCORE_WEBHOOKS_ALLOW_PRIVATE: '1', LEADSCORE_WEBHOOKS_RETRY_SCHEDULE: '100ms,200ms,300ms', LEADSCORE_WEBHOOKS_POLL_MS: '50',
  LEADSCORE_WEBHOOKS_TIMEOUT_MS: '5000', LEADSCORE_LOCK_LIFETIME_MS: '30000',
}

const sleep = async (ms: number): Promise<void> => { await new Promise((r) => setTimeout(r, ms)) }
const day = (h: number): string => new Date(Date.UTC(2025, 2, 3) + h * 3_600_000).toISOString()

interface Received { id: string; timestamp: string; signature: string; body: string; json: Json; status: number; at: number }

/** A real receiver on 127.0.0.1: records every request and answers with `respond` (200 by default). */
async function startReceiver (t: Test, respond: (r: Received, all: Received[]) => number = () => 200) {
  const requests: Received[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const r: Received = {
        id: String(req.headers['webhook-id']), timestamp: String(req.headers['webhook-timestamp']), signature: String(req.headers['webhook-signature']),
        body, json: JSON.parse(body), status: 0, at: Date.now(),
      }
      r.status = respond(r, requests)
      requests.push(r)
      res.writeHead(r.status, { 'content-type': 'text/plain' }).end(r.status < 300 ? 'ok' : 'not now')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { server.closeAllConnections(); await new Promise((r) => server.close(r)) })
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}/hooks`, requests }
}

/** Verifies a received request with a secret, as a receiver would (standardwebhooks). */
function verifies (secret: string, r: Received): boolean {
  try {
    new Webhook(secret).verify(r.body, { 'webhook-id': r.id, 'webhook-timestamp': r.timestamp, 'webhook-signature': r.signature })
    return true
  } catch {
    return false
  }
}

/** Waits until nothing is left to fan out, send or release (retries included). */
async function waitForDeliveries (db: Database, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const [queued, pending, holds] = await Promise.all([
      db.c.webhookQueue.countDocuments({}), db.c.notifications.countDocuments({ status: 'pending' }), db.c.notificationHolds.countDocuments({}),
    ])
    if (queued === 0 && pending === 0 && holds === 0) return
    if (Date.now() > deadline) throw new Error(`deliveries did not settle within ${timeoutMs} ms (${queued} queued, ${pending} pending, ${holds} held leads)`)
    await sleep(50)
  }
}

async function api (app: FastifyInstance, method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT', url: string, payload?: unknown, headers: Record<string, string> = AUTH) {
  return await app.inject({ method, url, headers, ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) })
}

async function subscribe (t: Test, app: FastifyInstance, body: Record<string, unknown>): Promise<{ id: string; secret: string }> {
  const res = await api(app, 'POST', '/v1/webhooks', body)
  t.equal(res.statusCode, 201, 'subscription created')
  const j = res.json()
  t.match(j.secret, /^whsec_[A-Za-z0-9+/]{40,}={0,2}$/, 'a Standard Webhooks secret')
  return { id: j.id, secret: j.secret }
}

const ev = (id: string, email: string, type: string, hour: number) => ({ externalId: id, lead: { email, name: email.split('@')[0] }, type, occurredAt: day(hour) })

async function post (t: Test, app: FastifyInstance, events: unknown[]): Promise<Json> {
  const res = await postEvents(app, { events })
  t.equal(res.statusCode, 202)
  return res.json()
}

t.test('a crossing notifies exactly once: duplicates and replays do not repeat it, a new crossing does', async (t) => {
  const { app, db } = await buildTestApp(t, ENV)
  const rx = await startReceiver(t)
  const sub = await subscribe(t, app, { url: rx.url, events: ['lead.stage_changed'], description: 'CRM' })
  const got = (await api(app, 'GET', `/v1/webhooks/${sub.id}`)).json()
  t.match(got, { id: sub.id, url: rx.url, events: ['lead.stage_changed'], stages: null, status: 'active', description: 'CRM' })
  t.notOk('secret' in got, 'the secret is not shown again')
  t.match((await api(app, 'GET', '/v1/webhooks')).json(), { items: [{ id: sub.id }] })

  // A: 5, 10, then a demo request crosses into MQL (60), then 65
  const a = 'ada@example.com'
  const first = [ev('a1', a, 'page_view', 1), ev('a2', a, 'page_view', 4), ev('a3', a, 'demo_request', 10), ev('a4', a, 'page_view', 20)]
  const r1 = await post(t, app, first)
  const leadA = r1.results[0].leadId as string
  const demoId = r1.results[2].eventId as string
  // B: email opens at 10 and 20 reach Nurture (20) with the second one
  const b = 'bob@example.com'
  const leadB = (await post(t, app, [ev('b1', b, 'email_open', 10), ev('b2', b, 'email_open', 20)])).results[0].leadId as string
  await waitForScoring(db)
  await waitForDeliveries(db)
  t.equal(rx.requests.length, 2, 'one request per crossing')
  const ra = rx.requests.find((r) => r.json.data.leadId === leadA)!
  t.equal(ra.id, `${leadA}.stage.MQL.1`, 'webhook-id is the crossing identity: the first entry into MQL')
  t.ok(verifies(sub.secret, ra), 'signed with the subscription secret')
  t.same(ra.json, {
    type: 'lead.stage_changed', timestamp: day(10),
    data: { leadId: leadA, email: a, name: 'ada', from: 'Cold', to: 'MQL', score: 60, version: 1, eventId: demoId },
  }, 'payload: type, event time, lead, from/to, score at the crossing, ruleset version, the event that caused it')
  const rb = rx.requests.find((r) => r.json.data.leadId === leadB)!
  t.match(rb, { id: `${leadB}.stage.Nurture.1`, json: { data: { from: 'Cold', to: 'Nurture', score: 20 } } })

  // the same events again: duplicates, nothing re-scored, nothing sent
  const again = await post(t, app, [...first, ev('b1', b, 'email_open', 10)])
  t.equal(again.duplicates, 5)
  // late events that replay the leads without changing their crossings: a page view before A's demo request, and an
  // email open that moves B's entry into Nurture earlier (from the event at 20 to this one at 15): the same crossing
  await post(t, app, [ev('a5', a, 'page_view', 5), ev('b3', b, 'email_open', 15)])
  await waitForScoring(db)
  await waitForDeliveries(db)
  t.ok(await db.c.scoreHistory.countDocuments({ leadId: { $in: [leadA, leadB] }, superseded: true }) >= 3, 'the late events replayed both leads')
  t.match(await db.c.leads.findOne({ _id: leadB }), { score: 30, stage: 'Nurture' })
  await sleep(300)
  t.equal(rx.requests.length, 2, 'no new request: the replays found the same crossings')
  t.equal(await db.c.notifications.countDocuments({}), 2, 'two notifications in the outbox')

  // a late purchase before everything genuinely changes A's history: it enters SQL (and never passed through MQL)
  const late = await post(t, app, [ev('a6', a, 'purchase', 0.5)])
  await waitForScoring(db)
  await waitForDeliveries(db)
  t.equal(rx.requests.length, 3, 'one more request for the new crossing')
  const rs = rx.requests[2]!
  t.equal(rs.id, `${leadA}.stage.SQL.1`)
  t.ok(verifies(sub.secret, rs))
  t.match(rs.json, { type: 'lead.stage_changed', timestamp: day(0.5), data: { leadId: leadA, from: 'MQL', to: 'SQL', score: 100, eventId: late.results[0].eventId } },
    'from is the stage the receiver was last told about')
  // and replaying that again (a duplicate of the late event, then a further late event after it) changes nothing
  await post(t, app, [ev('a6', a, 'purchase', 0.5), ev('a7', a, 'email_open', 2)])
  await waitForScoring(db)
  await waitForDeliveries(db)
  await sleep(300)
  t.equal(rx.requests.length, 3, 'still exactly one request per crossing')
  t.equal(new Set(rx.requests.map((r) => r.id)).size, 3, 'no webhook-id was sent twice')

  const log = (await api(app, 'GET', `/v1/webhooks/${sub.id}/deliveries`)).json()
  t.equal(log.items.length, 3, 'three deliveries logged')
  for (const d of log.items) {
    t.match(d, { webhookId: sub.id, type: 'lead.stage_changed', state: 'delivered', attemptCount: 1, attempts: [{ n: 1, statusCode: 200, error: null }], nextAttemptAt: null, deliveredAt: String })
  }
  t.same(log.items.map((d: Json) => d.notificationId).sort(), rx.requests.map((r) => r.id).sort())

  // a replay that retracts a change the receiver was told about: R entered MQL, then dropped to Cold (both sent); two
  // late form submissions before the drop keep R in MQL (90 - 50 = 40, MQL's exit threshold) with no new crossing,
  // so a correction brings the receiver back in step
  const rr = 'rae@example.com'
  const leadR = (await post(t, app, [ev('r1', rr, 'demo_request', 10), ev('r2', rr, 'marked_spam', 20)])).results[0].leadId as string
  await waitForScoring(db)
  await waitForDeliveries(db)
  const ofR = (): Received[] => rx.requests.filter((q) => q.json.data.leadId === leadR)
  t.same(ofR().map((q) => q.id), [`${leadR}.stage.MQL.1`, `${leadR}.stage.Cold.1`])
  await post(t, app, [ev('r3', rr, 'form_submit', 12), ev('r4', rr, 'form_submit', 14)])
  await waitForScoring(db)
  await waitForDeliveries(db)
  t.match(await db.c.leads.findOne({ _id: leadR }), { stage: 'MQL', score: 40, notified: { stage: 'MQL' } })
  const lastR = ofR().at(-1)!
  t.match(lastR.id, new RegExp(`^${leadR}\\.stage\\.MQL\\.1\\.r-bt_`), 'a correction, named after the batch')
  t.match(lastR.json, { type: 'lead.stage_changed', data: { leadId: leadR, to: 'MQL', score: 40, eventId: null } })
  t.ok(['Cold', 'Nurture'].includes(lastR.json.data.from), `from the stage the receiver knew (${String(lastR.json.data.from)})`)
  t.ok(verifies(sub.secret, lastR))
  t.equal(new Set(rx.requests.map((q) => q.id)).size, rx.requests.length, 'no webhook-id was sent twice')

  // erasing a lead erases its notifications and deliveries (they carry its email and name)
  t.equal((await api(app, 'DELETE', `/v1/leads/${leadA}`)).statusCode, 204)
  t.equal(await db.c.notifications.countDocuments({ leadId: leadA }), 0, 'notifications erased')
  t.equal(await db.c.webhookDeliveries.countDocuments({ leadId: leadA }), 0, 'deliveries erased')
  t.equal((await api(app, 'GET', `/v1/webhooks/${sub.id}/deliveries`)).json().items.length, 1 + ofR().length, 'the other leads\' deliveries stay')
})

t.test('grade changes are notified to subscriptions that ask for them', async (t) => {
  const { app, db } = await buildTestApp(t, ENV)
  const rx = await startReceiver(t)
  const sub = await subscribe(t, app, { url: rx.url, events: ['lead.grade_changed'], grades: ['A'] })
  const active = (await api(app, 'GET', '/v1/rulesets/active')).json()
  const fitRule = {
    name: 'big-company', priority: 1, conditions: { all: [{ fact: 'event', path: 'type', operator: 'equal', value: 'form_submit' }] },
    event: { type: 'score', params: { ruleId: 'big-company', action: 'add', dimension: 'fit', points: 30, reason: 'Big company' } },
  }
  const settings = { ...active.settings, grades: [{ name: 'A', min: 50 }, { name: 'B', min: 25 }, { name: 'C', min: 0 }] }
  t.equal((await api(app, 'PUT', '/v1/rulesets/active', { rules: [...active.rules, fitRule], settings })).statusCode, 201)
  const g = 'grace@example.com'
  const leadG = (await post(t, app, [ev('g1', g, 'form_submit', 1), ev('g2', g, 'form_submit', 2)])).results[0].leadId as string
  await waitForScoring(db)
  await waitForDeliveries(db)
  t.match(await db.c.leads.findOne({ _id: leadG }), { grade: 'A', scores: { fit: 60 } })
  t.same((await db.c.notifications.find({ leadId: leadG, kind: 'grade' }).toArray()).map((n) => `${n.from}>${n.to}`).sort(), ['B>A', 'C>B'], 'both grade changes recorded')
  t.equal(rx.requests.length, 1, 'only the change into A is wanted by the filter')
  t.match(rx.requests[0], { id: `${leadG}.grade.A.1`, json: { type: 'lead.grade_changed', timestamp: day(2), data: { leadId: leadG, from: 'B', to: 'A', version: 2 } } })
  t.ok(verifies(sub.secret, rx.requests[0]!))
})

t.test('notifications found during a bulk re-score are held and released once, as the net change', { timeout: 120_000 }, async (t) => {
  let gate: { leadId: string; open: Promise<void>; reached: () => void; arrived: Promise<void> } | null = null
  // one lead per scoring batch, so the job's pause before G's commit holds G alone and the other leads are committed
  const { app, db } = await buildTestApp(t, { ...ENV, LEADSCORE_SCORING_BATCH: '1' }, {
    beforeCommit: async (leadId) => {
      const g = gate
      if (g === null || g.leadId !== leadId) return
      g.reached()
      await g.open
    },
  })
  const rx = await startReceiver(t)
  const sub = await subscribe(t, app, { url: rx.url, events: ['lead.stage_changed'] })
  // under the default rules: A in MQL, B in Nurture, C Cold, D in MQL via Nurture, E Cold
  const events = [
    ev('a1', 'a@example.com', 'demo_request', 1),
    ev('b1', 'b@example.com', 'form_submit', 1),
    ...[1, 2, 3].map((h) => ev(`c${h}`, 'c@example.com', 'page_view', h)),
    ...[1, 2, 3, 4, 5].map((h) => ev(`d${h}`, 'd@example.com', 'email_open', h)),
    ev('e1', 'e@example.com', 'page_view', 1),
  ]
  // G's lead id sorts last, so the job re-scores it last: its commit is where the test pauses the job
  let gEmail = ''
  const ids = ['a', 'b', 'c', 'd', 'e'].map((x) => leadIdOf(`email:${x}@example.com`))
  for (let i = 0; gEmail === ''; i++) if (ids.every((id) => id < leadIdOf(`email:gate-${i}@example.com`))) gEmail = `gate-${i}@example.com`
  events.push(ev('g1', gEmail, 'email_bounced', 1))
  await post(t, app, events)
  await waitForScoring(db)
  await waitForDeliveries(db)
  const lead = (x: string): string => leadIdOf(`email:${x}@example.com`)
  t.same(rx.requests.map((r) => r.id).sort(), [
    `${lead('a')}.stage.MQL.1`, `${lead('b')}.stage.Nurture.1`, `${lead('d')}.stage.MQL.1`, `${lead('d')}.stage.Nurture.1`,
  ].sort(), 'the crossings under the first ruleset')
  const before = rx.requests.length

  // a new ruleset: page views 40, form submissions 50, demo requests 100
  const active = (await api(app, 'GET', '/v1/rulesets/active')).json()
  const points: Record<string, number> = { 'page-view': 40, 'form-submit': 50, 'demo-request': 100 }
  const rules = active.rules.map((r: Json) => points[r.event.params.ruleId] !== undefined ? { ...r, event: { ...r.event, params: { ...r.event.params, points: points[r.event.params.ruleId] } } } : r)
  t.equal((await api(app, 'PUT', '/v1/rulesets/active', { rules, settings: active.settings, note: 'bigger points' })).statusCode, 201)

  let reached!: () => void
  let open!: () => void
  const arrived = new Promise<void>((r) => { reached = r })
  gate = { leadId: leadIdOf(`email:${gEmail}`), open: new Promise<void>((r) => { open = r }), reached, arrived }
  const job = await api(app, 'POST', '/v1/rescore')
  t.equal(job.statusCode, 202)
  await arrived
  // paused before the last lead's commit: every other lead is re-scored, their crossings are held
  // and a live event during the job (E buys) is held as well
  await post(t, app, [ev('e2', 'e@example.com', 'purchase', 2)])
  const deadline = Date.now() + 20_000
  while ((await eventStatusCounts(db)).pending > 0 && Date.now() < deadline) await sleep(50)
  const held = await db.c.notifications.find({ status: 'held' }).toArray()
  t.same(held.map((n) => n._id).sort(), [
    `${lead('a')}.stage.SQL.1`, `${lead('b')}.stage.MQL.1`, `${lead('c')}.stage.Nurture.1`, `${lead('c')}.stage.MQL.1`, `${lead('c')}.stage.SQL.1`,
    `${lead('e')}.stage.Nurture.1`, `${lead('e')}.stage.SQL.1`,
  ].sort(), 'the new crossings are recorded, held')
  t.ok(held.every((n) => n.heldBy === job.json().id), 'held by the re-score job')
  await sleep(300)
  t.equal(rx.requests.length, before, 'nothing was sent while the job runs')
  t.equal((await api(app, 'GET', `/v1/jobs/${job.json().id as string}`)).json().state, 'running')
  open()

  for (const end = Date.now() + 30_000; Date.now() < end; await sleep(100)) {
    if ((await api(app, 'GET', `/v1/jobs/${job.json().id as string}`)).json().state === 'done') break
  }
  await waitForScoring(db)
  await waitForDeliveries(db)
  await sleep(300)
  const fresh = rx.requests.slice(before)
  t.same(fresh.map((r) => r.id).sort(), [
    `${lead('a')}.stage.SQL.1`, `${lead('b')}.stage.MQL.1`, `${lead('c')}.stage.SQL.1`, `${lead('e')}.stage.SQL.1`,
  ].sort(), 'one request per lead whose stage changed, none for D (same stage) or for intermediate stages')
  const byLead = new Map(fresh.map((r) => [r.json.data.leadId as string, r.json.data]))
  t.match(byLead.get(lead('a')), { from: 'MQL', to: 'SQL', version: 2 })
  t.match(byLead.get(lead('b')), { from: 'Nurture', to: 'MQL', version: 2 })
  t.match(byLead.get(lead('c')), { from: 'Cold', to: 'SQL', score: 120, version: 2 }, 'C: the net change from the stage before the job')
  t.match(byLead.get(lead('e')), { from: 'Cold', to: 'SQL', version: 2 })
  t.ok(fresh.every((r) => verifies(sub.secret, r)), 'all signed')
  t.equal(new Set(rx.requests.map((r) => r.id)).size, rx.requests.length, 'no webhook-id was sent twice')
  const dropped = await db.c.notifications.find({ status: 'dropped' }).toArray()
  t.same(dropped.map((n) => n._id).sort(), [`${lead('c')}.stage.Nurture.1`, `${lead('c')}.stage.MQL.1`, `${lead('e')}.stage.Nurture.1`].sort(), 'the intermediate states are dropped')
  t.same(await db.c.leads.find({}).project({ _id: 0, email: 1, stage: 1, notified: 1 }).sort({ email: 1 }).toArray(), [
    { email: 'a@example.com', stage: 'SQL', notified: { stage: 'SQL', grade: '' } },
    { email: 'b@example.com', stage: 'MQL', notified: { stage: 'MQL', grade: '' } },
    { email: 'c@example.com', stage: 'SQL', notified: { stage: 'SQL', grade: '' } },
    { email: 'd@example.com', stage: 'MQL', notified: { stage: 'MQL', grade: '' } },
    { email: 'e@example.com', stage: 'SQL', notified: { stage: 'SQL', grade: '' } },
    { email: gEmail, stage: 'Cold', notified: { stage: 'Cold', grade: '' } },
  ], 'every receiver view equals the lead')

  // re-scoring again with the same ruleset finds only known crossings: nothing is sent
  const job2 = await api(app, 'POST', '/v1/rescore')
  for (const end = Date.now() + 30_000; Date.now() < end; await sleep(100)) {
    if ((await api(app, 'GET', `/v1/jobs/${job2.json().id as string}`)).json().state === 'done') break
  }
  await waitForScoring(db)
  await waitForDeliveries(db)
  await sleep(300)
  t.equal(rx.requests.length, before + 4, 'a second re-score sends nothing')
})

t.test('retries with backoff, 410 disables, secret rotation, ping, filters, access and URL rules', async (t) => {
  const { app, db } = await buildTestApp(t, ENV)
  // fails twice per webhook-id, then accepts
  const flaky = await startReceiver(t, (r, all) => all.filter((x) => x.id === r.id).length < 2 ? 500 : 200)
  const gone = await startReceiver(t, () => 410)
  const f = await subscribe(t, app, { url: flaky.url, events: ['lead.stage_changed'], stages: ['SQL'] })
  const g = await subscribe(t, app, { url: gone.url, events: ['lead.stage_changed', 'lead.grade_changed'] })

  const r = await post(t, app, [ev('x1', 'x@example.com', 'purchase', 1)])
  const leadX = r.results[0].leadId as string
  await waitForScoring(db)
  await waitForDeliveries(db)
  t.equal(flaky.requests.length, 3, 'three attempts')
  t.same(flaky.requests.map((q) => q.status), [500, 500, 200])
  t.equal(new Set(flaky.requests.map((q) => q.id)).size, 1, 'the same webhook-id on every attempt')
  t.equal(new Set(flaky.requests.map((q) => q.body)).size, 1, 'the same body on every attempt')
  t.ok(flaky.requests.every((q) => verifies(f.secret, q)), 'each attempt signed')
  const gaps = flaky.requests.slice(1).map((q, i) => q.at - flaky.requests[i]!.at)
  t.ok(gaps[0]! >= 70 && gaps[1]! >= 150, `backoff between attempts (${gaps.join(', ')} ms)`)
  const [d] = (await api(app, 'GET', `/v1/webhooks/${f.id}/deliveries`)).json().items
  t.match(d, {
    notificationId: `${leadX}.stage.SQL.1`, state: 'delivered', attemptCount: 3, lastStatusCode: 200,
    attempts: [{ n: 1, statusCode: 500, response: 'not now' }, { n: 2, statusCode: 500 }, { n: 3, statusCode: 200, error: null }],
    payload: { type: 'lead.stage_changed', data: { leadId: leadX, to: 'SQL' } },
  }, 'delivered once, with three attempts logged')

  // 410 Gone: one attempt, the subscription is disabled, later notifications are not sent to it
  t.equal(gone.requests.length, 1)
  t.match((await api(app, 'GET', `/v1/webhooks/${g.id}`)).json(), { status: 'disabled', disabledReason: /410/ })
  t.match((await api(app, 'GET', `/v1/webhooks/${g.id}/deliveries`)).json().items, [{ state: 'failed', attemptCount: 1, lastStatusCode: 410 }])

  // the stage filter: Y enters Nurture only, which the flaky subscription (SQL only) does not want
  await post(t, app, [ev('y1', 'y@example.com', 'form_submit', 1)])
  await waitForScoring(db)
  await waitForDeliveries(db)
  t.equal(flaky.requests.length, 3, 'a stage outside the filter is not sent')
  t.equal(gone.requests.length, 1, 'a disabled subscription gets nothing')

  // secret rotation: with no grace the old secret stops verifying at once; with grace both do
  const rot = await api(app, 'POST', `/v1/webhooks/${f.id}/rotate-secret`, { graceSeconds: 0 })
  t.equal(rot.statusCode, 200)
  const s2 = rot.json().secret as string
  t.match(s2, /^whsec_/)
  t.not(s2, f.secret)
  t.equal(rot.json().previousSecretExpiresAt, null)
  const ping = await api(app, 'POST', `/v1/webhooks/${f.id}/test`)
  t.equal(ping.statusCode, 200)
  t.match(ping.json(), { ok: false, statusCode: 500 }, 'a ping reports the answer (the flaky receiver fails new ids once or twice)')
  const p1 = flaky.requests.at(-1)!
  t.equal(p1.json.type, 'webhook.ping')
  t.ok(verifies(s2, p1), 'the new secret verifies')
  t.notOk(verifies(f.secret, p1), 'the old secret does not')
  const rot2 = await api(app, 'POST', `/v1/webhooks/${f.id}/rotate-secret`)
  t.equal(rot2.statusCode, 200, 'rotation without a body: one day of grace')
  const s3 = rot2.json().secret as string
  t.ok(Date.parse(rot2.json().previousSecretExpiresAt) > Date.now() + 23 * 3_600_000)
  await api(app, 'POST', `/v1/webhooks/${f.id}/test`)
  const p2 = flaky.requests.at(-1)!
  t.ok(verifies(s3, p2) && verifies(s2, p2), 'during the grace period both secrets verify')
  t.notOk('secret' in (await api(app, 'GET', `/v1/webhooks/${f.id}`)).json())

  // re-enable the disabled subscription; PATCH validates
  t.match((await api(app, 'PATCH', `/v1/webhooks/${g.id}`, { enabled: true, description: 'back' })).json(), { status: 'active', disabledReason: null, description: 'back' })
  t.match((await api(app, 'PATCH', `/v1/webhooks/${g.id}`, {})).json(), { code: 'LS_ERR_VALIDATION' })
  t.match((await api(app, 'PATCH', `/v1/webhooks/${g.id}`, { url: 'ftp://example.com/x' })).json(), { status: 400, code: 'LS_ERR_WEBHOOK_URL_INVALID' })

  // validation and access
  const bad = async (body: Record<string, unknown>, code: string, what: string): Promise<void> => {
    const res = await api(app, 'POST', '/v1/webhooks', body)
    t.equal(res.statusCode, 400, what)
    t.match(res.json(), { code }, what)
  }
  await bad({ url: 'ftp://example.com/x', events: ['lead.stage_changed'] }, 'LS_ERR_WEBHOOK_URL_INVALID', 'ftp refused')
  await bad({ url: 'https://user:pw@example.com/x', events: ['lead.stage_changed'] }, 'LS_ERR_WEBHOOK_URL_INVALID', 'credentials refused')
  await bad({ url: 'not a url', events: ['lead.stage_changed'] }, 'LS_ERR_WEBHOOK_URL_INVALID', 'not a URL')
  await bad({ url: 'https://example.com/x', events: [] }, 'LS_ERR_VALIDATION', 'no events')
  await bad({ url: 'https://example.com/x', events: ['lead.created'] }, 'LS_ERR_VALIDATION', 'unknown event type')
  const readKey = (await api(app, 'POST', '/v1/api-keys', { name: 'reader', scopes: ['read', 'rules', 'ingest'] })).json().key as string
  const asReader = { authorization: `Bearer ${readKey}` }
  t.match((await api(app, 'POST', '/v1/webhooks', { url: 'https://example.com/x', events: ['lead.stage_changed'] }, asReader)).json(), { status: 403, code: 'LS_ERR_FORBIDDEN' }, 'non-admin cannot subscribe')
  t.equal((await api(app, 'GET', '/v1/webhooks', undefined, asReader)).statusCode, 403, 'non-admin cannot list')
  t.equal((await api(app, 'GET', `/v1/webhooks/${f.id}/deliveries`, undefined, asReader)).statusCode, 403, 'non-admin cannot read the log')
  t.equal((await api(app, 'GET', '/v1/webhooks')).statusCode, 200)
  t.match((await api(app, 'GET', '/v1/webhooks/wh_nope')).json(), { status: 404, code: 'LS_ERR_WEBHOOK_NOT_FOUND' })
  t.equal((await api(app, 'DELETE', `/v1/webhooks/${g.id}`)).statusCode, 204)
  t.equal((await api(app, 'GET', `/v1/webhooks/${g.id}`)).statusCode, 404)
  t.ok(await db.c.auditLog.findOne({ action: 'webhook.rotate_secret', target: f.id }) !== null, 'audited')
})

t.test('private and loopback receivers are refused unless allowed', async (t) => {
  const { app } = await buildTestApp(t, { LEADSCORE_WEBHOOKS_ALLOW_PRIVATE: '0' })
  for (const url of ['http://127.0.0.1:9/x', 'http://localhost/x', 'http://10.1.2.3/x', 'http://[::1]/x', 'http://169.254.169.254/latest', 'http://[::ffff:192.168.0.1]/x']) {
    const res = await api(app, 'POST', '/v1/webhooks', { url, events: ['lead.stage_changed'] })
    t.equal(res.statusCode, 400, url)
    t.match(res.json(), { code: 'LS_ERR_WEBHOOK_URL_INVALID' }, url)
  }
  t.equal((await api(app, 'POST', '/v1/webhooks', { url: 'https://hooks.example.com/leadscore', events: ['lead.stage_changed'] })).statusCode, 201, 'a public URL is accepted')
})

t.test('with no active subscription a crossing is dispatched to nobody when recorded; a subscription made later gets later crossings', async (t) => {
  const { app, db } = await buildTestApp(t, ENV)
  const rx = await startReceiver(t)
  // a disabled subscription receives nothing, so it does not count
  const off = await subscribe(t, app, { url: rx.url, events: ['lead.stage_changed'] })
  t.equal((await api(app, 'PATCH', `/v1/webhooks/${off.id}`, { enabled: false })).statusCode, 200, 'disabled')
  const leadA = (await post(t, app, [ev('n1', 'nia@example.com', 'demo_request', 1)])).results[0].leadId as string
  await waitForScoring(db)
  const [n] = await db.c.notifications.find({ leadId: leadA }).toArray()
  t.match(n, { _id: `${leadA}.stage.MQL.1`, status: 'dispatched', deliveries: 0 }, 'recorded as sent to nobody')
  t.equal(n?.dispatchedAt?.getTime(), n?.createdAt.getTime(), 'dispatched as it was recorded, without a fan-out pass')
  t.equal(await db.c.webhookQueue.countDocuments({}), 0, 'nothing queued')

  const on = await subscribe(t, app, { url: rx.url, events: ['lead.stage_changed'] })
  const leadB = (await post(t, app, [ev('n2', 'noa@example.com', 'demo_request', 2)])).results[0].leadId as string
  await waitForScoring(db)
  await waitForDeliveries(db)
  t.same(rx.requests.map((r) => r.id), [`${leadB}.stage.MQL.1`], 'the crossing after the subscription was sent, the one before was not')
  t.match(await db.c.notifications.findOne({ _id: `${leadB}.stage.MQL.1` }), { status: 'dispatched', deliveries: 1 })
  t.match((await api(app, 'GET', `/v1/webhooks/${on.id}/deliveries`)).json(), { items: [{ notificationId: `${leadB}.stage.MQL.1`, state: 'delivered' }] })
})
