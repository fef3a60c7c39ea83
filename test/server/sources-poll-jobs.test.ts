// Source polls are Agenda jobs (jobs/source-poll.ts): each enabled polled instance has one recurring `source-poll`
// job document in `agendaJobs`, following the instance as it is created, changed, disabled, stopped by a permanent
// failure and deleted, and made at worker start for an instance stored while no worker ran. Two apps over one
// database never poll one instance at the same time.
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { buildApp } from '../../server/src/app.js'
import { openDatabase, type Database } from '../../server/src/infra/db.js'
import { defineSourcePlugin, PermanentSourceError, TransientSourceError } from '../../server/src/contracts/index.js'
import { buildTestApp, testMongoUri, freshDbName, testConfig, AUTH } from '../helpers/harness.js'
import { createSource, waitForStats } from '../helpers/sources.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const JSON_HEADERS = { ...AUTH, 'content-type': 'application/json' }

// an in-memory remote the test controls; each fetch is counted per instance, with how many ran at once
const remote = { fail: false as false | 'permanent' | 'transient', delayMs: 0, fetches: new Map<string, number>(), fetchedAt: new Map<string, number[]>(), active: new Map<string, number>(), maxActive: new Map<string, number>() }
const ticker = defineSourcePlugin({
  kind: 'source',
  manifest: { id: 'test_ticker', version: '1.0.0', contract: 1, config: Type.Object({ every: Type.String({ default: '1h' }) }, { additionalProperties: false }) },
  poll: {
    every: (c) => c.every,
    async fetch (cursor, ctx) {
      const id = ctx.instanceId
      remote.fetches.set(id, (remote.fetches.get(id) ?? 0) + 1)
      remote.fetchedAt.set(id, [...remote.fetchedAt.get(id) ?? [], Date.now()])
      const now = (remote.active.get(id) ?? 0) + 1
      remote.active.set(id, now)
      remote.maxActive.set(id, Math.max(remote.maxActive.get(id) ?? 0, now))
      try {
        if (remote.delayMs > 0) await new Promise((r) => setTimeout(r, remote.delayMs))
        if (remote.fail === 'permanent') throw new PermanentSourceError('the ticker was closed', { code: 'TEST_TICKER_ERR_CLOSED' })
        if (remote.fail === 'transient') throw new TransientSourceError('the ticker is busy', { retryAfterMs: 2500 })
        const n = cursor === null ? 0 : Number(cursor)
        return { events: [{ externalId: `${id}-${n}`, lead: { email: `tick${n}@example.com` }, type: 'page_view' }], cursor: String(n + 1) }
      } finally {
        remote.active.set(id, (remote.active.get(id) ?? 1) - 1)
      }
    },
  },
})

/** The `source-poll` job documents of an instance. */
async function schedules (db: Database, id: string): Promise<Json[]> {
  return await db.db.collection('agendaJobs').find({ name: 'source-poll', 'data.instanceId': id }).toArray()
}

