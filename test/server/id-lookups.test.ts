// Conditional writes by `_id` (`{ _id, owner }`, `{ _id, rev, lastSeq }`) behave as the server defines them on both
// servers. On FerretDB the collections check the extra equalities after a lookup by `_id` (its only indexed query);
// these cases pin that check to the server's own matching: equal and unequal values, null matching a missing field,
// dates, dotted paths, and arrays (left to the server). The last case pins the embedded build's second patch: one
// update command of hundreds of single-document updates must complete and leave the server answering; the last,
// its third: lists of `_id`s are looked up through the index.
import t from 'tap'
import { Double, Long, ObjectId } from 'mongodb'
import { openDatabase, meetsEqualities } from '../../server/src/infra/db.js'
import { testMongoUri, freshDbName } from '../helpers/harness.js'

t.test('conditional updateOne and deleteOne by _id', async (t) => {
  const db = await openDatabase(await testMongoUri(t), freshDbName())
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const col = db.c.locks as unknown as import('mongodb').Collection<{ _id: string, [k: string]: any }> // eslint-disable-line @typescript-eslint/no-explicit-any
  const at = new Date('2024-05-01T10:00:00Z')
  await col.insertOne({ _id: 'a', owner: 'w1', n: 3, at, nested: { token: 'x' }, tags: ['p', 'q'], gone: null })

  const miss = await col.updateOne({ _id: 'a', owner: 'w2' }, { $set: { n: 99 } })
  t.equal(miss.matchedCount, 0, 'another owner matches nothing')
  t.equal((await col.findOne({ _id: 'a' }))?.n, 3, 'and changes nothing')

  const hit = await col.updateOne({ _id: 'a', owner: 'w1', n: 3, at: new Date(at), 'nested.token': 'x' }, { $inc: { n: 1 } })
  t.equal(hit.matchedCount, 1, 'all equal: matched')
  t.equal(hit.modifiedCount, 1)
  t.equal((await col.findOne({ _id: 'a' }))?.n, 4)

  t.equal((await col.updateOne({ _id: 'a', at: new Date(at.getTime() + 1) }, { $set: { n: 0 } })).matchedCount, 0, 'another date')
  t.equal((await col.updateOne({ _id: 'a', 'nested.token': 'y' }, { $set: { n: 0 } })).matchedCount, 0, 'another nested value')
  t.equal((await col.updateOne({ _id: 'a', missing: null, gone: null }, { $set: { flag: true } })).matchedCount, 1, 'null matches a missing field and a null one')
  t.equal((await col.updateOne({ _id: 'a', n: null }, { $set: { n: 0 } })).matchedCount, 0, 'null does not match a value')
  t.equal((await col.updateOne({ _id: 'a', tags: 'q' }, { $set: { arr: 1 } })).matchedCount, 1, 'an array holding the value matches (server rules)')
  t.equal((await col.updateOne({ _id: 'a', tags: 'z' }, { $set: { arr: 2 } })).matchedCount, 0, 'an array without it does not')
  t.equal((await col.updateOne({ _id: 'nope', owner: 'w1' }, { $set: { n: 0 } })).matchedCount, 0, 'no such document')
  t.equal((await col.updateOne({ _id: 'a', n: { $gt: 3 } }, { $set: { op: true } })).matchedCount, 1, 'operators go to the server')

  t.equal((await col.deleteOne({ _id: 'a', owner: 'w2' })).deletedCount, 0, 'delete of another owner: nothing')
  t.ok(await col.findOne({ _id: 'a' }), 'still there')
  t.equal((await col.deleteOne({ _id: 'a', owner: 'w1' })).deletedCount, 1, 'delete of the owner')
  t.equal(await col.findOne({ _id: 'a' }), null)
})

