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

t.test('concurrent requests are stored together (group commit), and each is answered for its own events', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const metric = async (name: string): Promise<number> => {
    const text = (await app.inject({ url: '/metrics', headers: AUTH })).body
    const m = new RegExp(`^${name}\\{source="api"\\} (\\d+)$`, 'm').exec(text)
    return m === null ? 0 : Number(m[1])
  }
  const ev = (id: string, i: number) => ({ externalId: id, lead: { email: `g${i % 7}@group.example` }, type: 'email_open' })
  // 40 requests at once: singles, and batches of three whose middle event is invalid (no type)
  const bodies = Array.from({ length: 40 }, (_, i) => i % 4 === 0
    ? { events: [ev(`g${i}-a`, i), { externalId: `g${i}-bad`, lead: { email: 'x@group.example' } }, ev(`g${i}-c`, i)] }
    : ev(`g${i}`, i))
  const answers = await Promise.all(bodies.map(async (b, i) => await postEvents(app, b, { 'x-request-id': `grp-${i}` })))
  answers.forEach((r, i) => {
    t.equal(r.statusCode, 202, `request ${i} answered`)
    const body = r.json()
    if (i % 4 === 0) {
      t.match(body, { submitted: 3, accepted: 2, duplicates: 0, rejected: 1 }, `batch ${i}: its own counts`)
      t.same(body.results.map((x: { index: number; status: string }) => [x.index, x.status]), [[0, 'accepted'], [1, 'rejected'], [2, 'accepted']], `batch ${i}: its own results, indexed from 0`)
    } else {
      t.match(body, { submitted: 1, accepted: 1, duplicates: 0, rejected: 0, results: [{ index: 0, status: 'accepted' }] }, `single ${i}`)
    }
  })
  const stored = await db.c.events.find({ externalId: { $regex: /^g\d+/ } }).project<{ externalId: string; requestId: string }>({ externalId: 1, requestId: 1 }).toArray()
  t.equal(stored.length, 30 + 10 * 2, 'every valid event stored once')
  t.ok(stored.every((e) => e.requestId === `grp-${/^g(\d+)/.exec(e.externalId)![1]}`), 'each stored event names the request it came with')
  const rejects = await db.c.ingestRejects.find({ requestId: { $regex: /^grp-/ } }).toArray()
  t.same(rejects.map((r) => [r.requestId, r.index]).sort(), Array.from({ length: 10 }, (_, k) => [`grp-${k * 4}`, 1]).sort(), 'each reject names its request and its index in that request')
  const groups = await metric('leadscore_ingest_groups_total')
  const grouped = await metric('leadscore_ingest_grouped_requests_total')
  t.equal(grouped, 40, 'every request went through a group commit')
  t.ok(groups < grouped, `fewer stores than requests: ${grouped} requests in ${groups} groups`)
})
