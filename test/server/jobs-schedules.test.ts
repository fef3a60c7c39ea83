// GET /v1/jobs/schedules lists what runs in the background, from the job runner's own documents: the recurring
// sweeper, decay tick and webhook deliveries, this host's upload recovery, a poll schedule per pull source, and runs
// the API queued; each with its period, next and last run and how the last run went. Admins only.
import t from 'tap'
import { hostname } from 'node:os'
import { buildTestApp, AUTH } from '../helpers/harness.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const sleep = async (ms: number): Promise<void> => { await new Promise((r) => setTimeout(r, ms)) }

t.test('the recurring jobs are listed with their periods and last runs; a read key may not list them', async (t) => {
  const { app } = await buildTestApp(t, { LEADSCORE_SWEEP_EVERY_MS: '500', LEADSCORE_DECAY_TICK_MS: '120000', LEADSCORE_UPLOAD_LEASE_MS: '4000' }, { startWorkers: true })
  const list = async (): Promise<Json[]> => {
    const res = await app.inject({ url: '/v1/jobs/schedules', headers: AUTH })
    t.equal(res.statusCode, 200, 'listed')
    return res.json().items as Json[]
  }
  // the sweeper runs every half second: wait until a run of it has finished
  let items: Json[]
  const deadline = Date.now() + 30_000
  do {
    items = await list()
    if (items.find((j) => j.name === 'sweep')?.lastFinishedAt != null) break
    await sleep(200)
  } while (Date.now() < deadline)
  // a name may have a one-off run besides its schedule (upload recovery queues one at start): the schedule is the one with a period
  const byName = new Map(items.filter((j) => j.intervalMs !== null).map((j) => [j.name as string, j]))
  t.match(byName.get('sweep'), { state: /^(repeating|running)$/, intervalMs: 500, failCount: 0, failReason: null, data: null }, 'the sweeper: every LEADSCORE_SWEEP_EVERY_MS')
  t.ok(Date.parse(byName.get('sweep')!.lastFinishedAt as string) >= Date.parse(byName.get('sweep')!.lastRunAt as string) - 1, 'its last run has finished')
  t.match(byName.get('decay-tick'), { intervalMs: 120_000 }, 'the decay tick: every LEADSCORE_DECAY_TICK_MS')
  t.match(byName.get('webhook-deliveries'), { intervalMs: 30_000 }, 'webhook deliveries: at most 30 s apart (each run sets the next to when a retry is due)')
  t.match(byName.get(`upload-recovery:${hostname()}`), { intervalMs: 2000 }, 'this host\'s upload recovery: every half lease')
  t.ok(items.every((j) => typeof j.id === 'string' && (typeof j.nextRunAt === 'string' || j.nextRunAt === null)), 'times are ISO strings or null')
  t.same(items.map((j) => j.name), [...items.map((j) => j.name)].sort(), 'listed by name')

  const key = (await app.inject({ method: 'POST', url: '/v1/api-keys', headers: AUTH, payload: { name: 'reader', scopes: ['read'] } })).json() as Json
  const denied = await app.inject({ url: '/v1/jobs/schedules', headers: { authorization: `Bearer ${key.key as string}` } })
  t.equal(denied.statusCode, 403, 'a read key may not list them')
  t.match(denied.headers['content-type'], /^application\/problem\+json/)
})

t.test('a run queued through the API is listed with the job it runs for until a worker takes it', async (t) => {
  // no workers in this process, so nothing here runs the re-score: its run stays queued
  const { app } = await buildTestApp(t, {}, { startWorkers: false })
  const job = (await app.inject({ method: 'POST', url: '/v1/rescore', headers: AUTH })).json() as Json
  const res = await app.inject({ url: '/v1/jobs/schedules', headers: AUTH })
  t.equal(res.statusCode, 200)
  const runs = (res.json().items as Json[]).filter((j) => j.name === 'rescore-all')
  t.equal(runs.length, 1, 'one run of re-score all')
  t.match(runs[0], { data: { jobId: job.id }, state: 'queued', intervalMs: null, lastRunAt: null }, 'due now, naming its job, not run yet')
})