t.test('the equality check', async (t) => {
  const doc = { a: 1, b: { c: 'x' }, d: null, e: [1, 2], f: new Date(5) }
  t.equal(meetsEqualities(doc, [[['a'], 1], [['b', 'c'], 'x']]), true)
  t.equal(meetsEqualities(doc, [[['a'], 2]]), false)
  t.equal(meetsEqualities(doc, [[['a'], '1']]), false, 'types are not coerced')
  t.equal(meetsEqualities(doc, [[['d'], null], [['zz'], null], [['b', 'zz'], null]]), true)
  t.equal(meetsEqualities(doc, [[['e'], 1]]), undefined, 'arrays are left to the server')
  t.equal(meetsEqualities(doc, [[['f'], new Date(5)]]), true)
  t.equal(meetsEqualities(doc, [[['f'], new Date(6)]]), false)
  t.equal(meetsEqualities(doc, [[['a', 'x'], null]]), true, 'a path through a scalar is missing')
})

t.test('one update command of 400 single-document updates completes', async (t) => {
  const db = await openDatabase(await testMongoUri(t), freshDbName())
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const col = db.db.collection<{ _id: string, n: number }>('bulk')
  const ids = Array.from({ length: 400 }, (_, i) => `d${i}`)
  await col.insertMany(ids.map((id) => ({ _id: id, n: 0 })))
  let timer: NodeJS.Timeout | undefined
  const stalled = new Promise<'stalled'>((resolve) => { timer = setTimeout(() => resolve('stalled'), 60_000) })
  const res = await Promise.race([col.bulkWrite(ids.map((id) => ({ updateOne: { filter: { _id: id }, update: { $set: { n: 1 } } } })), { ordered: false }), stalled])
  clearTimeout(timer)
  t.not(res, 'stalled', 'the command answered within 60 s')
  if (res === 'stalled') return
  t.equal(res.matchedCount, 400, 'every update matched')
  t.equal(res.modifiedCount, 400, 'every update applied')
  t.equal(await col.countDocuments({ n: 1 }), 400, 'and the server still answers: all 400 changed')
})

t.test('_id $in lists are answered from the _id index, with the same documents as any other query', async (t) => {
  const db = await openDatabase(await testMongoUri(t), freshDbName())
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  t.ok(db.idIn, 'the database answers _id $in from its index (the embedded build is patched for it)')
  const col = db.db.collection<{ _id: string | number | ObjectId, n: number }>('idin')
  const oid = new ObjectId()
  await col.insertMany([...Array.from({ length: 3000 }, (_, i) => ({ _id: `k${i}`, n: i })), { _id: oid, n: -1 }, { _id: 7, n: -2 }])
  const ids = ['k5', 'k2999', 'nope', 'k5', oid]
  const found = await col.find({ _id: { $in: ids } }).toArray()
  t.same(found.map((d) => d.n).sort((a, b) => a - b), [-1, 5, 2999], 'strings and ObjectIDs found, an unknown id and a repeat ignored')
  if (db.ferret) {
    const plan = await col.find({ _id: { $in: ['k1', 'k2'] } }).explain() as { filterPushdown?: boolean, queryPlanner?: { Plan?: string[] } }
    t.equal(plan.filterPushdown, true, 'FerretDB pushes the list down to SQLite')
    t.match(plan.queryPlanner?.Plan?.join(' '), /USING INDEX/, 'and SQLite searches the _id index instead of scanning')
  }
  if (db.ferret) {
    // the fourth patch: `_id` with other conditions is looked up in the index too, and the rest still filters
    t.ok(db.idAnd, 'the database answers _id with other conditions from its index')
    const plan = await col.find({ _id: 'k1', n: 1 }).explain() as { filterPushdown?: boolean, queryPlanner?: { Plan?: string[] } }
    t.equal(plan.filterPushdown, true, 'FerretDB pushes _id down when other conditions come with it')
    t.match(plan.queryPlanner?.Plan?.join(' '), /USING INDEX/, 'and SQLite searches the _id index')
    const listPlan = await col.find({ _id: { $in: ['k1', 'k2'] }, n: 2 }).explain() as { queryPlanner?: { Plan?: string[] } }
    t.match(listPlan.queryPlanner?.Plan?.join(' '), /USING INDEX/, 'a list with another condition too')
  }
  t.same((await col.find({ _id: 'k1', n: 2 }).toArray()), [], 'an _id whose other condition fails matches nothing')
  t.equal((await col.updateOne({ _id: 'k3', n: 4 }, { $set: { n: 40 } })).matchedCount, 0, 'a conditional update whose condition fails changes nothing')
  t.equal((await col.updateOne({ _id: 'k3', n: 3 }, { $set: { n: 30 } })).matchedCount, 1, 'and one whose condition holds applies')
  t.equal((await col.deleteMany({ _id: { $in: ['k3', 'k7'] }, n: 7 })).deletedCount, 1, 'a list delete with a condition removes only the matching one')
  t.same((await col.find({ _id: { $in: ['k3', 'k7'] } }).toArray()).map((d) => d.n), [30], 'what is left')
  // lists the index is not used for still give the right answer (filtered like every query)
  t.same((await col.find({ _id: { $in: [7, 'k9'] } }).toArray()).map((d) => d.n).sort((a, b) => a - b), [-2, 9], 'a number in the list')
  t.same((await col.find({ _id: { $in: ['k1', 'k2'] }, n: 2 }).toArray()).map((d) => d.n), [2], 'with another condition')
  t.same(await col.find({ _id: { $in: [] } }).toArray(), [], 'an empty list')
  const big = Array.from({ length: 1500 }, (_, i) => `k${i * 2}`)
  t.equal((await col.find({ _id: { $in: big } }).toArray()).length, 1500, 'a list longer than the pushed-down limit')
})

