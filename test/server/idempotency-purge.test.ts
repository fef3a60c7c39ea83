// Expired Idempotency-Key records are purged by `_id` ranges of expiry markers (a collection of their own) where a
// query on `expiresAt` reads the whole collection (FerretDB): the purge's cost follows what expired, not how many keys are stored. A key taken over
// after it expired keeps its new life; keys stored before markers existed are purged once by a query.
import t from 'tap'
import { MongoClient, type Collection, type CommandStartedEvent, type Document } from 'mongodb'
import { freshDbName, testMongoUri } from '../helpers/harness.js'
import { createIdempotencyService } from '../../server/src/domain/events/idempotency.js'
import type { IdempotencyDoc } from '../../server/src/domain/types.js'

async function setup (t: { teardown: (fn: () => unknown) => void }): Promise<{ col: Collection<IdempotencyDoc>; expiry: Collection<{ _id: string }>; filters: Document[]; clock: { t: number } }> {
  const uri = await testMongoUri(t)
  const client = await MongoClient.connect(uri, { monitorCommands: true })
  const db = client.db(freshDbName())
  t.teardown(async () => { await db.dropDatabase().catch(() => undefined); await client.close() })
  const filters: Document[] = []
  client.on('commandStarted', (e: CommandStartedEvent) => {
    const watched = ['idempotencyKeys', 'idempotencyExpiry']
    if (watched.includes(e.command.find as string)) filters.push(e.command.filter as Document)
    if (watched.includes(e.command.delete as string)) for (const d of e.command.deletes as Document[]) filters.push(d.q as Document)
  })
  return { col: db.collection<IdempotencyDoc>('idempotencyKeys'), expiry: db.collection<{ _id: string }>('idempotencyExpiry'), filters, clock: { t: Date.UTC(2026, 0, 1) } }
}

const TTL = 60_000

t.test('with markers: expired keys go by `_id` ranges, live and re-claimed ones stay', async (t) => {
  const { col, expiry, filters, clock } = await setup(t)
  const keys = createIdempotencyService(col, () => new Date(clock.t), TTL, { expiry })
  // a key stored before markers existed: the first purge removes it by a query, once
  await col.insertOne({ _id: 'ak_old:events:legacy', bodyHash: 'h', state: 'done', statusCode: 202, response: '{}', createdAt: new Date(clock.t - 2 * TTL), expiresAt: new Date(clock.t - TTL) })
  const claim = async (key: string): Promise<string> => {
    const c = await keys.claim('ak_1:events', key, 'h')
    if (c.kind !== 'claimed') throw new Error(`${key} not claimed`)
    return c.id
  }
  const a = await claim('a')
  await keys.complete(a, 202, '{"ok":1}')
  const b = await claim('b')
  await keys.abandon(b)
  clock.t += TTL / 2
  const c = await claim('c')
  await keys.complete(c, 202, '{}')
  t.equal(await keys.purgeExpired(), 1, 'the first purge removes the expired key stored without a marker')
  t.same((await col.find({}).toArray()).map((d) => d._id).sort(), [a, c], 'a and c are live')

  // past a's expiry, not c's; a re-claimed first (taken over: a new life and a new marker)
  clock.t += TTL / 2 + 1
  t.equal((await keys.claim('ak_1:events', 'a', 'h')).kind, 'claimed', 'an expired key is taken over')
  filters.length = 0
  t.equal(await keys.purgeExpired(), 0, 'nothing live is purged')
  t.ok(await col.findOne({ _id: a }), 'the re-claimed key stays')
  t.ok(await col.findOne({ _id: c }), 'the unexpired key stays')
  t.same(filters.filter((f) => !('_id' in f)), [], 'every read and delete named `_id`s')
  const markers = (await expiry.find({ _id: { $regex: /^~exp\|/ } }).toArray()).map((m) => m._id).sort()
  t.equal(markers.length, 2, 'the markers of the abandoned key and of a\'s first life are gone')
  t.ok(markers.every((m) => m.endsWith(a) || m.endsWith(c)))

  clock.t += 2 * TTL
  filters.length = 0
  t.equal(await keys.purgeExpired(), 2, 'both purged once expired')
  t.same(filters.filter((f) => !('_id' in f)), [], 'still by `_id` alone')
  t.equal(await col.countDocuments({}), 0, 'no key is left')
  t.same((await expiry.find({}).toArray()).map((d) => d._id), ['~legacy-purged'], 'and no marker')
})

t.test('a purge reads a page of markers at a time and goes on to the end', async (t) => {
  const { col, expiry, clock } = await setup(t)
  const keys = createIdempotencyService(col, () => new Date(clock.t), TTL, { expiry })
  for (let i = 0; i < 2500; i += 500) {
    // keys of one second each share a page boundary's neighbourhood
    await Promise.all(Array.from({ length: 500 }, async (_, k) => await keys.claim('ak_1:events', `k${i + k}`, 'h')))
    clock.t += 1000
  }
  clock.t += TTL
  t.equal(await keys.purgeExpired(), 2500)
  t.equal(await col.countDocuments({}), 0)
  t.equal(await expiry.countDocuments({}), 1, 'only the legacy flag stays')
})

t.test('without markers (MongoDB, whose index serves the query) nothing else is stored', async (t) => {
  const { col, expiry, clock } = await setup(t)
  const keys = createIdempotencyService(col, () => new Date(clock.t), TTL)
  await keys.claim('ak_1:events', 'a', 'h')
  t.same((await col.find({}).toArray()).map((d) => d._id), ['ak_1:events:a'])
  t.equal(await expiry.countDocuments({}), 0, 'no marker')
  clock.t += TTL + 1
  t.equal(await keys.purgeExpired(), 1)
  t.equal(await col.countDocuments({}), 0)
})
