// The ingest journal: a request that stored events and died before queueing their leads leaves its journal entry,
// and the sweeper queues those leads once the entry is 30 s old, so the events are scored; a request that completes
// leaves no entry. The dying request is played by an ingest service whose `enqueue` fails after the events are stored.
import t from 'tap'
import { buildTestApp, postEvents, waitForScoring } from '../helpers/harness.js'
import { createIngestService } from '../../server/src/domain/events/ingest.js'
import { createIngestJournal } from '../../server/src/domain/events/ingest-journal.js'
import { createIdentityService } from '../../server/src/domain/identity.js'
import { sortableNumber } from '../../server/src/domain/lead-views/keys.js'

t.test('a request that dies before queueing its leads is picked up from its journal entry', { timeout: 120_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  await postEvents(app, { externalId: 'ok-1', lead: { email: 'fine@example.com' }, type: 'page_view' })
  await waitForScoring(db)
  // removed after the answer, without holding it up
  const deadline = Date.now() + 5000
  while (await db.c.ingestJournal.countDocuments({}) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  t.equal(await db.c.ingestJournal.countDocuments({}), 0, 'a completed request leaves no journal entry')
  // entries closed together are removed together: concurrent requests leave none either
  const answers = await Promise.all(Array.from({ length: 40 }, async (_, i) => await postEvents(app, { externalId: `many-${i}`, lead: { email: `many${i}@example.com` }, type: 'page_view' })))
  t.same(answers.map((a) => a.json().accepted as number), answers.map(() => 1), 'forty concurrent requests each stored their event')
  await waitForScoring(db)
  while (await db.c.ingestJournal.countDocuments({}) > 0 && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 20))
  t.equal(await db.c.ingestJournal.countDocuments({}), 0, 'forty concurrent requests leave no journal entry')

  const now = (): Date => new Date()
  const dying = createIngestService({
    c: db.c, now, identity: createIdentityService(db.c, now), journal: createIngestJournal({ col: db.c.ingestJournal, now }),
    limits: { maxEventBytes: 64 * 1024, maxFutureSkewMs: 5 * 60_000 }, initialSettings: async () => (await app.core.rulesets.active()).settings,
    enqueue: async () => { throw new Error('the process died here') }, idIn: db.idIn,
  })
  const events = [1, 2, 3].map((i) => ({ externalId: `orphan-${i}`, lead: { email: `orphan${i}@example.com` }, type: 'form_submit' }))
  await t.rejects(dying.ingest(events, { sourceId: 'rest', requestId: 'rq_dying' }), /died/)
  const leadIds = (await db.c.events.find({ externalId: { $in: events.map((e) => e.externalId) } }).toArray()).map((e) => e.leadId).sort()
  t.equal(leadIds.length, 3, 'the events were stored')
  t.equal(await db.c.pendingLeads.countDocuments({ _id: { $in: leadIds } }), 0, 'and no marker queues their leads')
  const [entry] = await db.c.ingestJournal.find({}).toArray()
  t.same(entry?.leads.sort(), leadIds, 'the journal entry names them')

  t.equal(await app.core.sweep(), 0, 'a sweep leaves an entry younger than 30 s alone')
  // the entry as it is 31 s later (its `_id` starts with its time)
  await db.c.ingestJournal.deleteOne({ _id: entry!._id })
  await db.c.ingestJournal.insertOne({ ...entry!, _id: `${sortableNumber(Date.now() - 31_000)}|${entry!._id.split('|')[1]}` })
  t.equal(await app.core.sweep(), 3, 'the sweeper queues the three leads')
  t.equal(await db.c.ingestJournal.countDocuments({}), 0, 'and removes the entry')
  await waitForScoring(db)
  for (const id of leadIds) t.ok(((await db.c.leads.findOne({ _id: id }))?.score ?? 0) > 0, `lead ${id} was scored`)
})
