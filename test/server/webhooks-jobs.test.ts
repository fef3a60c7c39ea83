// Outbound webhook deliveries run as the Agenda job `webhook-deliveries`: one recurring schedule in `agendaJobs`
// sends retries when they are due, a one-off run queued when the outbox queues work sends first attempts at once
// (many kicks queue one run), every request leaves inside a run of the job, two servers on one database send each
// attempt once, and stopping the workers aborts a send that hangs.
import t, { type Test } from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Job } from 'agenda'
import { buildApp } from '../../server/src/app.js'
import { openDatabase, type Database } from '../../server/src/infra/db.js'
import { buildTestApp, postEvents, testConfig, waitForScoring, AUTH } from '../helpers/harness.js'

const NAME = 'webhook-deliveries'
const ENV = { LEADSCORE_WEBHOOKS_ALLOW_PRIVATE: '1', LEADSCORE_WEBHOOKS_TIMEOUT_MS: '5000', LEADSCORE_LOCK_LIFETIME_MS: '30000' }

const sleep = async (ms: number): Promise<void> => { await new Promise((r) => setTimeout(r, ms)) }

async function waitFor (what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

interface Received { id: string; at: number }

/** A real receiver on 127.0.0.1 answering each request with `respond` (a status, or null to never answer). */
async function startReceiver (t: Test, respond: (r: Received, all: Received[]) => number | null) {
  const requests: Received[] = []
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const r = { id: String(req.headers['webhook-id']), at: Date.now() }
      const status = respond(r, requests)
      requests.push(r)
      if (status !== null) res.writeHead(status).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { server.closeAllConnections(); await new Promise((r) => server.close(r)) })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, requests }
}

interface Run { id: string; type: string; start: number; end: number | null }

/** Every run of the delivery job in this app, from Agenda's own start and complete events. */
function recordRuns (app: FastifyInstance): Run[] {
  const runs: Run[] = []
  const { agenda } = app.core.scheduler
  agenda.on(`start:${NAME}`, (job: Job) => { runs.push({ id: String(job.attrs._id), type: String(job.attrs.type), start: Date.now(), end: null }) })
  agenda.on(`complete:${NAME}`, (job: Job) => {
    const run = runs.findLast((r) => r.id === String(job.attrs._id) && r.end === null)
    if (run !== undefined) run.end = Date.now()
  })
  return runs
}

const within = (runs: Run[], at: number): Run | undefined => runs.find((r) => r.start <= at && (r.end === null || at <= r.end))

async function subscribe (app: FastifyInstance, url: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/v1/webhooks', headers: AUTH, payload: { url, events: ['lead.stage_changed'] } })
  if (res.statusCode !== 201) throw new Error(`subscribe answered ${res.statusCode}`)
  return res.json().id as string
}

const purchase = (id: string, email: string) => ({ externalId: id, lead: { email }, type: 'purchase', occurredAt: new Date(Date.UTC(2025, 2, 3)).toISOString() })

t.test('retries are sent by runs of the recurring job; a first attempt by a run queued at once', async (t) => {
  const { app, db } = await buildTestApp(t, { ...ENV, LEADSCORE_WEBHOOKS_RETRY_SCHEDULE: '2s,2s' })
  const agendaJobs = db.db.collection('agendaJobs')
  await waitFor('the recurring schedule', async () => await agendaJobs.countDocuments({ name: NAME, type: 'single' }) === 1)
  const schedule = (await agendaJobs.findOne({ name: NAME, type: 'single' }))!
  t.equal(schedule.repeatInterval, 30_000, 'one schedule, at most 30 s apart (LEADSCORE_WEBHOOKS_POLL_MS)')
  const runs = recordRuns(app)

  // fails twice per webhook-id, then accepts
  const rx = await startReceiver(t, (r, all) => all.filter((x) => x.id === r.id).length < 2 ? 500 : 200)
  const webhookId = await subscribe(app, rx.url)
  t.equal((await postEvents(app, { events: [purchase('p1', 'pat@example.com')] })).statusCode, 202, 'a purchase: the lead enters SQL')
  await waitForScoring(db)
  await waitFor('the third attempt', async () => (await db.c.webhookDeliveries.findOne({ webhookId }))?.state === 'delivered')
  await waitFor('the run that sent it to end', async () => runs.every((r) => r.end !== null))

  t.equal(rx.requests.length, 3, 'three requests')
  const d = (await db.c.webhookDeliveries.findOne({ webhookId }))!
  t.match(d, { attemptCount: 3, attempts: [{ n: 1, statusCode: 500 }, { n: 2, statusCode: 500 }, { n: 3, statusCode: 200 }] })
  const sentIn = rx.requests.map((r) => within(runs, r.at))
  t.ok(sentIn.every((r) => r !== undefined), 'every request went out inside a run of the job')
  t.ok(sentIn.slice(1).every((r) => r?.id === String(schedule._id)), 'both retries went out in runs of the recurring schedule')

  const n = (await db.c.notifications.findOne({ _id: d.notificationId }))!
  const firstMs = d.attempts[0]!.at.getTime() - n.createdAt.getTime()
  const gaps = d.attempts.slice(1).map((a, i) => a.at.getTime() - d.attempts[i]!.at.getTime())
  t.comment(`first attempt ${firstMs} ms after the notification; retries after ${gaps.join(', ')} ms (due after 1600-2400 ms)`)
  t.ok(firstMs < 1_000, `the first attempt did not wait for the schedule (${firstMs} ms)`)
  t.ok(gaps.every((g) => g >= 1_600 && g < 2_400 + 3_000), `each retry waited its delay, and not much longer (${gaps.join(', ')} ms)`)
  t.equal(await agendaJobs.countDocuments({ name: NAME, type: 'normal' }), 0, 'the one-off runs are removed once done')
  t.equal(await agendaJobs.countDocuments({ name: NAME, type: 'single' }), 1, 'still one schedule')

  // nothing queued: the schedule waits its period (30 s) instead of running every second
  const idleFrom = Date.now()
  await sleep(3_000)
  const idleRuns = runs.filter((r) => r.start >= idleFrom)
  t.equal(idleRuns.length, 0, `no run while nothing is queued (${idleRuns.length} in 3 s)`)
  const next = (await agendaJobs.findOne({ name: NAME, type: 'single' }))!.nextRunAt as Date
  t.ok(next.getTime() - Date.now() > 20_000, `the next run is a period away (${next.getTime() - Date.now()} ms)`)
})

