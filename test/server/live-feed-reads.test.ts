// The live feed's readers find new messages by `_id` windows. A message stored while a window is read must not be
// taken for a purge: that sent the reader through the whole feed (a read that grows with it) at every poll under a
// steady stream, and held live messages back by up to a second.
import t from 'tap'
import { MongoClient, type CommandStartedEvent, type Document } from 'mongodb'
import { freshDbName, testMongoUri } from '../helpers/harness.js'
import { openDatabase } from '../../server/src/infra/db.js'
import { createLiveFeed } from '../../server/src/domain/live/live-feed.js'
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
