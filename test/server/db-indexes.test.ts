// Which indexes the server keeps: all of them on MongoDB; on FerretDB, whose queries on other fields than `_id` read
// the whole collection whatever the indexes, only the unique ones (the others cost every write and serve no read),
// and a non-unique index an older version created is dropped at the next start. Indexes that only repeated what an
// `_id` keeps unique (a lead's key, an event's lead and seq) are dropped on both.
import t from 'tap'
import { openDatabase } from '../../server/src/infra/db.js'
import { freshDbName, testMongoUri } from '../helpers/harness.js'

const names = async (db: Awaited<ReturnType<typeof openDatabase>>, col: string): Promise<string[]> =>
  (await db.db.collection(col).listIndexes().toArray()).map((i) => String(i.name)).sort()

t.test('indexes follow the server: every one on MongoDB, the unique ones on FerretDB', async (t) => {
  const uri = await testMongoUri(t)
  const name = freshDbName()
  // an older version's database: a non-unique index on the leads already there
  const before = await openDatabase(uri, name)
  t.teardown(async () => { await before.db.dropDatabase().catch(() => undefined); await before.close() })
  await before.db.collection('leads').createIndex({ score: -1, _id: 1 }, { name: 'score_desc' })
  t.ok((await names(before, 'leads')).includes('score_desc'), 'the old index exists before the next start')
  // and the unique indexes older versions kept beside the `_id`s that already made them unique
  await before.db.collection('leads').createIndex({ key: 1 }, { name: 'key_unique', unique: true })
  await before.db.collection('events').createIndex({ leadId: 1, seq: 1 }, { name: 'lead_seq_unique', unique: true })

  const db = await openDatabase(uri, name)
  t.teardown(async () => { await db.close() })
  const leads = await names(db, 'leads')
  const events = await names(db, 'events')
  if (db.ferret) {
    t.same(leads, ['_id_'], 'leads: `_id` only (the old non-unique index and the retired unique one were dropped)')
    t.same(events, ['_id_', 'source_external_unique'], 'events: the unique external id only')
  } else {
    for (const n of ['score_desc', 'stage_score', 'updated_desc', 'watermark']) t.ok(leads.includes(n), `leads: ${n}`)
    for (const n of ['source_external_unique', 'lead_ord', 'status_received', 'type']) t.ok(events.includes(n), `events: ${n}`)
    t.notOk(leads.includes('key_unique'), 'leads: the retired key index was dropped')
    t.notOk(events.includes('lead_seq_unique'), 'events: the retired (leadId, seq) index was dropped')
  }
  // the unique constraint that stays holds either way
  const ev = { sourceId: 'api', externalId: 'e-1', leadId: 'ld_a', seq: 1 }
  await db.c.events.insertOne({ _id: 'ld_a-000000001', ...ev } as never)
  await t.rejects(db.c.events.insertOne({ _id: 'ld_b-000000001', ...ev, leadId: 'ld_b' } as never), { code: 11000 }, 'a second event with the same source and external id is refused')
})
