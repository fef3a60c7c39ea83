// Updates that change many documents (`updateMany`, how scoring makes a batch's ledger entries visible) give the
// counts and documents they always did, on every server. On the embedded FerretDB this pins the install step's
// update-many patch (scripts/ferretdb.mjs), which writes the documents an update changed 1,000 to a transaction
// instead of one each: more than a transaction's worth, documents that already hold the value, a filter on other
// fields, an update a document refuses, and find-and-modify, which keeps writing the one document it returns.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Collection } from 'mongodb'
import type { Test } from 'tap'
// @ts-expect-error: a plain ES module script without types
import { patchUpdateMany } from '../../scripts/ferretdb.mjs'
import { openDatabase } from '../../server/src/infra/db.js'
import { testMongoUri, freshDbName } from '../helpers/harness.js'
import { ferretDbModuleDir, scratchSource } from '../helpers/ferretdb-source.js'

interface Doc { _id: string; n: number; kind: string; done: boolean; note?: string | number }

async function setup (t: Test, n: number): Promise<Collection<Doc>> {
  const db = await openDatabase(await testMongoUri(t), freshDbName())
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const col = db.db.collection<Doc>('many')
  const docs = Array.from({ length: n }, (_, i) => ({ _id: `e${String(i).padStart(5, '0')}`, n: i, kind: i % 3 === 0 ? 'x' : 'y', done: i % 10 === 0 }))
  for (let i = 0; i < docs.length; i += 1000) await col.insertMany(docs.slice(i, i + 1000))
  return col
}

t.test('an update of 2,500 documents by _id list: counts and documents', async (t) => {
  const col = await setup(t, 2600)
  const ids = Array.from({ length: 2500 }, (_, i) => `e${String(i).padStart(5, '0')}`)
  const res = await col.updateMany({ _id: { $in: ids } }, { $set: { done: true } })
  t.equal(res.matchedCount, 2500, 'every listed document matched')
  t.equal(res.modifiedCount, 2250, 'those already done were not changed')
  t.equal(await col.countDocuments({ done: true }), 2510, 'every listed document is done, and the unlisted ones that were')
  t.equal(await col.countDocuments({ done: false }), 90, 'the unlisted ones that were not are untouched')
  const sample = await col.findOne({ _id: 'e01234' })
  t.same(sample, { _id: 'e01234', n: 1234, kind: 'y', done: true }, 'a document keeps its other fields')
})

t.test('an update by a query on other fields, with operators, over several transactions', async (t) => {
  const col = await setup(t, 3100)
  const res = await col.updateMany({ kind: 'y', n: { $gte: 100 } }, { $inc: { n: 1_000_000 }, $set: { note: 'moved' } })
  const want = Array.from({ length: 3100 }, (_, i) => i).filter((i) => i % 3 !== 0 && i >= 100).length
  t.equal(res.matchedCount, want)
  t.equal(res.modifiedCount, want)
  const moved = await col.find({ note: 'moved' }).toArray()
  t.equal(moved.length, want, 'every matched document was written')
  t.ok(moved.every((d) => d.kind === 'y' && d.n >= 1_000_100), 'with its own increment')
  t.equal(await col.countDocuments({ n: { $lt: 1_000_000 }, note: { $exists: false } }), 3100 - want, 'the others are untouched')
})

t.test('an update a document refuses fails, and leaves no document half changed', async (t) => {
  const col = await setup(t, 1500)
  await col.updateOne({ _id: 'e01200' }, { $set: { note: 'text' } })
  await t.rejects(col.updateMany({}, { $inc: { note: 1 } as never, $set: { kind: 'z' } }), 'an $inc of a string is refused')
  t.equal((await col.findOne({ _id: 'e01200' }))?.note, 'text', 'the refusing document is unchanged')
  const docs = await col.find({ _id: { $ne: 'e01200' } }).toArray()
  const whole = docs.every((d) => (d.kind === 'z' && d.note === 1) || (d.kind !== 'z' && d.note === undefined))
  t.ok(whole, 'every other document is either wholly updated or untouched')
})

t.test('find-and-modify returns the document it wrote, and upserts still insert', async (t) => {
  const col = await setup(t, 10)
  const r = await col.findOneAndUpdate({ _id: 'e00003' }, { $set: { note: 'fm' } }, { returnDocument: 'after' })
  t.same(r, { _id: 'e00003', n: 3, kind: 'x', done: false, note: 'fm' })
  t.same(await col.findOne({ _id: 'e00003' }), r, 'and wrote it')
  const up = await col.updateMany({ _id: 'new-1' }, { $set: { n: -1, kind: 'u', done: false } }, { upsert: true })
  t.equal(up.upsertedCount, 1)
  t.same(await col.findOne({ _id: 'new-1' }), { _id: 'new-1', n: -1, kind: 'u', done: false })
})

const dir = ferretDbModuleDir()
t.test('the patched source writes an update\'s changed documents together', { skip: dir === null ? 'Go or the FerretDB module is not available' : false }, async (t) => {
  if (dir === null) return
  const rel = join('internal', 'handler', 'common', 'update.go')
  const src = scratchSource(t, dir, [rel])
  patchUpdateMany(src)
  const text = readFileSync(join(src, rel), 'utf8')
  const fn = text.slice(text.indexOf('func UpdateDocument('), text.indexOf('\n}\n', text.indexOf('func UpdateDocument(')))
  t.match(fn, /changed = append\(changed, doc\)\n\t\t\tif len\(changed\) >= updateWriteBatch \{/, 'a changed document waits for a batch')
  t.match(fn, /if !upsert \{\n\t\t\t\tif err = flush\(\); err != nil \{/, 'and the rest are written when the documents end')
  t.equal(fn.split('UpdateAll(ctx, &backends.UpdateAllParams{Docs: []*types.Document{doc}})').length, 2, 'one document is written alone only by find-and-modify')
  t.match(fn, /\} else if modified && !isFindAndModify \{/)
  t.match(text, /const updateWriteBatch = 1000\n/)
})
