// Agenda's claim across processes: two processes with 20 workers each run the same set of short jobs, each job's
// effect an insert under the job's own key. A job claimed by two workers would run twice and its second insert
// would hit the key; every job must run, and none twice.
import t from 'tap'
import { Agenda } from 'agenda'
import { MongoBackend } from '@agendajs/mongo-backend'
import { testMongoUri, freshDbName } from '../helpers/harness.js'
import { spawnTs } from '../helpers/processes.js'
import { openDatabase } from '../../server/src/infra/db.js'
import type { JobClaimerReport } from '../helpers/lock-claimer.js'

const JOBS = Number(process.env.JOBS_TWO_PROCESSES_JOBS ?? 200)

t.test('two processes × 20 workers run every job exactly once', { timeout: 300_000 }, async (t) => {
  const uri = await testMongoUri(t)
  const dbName = freshDbName()
  const db = await openDatabase(uri, dbName)
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  // the jobs exist before either process starts, so both processes' workers race for every one of them
  const agenda = new Agenda({ backend: new MongoBackend({ mongo: db.db, collection: 'agendaJobs', ensureIndex: true }) })
  await agenda.ready
  for (let i = 0; i < JOBS; i++) await agenda.now('probe', { key: `probe-${i}` })
  t.equal(await db.db.collection('agendaJobs').countDocuments({ name: 'probe' }), JOBS, 'the jobs are queued')
  const startAt = Date.now() + 6000
  const children = ['p1', 'p2'].map((id) => spawnTs('test/helpers/lock-claimer.ts', {
    JOB_CLAIMER_URI: uri, JOB_CLAIMER_DB: dbName, JOB_CLAIMER_ID: id, JOB_CLAIMER_JOBS: String(JOBS),
    JOB_CLAIMER_WORKERS: '20', JOB_CLAIMER_START_AT: String(startAt), JOB_CLAIMER_RUN_MS: '150000',
  }, { keepStdout: true }))
  t.teardown(() => { for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL') })
  const codes = await Promise.all(children.map(async (c) => await c.exited))
  t.same(codes, [0, 0], `both processes finished: ${children.map((c) => c.output()).join(' | ')}`)
  const reports = children.map((c) => JSON.parse(c.stdout().trim().split('\n').pop()!) as JobClaimerReport)
  const ran = reports.reduce((n, r) => n + r.ran, 0)
  t.comment(`runs ${reports.map((r) => `${r.id}=${r.ran}`).join(' ')} for ${JOBS} jobs in ${((Date.now() - startAt) / 1000).toFixed(1)} s`)
  for (const r of reports) t.ok(r.ran > 0, `${r.id} ran jobs`)
  const effects = db.db.collection<{ _id: string; by: string }>('jobEffects')
  t.equal(await effects.countDocuments({}), JOBS, 'every job had its effect')
  t.same(reports.flatMap((r) => r.duplicates), [], 'no job had its effect twice')
  t.equal(ran, JOBS, 'the handlers ran once per job')
  t.same(reports.flatMap((r) => r.errors), [], 'no job failed')
})
