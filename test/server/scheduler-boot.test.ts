// The job scheduler prepares its collection (indexes) as soon as it is built. A boot that fails right after building
// it closes the database under that work: the failure must be reported, not left as an unhandled rejection (which
// ends a Node process, and fails this file under tap).
import t from 'tap'
import { openDatabase } from '../../server/src/infra/db.js'
import { Scheduler } from '../../server/src/infra/agenda.js'
import { testMongoUri, freshDbName } from '../helpers/harness.js'

t.test('a database closed while the scheduler prepares it is reported, not thrown at the process', async (t) => {
  const uri = await testMongoUri(t)
  const db = await openDatabase(uri, freshDbName())
  const warnings: string[] = []
  const log = { info: () => undefined, error: () => undefined, warn: (_o: object, m: string) => { warnings.push(m) } }
  const unhandled: unknown[] = []
  const onUnhandled = (err: unknown): void => { unhandled.push(err) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  // closed at once: the index commands of the scheduler's first connect meet a closed client
  const scheduler = new Scheduler({ db: db.db, processEveryMs: 1000, concurrency: 1, lockLifetimeMs: 10_000, log })
  await db.close()
  await new Promise((r) => setTimeout(r, 1000))
  t.same(unhandled, [], 'no unhandled rejection')
  t.same(warnings, ['job scheduler could not prepare its collection'], 'the failed preparation is logged once')
  t.ok(scheduler.agenda, 'the scheduler was built')
})
