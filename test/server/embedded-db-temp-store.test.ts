// The embedded FerretDB keeps SQLite's statement and savepoint journals in memory (TEMP_STORE in
// server/src/infra/ferretdb.ts). SQLite puts the temporary files it would otherwise create in SQLITE_TMPDIR, so the
// test points that at a folder of its own and watches it while it makes the writes that journal the most: large
// inserts into a collection whose `_id` index is spread over many pages, one at a time and many at once (a group
// commit runs each in a savepoint). Without the setting, SQLite created and deleted thousands of files there.
import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, watch } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MongoClient } from 'mongodb'
import { startFerretDb } from '../../server/src/infra/ferretdb.js'
import { prng } from '../helpers/model.js'

t.setTimeout(120_000)

t.test('writes create no temporary files: the journals stay in memory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-temp-store-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const temp = join(dir, 'sqlite-tmp')
  mkdirSync(temp)
  // read by SQLite in the FerretDB process, which inherits this environment
  process.env.SQLITE_TMPDIR = temp
  const created: string[] = []
  const watcher = watch(temp, (_event, name) => { created.push(String(name)) })
  t.teardown(() => { watcher.close() })

  const db = await startFerretDb({ dataDir: join(dir, 'data') })
  const client = new MongoClient(db.uri)
  t.teardown(async () => { await client.close(); await db.stop() })
  const col = client.db('temp').collection<{ _id: string; pad: string }>('docs')
  const random = prng(7)
  const id = (): string => Math.floor(random() * 2 ** 48).toString(36).padStart(10, '0')

  // one at a time: each insert a single statement of 1,000 rows
  for (let b = 0; b < 20; b++) await col.insertMany(Array.from({ length: 1000 }, () => ({ _id: id(), pad: 'p'.repeat(200) })))
  // eight at a time: inserts that queue up commit together, each in its own savepoint
  for (let r = 0; r < 10; r++) {
    await Promise.all(Array.from({ length: 8 }, async () => await col.insertMany(Array.from({ length: 200 }, () => ({ _id: id(), pad: 'q'.repeat(1500) })))))
  }
  t.equal(await col.countDocuments({}), 36_000, 'every document was stored')
  // inotify events arrive after the writes: give them time
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.same(created, [], 'SQLite created no temporary file')
})