t.test('many kicks queue at most one run', async (t) => {
  const { app, db } = await buildTestApp(t, ENV)
  await waitFor('the recurring schedule', async () => await db.db.collection('agendaJobs').countDocuments({ name: NAME, type: 'single' }) === 1)
  const runs = recordRuns(app)
  for (let i = 0; i < 50; i++) app.core.dispatcher.kick()
  await sleep(1_500)
  const agendaJobs = db.db.collection('agendaJobs')
  await waitFor('the queued runs to be done', async () => await agendaJobs.countDocuments({ name: NAME, type: 'normal' }) === 0, 10_000)
  const oneOff = runs.filter((r) => r.type === 'normal')
  t.ok(oneOff.length <= 1, `50 kicks started ${oneOff.length} one-off run(s)`)
})

t.test('two servers on one database: each attempt is sent once, retries by either', { timeout: 120_000 }, async (t) => {
  const a = await buildTestApp(t, { ...ENV, LEADSCORE_WEBHOOKS_RETRY_SCHEDULE: '300ms,300ms' })
  const config = testConfig(a.uri, a.dbName, { ...ENV, LEADSCORE_WEBHOOKS_RETRY_SCHEDULE: '300ms,300ms' })
  const dbB: Database = await openDatabase(a.uri, a.dbName)
  const b = await buildApp(config, { logger: false, database: dbB })
  await b.ready()
  t.teardown(async () => { await b.close(); await dbB.close() })
  const runsA = recordRuns(a.app)
  const runsB = recordRuns(b)

  const rx = await startReceiver(t, (r, all) => all.filter((x) => x.id === r.id).length < 2 ? 503 : 204)
  await subscribe(a.app, rx.url)
  const leads = 12
  await Promise.all(Array.from({ length: leads }, async (_, i) => {
    const app = i % 2 === 0 ? a.app : b
    const res = await postEvents(app, { events: [purchase(`q${i}`, `lead${i}@example.com`)] })
    if (res.statusCode !== 202) throw new Error(`ingest answered ${res.statusCode}`)
  }))
  await waitForScoring(a.db)
  await waitFor('every delivery', async () => await a.db.c.webhookDeliveries.countDocuments({ state: 'delivered' }) === leads, 60_000)

  t.equal(rx.requests.length, leads * 3, 'three requests per notification')
  const perId = new Map<string, number>()
  for (const r of rx.requests) perId.set(r.id, (perId.get(r.id) ?? 0) + 1)
  t.same([...perId.values()].filter((c) => c !== 3), [], 'no attempt sent twice')
  t.same(await a.db.c.webhookDeliveries.distinct('attemptCount'), [3], 'each delivery logged three attempts')
  t.ok(runsA.length > 0 && runsB.length > 0, `both servers ran the job (${runsA.length} and ${runsB.length} runs)`)
  t.ok(rx.requests.every((r) => within(runsA, r.at) !== undefined || within(runsB, r.at) !== undefined), 'every request went out inside a run of the job')
})

t.test('stopping the workers aborts a send that hangs, well before its timeout', async (t) => {
  const { app, db } = await buildTestApp(t, { ...ENV, LEADSCORE_WEBHOOKS_TIMEOUT_MS: '20000' })
  const rx = await startReceiver(t, () => null)
  const webhookId = await subscribe(app, rx.url)
  t.equal((await postEvents(app, { events: [purchase('h1', 'hang@example.com')] })).statusCode, 202, 'a purchase: the lead enters SQL')
  await waitForScoring(db)
  await waitFor('the request', async () => rx.requests.length === 1)
  const started = Date.now()
  await app.core.stopWorkers(300)
  const took = Date.now() - started
  t.ok(took < 5_000, `stopped in ${took} ms (the send would wait 20 s)`)
  t.match(await db.c.webhookDeliveries.findOne({ webhookId }), { state: 'pending', attemptCount: 1, attempts: [{ n: 1, statusCode: null, error: String }] },
    'the cut-off attempt is logged, to be retried')
})
