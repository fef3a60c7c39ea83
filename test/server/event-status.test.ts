// An event's status is derived, not written per event: a scored event stays stored as `pending` and shows as scored
// once its lead's `lastSeq` covers it and the batch that scored it is finished (its revision claim removed). These
// tests check what the API shows at each step, the list filters, and that the claim purge keeps the claims that
// still mean something.
import t from 'tap'
import { buildTestApp, eventStatusCounts, postEvents, unfinishLastBatch, AUTH } from '../helpers/harness.js'
import { leadIdOf } from '../../server/src/domain/ids.js'

interface EventOut { id: string; status: string; externalId: string }

t.test('a scored event shows as scored while its stored status stays pending; unmapped is stored', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const leadId = leadIdOf('email:st@example.com')
  const events = [
    { externalId: 's1', lead: { email: 'st@example.com' }, type: 'page_view', occurredAt: '2026-02-01T10:00:00Z' },
    { externalId: 's2', lead: { email: 'st@example.com' }, type: 'no_rule_handles_this', occurredAt: '2026-02-01T11:00:00Z' },
  ]
  t.equal((await postEvents(app, { events })).statusCode, 202)
  const list = async (q = ''): Promise<EventOut[]> => (await app.inject({ url: `/v1/events?limit=50${q}`, headers: AUTH })).json<{ items: EventOut[] }>().items
  t.same((await list()).map((e) => e.status), ['pending', 'pending'], 'before scoring both are pending')
  t.same((await list('&status=pending')).length, 2)

  t.equal((await app.core.processor.processLead(leadId)).events, 2)
  const shown = new Map((await list()).map((e) => [e.externalId, e.status]))
  t.same(Object.fromEntries(shown), { s1: 'scored', s2: 'unmapped' }, 'after scoring: scored and unmapped')
  const stored = new Map((await db.c.events.find({ leadId }).toArray()).map((e) => [e.externalId, e.status]))
  t.same(Object.fromEntries(stored), { s1: 'pending', s2: 'unmapped' }, 'only the unmapped status was written')
  const one = (await list()).find((e) => e.externalId === 's1')!
  t.equal((await app.inject({ url: `/v1/events/${one.id}`, headers: AUTH })).json<EventOut>().status, 'scored', 'GET by id shows it too')
  t.same((await list('&status=scored')).map((e) => e.externalId), ['s1'], 'status=scored lists the scored one')
  t.same((await list('&status=pending')).map((e) => e.externalId), [], 'status=pending lists none')
  t.same((await list('&status=unmapped')).map((e) => e.externalId), ['s2'])
  const page = (await app.inject({ url: `/v1/leads/${leadId}/events`, headers: AUTH })).json<{ items: EventOut[] }>().items
  t.same(page.map((e) => e.status).sort(), ['scored', 'unmapped'], 'the lead\'s events page shows the same')
  t.same(await eventStatusCounts(db), { pending: 0, scored: 1, unmapped: 1 })
  t.same((await app.inject({ url: '/v1/stats', headers: AUTH })).json<{ events: unknown }>().events, { total: 2, pending: 0, unmapped: 1 }, 'the counters agree')

  // a batch whose finalize did not end (its claim still there) shows its events as pending, as marking did before
  await unfinishLastBatch(db, leadId)
  t.same((await list()).map((e) => e.status).sort(), ['pending', 'unmapped'], 'unfinished: pending again (unmapped was stored)')
  t.equal((await app.core.processor.processLead(leadId)).events, 0, 'the next run finishes it and finds no new event')
  t.same((await list()).map((e) => e.status).sort(), ['scored', 'unmapped'], 'finished: scored')

  // a new event past the watermark is pending while the older one stays scored
  await postEvents(app, { externalId: 's3', lead: { email: 'st@example.com' }, type: 'page_view', occurredAt: '2026-02-01T12:00:00Z' })
  t.same(Object.fromEntries((await list()).map((e) => [e.externalId, e.status])), { s1: 'scored', s2: 'unmapped', s3: 'pending' })
  t.same((await list('&status=pending')).map((e) => e.externalId), ['s3'])
})

