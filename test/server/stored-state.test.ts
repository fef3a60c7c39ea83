// Leads and ledger entries store a score state with its nested parts packed in one binary value
// (scoring/stored-state.ts): what comes back must be the state that went in, and states stored before they were
// packed must still read.
import t from 'tap'
import { Binary } from 'mongodb'
import { applyContributions, initialState } from '../../server/src/domain/scoring/model.js'
import { loadState, storeState } from '../../server/src/domain/scoring/stored-state.js'
import { carriedEntries } from '../../server/src/domain/scoring/carried-ledger.js'
import { leadIdOf } from '../../server/src/domain/ids.js'
import { buildTestApp, postEvents, waitForScoring } from '../helpers/harness.js'
import type { ScoreState, StoredState } from '../../server/src/domain/types.js'

function busyState (): ScoreState {
  let state = initialState({})
  const at = Date.UTC(2026, 0, 1)
  for (let i = 0; i < 5; i++) {
    state = applyContributions(state, [{ ruleId: 'plugin.rule-with.dots', action: 'add', points: 2.5, dimension: 'engagement', limit: { count: 3 } }], { at: at + i * 1000, ruleVersion: 1, settings: {} }).state
  }
  return {
    ...state, decayBase: 7.5, decayPeriods: 2, grade: 'B', entered: { 'stage:Warm': 2, 'grade:B': 1 },
    activity: { n: 5, first: at, last: at + 4000, gap: 1000, tos: 0, types: [{ t: 'page_view', n: 5, last: at + 4000, d7: 5, d30: 5 }] },
    fitHeld: { 'fit-title': { points: 10, of: 10, note: 'Title "CEO"' } }, fitAttributes: { title: 'CEO', 'a%2Eb': null, nested: { x: [1, 2] } },
  }
}

t.test('a stored state keeps its scalars plain and its nested parts packed, and loads back equal', async (t) => {
  const state = busyState()
  const stored = storeState(state)
  t.ok(stored.packed instanceof Binary, 'the nested parts are one binary value')
  for (const k of ['fired', 'entered', 'activity', 'fitHeld', 'fitAttributes']) t.notOk(k in stored, `${k} is not a field of its own`)
  t.same({ total: stored.total, engagement: stored.engagement, stage: stored.stage, grade: stored.grade, decayBase: stored.decayBase, lastActivityAt: stored.lastActivityAt },
    { total: state.total, engagement: state.engagement, stage: state.stage, grade: 'B', decayBase: 7.5, lastActivityAt: state.lastActivityAt }, 'the scalars stay readable')
  t.same(loadState(stored), state, 'loaded back: the same state')
  t.same(Object.keys(loadState(stored).fired), ['plugin%2Erule-with%2Edots'], 'rule ids stay encoded')
  const fresh = initialState({})
  t.same(loadState(storeState(fresh)), fresh, 'a state with no optional part comes back without them')
  t.notOk('activity' in loadState(storeState(fresh)), 'absent parts stay absent')
  t.equal(loadState(state as unknown as StoredState), state, 'a state stored before packing is read as it is')
})

t.test('scoring stores packed states on the lead and its ledger entries; the database gives them back whole', async (t) => {
  const { db, app } = await buildTestApp(t)
  const email = 'packed@example.com'
  const at = (h: number): string => new Date(Date.UTC(2026, 0, 5, h)).toISOString()
  const events = Array.from({ length: 6 }, (_, i) => ({ lead: { email, attributes: { title: 'CEO' } }, type: i % 2 === 0 ? 'page_view' : 'email_open', occurredAt: at(8 + i) }))
  t.equal((await postEvents(app, { events })).statusCode, 202)
  await waitForScoring(db)
  const lead = (await db.c.leads.findOne({ _id: leadIdOf(`email:${email}`) }))!
  t.ok(lead.state.packed instanceof Binary, 'the lead\'s state is packed')
  const state = loadState(lead.state)
  t.ok(Object.keys(state.fired).length > 0, 'its rule firings come back')
  t.equal(state.activity?.n, 6, 'and its activity, with every event')
  t.equal(state.total, lead.score)
  const entries = await db.c.scoreHistory.find({ leadId: lead._id }).toArray()
  t.equal(entries.length, 6)
  for (const e of entries) t.ok(e.state.packed instanceof Binary, `entry ${e._id}: packed`)
  const last = entries.sort((a, b) => a.ord < b.ord ? -1 : 1).at(-1)!
  t.same(loadState(last.state), state, 'the last entry holds the lead\'s state')
})

t.test('a lead stored before states were packed scores on, late events included, as one stored packed', async (t) => {
  const { db, app } = await buildTestApp(t)
  const at = (h: number): string => new Date(Date.UTC(2026, 0, 5, h)).toISOString()
  const types = ['page_view', 'email_open', 'form_submit', 'page_view']
  const send = async (email: string, hours: number[]): Promise<void> => {
    const events = hours.map((h) => ({ lead: { email }, type: types[h % types.length]!, occurredAt: at(h) }))
    t.equal((await postEvents(app, { events })).statusCode, 202)
    await waitForScoring(db)
  }
  const legacy = 'legacy@example.com'
  const control = 'control@example.com'
  for (const email of [legacy, control]) await send(email, [2, 4, 6])
  // the legacy lead as an older version stored it: every state whole, the carried entries a plain array
  const id = leadIdOf(`email:${legacy}`)
  const lead = (await db.c.leads.findOne({ _id: id }))!
  const batch = lead.lastBatch!
  const plainBatch = batch.ledger === undefined ? batch : { ...batch, ledger: carriedEntries(batch).map((e) => e.state === undefined ? e : { ...e, state: loadState(e.state) }) }
  await db.c.leads.updateOne({ _id: id }, { $set: { state: loadState(lead.state) as never, lastBatch: plainBatch as never } })
  for (const e of await db.c.scoreHistory.find({ leadId: id }).toArray()) await db.c.scoreHistory.updateOne({ _id: e._id }, { $set: { state: loadState(e.state) as never } })
  t.notOk('packed' in (await db.c.leads.findOne({ _id: id }))!.state, 'the lead holds a whole state')

  for (const email of [legacy, control]) await send(email, [3]) // late: replays from a checkpoint stored whole
  for (const email of [legacy, control]) await send(email, [8])
  const [a, b] = await Promise.all([legacy, control].map(async (email) => (await db.c.leads.findOne({ _id: leadIdOf(`email:${email}`) }))!))
  t.ok(a!.state.packed instanceof Binary, 'its next commit stored the state packed')
  t.same(loadState(a!.state), loadState(b!.state), 'the same state as a lead that was never stored whole')
  t.equal(a!.score, b!.score)
  const deltas = async (leadId: string): Promise<number[]> => (await db.c.scoreHistory.find({ leadId, superseded: false }).toArray()).sort((x, y) => x.ord < y.ord ? -1 : 1).map((e) => e.delta)
  t.same(await deltas(a!._id), await deltas(b!._id), 'and the same visible ledger')
})
