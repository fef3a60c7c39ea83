// One update command of many single-document updates (how scoring commits its leads) gives the same counts and
// documents as the same updates made one at a time, on every server. On the embedded FerretDB this pins its sixth
// patch (update-batch), which reads such a command's documents in one query and writes them in one transaction:
// filters with extra conditions that match or not, missing documents, several operators, an update that changes
// nothing, and the shapes it must leave to the one-by-one path (a repeated `_id`, an upsert, a failing update).
import t from 'tap'
import type { Collection } from 'mongodb'
import type { Test } from 'tap'
import { openDatabase } from '../../server/src/infra/db.js'
import { testMongoUri, freshDbName } from '../helpers/harness.js'

interface Doc { _id: string; rev: number; owner: string; n?: number; tag?: string; gone?: string; at?: Date }

async function setup (t: Test): Promise<Collection<Doc>> {
  const db = await openDatabase(await testMongoUri(t), freshDbName())
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  return db.db.collection<Doc>('batch')
}

const seed = (n: number): Doc[] => Array.from({ length: n }, (_, i) => ({ _id: `d${String(i).padStart(4, '0')}`, rev: i % 3, owner: i % 2 === 0 ? 'a' : 'b', n: i, gone: 'x' }))

t.test('a command of compare-and-sets on distinct _ids: the counts and documents of one-by-one updates', async (t) => {
  const col = await setup(t)
  const docs = seed(600)
  await col.insertMany(docs)
  const at = new Date('2026-01-02T03:04:05Z')
  // each statement names its own document; about a third name a revision the document does not have, some name no
  // document at all, and one sets a value the document already has
  const ops = docs.map((d, i) => ({ updateOne: { filter: { _id: d._id, rev: i % 5 === 0 ? d.rev + 1 : d.rev, owner: d.owner }, update: { $set: { tag: `t${i}`, at }, $inc: { rev: 1, n: 10 }, $unset: { gone: '' } } } }))
  ops.push({ updateOne: { filter: { _id: 'missing-1', rev: 0, owner: 'a' }, update: { $set: { tag: 'no' }, $inc: { rev: 1, n: 1 }, $unset: { gone: '' } } as never } })
  const res = await col.bulkWrite(ops as never, { ordered: false })
  const expectMatched = docs.filter((_, i) => i % 5 !== 0).length
  t.equal(res.matchedCount, expectMatched, 'every statement whose whole filter holds matched')
  t.equal(res.modifiedCount, expectMatched, 'and changed its document')
  const after = new Map((await col.find({}).toArray()).map((d) => [d._id, d]))
  t.equal(after.size, 600, 'no document was added')
  let right = 0
  docs.forEach((d, i) => {
    const a = after.get(d._id)!
    const want = i % 5 === 0 ? d : { ...d, rev: d.rev + 1, n: d.n! + 10, tag: `t${i}`, at }
    if (i % 5 !== 0) delete (want as Partial<Doc>).gone
    if (JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(want).sort())) right++
    else t.fail(`document ${d._id}: ${JSON.stringify(a)} instead of ${JSON.stringify(want)}`)
  })
  t.equal(right, 600, 'each document is what its own statement makes of it')

  const same = await col.bulkWrite([
    { updateOne: { filter: { _id: 'd0001' }, update: { $set: { owner: 'b' } } } },
    { updateOne: { filter: { _id: 'd0003' }, update: { $set: { owner: 'z' } } } },
  ], { ordered: false })
  t.equal(same.matchedCount, 2, 'both matched')
  t.equal(same.modifiedCount, 1, 'setting the value a document has changes nothing')
})

t.test('shapes a batch cannot take still behave as updates one by one', async (t) => {
  const col = await setup(t)
  await col.insertMany(seed(4))
  // the same _id twice: the second statement sees what the first wrote
  const twice = await col.bulkWrite([
    { updateOne: { filter: { _id: 'd0000', rev: 0 }, update: { $inc: { rev: 1 } } } },
    { updateOne: { filter: { _id: 'd0000', rev: 1 }, update: { $inc: { rev: 1 } } } },
  ], { ordered: true })
  t.equal(twice.matchedCount, 2, 'the second compare-and-set sees the first one')
  t.equal((await col.findOne({ _id: 'd0000' }))?.rev, 2)

  const up = await col.bulkWrite([
    { updateOne: { filter: { _id: 'd0001' }, update: { $set: { tag: 'u' } } } },
    { updateOne: { filter: { _id: 'new-1' }, update: { $set: { rev: 0, owner: 'c' } }, upsert: true } },
  ], { ordered: true })
  t.equal(up.upsertedCount, 1, 'an upsert among them inserts its document')
  t.same(await col.findOne({ _id: 'new-1' }), { _id: 'new-1', rev: 0, owner: 'c' })

  // an update the document refuses ($inc of a string) fails the command as it would alone
  await t.rejects(col.bulkWrite([
    { updateOne: { filter: { _id: 'd0002' }, update: { $inc: { owner: 1 } } } },
    { updateOne: { filter: { _id: 'd0003' }, update: { $inc: { n: 1 } } } },
  ] as never, { ordered: true }), 'a refused update is reported')
  t.equal((await col.findOne({ _id: 'd0002' }))?.owner, 'a', 'the refused update changed nothing')
})
