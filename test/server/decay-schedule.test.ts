// The decay schedule: when a quiet lead next decays is exactly the first time `applyDecay` would change it (checked
// against the model for random settings and states), and the schedule's keys move with the leads' states: added
// before a commit, the old one removed after, a wrong one replaced when it comes due, all computed again when the
// published decay settings change. The tick itself is exercised end to end in rulesets-lifecycle.test.ts.
import t from 'tap'
import fc from 'fast-check'
import { applyDecay } from '../../server/src/domain/scoring/model.js'
import { createDecaySchedule, decayKeyOf, decaySettingsKey, nextDecayAt, parseDecayKey } from '../../server/src/domain/scoring/decay-schedule.js'
import type { RulesetSettings, ScoreState } from '../../server/src/domain/types.js'
import { openDatabase } from '../../server/src/infra/db.js'
import { testMongoUri, freshDbName } from '../helpers/harness.js'

const DAY = 86_400_000
const state = (engagement: number, base: number, lastActivityAt: number | null = 0): ScoreState =>
  ({ total: engagement, engagement, fit: 0, intent: 0, fired: {}, stage: '', lastActivityAt, decayBase: base })
const changes = (s: ScoreState, settings: RulesetSettings, at: number): boolean => applyDecay(s, { at, ruleVersion: 1, settings }).reasons.length > 0

t.test('the next decay time is the first time decay changes the engagement', async (t) => {
  const rule = fc.record({
    percent: fc.integer({ min: 1, max: 100 }), every: fc.integer({ min: 1, max: 40 }).map((d) => `${d}d`),
    after: fc.option(fc.integer({ min: 1, max: 30 }).map((d) => `${d}d`), { nil: undefined }), curve: fc.constantFrom('linear' as const, 'exponential' as const),
  }).map((r) => ({ dimension: 'engagement' as const, percent: r.percent, every: r.every, curve: r.curve, ...(r.after !== undefined ? { after: r.after } : {}) }))
  let checked = 0
  fc.assert(fc.property(
    fc.array(rule, { minLength: 1, maxLength: 2 }), fc.integer({ min: -200, max: 500 }), fc.integer({ min: 0, max: 400 }), fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
    (decay, base, ageDays, floor) => {
      const settings: RulesetSettings = { decay, ...(floor !== undefined ? { floors: { engagement: floor } } : {}) }
      // the lead as the last tick left it `ageDays` after its last activity
      const s0 = state(base, base)
      const ticked = applyDecay(s0, { at: ageDays * DAY, ruleVersion: 1, settings }).state
      const due = nextDecayAt(ticked, settings)
      if (due === null) {
        for (const d of [ageDays + 1, ageDays + 100, ageDays + 10_000]) if (changes(ticked, settings, d * DAY)) return false
        return true
      }
      checked++
      if (!changes(ticked, settings, due)) return false
      // nothing changes before it (checked at every day boundary and just before)
      for (let d = Math.floor(ageDays); d * DAY < due; d++) if (changes(ticked, settings, d * DAY)) return false
      return !changes(ticked, settings, due - 1)
    },
  ), { numRuns: 400 })
  t.ok(checked > 50, `a due time was found and checked in ${checked} of 400 runs`)
  t.equal(nextDecayAt(state(0, 0), { decay: [{ dimension: 'engagement', percent: 10, every: '1d' }] }), null, 'nothing to decay')
  t.equal(nextDecayAt(state(10, 10, null), { decay: [{ dimension: 'engagement', percent: 10, every: '1d' }] }), null, 'no activity yet')
  t.equal(nextDecayAt(state(10, 10), {}), null, 'no decay settings')
  t.equal(nextDecayAt(state(100, 100), { decay: [{ dimension: 'engagement', percent: 10, every: '30d', after: '14d' }] }), 44 * DAY, '14 days of grace, then a first period')
})

t.test('keys are order-preserving and name their lead', async (t) => {
  const times = [0, 1, DAY, 1.7e12, 1.7e12 + 1, 4e12]
  const keys = times.map((x) => decayKeyOf(x, 'ld_a'))
  t.same([...keys].sort(), keys, 'sorted as the times')
  for (const x of times) t.same(parseDecayKey(decayKeyOf(x, 'ld_b~1')), { due: x, leadId: 'ld_b~1' })
  t.equal(decaySettingsKey({}), '', 'no decay, no key')
  t.not(decaySettingsKey({ decay: [{ dimension: 'engagement', percent: 10, every: '1d' }] }), decaySettingsKey({ decay: [{ dimension: 'engagement', percent: 20, every: '1d' }] }))
})

t.test('the schedule: commits move keys, due keys are checked against the leads, settings changes recompute them', async (t) => {
  const db = await openDatabase(await testMongoUri(t), freshDbName())
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const schedule = createDecaySchedule({ col: db.c.decaySchedule })
  const settings: RulesetSettings = { decay: [{ dimension: 'engagement', percent: 50, every: '10d' }] }
  const a = decayKeyOf(10 * DAY, 'ld_a')
  const b = decayKeyOf(20 * DAY, 'ld_b')
  await schedule.prepare([{ before: null, after: a }, { before: null, after: b }])
  t.same(await schedule.dueBy(15 * DAY, null, 10), [a], 'only what is due')
  t.same(await schedule.dueBy(30 * DAY, null, 10), [a, b], 'in due order')
  t.same(await schedule.dueBy(30 * DAY, a, 10), [b], 'from a cursor')
  // a commits a new state (due later); a batch that prepared a key for b but did not commit leaves nothing
  const a2 = decayKeyOf(25 * DAY, 'ld_a')
  const b2 = decayKeyOf(40 * DAY, 'ld_b')
  await schedule.prepare([{ before: a, after: a2 }, { before: b, after: b2 }])
  await schedule.settle([{ before: a, after: a2 }], [{ before: b, after: b2 }])
  t.same(await schedule.dueBy(100 * DAY, null, 10), [b, a2])

  // check: a key matching its lead's state is kept; one that does not is replaced; one whose lead is gone goes
  const states = new Map<string, ScoreState | undefined>([['ld_a', state(100, 100, 15 * DAY)], ['ld_b', state(100, 100, 0)]])
  const right = await schedule.check([b, a2, decayKeyOf(30 * DAY, 'ld_gone')], states, settings)
  t.same(right, ['ld_a'], 'a is due at 25d as its key says; b at 10d after its activity, not 20d')
  t.same(await schedule.dueBy(100 * DAY, null, 10), [decayKeyOf(10 * DAY, 'ld_b'), a2].sort(), 'b\'s wrong key was replaced, the erased lead\'s removed')

  t.equal(await schedule.settingsKey(), null, 'never computed')
  async function * leads (): AsyncIterable<{ _id: string; state?: ScoreState }> {
    yield { _id: 'ld_c', state: state(8, 8, 5 * DAY) }
    yield { _id: 'ld_d', state: state(0, 0, 5 * DAY) }
    yield { _id: 'ld_e' }
  }
  t.equal(await schedule.rebuild(leads(), settings, new Date()), 1, 'one lead has something to decay')
  t.equal(await schedule.settingsKey(), decaySettingsKey(settings))
  t.ok((await schedule.dueBy(100 * DAY, null, 10)).includes(decayKeyOf(15 * DAY, 'ld_c')))
})
