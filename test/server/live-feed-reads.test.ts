// The live feed's readers find new messages by `_id` windows. A message stored while a window is read must not be
// taken for a purge: that sent the reader through the whole feed (a read that grows with it) at every poll under a
// steady stream, and held live messages back by up to a second. Payloads are stored packed.
import t from 'tap'
import { Binary, MongoClient, type CommandStartedEvent, type Document } from 'mongodb'
import { freshDbName, testMongoUri } from '../helpers/harness.js'
import { openDatabase } from '../../server/src/infra/db.js'
import { createLiveFeed, payloadOf } from '../../server/src/domain/live/live-feed.js'
import { pack } from '../../server/src/infra/packed.js'
import type { LiveDoc } from '../../server/src/domain/types.js'

t.test('a message stored during a read is found by the next window, not by a read of the whole feed', async (t) => {
  const uri = await testMongoUri(t)
  const dbName = freshDbName()
  const db = await openDatabase(uri, dbName)
  const watched = await MongoClient.connect(uri, { monitorCommands: true })
  const finds: Document[] = []
  watched.on('commandStarted', (e: CommandStartedEvent) => { if (e.commandName === 'find' && e.command.find === 'liveFeed') finds.push(e.command.filter as Document) })
  t.teardown(async () => { await watched.close(); await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const feed = createLiveFeed(watched.db(dbName).collection<LiveDoc>('liveFeed'), () => new Date(), { idIn: db.idIn })
  await feed.append('test.first', ['x'], { i: -1 })
  let cursor = await feed.top()
  // from here on the feed knows where it ends
  finds.length = 0
  const seen: number[] = []
  // a reader polls while the writer appends at the same moment, as the live hub does under a steady stream
  for (let i = 0; i < 40; i++) {
    const [got] = await Promise.all([feed.after(cursor, 10), feed.append('test.message', ['x'], { i })])
    for (const m of got) { seen.push(m.data.i as number); cursor = m.seq }
  }
  for (const m of await feed.after(cursor, 100)) seen.push(m.data.i as number)
  t.same(seen, Array.from({ length: 40 }, (_, i) => i), 'every message was read once, in order')
  if (db.idIn) {
    const whole = finds.filter((f) => typeof f._id !== 'object' || f._id === null || !('$in' in (f._id as Document)))
    t.same(whole, [], 'every read went by an `_id` window')
  }
})

t.test('old messages are purged oldest first, and the feed finds where it starts, by `_id` alone', async (t) => {
  const uri = await testMongoUri(t)
  const dbName = freshDbName()
  const db = await openDatabase(uri, dbName)
  const watched = await MongoClient.connect(uri, { monitorCommands: true })
  const commands: Array<{ name: string; filter: Document }> = []
  watched.on('commandStarted', (e: CommandStartedEvent) => {
    if (e.command[e.commandName] !== 'liveFeed') return
    if (e.commandName === 'find') commands.push({ name: 'find', filter: e.command.filter as Document })
    if (e.commandName === 'delete') for (const d of e.command.deletes as Array<{ q: Document }>) commands.push({ name: 'delete', filter: d.q })
  })
  t.teardown(async () => { await watched.close(); await db.db.dropDatabase().catch(() => undefined); await db.close() })
  let clock = Date.parse('2026-05-01T08:00:00Z')
  const feed = createLiveFeed(watched.db(dbName).collection<LiveDoc>('liveFeed'), () => new Date(clock), { idIn: db.idIn })
  const seqs: number[] = []
  for (let i = 0; i < 30; i++) {
    seqs.push(await feed.append('test.message', ['x'], { i }))
    clock += 60_000
  }
  t.equal(await feed.oldest(), seqs[0], 'the oldest message before any purge')
  commands.length = 0
  // everything stored before the eleventh message's time goes
  t.equal(await feed.purgeBefore(new Date(Date.parse('2026-05-01T08:10:00Z'))), 10, 'ten messages purged')
  t.equal(await feed.oldest(), seqs[10], 'the feed starts at the first message kept')
  t.equal(await feed.purgeBefore(new Date(Date.parse('2026-05-01T08:10:00Z'))), 0, 'purging again removes nothing')
  // a reader behind the purge goes on from the first message kept
  const got = await feed.after(seqs[3]!, 5)
  t.same(got.map((m) => m.data.i), [10, 11, 12, 13, 14], 'a reader whose seq was purged reads on from the oldest kept')
  t.same((await feed.after(seqs[29]!, 5)), [], 'nothing after the newest')
  if (db.idIn) {
    const other = commands.filter((c) => typeof c.filter._id !== 'number' && !(typeof c.filter._id === 'object' && c.filter._id !== null && '$in' in (c.filter._id as Document)))
    t.same(other, [], 'every read and delete named its messages by `_id`')
  }
})

t.test('payloads are stored packed and read whole; messages stored plain before read the same', async (t) => {
  const uri = await testMongoUri(t)
  const db = await openDatabase(uri, freshDbName())
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const feed = createLiveFeed(db.c.liveFeed, () => new Date(), { idIn: db.idIn })
  const payload = { leadId: 'ld_1', score: 12.5, parts: { total: 12.5, fit: null }, entries: [{ id: 'e:0', reasons: [{ ruleId: 'r', points: 5 }] }] }
  const seq = await feed.append('lead.scored', ['leaderboard', 'lead:ld_1'], payload)
  const stored = await db.c.liveFeed.findOne({ _id: seq })
  t.ok(stored?.payload instanceof Binary, 'the payload is one binary value')
  t.same(stored?.topics, ['leaderboard', 'lead:ld_1'], 'topics stay plain')
  // a message a version before packing stored
  await db.c.liveFeed.insertOne({ _id: seq + 1, type: 'lead.scored', topics: ['lead:ld_2'], payload: { leadId: 'ld_2', score: 3 }, at: new Date() })
  const got = await feed.after(seq - 1, 10)
  t.same(got.map((m) => m.data), [payload, { leadId: 'ld_2', score: 3 }], 'both payloads come back as they were appended')
  t.same(payloadOf({ payload: pack({ a: [1, { b: 'c' }] }) }), { a: [1, { b: 'c' }] }, 'payloadOf unpacks what pack made')
})