t.test('_id $in lists of integers find every number equal to them, whatever its type', async (t) => {
  const db = await openDatabase(await testMongoUri(t), freshDbName())
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const col = db.db.collection<{ _id: any, n: string }>('idnum') // eslint-disable-line @typescript-eslint/no-explicit-any
  await col.insertMany([
    { _id: 5, n: 'int32 5' }, { _id: Long.fromNumber(6), n: 'int64 6' }, { _id: new Double(7), n: 'double 7' }, { _id: 7.5, n: 'double 7.5' },
    { _id: '5', n: 'string 5' }, { _id: new Double(-0), n: 'double -0' }, { _id: 2_000_000_000, n: 'int32 2e9' }, { _id: -12, n: 'int32 -12' },
    ...Array.from({ length: 500 }, (_, i) => ({ _id: 1000 + i, n: `seq ${1000 + i}` })),
  ])
  const names = async (ids: any[]): Promise<string[]> => (await col.find({ _id: { $in: ids } } as never).toArray()).map((d) => d.n as string).sort() // eslint-disable-line @typescript-eslint/no-explicit-any
  t.same(await names([5, 6, 7, -12, 2_000_000_000, 99]), ['double 7', 'int32 -12', 'int32 2e9', 'int32 5', 'int64 6'], 'int32, int64 and an integral double, negative and large')
  t.same(await names([0]), ['double -0'], 'zero finds -0.0')
  t.same(await names([5, '5']), ['int32 5', 'string 5'], 'a number and a string of it are different ids')
  t.same(await names([7.5]), ['double 7.5'], 'a fraction')
  t.equal((await col.find({ _id: { $in: Array.from({ length: 300 }, (_, i) => 1100 + i) } } as never).toArray()).length, 300, 'a window of seqs, as the live feed reads them')
  if (db.ferret) {
    const plan = await col.find({ _id: { $in: [1100, 1101, 1102] } } as never).explain() as { filterPushdown?: boolean, queryPlanner?: { Plan?: string[] } }
    t.equal(plan.filterPushdown, true, 'FerretDB pushes a list of integers down to SQLite')
    t.match(plan.queryPlanner?.Plan?.join(' '), /USING INDEX/, 'and SQLite searches the _id index')
  }
})
