// A scoring plugin's contributions carry rule ids of the form `<plugin>.<rule>`. The score state records every rule
// that fired by its id, and a dot may not be part of a stored field name (the embedded FerretDB refuses it): the
// state keeps such ids encoded, stores on every server, and still counts a limit per rule.
import t from 'tap'
import { applyContributions, initialState } from '../../server/src/domain/scoring/model.js'
import { openDatabase } from '../../server/src/infra/db.js'
import { testMongoUri, freshDbName } from '../helpers/harness.js'

t.test('a plugin rule id with a dot fires, limits and stores', async (t) => {
  const settings = {}
  let state = initialState(settings)
  const at = Date.UTC(2026, 0, 1)
  for (let i = 0; i < 3; i++) {
    state = applyContributions(state, [{ ruleId: 'email-quality.business-domain', action: 'add', points: 5, dimension: 'fit', limit: { count: 2 } }], { at: at + i * 1000, ruleVersion: 1, settings }).state
  }
  t.equal(state.fit, 10, 'the limit of two firings holds per rule id')
  t.same(Object.keys(state.fired), ['email-quality%2Ebusiness-domain'], 'the id is kept encoded')
  const db = await openDatabase(await testMongoUri(t), freshDbName())
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  await db.db.collection('states').insertOne({ _id: 'a', state } as never)
  await db.db.collection('states').updateOne({ _id: 'a' } as never, { $set: { state } })
  t.same((await db.db.collection('states').findOne({ _id: 'a' } as never))?.state, state, 'the state stores and reads back')
})
