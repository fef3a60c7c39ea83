// Which indexes the server keeps: all of them on MongoDB; on FerretDB, whose queries on other fields than `_id` read
// the whole collection whatever the indexes, only the unique ones (the others cost every write and serve no read),
// and a non-unique index an older version created is dropped at the next start.
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

  const db = await openDatabase(uri, name)
  t.teardown(async () => { await db.close() })
  const leads = await names(db, 'leads')
  const events = await names(db, 'events')
  if (db.ferret) {
    t.same(leads, ['_id_', 'key_unique'], 'leads: the unique key only (the old non-unique index was dropped)')
    t.same(events, ['_id_', 'lead_seq_unique', 'source_external_unique'], 'events: the unique ones only')
  } else {
    for (const n of ['key_unique', 'score_desc', 'stage_score', 'updated_desc', 'watermark']) t.ok(leads.includes(n), `leads: ${n}`)
    for (const n of ['source_external_unique', 'lead_seq_unique', 'lead_ord', 'status_received', 'type']) t.ok(events.includes(n), `events: ${n}`)
  }
  // the unique constraints hold either way
  await db.c.leads.insertOne({ _id: 'ld_a', key: 'email:a@example.com' } as never)
  await t.rejects(db.c.leads.insertOne({ _id: 'ld_b', key: 'email:a@example.com' } as never), { code: 11000 }, 'a second lead with the same key is refused')
})
