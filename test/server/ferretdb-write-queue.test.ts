// The install step's write-queue patch (scripts/ferretdb.mjs): FerretDB's write transactions on a database file wait
// their turn in the process, not asleep in SQLite's busy handler, and encode their documents before taking the lock.
// Checked on the patched source, and on the built binary under a storm of concurrent writes: every write lands and
// no goroutine is ever found in the busy handler.
import t from 'tap'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
// @ts-expect-error: a plain ES module script without types
import { patchWriteQueue } from '../../scripts/ferretdb.mjs'
import { debugFerretDb, ferretDbBin, ferretDbModuleDir, scratchSource } from '../helpers/ferretdb-source.js'

t.setTimeout(120_000)

const dir = ferretDbModuleDir()
const DB_GO = join('internal', 'util', 'fsql', 'db.go')
const COLLECTION_GO = join('internal', 'backends', 'sqlite', 'collection.go')

/** The text of a Go function, from its signature to the next top-level declaration. */
function body (text: string, signature: string): string {
  const from = text.indexOf(signature)
  if (from < 0) return ''
  const next = text.indexOf('\n}\n', from)
  return text.slice(from, next < 0 ? undefined : next)
}

t.test('the patched source queues write transactions and encodes before the lock', { skip: dir === null ? 'Go or the FerretDB module is not available' : false }, async (t) => {
  if (dir === null) return
  const src = scratchSource(t, dir, [DB_GO, COLLECTION_GO])
  patchWriteQueue(src)
  const db = readFileSync(join(src, DB_GO), 'utf8')
  const tx = body(db, 'func (db *DB) InTransaction(')
  t.match(db, /\n\twrites chan struct\{\}\n/, 'the database wrapper has a write token')
  t.match(db, /writes: +make\(chan struct\{\}, 1\),/, 'one token per database')
  t.ok(tx.indexOf('case db.writes <- struct{}{}:') > 0 && tx.indexOf('case db.writes <- struct{}{}:') < tx.indexOf('db.sqlDB.BeginTx('), 'a transaction takes the token before it begins')
  t.match(tx, /case <-ctx\.Done\(\):\n\t\treturn lazyerrors\.Error\(ctx\.Err\(\)\)/, 'a command whose context ends stops waiting')
  t.match(tx, /defer func\(\) \{ <-db\.writes \}\(\)/, 'and gives the token back however it ends')
  const coll = readFileSync(join(src, COLLECTION_GO), 'utf8')
  const insert = body(coll, 'func (c *collection) InsertAll(')
  const update = body(coll, 'func (c *collection) UpdateAll(')
  const del = body(coll, 'func (c *collection) DeleteAll(')
  t.ok(insert.indexOf('prepareInsertStatement(') > 0 && insert.indexOf('prepareInsertStatement(') < insert.indexOf('db.InTransaction('), 'an insert encodes its documents before its transaction')
  t.ok(update.indexOf('sjson.Marshal(doc)') > 0 && update.indexOf('sjson.Marshal(doc)') < update.indexOf('db.InTransaction('), 'an update too')
  t.match(del, /db\.InTransaction\(ctx/, 'a delete is one of the queued transactions')
  t.notMatch(del, /db\.ExecContext\(/, 'and no longer writes outside them')
  // a source that changed shape is refused
  writeFileSync(join(src, DB_GO), readFileSync(join(dir, DB_GO), 'utf8').replace('\tvar sqlTx *sql.Tx\n\n', '\tvar sqlTx *sql.Tx\n'))
  t.throws(() => patchWriteQueue(src), /FerretDB source changed/)
})

t.test('concurrent writers all land and none waits in SQLite\'s busy handler', { skip: existsSync(ferretDbBin) ? false : `no FerretDB binary at ${ferretDbBin}` }, async (t) => {
  const { client, debug } = await debugFerretDb(t, { maxPoolSize: 20 })
  const col = client.db('writes').collection<{ _id: string; w: number; i: number; n: number; pad: string }>('docs')
  // the collection exists before the storm: creating it is a write outside the queue
  await col.insertOne({ _id: 'seed', w: -1, i: -1, n: 0, pad: '' })
  const WRITERS = 12
  const ROUNDS = 15
  const pad = 'x'.repeat(1500)
  let sleepers = 0
  let samples = 0
  let storming = true
  const sampler = (async () => {
    while (storming) {
      const dump = await (await fetch(`${debug}/goroutine?debug=2`)).text()
      samples++
      sleepers += dump.split('\n\n').filter((g) => /BusyHandler|BusyCallback/.test(g)).length
      await new Promise((r) => setTimeout(r, 25))
    }
  })()
  // each writer: an insert of 20 documents, an update of them by `_id` list, and a delete of half of them, per round
  let updated = 0
  let deleted = 0
  await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
    for (let i = 0; i < ROUNDS; i++) {
      const ids = Array.from({ length: 20 }, (_, k) => `w${w}-r${i}-${k}`)
      await col.insertMany(ids.map((_id) => ({ _id, w, i, n: 0, pad })))
      const u = await col.updateMany({ _id: { $in: ids } }, { $inc: { n: 1 } })
      updated += u.modifiedCount
      const d = await col.deleteMany({ _id: { $in: ids.slice(0, 10) } })
      deleted += d.deletedCount
    }
  }))
  storming = false
  await sampler
  t.same({ updated, deleted }, { updated: WRITERS * ROUNDS * 20, deleted: WRITERS * ROUNDS * 10 }, 'every update and delete matched its documents')
  t.equal(await col.countDocuments({ n: 1 }), WRITERS * ROUNDS * 10, 'every write landed')
  t.ok(samples >= 5, `the goroutines were sampled during the storm (${samples} times)`)
  t.equal(sleepers, 0, 'no write waited asleep in SQLite\'s busy handler')
})
