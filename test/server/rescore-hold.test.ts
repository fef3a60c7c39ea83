// The hold a bulk re-score puts on stage and grade notifications is seen by every process through a lock document
// per job, read by `_id` range (not by a query of running jobs, which read the whole jobs collection on FerretDB).
import t from 'tap'
import { MongoClient, type CommandStartedEvent, type Document } from 'mongodb'
import { freshDbName, testMongoUri } from '../helpers/harness.js'
import { openDatabase } from '../../server/src/infra/db.js'
import { createOutbox, HOLD_STALE_MS } from '../../server/src/domain/webhooks/outbox.js'

t.test('a re-score hold is shared with other processes, renewed, ended, and ignored once stale', async (t) => {
  const uri = await testMongoUri(t)
  const dbName = freshDbName()
  const db = await openDatabase(uri, dbName)
  // the other process reads the locks through a client that records its commands
  const watched = await MongoClient.connect(uri, { monitorCommands: true })
  const filters: Document[] = []
  watched.on('commandStarted', (e: CommandStartedEvent) => { if (e.commandName === 'find' && e.command.find === 'locks') filters.push(e.command.filter as Document) })
  t.teardown(async () => { await watched.close(); await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const quiet = { warn: () => undefined, debug: () => undefined }
  let clock = Date.parse('2026-03-01T10:00:00Z')
  const now = (): Date => new Date(clock)
  const deps = { c: db.c, now, log: quiet, withLeadLock: async <T>(_id: string, fn: () => Promise<T>): Promise<T> => await fn() }
  const runner = createOutbox(deps) // the process running the job
  const other = createOutbox({ ...deps, c: { ...db.c, locks: watched.db(dbName).collection('locks') } as typeof db.c }) // any other process

  t.equal(await other.activeHold(true), null, 'no hold before a job runs')
  // a job document marked running (say, one left by a process that died) is not a hold by itself
  await db.c.jobs.insertOne({ _id: 'job_old', kind: 'rescore-all', state: 'running', total: 1, done: 0, error: null, createdAt: now(), updatedAt: now(), finishedAt: null } as never)
  t.equal(await other.activeHold(true), null, 'a job document alone holds nothing')

  runner.setLocalHold('job_1')
  t.equal(await runner.heldBy(), 'job_1', 'the running process holds at once')
  t.equal(await other.activeHold(true), null, 'others do not see the hold before it is shared')
  await runner.shareHold('job_1')
  t.equal(await other.activeHold(true), 'job_1', 'another process sees the shared hold')
  t.equal(await other.heldBy(), 'job_1', 'and scoring there tags its crossings with it')

  clock += HOLD_STALE_MS - 1000
  await runner.shareHold('job_1')
  clock += HOLD_STALE_MS - 1000
  t.equal(await other.activeHold(true), 'job_1', 'a renewal keeps the hold past its first lifetime')
  clock += 2000
  t.equal(await other.activeHold(true), null, 'a hold not renewed for HOLD_STALE_MS is stale (its job is taken for dead)')

  await runner.shareHold('job_1')
  await runner.endHold('job_1')
  runner.setLocalHold(null)
  t.equal(await other.activeHold(true), null, 'once the job ends, nobody holds')
  t.equal(await db.c.locks.countDocuments({ _id: { $regex: /^rescore-hold:/ } } as never), 0, 'the hold document is gone')

  // scoring asks for the hold up to four times a second, while the locks collection holds a document per lead being
  // scored: FerretDB must answer the query from the `_id` index (with any other condition it reads every lock)
  t.ok(filters.length > 0, 'the hold was read from the locks collection')
  const plan = await db.c.locks.find(filters[0]!).explain() as { ferretdbVersion?: string; serverInfo?: { ferretdbVersion?: string }; filterPushdown?: boolean }
  if (plan.serverInfo?.ferretdbVersion !== undefined) t.equal(plan.filterPushdown, true, `FerretDB answers the hold query from the index (${JSON.stringify(filters[0])})`)
})
