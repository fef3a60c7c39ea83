// A small scoring batch carries its ledger entries in the lead's commit; the last entry's state, which is the lead's
// own, is carried once (scoring/carried-ledger.ts). The stored entry still has its full state, also when a crash left
// the batch to be finalized by a later run.
import t from 'tap'
import { AUTH, buildTestApp, postEvents, unfinishLastBatch, waitForScoring } from '../helpers/harness.js'
import { Binary } from 'mongodb'
import { carriedEntries, carriedLedger, compact, packCarried, toCarried } from '../../server/src/domain/scoring/carried-ledger.js'
import { pack } from '../../server/src/infra/packed.js'
import { initialState } from '../../server/src/domain/scoring/model.js'
import { leadIdOf } from '../../server/src/domain/ids.js'
import type { LedgerDoc } from '../../server/src/domain/types.js'

t.test('an entry is carried without the state it shares with the lead, and read back with it', async (t) => {
  const state = { ...initialState({}), total: 20, engagement: 20 }
  const entry = { _id: 'ld_x~bt:0', state: { ...state } } as unknown as LedgerDoc
  t.notOk('state' in toCarried(entry, state), 'an equal state (another object) is left out')
  t.same(toCarried(entry, { ...state, total: 21 }), entry, 'a different one is kept')
  t.same(carriedLedger({ ledger: [toCarried(entry, state)] }, state), [entry], 'the lead\'s state is put back')
  const older = { _id: 'ld_x~bt:1', state: { ...state, total: 5 } } as unknown as LedgerDoc
  t.same(carriedLedger({ ledger: [older, toCarried(entry, state)] }, state).map((e) => e.state.total), [5, 20], 'an entry carried with its state keeps it')
  t.same(carriedLedger({}, state), [], 'a batch whose entries were inserted before its commit carries none')
})

t.test('carried entries are packed in one binary value and read back as they were', async (t) => {
  const state = { ...initialState({}), total: 20, engagement: 20, lastActivityAt: 1767225600000 }
  const entry = {
    _id: 'ld_x~bt:0', leadId: 'ld_x', kind: 'event', eventId: 'ld_x-000000001', eventType: 'page_view', seq: 1, ord: 'o1',
    occurredAt: new Date('2026-01-05T09:00:00Z'), before: { total: 0, engagement: 0, fit: 0, intent: 0 },
    after: { total: 20.5, engagement: 20.5, fit: 0, intent: 0 }, delta: 20.5, reasons: [{ ruleId: 'r', note: 'é "quoted"' }],
    rulesetVersion: 3, batch: 'ld_x~bt', committed: true, superseded: false, createdAt: new Date('2026-01-05T09:00:01Z'), state,
  } as unknown as LedgerDoc
  const packed = packCarried([entry, toCarried({ ...entry, _id: 'ld_x~bt:1' }, state)])
  t.ok(packed instanceof Binary, 'one binary value')
  const back = carriedEntries({ ledger: packed })
  t.same(back[0], entry, 'dates, fractions, text and the state come back as they went in')
  t.ok(back[0]!.occurredAt instanceof Date, 'a date stays a date')
  t.notOk('state' in back[1]!, 'an entry carried without its state stays without')
  t.same(carriedLedger({ ledger: packed }, state).map((e) => e.state), [state, state])
  t.same(carriedEntries({ ledger: [entry] }), [entry], 'a batch committed before entries were packed carries an array, read as is')
  t.same(carriedEntries({}), [])
})

