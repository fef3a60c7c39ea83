// A lead whose scoring run fails (here: twice, just before its commit) is tried again after a delay, keeps its
// pending marker meanwhile, and is scored in the end; the leads batched with it are scored without waiting for it.
import t from 'tap'
import { AUTH, buildTestApp, postEvents, waitForScoring } from '../helpers/harness.js'
import { leadIdOf } from '../../server/src/domain/ids.js'

t.test('a lead whose run fails is retried with backoff until it is scored', { timeout: 120_000 }, async (t) => {
  const failing = leadIdOf('email:flaky@example.com')
  let failuresLeft = 2
  const failedAt: number[] = []
  const { app, db } = await buildTestApp(t, {}, {
    beforeCommit: async (leadId) => {
      if (leadId !== failing || failuresLeft === 0) return
      failuresLeft--
      failedAt.push(Date.now())
      throw new Error('a transient failure of this lead (test)')
    },
  })
  const events = ['flaky', 'steady-1', 'steady-2'].flatMap((who) => [1, 2].map((h) => ({
    type: 'page_view', externalId: `${who}-${h}`, occurredAt: `2026-01-01T0${h}:00:00Z`, lead: { email: `${who}@example.com` },
  })))
  const res = await postEvents(app, { events })
  t.equal(res.statusCode, 202)
  t.equal(res.json<{ accepted: number }>().accepted, 6, 'every event accepted')

  // the others are scored while the failing lead waits for its retry
  const steady = leadIdOf('email:steady-1@example.com')
  for (let i = 0; i < 300 && (await db.c.leads.findOne({ _id: steady }))?.lastSeq !== 2; i++) await new Promise((r) => setTimeout(r, 100))
  t.equal((await db.c.leads.findOne({ _id: steady }))?.lastSeq, 2, 'a lead batched with the failing one is scored')

  await waitForScoring(db, 30_000)
  t.equal(failuresLeft, 0, 'the failing lead ran three times')
  t.ok(failedAt[1]! - failedAt[0]! >= 900, `the second try waited for its backoff (${failedAt[1]! - failedAt[0]!} ms)`)
  const lead = await db.c.leads.findOne({ _id: failing })
  t.equal(lead?.lastSeq, 2, 'both events of the failing lead are scored')
  t.equal(await db.c.pendingLeads.countDocuments({ _id: failing }), 0, 'its marker went once it was scored')
  const ledger = await db.c.scoreHistory.find({ leadId: failing }).toArray()
  const visible = ledger.filter((e) => e.committed && !e.superseded)
  t.same(visible.map((e) => e.seq).sort(), [1, 2], 'one visible ledger entry per event, none from the failed tries')
  const shown = (await app.inject({ url: `/v1/leads/${failing}`, headers: AUTH })).json<{ score: number }>()
  t.ok(shown.score > 0 && shown.score === lead?.score, `the API shows the score (${shown.score})`)
})
