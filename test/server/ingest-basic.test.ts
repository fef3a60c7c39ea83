import t from 'tap'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'

t.test('one event is stored, scored and explained in the ledger', async (t) => {
  const { app, db } = await buildTestApp(t)
  const res = await postEvents(app, { externalId: 'e1', lead: { email: 'Ada@Example.com', name: 'Ada' }, type: 'demo_request' })
  t.equal(res.statusCode, 202)
  t.match(res.json(), { submitted: 1, accepted: 1, duplicates: 0, rejected: 0, results: [{ index: 0, status: 'accepted' }] })
  await waitForScoring(db)
  const leadId = res.json().results[0].leadId as string
  const lead = (await app.inject({ url: `/v1/leads/${leadId}`, headers: AUTH })).json()
  t.equal(lead.email, 'ada@example.com')
  t.equal(lead.score, 50)
  t.equal(lead.stage, 'MQL')
  const hist = (await app.inject({ url: `/v1/leads/${leadId}/history`, headers: AUTH })).json()
  t.equal(hist.items.length, 1)
  t.match(hist.items[0], { delta: 50, reasons: [{ ruleId: 'demo-request', points: 50, ruleVersion: 1 }] })
})

t.test('a duplicate delivery is answered duplicate and stored once', async (t) => {
  const { app, db } = await buildTestApp(t)
  const ev = { externalId: 'dup-1', lead: { email: 'b@example.com' }, type: 'page_view' }
  const results = await Promise.all(Array.from({ length: 10 }, async () => await postEvents(app, ev)))
  for (const r of results) t.equal(r.statusCode, 202)
  const statuses = results.map((r) => r.json().results[0].status as string)
  t.equal(statuses.filter((s) => s === 'accepted').length, 1)
  t.equal(statuses.filter((s) => s === 'duplicate').length, 9)
  t.equal(await db.c.events.countDocuments({ externalId: 'dup-1' }), 1)
})

t.test('requests without a key are refused with a problem', async (t) => {
  const { app } = await buildTestApp(t)
  const res = await app.inject({ method: 'GET', url: '/v1/leads' })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.match(res.json(), { code: 'LS_ERR_UNAUTHORIZED', status: 401 })
})
