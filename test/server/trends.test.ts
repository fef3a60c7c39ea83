// Trends and time travel: a lead's score per bucket, a lead and the leaderboard as of a time, all from the ledger in
// event time. Expectations are computed by hand from the ruleset below.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'
import { leaderboardAsOf } from '../../server/src/domain/trends/as-of.js'
import { readLedger } from '../../server/src/domain/trends/ledger-reader.js'
import { loadLeads, leadAt, STAGES } from '../helpers/large-dataset.js'
import { initialState } from '../../server/src/domain/scoring/model.js'
import type { LedgerDoc } from '../../server/src/domain/types.js'
import { bucketStart, bucketStarts, nextBucket } from '../../server/src/domain/trends/trend.js'

type Json = any // eslint-disable-line @typescript-eslint/no-explicit-any

const RULES = `cap total 1000
floor total 0
decay engagement 10% every 30d after 14d inactivity
stage Cold at 0
stage MQL at 50 exit below 40
grade A at 40
grade B at 20
grade C at 0
known events email_open, form_submit, fit_signal

rule "Email open"
  when event.type == "email_open"
  then +10 engagement

rule "Form submit"
  when event.type == "form_submit"
  then +40 engagement

rule "Fit"
  when event.type == "fit_signal"
  then +25 fit
`

async function get (app: FastifyInstance, url: string): Promise<{ status: number; body: Json; type: string }> {
  const r = await app.inject({ url, headers: AUTH })
  return { status: r.statusCode, body: r.json(), type: String(r.headers['content-type']) }
}

async function publish (app: FastifyInstance, source: string): Promise<void> {
  const h = { ...AUTH, 'content-type': 'application/json' }
  const d = await app.inject({ method: 'POST', url: '/v1/rulesets', headers: h, payload: JSON.stringify({ source }) })
  const p = await app.inject({ method: 'POST', url: `/v1/rulesets/${d.json().version as number}/publish`, headers: h, payload: '{}' })
  if (p.statusCode !== 200) throw new Error(`publish: ${p.statusCode} ${p.body}`)
}

const ev = (id: string, email: string, type: string, at: string) => ({ externalId: id, lead: { email }, type, occurredAt: at })

t.test('UTC buckets: weeks start on Monday, months on the 1st, and the range is capped', async (t) => {
  t.equal(new Date(bucketStart(Date.parse('2025-01-08T13:00:00Z'), 'week')).toISOString(), '2025-01-06T00:00:00.000Z')
  t.equal(new Date(bucketStart(Date.parse('2025-01-06T00:00:00Z'), 'week')).toISOString(), '2025-01-06T00:00:00.000Z')
  t.equal(new Date(bucketStart(Date.parse('2025-01-05T23:59:59Z'), 'week')).toISOString(), '2024-12-30T00:00:00.000Z')
  t.equal(new Date(nextBucket(Date.parse('2025-01-01T00:00:00Z'), 'month')).toISOString(), '2025-02-01T00:00:00.000Z')
  t.equal(new Date(nextBucket(Date.parse('2024-12-01T00:00:00Z'), 'month')).toISOString(), '2025-01-01T00:00:00.000Z')
  t.equal(bucketStarts(Date.parse('2025-01-01T05:00:00Z'), Date.parse('2025-01-03T00:00:00Z'), 'day')?.length, 2)
  t.equal(bucketStarts(Date.parse('2025-01-01T00:00:00Z'), Date.parse('2025-03-01T00:00:00Z'), 'hour'), null, 'over 1000 buckets')
})

