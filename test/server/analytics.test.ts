// Analytics for the console: the score distribution, the stage funnel, conversion per score band, events per type
// over time and the top sources, read from the counters kept at each scoring commit, with contiguous bands, UTC time
// buckets and the published ruleset's stage order.
import t from 'tap'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'
import { createSource } from '../helpers/sources.js'

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

  // a stage the ruleset no longer defines is listed apart (written behind the server's back, so the counters are
  // rebuilt from the leads)
  await db.c.leads.updateOne({ email: 'e@example.com' }, { $set: { stage: 'Legacy' } })
  const stale = (await app.inject({ url: '/v1/analytics/stages', headers: AUTH })).json() as { other: unknown }
  t.same(stale.other, [], 'counters do not see a write that bypassed the server')
  const job = await app.inject({ method: 'POST', url: '/v1/views/rebuild', headers: AUTH })
  t.equal(job.statusCode, 202)
  for (let i = 0; i < 200; i++) {
    const j = (await app.inject({ url: `/v1/jobs/${job.json().id as string}`, headers: AUTH })).json() as { state: string }
    if (j.state === 'done' || j.state === 'failed') { t.equal(j.state, 'done', 'the rebuild finished'); break }
    await new Promise((r) => setTimeout(r, 100))
  }
  const after = (await app.inject({ url: '/v1/analytics/stages', headers: AUTH })).json() as { stages: Array<{ name: string; count: number }>; other: unknown }
  t.same(after.other, [{ name: 'Legacy', count: 1 }])
  t.equal(after.stages[0]!.count, 1)

  // readable by a read-only key
  const key = await app.inject({ method: 'POST', url: '/v1/api-keys', headers: AUTH, payload: { name: 'dash', scopes: ['read'] } })
  t.equal((await app.inject({ url: '/v1/analytics/stages', headers: { authorization: `Bearer ${key.json().key}` } })).statusCode, 200)
})

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const PROBLEM = 'application/problem+json; charset=utf-8'

t.test('with no leads and no events every aggregate is empty', async (t) => {
  const { app } = await buildTestApp(t, {}, { now: () => new Date('2024-03-06T15:30:00Z') })
  const get = async (url: string): Promise<Json> => {
    const res = await app.inject({ url, headers: AUTH })
    t.equal(res.statusCode, 200, url)
    return res.json<Json>()
  }
  t.same(await get('/v1/analytics/conversion-by-score'), {
    bucket: 10, total: 0, converted: 0, rate: 0, conversion: { status: 'converted', eventType: 'purchase' }, buckets: [],
  })
  t.same(await get('/v1/analytics/sources'), {
    total: 0, converted: 0, rate: 0, conversion: { status: 'converted', eventType: 'purchase' }, sort: 'avgScore', sources: [], more: 0,
    none: { leads: 0, avgScore: 0, converted: 0, rate: 0 },
  })
  // default range: the last 30 days up to now, widened to whole UTC days
  const ev = await get('/v1/analytics/events-over-time')
  t.match(ev, { granularity: 'day', from: '2024-02-05T00:00:00.000Z', to: '2024-03-07T00:00:00.000Z', total: 0, series: [], other: { types: 0, total: 0 } })
  t.equal(ev.buckets.length, 31)
  t.equal(ev.buckets[30], '2024-03-06T00:00:00.000Z')
  t.same(ev.other.counts, new Array(31).fill(0))
  const hours = await get('/v1/analytics/events-over-time?granularity=hour')
  t.match(hours, { from: '2024-03-04T15:00:00.000Z', to: '2024-03-06T16:00:00.000Z' })
  t.equal(hours.buckets.length, 49)
  const weeks = await get('/v1/analytics/events-over-time?granularity=week')
  t.match(weeks, { from: '2023-09-04T00:00:00.000Z', to: '2024-03-11T00:00:00.000Z' }, 'weeks start on Monday')
  t.equal(weeks.buckets.length, 27)
})

