// The install step's resource-tracking patch (scripts/ferretdb.mjs): the built FerretDB records no pprof profile of
// the iterators and cursors it opens (a release build tracked each with a stack capture and a finalizer), and the
// patch refuses a source that no longer looks as expected instead of building unpatched.
import t from 'tap'
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
// @ts-expect-error: a plain ES module script without types
import { patchResourceTracking } from '../../scripts/ferretdb.mjs'
import { debugFerretDb, ferretDbBin, ferretDbModuleDir, scratchSource } from '../helpers/ferretdb-source.js'

t.setTimeout(120_000)

const dir = ferretDbModuleDir()

t.test('Track and Untrack return at once in a release build of the patched source', { skip: dir === null ? 'Go or the FerretDB module is not available' : false }, async (t) => {
  if (dir === null) return
  const rel = join('internal', 'util', 'resource', 'resource.go')
  const src = scratchSource(t, dir, [rel])
  const original = readFileSync(join(dir, rel), 'utf8')
  patchResourceTracking(src)
  const patched = readFileSync(join(src, rel), 'utf8')
  for (const fn of ['Track', 'Untrack']) {
    const body = patched.split(`func ${fn}(obj any, token *Token) {\n`)[1] ?? ''
    t.match(body, /^\tcheckArgs\(obj, token\)\n\n\t\/\/ [^\n]+\n\tif !debugbuild\.Enabled \{\n\t\treturn\n\t\}\n/, `${fn} returns before tracking unless built for debugging`)
  }
  t.equal(patched.split('if !debugbuild.Enabled {').length, 3, 'the two functions, and nothing else, are changed')
  writeFileSync(join(src, rel), original.replace('func Untrack(obj any, token *Token) {\n\tcheckArgs(obj, token)\n', 'func Untrack(obj any, token *Token) {\n'))
  t.throws(() => patchResourceTracking(src), /FerretDB source changed/)
})

t.test('the built FerretDB keeps no profile of the documents and cursors it reads', { skip: existsSync(ferretDbBin) ? false : `no FerretDB binary at ${ferretDbBin}` }, async (t) => {
  const { client, debug } = await debugFerretDb(t)
  const col = client.db('untracked').collection<{ _id: string; n: number }>('docs')
  await col.insertMany(Array.from({ length: 300 }, (_, n) => ({ _id: `d${String(n).padStart(3, '0')}`, n })))
  // a find by `_id` list, a full read and an update: document iterators, a cursor with more batches, a transaction
  t.equal((await col.find({ _id: { $in: ['d001', 'd002', 'd299'] } }).toArray()).length, 3)
  t.equal((await col.find({}).batchSize(50).toArray()).length, 300)
  t.equal((await col.updateMany({ n: { $lt: 10 } }, { $set: { seen: true } })).modifiedCount, 10)
  const index = await (await fetch(`${debug}/`)).text()
  t.match(index, /goroutine/, 'the debug handler lists the runtime profiles')
  t.same(index.match(/FerretDB\/[\w.]+/g) ?? [], [], 'and none of FerretDB\'s tracked resources')
})
