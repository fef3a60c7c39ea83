// Child-process script for test/server/locks-two-processes.test.ts: CLAIMERS concurrent claimers loop acquire /
// hold briefly / release (sometimes abandon, letting a short lease expire) on a few lock names, then print every held
// interval as one JSON line. Does nothing unless LOCK_CLAIMER_URI is set (so a test runner globbing helpers is safe).
import { openDatabase } from '../../server/src/infra/db.js'
import { createLockService } from '../../server/src/domain/locks.js'

export interface HeldInterval { name: string; owner: string; start: number; end: number; abandoned: boolean }

const uri = process.env.LOCK_CLAIMER_URI
if (uri !== undefined) {
  const db = await openDatabase(uri, process.env.LOCK_CLAIMER_DB!)
  const locks = createLockService(db.c.locks, () => new Date())
  const id = process.env.LOCK_CLAIMER_ID ?? String(process.pid)
  const names = (process.env.LOCK_CLAIMER_NAMES ?? 'a,b,c').split(',')
  const claimers = Number(process.env.LOCK_CLAIMER_CLAIMERS ?? 20)
  const runMs = Number(process.env.LOCK_CLAIMER_RUN_MS ?? 4000)
  const startAt = Number(process.env.LOCK_CLAIMER_START_AT ?? Date.now())
  const LONG_TTL = 30_000
  const SHORT_TTL = 300
  const held: HeldInterval[] = []
  let attempts = 0
  const sleep = async (ms: number): Promise<void> => await new Promise((r) => setTimeout(r, ms))
  await sleep(Math.max(0, startAt - Date.now()))
  const deadline = Date.now() + runMs
  await Promise.all(Array.from({ length: claimers }, async (_, c) => {
    for (let n = 0; Date.now() < deadline; n++) {
      const name = names[Math.floor(Math.random() * names.length)]!
      const owner = `${id}:${c}:${n}`
      const abandon = Math.random() < 0.15
      const ttl = abandon ? SHORT_TTL : LONG_TTL
      const asked = Date.now() // <= the time acquire() stamps, so asked + ttl is never after the real expiry
      attempts++
      if (!await locks.acquire(name, owner, ttl)) { await sleep(Math.random() * 5); continue }
      const start = Date.now() // >= the moment the lock became ours
      await sleep(Math.random() * 8)
      if (abandon) {
        // never released: held until the lease runs out
        held.push({ name, owner, start, end: asked + ttl, abandoned: true })
        continue
      }
      const end = Math.min(Date.now(), asked + ttl) // <= the moment we give it up
      await locks.release(name, owner)
      held.push({ name, owner, start, end, abandoned: false })
    }
  }))
  process.stdout.write(JSON.stringify({ id, attempts, held }) + '\n')
  await db.close()
}

// Child-process mode for test/server/jobs-two-processes.test.ts (JOB_CLAIMER_URI set): one Scheduler (infra/agenda.ts)
// with JOB_CLAIMER_WORKERS workers runs the `probe` jobs the test created, each run inserting its effect under the
// job's own key, until every job's effect is stored; then prints what it ran as one JSON line.
export interface JobClaimerReport { id: string; ran: number; duplicates: string[]; errors: string[] }

const jobUri = process.env.JOB_CLAIMER_URI
if (jobUri !== undefined) {
  const { Scheduler } = await import('../../server/src/infra/agenda.js')
  const { isDuplicateKey } = await import('../../server/src/infra/db.js')
  const db = await openDatabase(jobUri, process.env.JOB_CLAIMER_DB!)
  const id = process.env.JOB_CLAIMER_ID ?? String(process.pid)
  const total = Number(process.env.JOB_CLAIMER_JOBS)
  const workers = Number(process.env.JOB_CLAIMER_WORKERS ?? 20)
  const effects = db.db.collection<{ _id: string; by: string; at: Date }>('jobEffects')
  const report: JobClaimerReport = { id, ran: 0, duplicates: [], errors: [] }
  const log = {
    info: () => undefined, warn: () => undefined,
    error: (o: object, m: string) => { if (report.errors.length < 20) report.errors.push(`${m}: ${String((o as { err?: Error }).err?.message ?? '')}`) },
  }
  const scheduler = new Scheduler({ db: db.db, processEveryMs: 50, concurrency: workers, lockLifetimeMs: 10_000, log })
  scheduler.define<{ key: string }>({
    name: 'probe',
    concurrency: workers,
    handler: async (data) => {
      report.ran++
      await new Promise((r) => setTimeout(r, Math.random() * 10))
      try {
        await effects.insertOne({ _id: data.key, by: id, at: new Date() })
      } catch (err) {
        if (!isDuplicateKey(err)) throw err
        report.duplicates.push(data.key)
      }
    },
  })
  const startAt = Number(process.env.JOB_CLAIMER_START_AT ?? Date.now())
  await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())))
  await scheduler.start()
  const deadline = Date.now() + Number(process.env.JOB_CLAIMER_RUN_MS ?? 120_000)
  while (Date.now() < deadline && await effects.countDocuments({}) < total) await new Promise((r) => setTimeout(r, 200))
  // the other process may still be finishing a run it claimed: give it a moment to show up as a duplicate
  await new Promise((r) => setTimeout(r, 1000))
  await scheduler.drain(10_000)
  process.stdout.write(JSON.stringify(report) + '\n')
  await db.close()
}