t.test('trend, lead as of and leaderboard as of, with a late event and decay', { timeout: 300_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  await publish(app, RULES)
  const A = 'a@example.com'
  const B = 'b@example.com'
  const C = 'c@example.com'
  const D = 'd@example.com'
  let r = await postEvents(app, { events: [
    ev('a1', A, 'email_open', '2025-01-01T10:00:00Z'), // A 10
    ev('a2', A, 'form_submit', '2025-01-01T15:00:00Z'), // A 50, MQL
    ev('a3', A, 'fit_signal', '2025-01-03T09:00:00Z'), // A 75, fit 25: grade B
    ev('b1', B, 'form_submit', '2025-01-01T11:00:00Z'), // B 40
    ev('c1', C, 'email_open', '2025-01-01T09:00:00Z'), // C 10
  ] })
  t.equal(r.statusCode, 202)
  const ids: string[] = r.json().results.map((x: Json) => x.leadId)
  const [a, b, c] = [ids[0]!, ids[3]!, ids[4]!]
  await waitForScoring(db)
  const beforeLate = new Date()
  await new Promise((r) => setTimeout(r, 20))

  let tr = await get(app, `/v1/leads/${a}/trend?bucket=day&from=2025-01-01T00:00:00Z&to=2025-01-05T00:00:00Z`)
  t.equal(tr.status, 200, JSON.stringify(tr.body).slice(0, 300))
  t.same(tr.body.buckets.map((x: Json) => x.score), [50, 50, 75, 75])
  t.match(tr.body.buckets[1], { start: '2025-01-02T00:00:00.000Z', end: '2025-01-03T00:00:00.000Z', entries: 0, min: 50, max: 50 })

  // the late event (Jan 2) replays A: its past changes
  r = await postEvents(app, { events: [ev('a4', A, 'email_open', '2025-01-02T12:00:00Z')] })
  t.equal(r.statusCode, 202)
  await waitForScoring(db)
  // Mar 1: 56d15h after the last activity (Jan 3 09:00): one 30d period past the 14d grace → 60 × 0.9 = 54 (-6), +10
  r = await postEvents(app, { events: [
    ev('a5', A, 'email_open', '2025-03-01T00:00:00Z'),
    ev('b2', B, 'form_submit', '2025-02-10T00:00:00Z'), // B: 40 days quiet, no whole period past the grace → 80
    ev('d1', D, 'email_open', '2025-02-05T00:00:00Z'), // D exists from Feb 5 (event time)
  ] })
  t.equal(r.statusCode, 202)
  await waitForScoring(db)

  tr = await get(app, `/v1/leads/${a}/trend?bucket=day&from=2025-01-01T00:00:00Z&to=2025-01-05T00:00:00Z`)
  t.equal(tr.body.from, '2025-01-01T00:00:00.000Z')
  t.equal(tr.body.to, '2025-01-05T00:00:00.000Z')
  t.match(tr.body.buckets, [
    { start: '2025-01-01T00:00:00.000Z', score: 50, engagement: 50, fit: 0, min: 0, max: 50, gained: 50, lost: 0, entries: 2, stage: 'MQL', grade: 'C' },
    { start: '2025-01-02T00:00:00.000Z', score: 60, engagement: 60, min: 50, max: 60, gained: 10, entries: 1 },
    { start: '2025-01-03T00:00:00.000Z', score: 85, engagement: 60, fit: 25, min: 60, max: 85, gained: 25, entries: 1, grade: 'B' },
    { start: '2025-01-04T00:00:00.000Z', score: 85, min: 85, max: 85, gained: 0, lost: 0, entries: 0 },
  ])
  t.equal(tr.body.buckets.length, 4)

  tr = await get(app, `/v1/leads/${a}/trend?bucket=month&from=2025-01-15T00:00:00Z&to=2025-03-02T00:00:00Z`)
  t.equal(tr.status, 200)
  t.match(tr.body.buckets, [
    { start: '2025-01-01T00:00:00.000Z', end: '2025-02-01T00:00:00.000Z', score: 85, min: 0, max: 85, gained: 85, lost: 0, entries: 4 },
    { start: '2025-02-01T00:00:00.000Z', score: 85, min: 85, max: 85, entries: 0 },
    { start: '2025-03-01T00:00:00.000Z', end: '2025-04-01T00:00:00.000Z', score: 89, engagement: 64, fit: 25, min: 85, max: 89, gained: 10, lost: 6, entries: 1 },
  ])
  // the trend stops at `to`: the Mar 1 entry is not in a range ending at it
  tr = await get(app, `/v1/leads/${a}/trend?bucket=week&from=2025-02-20T00:00:00Z&to=2025-03-01T00:00:00Z`)
  t.same(tr.body.buckets.map((x: Json) => [x.start, x.score, x.entries]), [['2025-02-17T00:00:00.000Z', 85, 0], ['2025-02-24T00:00:00.000Z', 85, 0]])

  // a lead as of a time: event time, with late events recorded since included ...
  let one = await get(app, `/v1/leads/${a}?asOf=2025-01-02T23:59:59Z`)
  t.equal(one.status, 200)
  t.match(one.body, { id: a, score: 60, scores: { engagement: 60, fit: 0, intent: 0 }, stage: 'MQL', grade: 'C', asOf: { at: '2025-01-02T23:59:59.000Z', knownAt: null } })
  t.type(one.body.asOf.entryId, 'string')
  // ... or not, with knownAt before they were recorded
  one = await get(app, `/v1/leads/${a}?asOf=2025-01-02T23:59:59Z&knownAt=${beforeLate.toISOString()}`)
  t.match(one.body, { score: 50, asOf: { knownAt: beforeLate.toISOString() } })
  one = await get(app, `/v1/leads/${a}?asOf=2025-01-05T00:00:00Z&knownAt=${beforeLate.toISOString()}`)
  t.equal(one.body.score, 75, 'knownAt: the entries the late event replaced are seen again')
  one = await get(app, `/v1/leads/${a}?asOf=2025-03-01T00:00:00Z`)
  t.match(one.body, { score: 89, scores: { engagement: 64 } }, 'an entry exactly at asOf counts')
  one = await get(app, `/v1/leads/${a}`)
  t.equal(one.body.score, 89)
  t.notOk('asOf' in one.body)
  const dId = (await db.c.leads.findOne({ email: D }))!._id
  one = await get(app, `/v1/leads/${dId}?asOf=2025-01-05T00:00:00Z`)
  t.equal(one.status, 404, 'a lead whose first event came later did not exist then')
  t.match(one.body, { code: 'LS_ERR_LEAD_NOT_FOUND' })

  // the leaderboard as of a time
  const board = async (q: string): Promise<Array<[string, number]>> => {
    const res = await get(app, `/v1/leaderboard?${q}`)
    t.equal(res.status, 200, JSON.stringify(res.body).slice(0, 300))
    return res.body.items.map((l: Json) => [l.id, l.score])
  }
  // equal scores come in id order
  const byId = (xs: Array<[string, number]>): Array<[string, number]> => xs.sort((x, y) => x[0] < y[0] ? -1 : 1)
  const tie = byId([[a, 10], [c, 10]])
  t.same(await board('limit=10'), [[a, 89], [b, 80], ...byId([[c, 10], [dId, 10]])])
  t.same(await board('limit=10&asOf=2025-01-05T00:00:00Z'), [[a, 85], [b, 40], [c, 10]])
  t.same(await board('limit=10&asOf=2025-01-01T12:00:00Z'), [[b, 40], ...tie])
  t.same(await board('limit=1&asOf=2025-01-05T00:00:00Z'), [[a, 85]])
  t.same(await board('limit=10&asOf=2025-01-05T00:00:00Z&stage=MQL'), [[a, 85]], 'the stage as of then')
  t.same(await board('limit=10&stage=MQL'), [[a, 89], [b, 80]])
  t.same(await board('limit=10&asOf=2025-02-06T00:00:00Z'), [[a, 85], [b, 40], ...byId([[c, 10], [dId, 10]])])
  t.same(await board('limit=10&asOf=2024-12-01T00:00:00Z'), [], 'nobody before the first event')

  // the bound: more leads changed after asOf than allowed is a problem, not a slow answer
  await t.rejects(leaderboardAsOf({ scoreHistory: db.c.scoreHistory, ferret: app.core.database.ferret, views: app.core.views }, {
    at: new Date('2025-01-05T00:00:00Z'), limit: 10, settings: (await app.core.rulesets.active()).settings, maxChanged: 1,
  }), { code: 'LS_ERR_AS_OF_TOO_FAR', statusCode: 422 })
})

