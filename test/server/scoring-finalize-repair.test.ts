// A small scoring batch carries its ledger entries in the lead's commit and inserts them when it is finalized. A
// process that stops between the commit and the end of finalize leaves the lead committed, its entries missing and
// its events pending: the next run on the lead must put them in place, once.
import t from 'tap'
import { buildTestApp, eventStatusCounts, postEvents, unfinishLastBatch, waitForScoring, AUTH } from '../helpers/harness.js'
import { carriedEntries } from '../../server/src/domain/scoring/carried-ledger.js'

t.test('a commit whose finalize never ran is finished by the next run', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const events = [
    { externalId: 'f1', lead: { email: 'fin@example.com' }, type: 'page_view', occurredAt: '2026-01-01T10:00:00Z' },
    { externalId: 'f2', lead: { email: 'fin@example.com' }, type: 'form_submit', occurredAt: '2026-01-01T11:00:00Z' },
  ]
  const leadId = (await postEvents(app, { events })).json().results[0].leadId as string
  t.equal((await app.core.processor.processLead(leadId)).events, 2)
  const lead = await db.c.leads.findOne({ _id: leadId })
  const batch = lead!.lastBatch!
  t.equal(carriedEntries(batch).length, 2, 'the commit carried its two entries')
  t.same(carriedEntries(batch).map((e) => e.committed), [true, true])

  // as a process killed right after the commit leaves it: no entries, the batch's claim in place, events pending
  await db.c.scoreHistory.deleteMany({ leadId })
  await unfinishLastBatch(db, leadId)
  t.equal((await eventStatusCounts(db, { leadId })).pending, 2, 'the unfinished batch\'s events show as pending')
  t.equal(await db.c.scoreHistory.countDocuments({ leadId }), 0, 'the ledger collection holds none of its entries')
  // the history shows the committed entries the lead document carries all the same
  t.same((await app.inject({ url: `/v1/leads/${leadId}/history?order=asc`, headers: AUTH })).json().items.map((h: { eventId: string }) => h.eventId), [`${leadId}-000000001`, `${leadId}-000000002`], 'the history shows the carried entries')

  // the next run (here: one more event arrives) finishes the old batch first, then scores the new event
  await postEvents(app, { externalId: 'f3', lead: { email: 'fin@example.com' }, type: 'demo_request', occurredAt: '2026-01-01T12:00:00Z' })
  t.equal((await app.core.processor.processLead(leadId)).events, 1)
  const history = (await app.inject({ url: `/v1/leads/${leadId}/history?order=asc`, headers: AUTH })).json().items as Array<{ eventId: string; delta: number }>
  t.same(history.map((h) => h.eventId), [`${leadId}-000000001`, `${leadId}-000000002`, `${leadId}-000000003`], 'one visible entry per event, in order')
  t.equal((await eventStatusCounts(db, { leadId })).pending, 0, 'no event left pending')
  t.equal(await db.c.locks.countDocuments({ _id: { $regex: /^commit:/ } }), 0, 'no revision claim left')
  const after = await db.c.leads.findOne({ _id: leadId })
  t.equal(history.reduce((n, h) => n + h.delta, 0), after!.score, 'the entries add up to the score')

  // finalizing again (another repair, a retried run) adds nothing
  await unfinishLastBatch(db, leadId)
  await app.core.processor.processLead(leadId)
  t.equal(await db.c.scoreHistory.countDocuments({ leadId }), 3, 'still three entries')
  await waitForScoring(db)
})
