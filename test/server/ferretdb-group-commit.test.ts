// The install step's group-commit patch (scripts/ferretdb.mjs, scripts/ferretdb/group_commit.go): the write
// transactions queued behind the one running commit with it, in one SQLite transaction, each in a savepoint. Checked
// on the patched source (Leadscore's Go tests: queued writes share one transaction; a write that fails, panics or is
// given up changes nothing, of its own or of the others') and on the built binary: under concurrent writers, every
// refused duplicate is refused to its own client only and every other write lands.
import t from 'tap'
import { execFile } from 'node:child_process'
import { cpSync, existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { MongoBulkWriteError, MongoServerError } from 'mongodb'
// @ts-expect-error: a plain ES module script without types
import { PATCH_FILES, patchGroupCommit } from '../../scripts/ferretdb.mjs'
import { debugFerretDb, ferretDbBin, ferretDbModuleDir, patchedModule, scratchSource } from '../helpers/ferretdb-source.js'

t.setTimeout(600_000)

const dir = ferretDbModuleDir()
const noGo = dir === null ? 'Go or the FerretDB module is not available' : false
const FSQL = join('internal', 'util', 'fsql')

t.test('on the patched source, queued writes commit together and a failed one changes nothing', { skip: noGo }, async (t) => {
  if (dir === null) return
  const src = patchedModule(t, dir) // every patch, as the install step applies them
  t.match(readFileSync(join(src, FSQL, 'db.go'), 'utf8'), /\nfunc \(db \*DB\) InTransaction\(ctx context\.Context, f func\(\*Tx\) error\) error \{\n\treturn db\.inGroup\(ctx, f\)\n\}\n/,
    'every write transaction goes through the group')
  cpSync(join(PATCH_FILES as string, 'group_commit_test.go'), join(src, FSQL, 'group_commit_test.go'))
  const env = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' }
  const res = await promisify(execFile)('go', ['test', '-count=3', '-v', `./${FSQL}/`], { cwd: src, env, maxBuffer: 64 << 20 })
  for (const test of ['TestGroupCommitsQueuedTogether', 'TestGroupCommitGivenUp', 'TestGroupCommitAlone']) {
    t.equal(res.stdout.split(`\n--- PASS: ${test} `).length - 1, 3, `${test} passed three runs`)
  }
  t.notMatch(res.stdout, /\n--- FAIL/, 'and none failed')
})

t.test('the patch refuses a source that changed shape', { skip: noGo }, async (t) => {
  if (dir === null) return
  const src = scratchSource(t, dir, [join(FSQL, 'db.go'), join(FSQL, 'tx.go')])
  t.throws(() => patchGroupCommit(src), /FerretDB source changed/, 'db.go without the write-queue patch is refused')
})

t.test('concurrent writers on the built FerretDB: each refused duplicate is its own client\'s, every other write lands', { skip: existsSync(ferretDbBin) ? false : `no FerretDB binary at ${ferretDbBin}` }, async (t) => {
  const { client } = await debugFerretDb(t, { maxPoolSize: 32 })
  const col = client.db('group').collection<{ _id: string; w: number; pad: string }>('docs')
  await col.insertOne({ _id: 'taken', w: -1, pad: '' })
  const WRITERS = 16
  const pad = 'x'.repeat(500)
  const results = await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
    let ok = 0
    let refused = 0
    let wrong = 0
    for (let i = 0; i < 40; i++) {
      // every fifth write is a duplicate of a document that exists: only that write may fail
      const _id = i % 5 === 4 ? 'taken' : `w${w}-${i}`
      try {
        await col.insertOne({ _id, w, pad })
        if (_id === 'taken') wrong++
        else ok++
      } catch (err) {
        if (err instanceof MongoServerError && err.code === 11000 && _id === 'taken') refused++
        else wrong++
      }
    }
    // an unordered batch with duplicates inside: the rest of it lands
    const batch = Array.from({ length: 20 }, (_, k) => ({ _id: k % 7 === 3 ? 'taken' : `w${w}-b${k}`, w, pad }))
    const batchInserted = await col.insertMany(batch, { ordered: false }).then((r) => r.insertedCount, (err: unknown) => {
      if (err instanceof MongoBulkWriteError) return err.result.insertedCount
      throw err
    })
    return { ok, refused, wrong, batchInserted }
  }))
  t.same(results.map((r) => r.wrong), Array(WRITERS).fill(0), 'no write failed that should have landed, and no duplicate was accepted')
  t.same(results.map((r) => [r.ok, r.refused]), Array(WRITERS).fill([32, 8]), 'each client: 32 inserts landed and its 8 duplicates were refused')
  t.same(results.map((r) => r.batchInserted), Array(WRITERS).fill(17), 'each unordered batch stored its 17 new documents around its 3 duplicates')
  t.equal(await col.countDocuments({}), 1 + WRITERS * (32 + 17), 'the collection holds exactly the writes that were acknowledged')
})