t.test('the leaderboard as of a time agrees with a brute-force model over 300 leads', { timeout: 300_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const N = 300
  const PER = 3
  const now = new Date()
  await loadLeads(db, N, { perLead: PER, now })
  // a ledger entry per event: entry i of a lead holds score × i / PER, so the last one holds the lead's score
  const stageOf = (total: number): string => [...STAGES].reverse().find(([, min]) => total >= min)?.[0] ?? 'Cold'
  const model: Array<{ id: string; createdAt: number; entries: Array<{ at: number; total: number; stage: string }> }> = []
  const docs: LedgerDoc[] = []
  for (let l = 0; l < N; l++) {
    const { doc, events } = leadAt(l, { perLead: PER, now })
    const entries = events.map((e, i) => ({ at: e.occurredAt.getTime(), total: Math.round(doc.score * (i + 1) / PER), stage: stageOf(Math.round(doc.score * (i + 1) / PER)) }))
    model.push({ id: doc._id, createdAt: doc.createdAt.getTime(), entries })
    events.forEach((e, i) => {
      const { total, stage } = entries[i]!
      const parts = { total, engagement: total, fit: 0, intent: 0 }
      docs.push({
        _id: `${doc._id}~bt_model:${i}`, leadId: doc._id, kind: 'event', eventId: e._id, eventType: e.type, seq: e.seq, ord: e.ord, occurredAt: e.occurredAt,
        before: parts, after: parts, delta: 0, reasons: [], state: { ...initialState({}), ...parts, stage, lastActivityAt: e.occurredAt.getTime() },
        rulesetVersion: 1, batch: `${doc._id}~bt_model`, committed: true, superseded: false, createdAt: e.occurredAt,
      })
    })
  }
  await db.c.scoreHistory.insertMany(docs)
  const expected = (at: number, limit: number, stage?: string): Array<[string, number]> => model.flatMap((m) => {
    const last = m.entries.filter((e) => e.at <= at).at(-1)
    if (last === undefined && m.createdAt > at) return []
    const total = last?.total ?? 0
    if (stage !== undefined && (last?.stage ?? '') !== stage) return []
    return [[m.id, total] as [string, number]]
  }).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, limit)
  const lastAt = model.map((m) => m.entries.at(-1)!.at).sort((a, b) => b - a)
  for (const k of [0, 7, 60, 180, 299]) {
    const at = lastAt[k]!
    for (const [limit, stage] of [[10, undefined], [40, undefined], [10, 'SQL']] as const) {
      const res = await get(app, `/v1/leaderboard?limit=${limit}&asOf=${new Date(at).toISOString()}${stage !== undefined ? `&stage=${stage}` : ''}`)
      t.equal(res.status, 200)
      t.same(res.body.items.map((l: Json) => [l.id, l.score]), expected(at, limit, stage), `${k} leads changed since, top ${limit}${stage !== undefined ? ` of ${stage}` : ''}`)
    }
  }
})