t.test('a status filter pages through a scan with a cursor and skips nothing', async (t) => {
  const { app } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const events = Array.from({ length: 12 }, (_, i) => ({ externalId: `p${i}`, lead: { email: `page${i % 4}@example.com` }, type: 'page_view', occurredAt: `2026-02-01T10:${String(i).padStart(2, '0')}:00Z` }))
  await postEvents(app, { events })
  // two of the four leads scored: their six events scored, the others' six pending
  for (const i of [0, 1]) await app.core.processor.processLead(leadIdOf(`email:page${i}@example.com`))
  for (const status of ['scored', 'pending']) {
    const seen: string[] = []
    let cursor: string | null = null
    for (let n = 0; n < 10; n++) {
      const url = `/v1/events?status=${status}&limit=4${cursor !== null ? `&cursor=${cursor}` : ''}`
      const body: { items: EventOut[]; nextCursor: string | null } = (await app.inject({ url, headers: AUTH })).json()
      t.ok(body.items.every((e) => e.status === status), `${status}: only ${status} events`)
      seen.push(...body.items.map((e) => e.externalId))
      cursor = body.nextCursor
      if (cursor === null) break
    }
    const want = events.filter((_, i) => (i % 4 < 2) === (status === 'scored')).map((e) => e.externalId)
    t.same(seen.sort(), want.sort(), `${status}: every one once`)
  }
})

t.test('the claim purge keeps the claim of an unfinished batch and removes claims that sign nothing', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const leadId = leadIdOf('email:purge@example.com')
  await postEvents(app, { externalId: 'c1', lead: { email: 'purge@example.com' }, type: 'page_view' })
  await app.core.processor.processLead(leadId)
  await unfinishLastBatch(db, leadId)
  const sign = (await db.c.leads.findOne({ _id: leadId }))!.lastBatch!.claim!
  const old = new Date(Date.now() - 2 * 3_600_000)
  await db.c.locks.updateOne({ _id: sign }, { $set: { acquiredAt: old, expiresAt: old } })
  // a claim whose commit failed (the lead never reached that revision), and one of a lead erased since
  await db.c.locks.insertMany([
    { _id: `commit:${leadId}:99`, owner: 'tok-lost', acquiredAt: old, expiresAt: old },
    { _id: 'commit:ld_gone:1', owner: 'tok-gone', acquiredAt: old, expiresAt: old },
    { _id: 'commit:ld_recent:1', owner: 'tok-recent', acquiredAt: new Date(), expiresAt: new Date() },
  ])
  t.equal(await app.core.locks.purgeExpired(new Date(Date.now() - 3_600_000)), 0, 'the lock purge leaves revision claims to scoring')
  t.equal(await app.core.processor.purgeClaims(new Date(Date.now() - 3_600_000)), 2, 'two claims sign nothing')
  const left = (await db.c.locks.find({ _id: { $regex: /^commit:/ } }).toArray()).map((d) => d._id).sort()
  t.same(left, ['commit:ld_recent:1', sign].sort(), 'the sign of the unfinished batch and the recent claim stay')
  t.equal((await eventStatusCounts(db, { leadId })).pending, 1, 'so its event still shows as pending')
  await app.core.processor.processLead(leadId)
  t.same(await eventStatusCounts(db, { leadId }), { pending: 0, scored: 1, unmapped: 0 }, 'until the next run finishes the batch')
})

t.test('a batch committed before claims were signs is finished the old way: its events marked, the last one last', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const leadId = leadIdOf('email:legacy@example.com')
  await postEvents(app, { events: [
    { externalId: 'l1', lead: { email: 'legacy@example.com' }, type: 'page_view', occurredAt: '2026-02-01T10:00:00Z' },
    { externalId: 'l2', lead: { email: 'legacy@example.com' }, type: 'no_rule_handles_this', occurredAt: '2026-02-01T11:00:00Z' },
  ] })
  await app.core.processor.processLead(leadId)
  // as an older version left it when it stopped before finalize ended: no claim named, its events still pending
  await db.c.leads.updateOne({ _id: leadId }, { $unset: { 'lastBatch.claim': '' } })
  await db.c.events.updateMany({ leadId }, { $set: { status: 'pending' } })
  t.same(await eventStatusCounts(db, { leadId }), { pending: 2, scored: 0, unmapped: 0 }, 'shown pending: the old sign says unfinished')
  await app.core.processor.processLead(leadId)
  const stored = Object.fromEntries((await db.c.events.find({ leadId }).toArray()).map((e) => [e.externalId, e.status]))
  t.same(stored, { l1: 'scored', l2: 'unmapped' }, 'finalize marked both as it did then')
  t.same(await eventStatusCounts(db, { leadId }), { pending: 0, scored: 1, unmapped: 1 })
})
