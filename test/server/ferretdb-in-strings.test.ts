// The install step's in-strings patch (scripts/ferretdb.mjs, scripts/ferretdb/in_strings.go): FerretDB tests a
// string field against an `$in` list with `==` instead of its general comparison. Checked on the built binary
// against FerretDB's own general path: for random lists mixing strings, numbers, regular expressions, documents and
// arrays, `{ v: { $in: list } }` finds exactly the documents `{ $or: [{ v: x } for x in list] }` finds (equality and
// regular-expression matches, which the patch does not touch), on fields of every kind; `_id` lists (handed to SQLite
// by the `_id`-list patch, then filtered again) find exactly the listed documents; and a listed `{ $…: … }` is
// refused when a document reaches it before a match, and only then, as before.
import t from 'tap'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MongoServerError, ObjectId } from 'mongodb'
// @ts-expect-error: a plain ES module script without types
import { patchInStrings } from '../../scripts/ferretdb.mjs'
import { debugFerretDb, ferretDbBin, ferretDbModuleDir, scratchSource } from '../helpers/ferretdb-source.js'
import { prng } from '../helpers/model.js'

t.setTimeout(300_000)

const dir = ferretDbModuleDir()
const FILTER = join('internal', 'handler', 'common', 'filter.go')

t.test('the patch goes into $in\'s loop only, and refuses a source that changed shape', { skip: dir === null ? 'Go or the FerretDB module is not available' : false }, async (t) => {
  if (dir === null) return
  const src = scratchSource(t, dir, [FILTER])
  patchInStrings(src)
  const text = readFileSync(join(src, FILTER), 'utf8')
  t.equal(text.split('inStrings(s, arr, exprKey)').length - 1, 1, 'one call, under $in (not $nin)')
  t.ok(text.indexOf('inStrings(') > text.indexOf('"$in needs an array"') && text.indexOf('inStrings(') < text.indexOf('case "$nin":'), 'between $in\'s check of its list and $nin')
  const changed = scratchSource(t, dir, [FILTER])
  writeFileSync(join(changed, FILTER), readFileSync(join(changed, FILTER), 'utf8').replace('"$in needs an array"', '"$in wants an array"'))
  t.throws(() => patchInStrings(changed), /FerretDB source changed/, 'a filter.go whose $in case changed is refused')
})

const skip = existsSync(ferretDbBin) ? false : `no FerretDB binary at ${ferretDbBin}`

t.test('a string field matches an $in list as FerretDB\'s general comparison says', { skip }, async (t) => {
  const { client } = await debugFerretDb(t)
  const col = client.db('instrings').collection<{ _id: string; v?: unknown }>('docs')
  const words = ['alpha', 'beta', 'Beta', 'gamma', '', 'ünïcode', '12', 'alphabet']
  const values: unknown[] = [...words, 12, 12.5, null, true, new ObjectId('65a1b2c3d4e5f60718293a4b'), { a: 'alpha' }, ['alpha', 'beta'], ['x'], []]
  const docs = values.map((v, i) => ({ _id: `d${String(i).padStart(2, '0')}`, v }))
  docs.push({ _id: 'missing' } as never)
  await col.insertMany(docs)

  const rnd = prng(20261207)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const candidates: unknown[] = [...words, 'absent', 'delta', 12, '12', null, /^alp/, /ETA$/i, { a: 'alpha' }, ['alpha', 'beta'], ['x']]
  let lists = 0
  for (let i = 0; i < 150; i++) {
    const list = Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => pick(candidates))
    const viaIn = (await col.find({ v: { $in: list } } as never).project({ _id: 1 }).toArray()).map((d) => d._id).sort()
    const viaOr = (await col.find({ $or: list.map((x) => ({ v: x })) } as never).project({ _id: 1 }).toArray()).map((d) => d._id).sort()
    if (JSON.stringify(viaIn) !== JSON.stringify(viaOr)) {
      t.same(viaIn, viaOr, `the list ${JSON.stringify(list, (_, x: unknown) => x instanceof RegExp ? String(x) : x)}`)
      return
    }
    lists++
  }
  t.equal(lists, 150, 'every one of 150 random lists finds what the general comparison finds')

  // a plain string list: only the equal strings (no other type, and not the array that holds one of them)
  const found = (await col.find({ v: { $in: ['alpha', 'Beta', 'absent'] } }).project({ _id: 1, v: 1 }).toArray()).map((d) => d.v)
  t.same(found.sort(), ['Beta', 'alpha', ['alpha', 'beta']].sort(), 'strings match equal strings; an array field matches through its elements')
})

t.test('an _id list finds exactly the listed documents', { skip }, async (t) => {
  const { client } = await debugFerretDb(t)
  const col = client.db('instrings').collection<{ _id: string; n: number }>('ids')
  await col.insertMany(Array.from({ length: 2000 }, (_, n) => ({ _id: `ld_${n.toString(36).padStart(6, '0')}`, n })))
  const rnd = prng(7)
  const listed = Array.from({ length: 800 }, () => `ld_${Math.floor(rnd() * 2600).toString(36).padStart(6, '0')}`)
  const expected = [...new Set(listed)].filter((id) => parseInt(id.slice(3), 36) < 2000).sort()
  const got = (await col.find({ _id: { $in: listed } }).project({ _id: 1 }).toArray()).map((d) => d._id).sort()
  t.same(got, expected, `${expected.length} listed documents found, none else`)
  const gotWithOther = (await col.find({ _id: { $in: listed }, n: { $lt: 1000 } }).project({ _id: 1 }).toArray()).map((d) => d._id).sort()
  t.same(gotWithOther, expected.filter((id) => parseInt(id.slice(3), 36) < 1000), 'and with another condition, only those that meet it')
})

t.test('a listed { $…: … } is refused where a document reaches it before a match, as before', { skip }, async (t) => {
  const { client } = await debugFerretDb(t)
  const col = client.db('instrings').collection<{ _id: string; v: string }>('nested')
  await col.insertOne({ _id: 'a', v: 'alpha' })
  t.same((await col.find({ v: { $in: ['alpha', { $gt: 1 }] } } as never).toArray()).map((d) => d._id), ['a'], 'a match before it: no error')
  const err = await col.find({ v: { $in: ['beta', { $gt: 1 }] } } as never).toArray().catch((e: unknown) => e)
  t.ok(err instanceof MongoServerError && err.code === 2 && /cannot nest \$ under \$in/.test(err.message), 'no match before it: BadValue "cannot nest $ under $in"')
})