t.test('the ledger reader sees a committed batch before its finalize step', async (t) => {
  const { app, db } = await buildTestApp(t)
  const r = await postEvents(app, { events: [ev('y1', 'y@example.com', 'purchase', '2025-01-01T00:00:00Z'), ev('y2', 'y@example.com', 'demo_request', '2025-01-02T00:00:00Z')] })
  const id = r.json().results[0].leadId as string
  await waitForScoring(db)
  const lead = (await db.c.leads.findOne({ _id: id }))!
  const deps = { scoreHistory: db.c.scoreHistory, ferret: app.core.database.ferret }
  const all = await readLedger(deps, lead, { includeSuperseded: false, order: 'asc' })
  t.equal(all.length, 2)
  const [first, second] = [all[0]!, all[1]!]
  // a small batch's entries ride on the lead document until finalize inserts them
  const carried = { ...second, _id: `${lead._id}~bt_carried:0`, batch: `${lead._id}~bt_carried`, ord: `${second.ord}z` }
  const pending = { ...lead, lastBatch: { ...lead.lastBatch!, token: carried.batch, done: false, supersedeFrom: null, ledger: [carried] } }
  t.same((await readLedger(deps, pending, { includeSuperseded: false, order: 'asc' })).map((e) => e._id), [first._id, second._id, carried._id])
  t.same((await readLedger(deps, pending, { includeSuperseded: false, order: 'desc', limit: 1 })).map((e) => e._id), [carried._id])
  // a committed replay from the first entry: the entries after it are out of view before finalize flags them
  const replay = { ...lead, lastBatch: { ...lead.lastBatch!, token: carried.batch, done: false, supersedeFrom: first.ord, ledger: [carried] } }
  t.same((await readLedger(deps, replay, { includeSuperseded: false, order: 'asc' })).map((e) => e._id), [first._id, carried._id])
  const flagged = await readLedger(deps, replay, { includeSuperseded: true, order: 'asc' })
  t.match(flagged.find((e) => e._id === second._id), { superseded: true })
})