t.test('packed entries store what they share once and leave out what follows, and read back whole', async (t) => {
  const state = { ...initialState({}), total: 20, engagement: 20 }
  const at = new Date('2026-01-05T09:00:01Z')
  const parts = (total: number): Record<string, number> => ({ total, engagement: total, fit: 0, intent: 0 })
  const entry = (i: number, over: Record<string, unknown> = {}): LedgerDoc => ({
    _id: `ld_x~bt:${i}`, leadId: 'ld_x', kind: 'event', eventId: `ld_x-00000000${i + 1}`, eventType: 'page_view', seq: i + 1, ord: `o${i}`,
    occurredAt: new Date(Date.UTC(2026, 0, 5, i)), before: parts(10 * i), after: parts(10 * i + 10), delta: 10, reasons: [{ ruleId: 'r' }],
    state, rulesetVersion: 3, batch: 'ld_x~bt', committed: true, superseded: false, createdAt: at, ...over,
  }) as unknown as LedgerDoc
  const plain = [entry(0), entry(1), entry(2)]
  const slim = compact(plain)
  t.same(slim.shared, { leadId: 'ld_x', kind: 'event', rulesetVersion: 3, batch: 'ld_x~bt', committed: true, superseded: false, createdAt: at }, 'the shared fields, once')
  t.same(slim.entries.map((e) => Object.keys(e).filter((k) => ['_id', 'eventId', 'before', 'delta'].includes(k))), [['before'], [], []],
    'ids, event ids, deltas and a before equal to the entry before\'s after are left out (the first entry keeps its before)')
  const packed = packCarried(plain)
  t.ok(packed.position < pack({ entries: plain }).position * 0.75, `a quarter smaller or more (${packed.position} against ${pack({ entries: plain }).position} bytes)`)
  t.same(carriedEntries({ ledger: packed }), plain, 'read back as they were')
  t.same(carriedEntries({ ledger: packed }).map((e) => Object.keys(e)), plain.map((e) => Object.keys(e)), 'with their fields in the order scoring writes them')

  // what does not follow is kept: a before that decay moved, an event id of another lead's event, a differing
  // delta, an offer only one entry read, a second ruleset version, an adjustment without an event
  const odd = [
    entry(0, { offer: 'of_1@2' }), entry(1, { before: parts(7), delta: 13, eventId: 'ld_y-000000004', rulesetVersion: 4 }),
    entry(2, { kind: 'adjustment', eventId: null, eventType: null, delta: 11, predictive: { score: 0.4 } }),
  ]
  const oddSlim = compact(odd)
  t.notOk('rulesetVersion' in oddSlim.shared || 'kind' in oddSlim.shared || 'offer' in oddSlim.shared, 'a field not all entries share stays with each entry')
  t.same(carriedEntries({ ledger: packCarried(odd) }), odd, 'every field that does not follow comes back as it was')
  t.same(carriedEntries({ ledger: pack({ entries: plain }) }), plain, 'a pack written before entries were compacted is read as it is')
  const last = toCarried(entry(1), state)
  t.same(carriedLedger({ ledger: packCarried([entry(0), last]) }, state), [entry(0), entry(1)], 'an entry carried without its state gets the lead\'s')
})

t.test('the lead carries its last entry once; the stored entry, also one a later run finalizes, has the state', async (t) => {
  const { app, db } = await buildTestApp(t)
  const email = 'carried@example.com'
  const leadId = leadIdOf(`email:${email}`)
  const at = (h: number): string => new Date(Date.UTC(2026, 0, 5, h)).toISOString()
  t.equal((await postEvents(app, { events: [{ lead: { email }, type: 'form_submit', occurredAt: at(9) }] })).statusCode, 202)
  await waitForScoring(db)
  const lead = (await db.c.leads.findOne({ _id: leadId }))!
  t.ok(lead.lastBatch!.ledger instanceof Binary, 'the lead document carries its entries packed')
  const carried = carriedEntries(lead.lastBatch!)
  t.equal(carried.length, 1)
  t.notOk('state' in carried[0]!, 'the carried entry leaves its state to the lead')
  const stored = (await db.c.scoreHistory.findOne({ _id: carried[0]!._id }))!
  t.same(stored.state, lead.state, 'the stored entry has the lead\'s state')
  t.ok(lead.state.total > 0, 'the event scored')

  // a crash after the commit and before finalize: the entry not stored, the batch's claim still in place
  await db.c.scoreHistory.deleteOne({ _id: stored._id })
  await unfinishLastBatch(db, leadId)
  t.equal((await postEvents(app, { events: [{ lead: { email }, type: 'page_view', occurredAt: at(10) }] })).statusCode, 202)
  await waitForScoring(db)
  const repaired = await db.c.scoreHistory.findOne({ _id: stored._id })
  t.ok(repaired !== null, 'the next run finalized the interrupted batch')
  t.same(repaired?.state, stored.state, 'with the state the batch committed on the lead, not the lead\'s later one')
  t.equal(repaired?.committed, true)
  const after = (await db.c.leads.findOne({ _id: leadId }))!
  t.equal(after.rev, 2, 'and scored the new event')
  const res = await app.inject({ url: `/v1/leads/${leadId}/history?order=asc`, headers: AUTH })
  t.same(res.json<{ items: Array<{ id: string }> }>().items.map((e) => e.id), [stored._id, carriedEntries(after.lastBatch!)[0]!._id], 'the history shows both entries')
})
