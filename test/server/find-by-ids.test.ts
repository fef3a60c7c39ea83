// `findByIds` reads an `_id` list of a collection `openDatabase` made as one plain find command (less client CPU than
// the driver's cursor); it must find what a cursor finds, with the same types, and fall back to the cursor when the
// first batch cannot hold every match (MongoDB's 16 MB reply limit).
import t from 'tap'
import { Binary, Long, type Collection, type Document } from 'mongodb'

type Doc = { _id: string } & Document
import { openDatabase, findByIds, findInOneBatch } from '../../server/src/infra/db.js'
import { testMongoUri, freshDbName } from '../helpers/harness.js'

t.test('an _id list read as a command finds what a cursor finds, values and types alike', async (t) => {
  const db = await openDatabase(await testMongoUri(t), freshDbName())
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const col = db.c.locks as unknown as Collection<Doc>
  const at = new Date('2026-03-01T10:00:00Z')
  await col.insertMany(Array.from({ length: 30 }, (_, i) => ({
    _id: `k${i}`, n: i, big: Long.fromString('9007199254740993'), at, bin: new Binary(Buffer.from([i, 1, 2])), nested: { a: [i, 'x'] }, gone: null,
  })))
  const ids = ['k3', 'k0', 'missing', 'k29', 'k3', 'k17']
  const viaCursor = await col.find({ _id: { $in: ids } }).toArray()
  const read = await findByIds(col, ids)
  const byId = (docs: Document[]): Document[] => [...docs].sort((a, b) => String(a._id).localeCompare(String(b._id)))
  t.same(byId(read), byId(viaCursor), 'the same documents')
  t.equal(read.length, 4, 'each listed document once, none for a missing id')
  const k3 = read.find((d) => d._id === 'k3')!
  t.ok(k3.at instanceof Date && k3.bin instanceof Binary, 'dates stay dates and binaries binaries')
  t.same(k3.big, viaCursor.find((d) => d._id === 'k3')!.big, 'a 64-bit integer comes back as a cursor returns it')
  t.same(byId(await findByIds(col, ['k5', 'k6'], { n: 1 })), [{ _id: 'k5', n: 5 }, { _id: 'k6', n: 6 }], 'a projection is applied')
  t.same(await findByIds(col, []), [], 'an empty list reads nothing')
  // a collection not made by openDatabase goes through the driver's cursor, with the same result
  t.same(byId(await findByIds(db.db.collection<Doc>('locks'), ids)), byId(viaCursor), 'and so does a collection from elsewhere')
})

t.test('matches past a first batch are read through a cursor', { timeout: 120_000 }, async (t) => {
  const db = await openDatabase(await testMongoUri(t), freshDbName())
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const col = db.c.locks as unknown as Collection<Doc>
  // 24 documents of 1 MB: one reply cannot hold them all
  const blob = 'x'.repeat(1024 * 1024)
  for (let i = 0; i < 24; i++) await col.insertOne({ _id: `big${i}`, i, blob })
  const ids = Array.from({ length: 24 }, (_, i) => `big${i}`)
  // MongoDB ends a batch at 16 MB (the embedded FerretDB answers them all at once): a first batch that leaves the
  // cursor open is not taken as the whole answer
  t.equal(await findInOneBatch(db.db, 'locks', { _id: { $in: ids } }, 5, { i: 1 }), null, 'a first batch that leaves the cursor open is not the answer')
  t.same((await findInOneBatch<{ i: number }>(db.db, 'locks', { _id: { $in: ids } }, 25, { i: 1 }))?.length, 24, 'one that ends it is')
  const read = await findByIds<Doc, { _id: string; i: number }>(col, ids, { i: 1 })
  t.equal(read.length, 24, 'with a projection that keeps them small, every one at once')
  const whole = await findByIds<Doc, { _id: string; blob: string }>(col, ids)
  t.same(whole.map((d) => d._id).sort(), [...ids].sort(), 'without it, every one too, through the cursor')
  t.ok(whole.every((d) => d.blob.length === blob.length), 'whole')
})

t.test('a read concern the connection string sets goes with the command', async (t) => {
  const uri = await testMongoUri(t)
  const db = await openDatabase(`${uri}${uri.includes('?') ? '&' : '?'}readConcernLevel=majority`, freshDbName(), { monitorCommands: true })
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const sent: Document[] = []
  db.client.on('commandStarted', (e) => { if (e.commandName === 'find') sent.push(e.command) })
  const col = db.c.locks as unknown as Collection<Doc>
  await col.insertOne({ _id: 'r1', n: 1 })
  t.same(await findByIds(col, ['r1']), [{ _id: 'r1', n: 1 }], 'found')
  t.same(sent.map((c) => c.readConcern), [{ level: 'majority' }], 'the find carried it')
})