t.test('bad trend and as-of parameters are problems', async (t) => {
  const { app, db } = await buildTestApp(t)
  const r = await postEvents(app, ev('x1', 'x@example.com', 'email_open', '2025-01-01T00:00:00Z'))
  const id = r.json().results[0].leadId as string
  await waitForScoring(db)
  const cases: Array<[string, number, string]> = [
    [`/v1/leads/${id}/trend?bucket=year`, 400, 'LS_ERR_VALIDATION'],
    [`/v1/leads/${id}/trend?from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z`, 400, 'LS_ERR_VALIDATION'],
    [`/v1/leads/${id}/trend?bucket=hour&from=2025-01-01T00:00:00Z&to=2025-03-01T00:00:00Z`, 400, 'LS_ERR_VALIDATION'],
    [`/v1/leads/${id}/trend?from=yesterday`, 400, 'LS_ERR_VALIDATION'],
    [`/v1/leads/${id}/trend?from=0001-01-01T00:00:00Z&bucket=month`, 400, 'LS_ERR_VALIDATION'],
    [`/v1/leads/${id}?asOf=soon`, 400, 'LS_ERR_VALIDATION'],
    [`/v1/leads/${id}?knownAt=2025-01-01T00:00:00Z`, 400, 'LS_ERR_VALIDATION'],
    ['/v1/leaderboard?asOf=1e9', 400, 'LS_ERR_VALIDATION'],
    ['/v1/leads/ld_nope/trend', 404, 'LS_ERR_LEAD_NOT_FOUND'],
  ]
  for (const [url, status, code] of cases) {
    const res = await get(app, url)
    t.equal(res.status, status, url)
    t.equal(res.type, 'application/problem+json; charset=utf-8', url)
    t.match(res.body, { code, status }, url)
  }
  const ok = await get(app, `/v1/leads/${id}/trend?bucket=hour&from=2024-12-31T23:00:00Z&to=2025-02-11T15:00:00Z`)
  t.equal(ok.status, 200, 'exactly 1000 hourly buckets')
  t.equal(ok.body.buckets.length, 1000)
  t.equal(ok.body.buckets[1].score, 10)
})