t.test('conversion per score band, events per type over time and top sources, from a seeded fixture', async (t) => {
  const { app } = await buildTestApp(t)
  const crm = await createSource(app, { type: 'webhook', name: 'CRM' })
  const ev = (externalId: string, email: string, type: string, occurredAt: string) => ({ externalId, lead: { email }, type, occurredAt })
  // REST API (source `api`)
  const rest = await postEvents(app, { events: [
    ev('a1', 'a@example.com', 'page_view', '2024-03-04T00:00:00Z'), // a: 5; at the start of a day and of a week
    ev('b1', 'b@example.com', 'demo_request', '2024-03-04T23:59:59.999Z'), // the last instant of Monday
    ev('c1', 'c@example.com', 'purchase', '2024-03-06T12:00:00+02:00'), // c: 100, converted by event; 10:00 UTC
    ev('d1', 'd@example.com', 'form_submit', '2024-03-10T23:30:00-01:00'), // d: 20; Monday 00:30 UTC of the next week
  ] })
  t.equal(rest.json().accepted, 4)
  // a configured source with a name, and one stored source id no instance stands for
  const viaCrm = await app.core.ingest.ingest([
    ev('b2', 'b@example.com', 'email_open', '2024-03-05T00:00:00Z'), // b: 50 + 10 = 60, sources api + CRM
    ev('e1', 'e@example.com', 'demo_request', '2024-03-05T10:00:00Z'),
    ev('e2', 'e@example.com', 'page_view', '2024-03-05T10:30:00Z'), // e: 55
    ev('f1', 'f@example.com', 'page_view', '2024-03-05T11:00:00Z'),
    ev('f2', 'f@example.com', 'page_view', '2024-03-07T09:00:00Z'), // f: 10
  ], { sourceId: crm.id as string, requestId: 'seed-crm' })
  t.equal(viaCrm.accepted, 5)
  const legacy = await app.core.ingest.ingest([
    ev('g1', 'g@example.com', 'purchase', '2024-03-03T23:00:00Z'), // g: 100, converted by event; a Sunday
  ], { sourceId: 'legacy', requestId: 'seed-legacy' })
  t.equal(legacy.accepted, 1)
  // leads without any source: h (0) and i (0, converted by status)
  for (const payload of [{ email: 'h@example.com' }, { email: 'i@example.com', status: 'converted' }]) {
    t.equal((await app.inject({ method: 'POST', url: '/v1/leads', headers: AUTH, payload })).statusCode, 201)
  }
  await waitForScoring(app.core.database)
  // d converts by status after its events were scored
  const d = (await app.inject({ url: '/v1/leads?q=d%40example.com', headers: AUTH })).json<Json>().items[0]
  t.equal((await app.inject({ method: 'PATCH', url: `/v1/leads/${d.id as string}`, headers: AUTH, payload: { status: 'converted' } })).statusCode, 200)
  const get = async (url: string): Promise<Json> => {
    const res = await app.inject({ url, headers: AUTH })
    t.equal(res.statusCode, 200, url)
    return res.json<Json>()
  }
  const scores = Object.fromEntries(((await get('/v1/leads?limit=50')).items as Json[]).map((l) => [l.email, l.score]))
  t.same(scores, { 'a@example.com': 5, 'b@example.com': 60, 'c@example.com': 100, 'd@example.com': 20, 'e@example.com': 55, 'f@example.com': 10, 'g@example.com': 100, 'h@example.com': 0, 'i@example.com': 0 }, 'the fixture scored as planned')

  await t.test('conversion by score band', async (t) => {
    const by50 = await get('/v1/analytics/conversion-by-score?bucket=50')
    t.same(by50, {
      bucket: 50, total: 9, converted: 4, rate: 0.4444, conversion: { status: 'converted', eventType: 'purchase' },
      buckets: [
        { from: 0, to: 50, leads: 5, converted: 2, rate: 0.4 }, // a, d (status), f, h, i (status)
        { from: 50, to: 100, leads: 2, converted: 0, rate: 0 }, // b, e
        { from: 100, to: 150, leads: 2, converted: 2, rate: 1 }, // c, g (purchase events)
      ],
    })
    const by10 = await get('/v1/analytics/conversion-by-score')
    t.equal(by10.bucket, 10)
    t.same(by10.buckets.map((b: Json) => [b.from, b.leads, b.converted]), [
      [0, 3, 1], [10, 1, 0], [20, 1, 1], [30, 0, 0], [40, 0, 0], [50, 1, 0], [60, 1, 0], [70, 0, 0], [80, 0, 0], [90, 0, 0], [100, 2, 2],
    ], 'contiguous bands; a score on a band edge belongs to the band it starts')
    t.same(by10.buckets[3], { from: 30, to: 40, leads: 0, converted: 0, rate: 0 })
    const sql = await get('/v1/analytics/conversion-by-score?stage=SQL&bucket=100')
    t.same(sql.buckets, [{ from: 100, to: 200, leads: 2, converted: 2, rate: 1 }])
    t.match(sql, { total: 2, converted: 2, rate: 1 })
  })

  await t.test('top sources', async (t) => {
    const bySore = await get('/v1/analytics/sources')
    t.same(bySore, {
      total: 9, converted: 4, rate: 0.4444, conversion: { status: 'converted', eventType: 'purchase' }, sort: 'avgScore',
      sources: [
        { sourceId: 'legacy', name: null, leads: 1, avgScore: 100, converted: 1, rate: 1 },
        { sourceId: 'api', name: 'REST API', leads: 4, avgScore: 46.25, converted: 2, rate: 0.5 }, // a, b, c, d
        { sourceId: crm.id, name: 'CRM', leads: 3, avgScore: 41.67, converted: 0, rate: 0 }, // b, e, f: 125 / 3
      ],
      more: 0,
      none: { leads: 2, avgScore: 0, converted: 1, rate: 0.5 },
    })
    t.same((await get('/v1/analytics/sources?sort=leads')).sources.map((s: Json) => s.sourceId), ['api', crm.id, 'legacy'])
    t.same((await get('/v1/analytics/sources?sort=conversionRate')).sources.map((s: Json) => s.sourceId), ['legacy', 'api', crm.id])
    const one = await get('/v1/analytics/sources?sort=leads&limit=1')
    t.match(one, { sources: [{ sourceId: 'api', leads: 4 }], more: 2 })
    t.equal(one.sources.length, 1)
  })

  await t.test('events per type over time, in UTC buckets', async (t) => {
    const days = await get('/v1/analytics/events-over-time?granularity=day&from=2024-03-04T00:00:00Z&to=2024-03-08T00:00:00Z')
    t.same(days, {
      granularity: 'day', from: '2024-03-04T00:00:00.000Z', to: '2024-03-08T00:00:00.000Z', total: 8,
      buckets: ['2024-03-04T00:00:00.000Z', '2024-03-05T00:00:00.000Z', '2024-03-06T00:00:00.000Z', '2024-03-07T00:00:00.000Z'],
      series: [
        { type: 'page_view', total: 4, counts: [1, 2, 0, 1] },
        { type: 'demo_request', total: 2, counts: [1, 1, 0, 0] }, // 23:59:59.999 stays on Monday
        { type: 'email_open', total: 1, counts: [0, 1, 0, 0] }, // ties are in name order
        { type: 'purchase', total: 1, counts: [0, 0, 1, 0] }, // 12:00+02:00 is Wednesday 10:00 UTC
      ],
      other: { types: 0, total: 0, counts: [0, 0, 0, 0] },
    })
    const top2 = await get('/v1/analytics/events-over-time?from=2024-03-04T00:00:00Z&to=2024-03-08T00:00:00Z&top=2')
    t.same(top2.series.map((s: Json) => s.type), ['page_view', 'demo_request'])
    t.same(top2.other, { types: 2, total: 2, counts: [0, 1, 1, 0] })
    // a range not on bucket boundaries is widened to whole weeks (Monday 00:00 UTC)
    const weeks = await get('/v1/analytics/events-over-time?granularity=week&from=2024-03-01T00:00:00Z&to=2024-03-12T00:00:00Z')
    t.match(weeks, { from: '2024-02-26T00:00:00.000Z', to: '2024-03-18T00:00:00.000Z', total: 10 })
    t.same(weeks.buckets, ['2024-02-26T00:00:00.000Z', '2024-03-04T00:00:00.000Z', '2024-03-11T00:00:00.000Z'])
    t.same(weeks.series.find((s: Json) => s.type === 'purchase').counts, [1, 1, 0], 'Sunday 23:00 UTC is in the week before')
    t.same(weeks.series.find((s: Json) => s.type === 'form_submit').counts, [0, 0, 1], '23:30-01:00 on Sunday is Monday UTC')
    // the end is exclusive: the page view at 11:00 is not in the 10:00 hour
    const hour = await get('/v1/analytics/events-over-time?granularity=hour&from=2024-03-05T10:15:00Z&to=2024-03-05T11:00:00Z')
    t.same(hour, {
      granularity: 'hour', from: '2024-03-05T10:00:00.000Z', to: '2024-03-05T11:00:00.000Z', total: 2, buckets: ['2024-03-05T10:00:00.000Z'],
      series: [{ type: 'demo_request', total: 1, counts: [1] }, { type: 'page_view', total: 1, counts: [1] }],
      other: { types: 0, total: 0, counts: [0] },
    })
    // a time zone offset in the query is honoured: 12:00+02:00 to 13:00+02:00 is 10:00 to 11:00 UTC
    t.equal((await get('/v1/analytics/events-over-time?granularity=hour&from=2024-03-05T12:00:00%2B02:00&to=2024-03-05T13:00:00%2B02:00')).total, 2)
    // the largest range allowed: 1000 hours
    const most = await get('/v1/analytics/events-over-time?granularity=hour&from=2024-01-01T00:00:00Z&to=2024-02-11T16:00:00Z')
    t.equal(most.buckets.length, 1000)
    t.equal(most.total, 0)
  })

  await t.test('bad input is a 400 problem', async (t) => {
    for (const [url, detail] of [
      ['/v1/analytics/events-over-time?from=2024-03-05T00:00:00Z&to=2024-03-05T00:00:00Z', /from must be before to/],
      ['/v1/analytics/events-over-time?from=2024-03-06T00:00:00Z&to=2024-03-05T00:00:00Z', /from must be before to/],
      ['/v1/analytics/events-over-time?granularity=hour&from=2024-01-01T00:00:00Z&to=2024-02-11T16:00:01Z', /1001 hour buckets; at most 1000/],
      ['/v1/analytics/events-over-time?granularity=day&from=2000-01-01T00:00:00Z&to=2024-01-01T00:00:00Z', /at most 1000/],
      ['/v1/analytics/events-over-time?granularity=month', /granularity/],
      ['/v1/analytics/events-over-time?from=yesterday', /from/],
      ['/v1/analytics/events-over-time?top=0', /top/],
      ['/v1/analytics/events-over-time?top=51', /top/],
      ['/v1/analytics/events-over-time?unknown=1', /unknown|additional/],
      ['/v1/analytics/conversion-by-score?bucket=0', /bucket/],
      ['/v1/analytics/sources?limit=101', /limit/],
      ['/v1/analytics/sources?sort=name', /sort/],
    ] as const) {
      const res = await app.inject({ url, headers: AUTH })
      t.equal(res.statusCode, 400, url)
      t.equal(res.headers['content-type'], PROBLEM, url)
      t.match(res.json(), { code: 'LS_ERR_VALIDATION', status: 400, detail }, url)
    }
    for (const url of ['/v1/analytics/conversion-by-score', '/v1/analytics/events-over-time', '/v1/analytics/sources']) {
      t.equal((await app.inject({ url })).statusCode, 401, `${url} needs a key`)
    }
    const key = await app.inject({ method: 'POST', url: '/v1/api-keys', headers: AUTH, payload: { name: 'dash', scopes: ['read'] } })
    const read = { authorization: `Bearer ${key.json().key as string}` }
    for (const url of ['/v1/analytics/conversion-by-score', '/v1/analytics/events-over-time', '/v1/analytics/sources']) {
      t.equal((await app.inject({ url, headers: read })).statusCode, 200, `${url} is readable with the read scope`)
    }
  })
})