/** Waits until the instance's schedules satisfy `ok` (the schedule follows a change just after the API answers). */
async function waitForSchedules (db: Database, id: string, ok: (docs: Json[]) => boolean, timeoutMs = 10_000): Promise<Json[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const docs = await schedules(db, id)
    if (ok(docs)) return docs
    if (Date.now() > deadline) throw new Error(`the schedule did not follow: ${JSON.stringify(docs)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const patch = async (app: Awaited<ReturnType<typeof buildTestApp>>['app'], id: string, body: Json): Promise<void> => {
  const r = await app.inject({ method: 'PATCH', url: `/v1/sources/${id}`, headers: JSON_HEADERS, payload: JSON.stringify(body) })
  if (r.statusCode !== 200) throw new Error(`PATCH failed: ${r.statusCode} ${r.body}`)
}

t.test('each polled instance has one recurring Agenda job that follows it', async (t) => {
  remote.fail = false
  remote.delayMs = 0
  const { app, db } = await buildTestApp(t, {}, { plugins: [ticker] })
  const src = await createSource(app, { type: 'test_ticker', name: 'ticker', config: { every: '1h' } })
  const id = src.id as string

  const [made] = await waitForSchedules(db, id, (d) => d.length === 1)
  t.match(made, { name: 'source-poll', data: { instanceId: id }, repeatInterval: 3_600_000 }, 'created: a schedule every poll period')
  // its first run is due at once, and moves its next run a period on
  const first = await waitForStats(app, id, (s) => s.lastPoll?.status === 'ok')
  t.equal(remote.fetches.get(id), 1)
  const [ran] = await waitForSchedules(db, id, (d) => d[0]?.lastRunAt instanceof Date && d[0]?.lockedAt === null)
  t.ok(Math.abs(new Date(ran!.nextRunAt as Date).getTime() - new Date(first.lastPoll.nextAt as string).getTime()) < 1000, 'the next run is the one the stats show')
  t.ok(new Date(ran!.nextRunAt as Date).getTime() > Date.now() + 3_500_000, 'a period away')

  await patch(app, id, { config: { every: '2h' } })
  const changed = await waitForSchedules(db, id, (d) => d.length === 1 && d[0]!.repeatInterval === 7_200_000)
  t.ok(new Date(changed[0]!.nextRunAt as Date).getTime() <= new Date(ran!.lastRunAt as Date).getTime() + 7_200_000, 'a longer period: the next run is at most one period after the last')
  await patch(app, id, { config: { every: '10m' } })
  const shorter = await waitForSchedules(db, id, (d) => d.length === 1 && d[0]!.repeatInterval === 600_000)
  t.ok(new Date(shorter[0]!.nextRunAt as Date).getTime() <= new Date(ran!.lastRunAt as Date).getTime() + 600_000 + 1000, 'a shorter period takes effect from the last run')
  await patch(app, id, { name: 'renamed' })
  await new Promise((r) => setTimeout(r, 300))
  t.equal((await schedules(db, id)).length, 1, 'a change that keeps the period keeps the one schedule')

  await patch(app, id, { enabled: false })
  await waitForSchedules(db, id, (d) => d.length === 0)
  t.pass('disabled: no schedule')
  await patch(app, id, { enabled: true })
  await waitForSchedules(db, id, (d) => d.length === 1 && d[0]!.repeatInterval === 600_000)
  t.pass('enabled again: the schedule is back')

  // a permanent failure removes the schedule until the config changes
  remote.fail = 'permanent'
  const failed = await app.inject({ method: 'POST', url: `/v1/sources/${id}/poll`, headers: AUTH })
  t.match(failed.json(), { status: 'failed', error: { code: 'TEST_TICKER_ERR_CLOSED' } })
  await waitForSchedules(db, id, (d) => d.length === 0)
  t.pass('stopped by a permanent failure: no schedule')
  remote.fail = false
  await patch(app, id, { config: { every: '30m' } })
  await waitForSchedules(db, id, (d) => d.length === 1 && d[0]!.repeatInterval === 1_800_000)
  t.pass('a config change puts it back on its schedule')

  const del = await app.inject({ method: 'DELETE', url: `/v1/sources/${id}`, headers: AUTH })
  t.equal(del.statusCode, 204)
  await waitForSchedules(db, id, (d) => d.length === 0)
  t.pass('deleted: no schedule')

  const hook = await createSource(app, { type: 'webhook', name: 'pushed', config: { mapping: { fixedType: 'page_view', email: 'who' } } })
  await new Promise((r) => setTimeout(r, 300))
  t.equal((await schedules(db, hook.id as string)).length, 0, 'a pushed source has no schedule')
})

t.test('a transient failure moves the schedule\'s next run to the end of its backoff', async (t) => {
  remote.fail = 'transient'
  remote.delayMs = 0
  const { app, db } = await buildTestApp(t, {}, { plugins: [ticker] })
  // a period of 1 s, and a remote that asks for 2.5 s between attempts
  const src = await createSource(app, { type: 'test_ticker', name: 'busy ticker', config: { every: '1s' } })
  const id = src.id as string
  const s1 = await waitForStats(app, id, (s) => s.lastPoll?.status === 'retrying')
  t.match(s1.lastPoll, { error: { code: 'LS_ERR_SOURCE_UNAVAILABLE', message: 'the ticker is busy' } })
  const [doc] = await waitForSchedules(db, id, (d) => d[0]?.lastRunAt instanceof Date && d[0]?.lockedAt === null)
  t.ok(Math.abs(new Date(doc!.nextRunAt as Date).getTime() - new Date(s1.lastPoll.nextAt as string).getTime()) < 1000, 'the next run is the retry time the stats show')
  t.equal(doc!.repeatInterval, 1000, 'the period itself is unchanged')
  // let a few attempts happen: each waits its backoff (2.5 s at least), not the 1 s period
  await new Promise((r) => setTimeout(r, 6000))
  const at = remote.fetchedAt.get(id)!
  t.ok(at.length >= 2, `retried (${at.length} attempts)`)
  const gaps = at.slice(1).map((x, i) => x - at[i]!)
  t.ok(gaps.every((g) => g >= 2400), `every retry waited its backoff (gaps ${gaps.join(', ')} ms)`)
  // it recovers on its own, and polls every period again
  remote.fail = false
  await waitForStats(app, id, (s) => s.lastPoll?.status === 'ok', 15_000)
  const n = remote.fetches.get(id)!
  await new Promise((r) => setTimeout(r, 4500))
  t.ok(remote.fetches.get(id)! >= n + 2, 'back to a poll every period')
})

t.test('a worker starting on the database schedules the instances stored while none ran', async (t) => {
  remote.fail = false
  remote.delayMs = 0
  const uri = await testMongoUri(t)
  const dbName = freshDbName()
  const db = await openDatabase(uri, dbName)
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const now = new Date()
  await db.c.pluginInstances.insertOne({
    _id: 'src_stored_offline', kind: 'source', type: 'test_ticker', name: 'stored', enabled: true, config: { every: '15m' },
    secrets: {}, rev: 1, createdBy: 'test', createdAt: now, updatedAt: now,
  } as never)
  await db.c.pluginInstances.insertOne({
    _id: 'src_stored_disabled', kind: 'source', type: 'test_ticker', name: 'off', enabled: false, config: {},
    secrets: {}, rev: 1, createdBy: 'test', createdAt: now, updatedAt: now,
  } as never)
  const app = await buildApp(testConfig(uri, dbName), { logger: false, database: db, plugins: [ticker] })
  t.teardown(async () => { await app.close() })
  await app.ready()
  const [doc] = await waitForSchedules(db, 'src_stored_offline', (d) => d.length === 1)
  t.match(doc, { repeatInterval: 900_000 })
  await waitForStats(app, 'src_stored_offline', (s) => s.lastPoll?.status === 'ok')
  t.pass('and it was polled')
  t.equal((await schedules(db, 'src_stored_disabled')).length, 0, 'a disabled one is not scheduled')
})

t.test('two apps over one database never poll one instance at the same time', async (t) => {
  remote.fail = false
  // each fetch takes a while, and the period is the shortest a plugin may ask: both apps' runs and poll-now
  // requests overlap in time
  remote.delayMs = 300
  const uri = await testMongoUri(t)
  const dbName = freshDbName()
  const config = testConfig(uri, dbName)
  const dbs = [await openDatabase(uri, dbName), await openDatabase(uri, dbName)]
  t.teardown(async () => { await dbs[0]!.db.dropDatabase().catch(() => undefined); for (const d of dbs) await d.close() })
  const apps = [await buildApp(config, { logger: false, database: dbs[0]!, plugins: [ticker] }), await buildApp(config, { logger: false, database: dbs[1]!, plugins: [ticker] })]
  t.teardown(async () => { for (const a of apps) await a.close() })
  for (const a of apps) await a.ready()
  const src = await createSource(apps[0]!, { type: 'test_ticker', name: 'shared', config: { every: '1s' } })
  const id = src.id as string
  const started = Date.now()
  const asked: Json[] = []
  while (Date.now() - started < 6000) {
    // both apps ask for a poll now, at once, while the schedule runs too
    const rs = await Promise.all(apps.map(async (a) => await a.inject({ method: 'POST', url: `/v1/sources/${id}/poll`, headers: AUTH })))
    for (const r of rs) asked.push(r.json<Json>())
  }
  const fetches = remote.fetches.get(id) ?? 0
  t.ok(fetches >= 5, `the instance was polled (${fetches} fetches in 6 s)`)
  t.equal(remote.maxActive.get(id), 1, 'never two fetches of one instance at once')
  t.ok(asked.every((r) => r.status === 'ok' || r.status === 'skipped'), 'every poll-now answered')
  t.ok(asked.some((r) => r.status === 'ok'), 'poll-now runs polled')
  t.equal((await schedules(dbs[0]!, id)).length, 1, 'one schedule for both apps')
  t.equal(await dbs[0]!.c.sourceState.countDocuments({ instanceId: id, key: /^~now:/ }), 0, 'an outcome left for the other app\'s request was read and removed')
  const events = await dbs[0]!.c.events.countDocuments({ sourceId: id })
  const cursor = Number((await dbs[0]!.c.sourceState.findOne({ _id: `${id}/~cursor` }))?.value)
  t.equal(events, fetches, 'each fetch stored a new event: no two runs read the same cursor')
  t.equal(cursor, events, 'the cursor is past every stored event')
})
