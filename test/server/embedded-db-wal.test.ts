// The embedded FerretDB checkpoints its SQLite WAL every 10,000 pages rather than SQLite's 1,000 (see
// WAL_CHECKPOINT_PAGES in server/src/infra/ferretdb.ts): after about 16 MB written in many small commits the WAL holds
// them all (at the default it would have been copied into the database file, and the WAL reused, every 4 MB), and
// everything written reads back after a restart, which replays that WAL.
import t from 'tap'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MongoClient, type Collection } from 'mongodb'
import { startFerretDb } from '../../server/src/infra/ferretdb.js'

t.setTimeout(120_000)

t.test('the WAL grows past SQLite\'s default checkpoint, and its writes survive a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-wal-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  let db = await startFerretDb({ dataDir: dir })
  let client = new MongoClient(db.uri)
  const col = (): Collection<{ _id: string; b: number; pad: string }> => client.db('wal').collection('docs')
  const pad = 'x'.repeat(4000)
  // 400 commits of 10 documents of 4 KB each
  for (let b = 0; b < 400; b++) await col().insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: `d${b}-${i}`, b, pad })))
  const wal = readdirSync(dir).find((f) => f.endsWith('.sqlite-wal'))
  t.ok(wal !== undefined, 'the database has a WAL')
  const size = statSync(join(dir, wal!)).size
  t.ok(size > 12 * 1024 * 1024, `the WAL holds the writes since the database was made (${(size / 1024 / 1024).toFixed(1)} MB; SQLite's default checkpoint keeps it near 4 MB)`)

  await client.close()
  await db.stop()
  db = await startFerretDb({ dataDir: dir })
  client = new MongoClient(db.uri)
  t.teardown(async () => { await client.close(); await db.stop() })
  t.equal(await col().countDocuments({}), 4000, 'every document reads back after a restart')
  t.equal((await col().findOne({ _id: 'd399-9' }))?.pad, pad, 'the last one whole')
})
