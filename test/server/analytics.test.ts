// Analytics for the console: the score distribution and the stage funnel are counted by the server over a streamed
// projection (FerretDB has no $bucket), with contiguous bands and the published ruleset's stage order.
import t from 'tap'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'

t.test('score distribution and stage funnel', async (t) => {
  const { app, db } = await buildTestApp(t)
  const res = await postEvents(app, { events: [
    { externalId: 'a1', lead: { email: 'a@example.com' }, type: 'page_view' }, // 5, Cold
    { externalId: 'b1', lead: { email: 'b@example.com' }, type: 'demo_request' }, // 50, MQL
    { externalId: 'c1', lead: { email: 'c@example.com' }, type: 'purchase' }, // 100, SQL
    { externalId: 'd1', lead: { email: 'd@example.com' }, type: 'form_submit' }, // 20, Nurture
  ] })
  t.equal(res.statusCode, 202)
  const created = await app.inject({ method: 'POST', url: '/v1/leads', headers: AUTH, payload: { email: 'e@example.com' } }) // 0, Cold
  t.equal(created.statusCode, 201)
  await waitForScoring(db)

  const d10 = await app.inject({ url: '/v1/analytics/score-distribution?bucket=10', headers: AUTH })
  t.equal(d10.statusCode, 200)
  const body = d10.json() as { bucket: number; total: number; min: number; max: number; buckets: Array<{ from: number; to: number; count: number }> }
  t.match(body, { bucket: 10, total: 5, min: 0, max: 100 })
  t.equal(body.buckets.length, 11, 'contiguous bands from 0 to 100')
  t.same(body.buckets.map((b) => b.from), [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
  t.same(body.buckets.map((b) => b.count), [2, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1])
  t.same(body.buckets[0], { from: 0, to: 10, count: 2 })

  const d50 = (await app.inject({ url: '/v1/analytics/score-distribution?bucket=50', headers: AUTH })).json() as typeof body
  t.same(d50.buckets, [{ from: 0, to: 50, count: 3 }, { from: 50, to: 100, count: 1 }, { from: 100, to: 150, count: 1 }])
  const mql = (await app.inject({ url: '/v1/analytics/score-distribution?stage=MQL', headers: AUTH })).json() as typeof body
  t.match(mql, { bucket: 10, total: 1, buckets: [{ from: 50, to: 60, count: 1 }] }, 'bucket defaults to 10; stage filters')
  const none = (await app.inject({ url: '/v1/analytics/score-distribution?stage=Nope', headers: AUTH })).json() as typeof body
  t.same(none, { bucket: 10, total: 0, min: null, max: null, buckets: [] })
  t.equal((await app.inject({ url: '/v1/analytics/score-distribution?bucket=0', headers: AUTH })).statusCode, 400)
  t.equal((await app.inject({ url: '/v1/analytics/score-distribution' })).statusCode, 401)

  const funnel = await app.inject({ url: '/v1/analytics/stages', headers: AUTH })
  t.equal(funnel.statusCode, 200)
  t.same(funnel.json(), {
    total: 5,
    rulesetVersion: 1,
    stages: [
      { name: 'Cold', min: 0, count: 2, reached: 5 },
      { name: 'Nurture', min: 20, count: 1, reached: 3 },
      { name: 'MQL', min: 50, count: 1, reached: 2 },
      { name: 'SQL', min: 100, count: 1, reached: 1 },
    ],
    other: [],
  })

  // a stage the ruleset no longer defines is listed apart
  await db.c.leads.updateOne({ email: 'e@example.com' }, { $set: { stage: 'Legacy' } })
  const after = (await app.inject({ url: '/v1/analytics/stages', headers: AUTH })).json() as { stages: Array<{ name: string; count: number }>; other: unknown }
  t.same(after.other, [{ name: 'Legacy', count: 1 }])
  t.equal(after.stages[0]!.count, 1)

  // readable by a read-only key
  const key = await app.inject({ method: 'POST', url: '/v1/api-keys', headers: AUTH, payload: { name: 'dash', scopes: ['read'] } })
  t.equal((await app.inject({ url: '/v1/analytics/stages', headers: { authorization: `Bearer ${key.json().key}` } })).statusCode, 200)
})
