// Every limit, multiplier, `once`, `set` and `reset` form of the rules language, scored through a real server: live
// scoring, a dry run of pasted events and a backtest each give the expected points, per event and in total.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'
import { loadState } from '../../server/src/domain/scoring/stored-state.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

async function send (app: FastifyInstance, method: 'GET' | 'POST', url: string, body?: unknown) {
  const res = await app.inject({ method, url, headers: { ...AUTH, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) })
  return { status: res.statusCode, body: res.body.length > 0 ? res.json() as Json : {} }
}

const RULES = `known events t_add, t_once, t_once_per, t_limit, t_limit_per, t_limit_big, t_mult, t_mult_dim, t_mult_limit,
  t_set, t_set_once, t_reset, t_reset_once

rule "Add" when event.type == "t_add" then +7 engagement
rule "Once" when event.type == "t_once" then +50 intent once
rule "Once per day" when event.type == "t_once_per" then +20 once per 1d
rule "Limit" when event.type == "t_limit" then +5 limit 3
rule "Limit per day" when event.type == "t_limit_per" then +5 limit 3 per 1d
rule "Limit big" when event.type == "t_limit_big" then +1 limit 101 per 1w
rule "Repeat" when event.type == "t_mult" then +5 x2 after 3
rule "Diminishing" when event.type == "t_mult_dim" then +10 x0.5 after 2
rule "Repeat limited" when event.type == "t_mult_limit" then +4 x3 after 2 limit 2 per 1d
rule "Set intent" when event.type == "t_set" then set intent 100
rule "Set once" when event.type == "t_set_once" then set engagement to 30 once
rule "Reset" when event.type == "t_reset" then reset
rule "Reset daily" when event.type == "t_reset_once" then reset once per 1d
`

const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR
const T0 = Math.floor((Date.now() - 30 * DAY) / DAY) * DAY

interface Case { name: string; events: Array<[type: string, atMs: number]>; deltas?: number[]; total: number; scores: { engagement: number; fit: number; intent: number } }

const h = (n: number): number => T0 + n * HOUR
const CASES: Case[] = [
  {
    name: 'once', events: [['t_add', h(0)], ['t_once', h(1)], ['t_once', h(2)], ['t_add', h(3)], ['t_once', h(500)]],
    deltas: [7, 50, 0, 7, 0], total: 64, scores: { engagement: 14, fit: 0, intent: 50 },
  },
  {
    // a firing leaves the window exactly one period later: 49h is outside (25h, 49h]'s start
    name: 'once per 1d', events: [['t_once_per', h(0)], ['t_once_per', h(5)], ['t_once_per', h(23)], ['t_once_per', h(25)], ['t_once_per', h(47)], ['t_once_per', h(49)]],
    deltas: [20, 0, 0, 20, 0, 20], total: 60, scores: { engagement: 60, fit: 0, intent: 0 },
  },
  {
    name: 'limit 3', events: [0, 1, 2, 3, 400].map((n) => ['t_limit', h(n)] as [string, number]),
    deltas: [5, 5, 5, 0, 0], total: 15, scores: { engagement: 15, fit: 0, intent: 0 },
  },
  {
    name: 'limit 3 per 1d', events: [0, 1, 2, 3, 4, 30, 31, 32].map((n) => ['t_limit_per', h(n)] as [string, number]),
    deltas: [5, 5, 5, 0, 0, 5, 5, 5], total: 30, scores: { engagement: 30, fit: 0, intent: 0 },
  },
  {
    // above the 100 firing times the model used to keep: 150 views in a week score 101, three more a week later score
    name: 'limit 101 per 1w',
    events: [...Array.from({ length: 150 }, (_, i) => ['t_limit_big', T0 + i * MIN] as [string, number]), ['t_limit_big', h(8 * 24)], ['t_limit_big', h(8 * 24 + 1)], ['t_limit_big', h(8 * 24 + 2)]],
    deltas: [...Array.from({ length: 150 }, (_, i) => i < 101 ? 1 : 0), 1, 1, 1], total: 104, scores: { engagement: 104, fit: 0, intent: 0 },
  },
  {
    name: 'x2 after 3', events: [0, 1, 2, 3, 4].map((n) => ['t_mult', h(n)] as [string, number]),
    deltas: [5, 5, 5, 10, 10], total: 35, scores: { engagement: 35, fit: 0, intent: 0 },
  },
  {
    name: 'x0.5 after 2', events: [0, 1, 2, 3].map((n) => ['t_mult_dim', h(n)] as [string, number]),
    deltas: [10, 10, 5, 5], total: 30, scores: { engagement: 30, fit: 0, intent: 0 },
  },
  {
    // the multiplier counts firings, not matches: limited events do not move it on
    name: 'x3 after 2 limit 2 per 1d', events: [0, 1, 2, 48, 49, 50].map((n) => ['t_mult_limit', h(n)] as [string, number]),
    deltas: [4, 4, 0, 12, 12, 0], total: 32, scores: { engagement: 32, fit: 0, intent: 0 },
  },
  {
    name: 'set', events: [['t_add', h(0)], ['t_add', h(1)], ['t_set', h(2)], ['t_set', h(3)], ['t_add', h(4)]],
    deltas: [7, 7, 100, 0, 7], total: 121, scores: { engagement: 21, fit: 0, intent: 100 },
  },
  {
    name: 'set once', events: [['t_add', h(0)], ['t_set_once', h(1)], ['t_add', h(2)], ['t_set_once', h(3)]],
    deltas: [7, 23, 7, 0], total: 37, scores: { engagement: 37, fit: 0, intent: 0 },
  },
  {
    // a reset clears the scores, not the rules' firing counts: `once` stays spent
    name: 'reset', events: [['t_add', h(0)], ['t_add', h(1)], ['t_once', h(2)], ['t_reset', h(3)], ['t_add', h(4)], ['t_once', h(5)]],
    deltas: [7, 7, 50, -64, 7, 0], total: 7, scores: { engagement: 7, fit: 0, intent: 0 },
  },
  {
    name: 'reset once per 1d',
    events: [['t_add', h(0)], ['t_add', h(0.5)], ['t_reset_once', h(1)], ['t_add', h(2)], ['t_reset_once', h(3)], ['t_add', h(4)], ['t_reset_once', h(26)], ['t_add', h(27)], ['t_add', h(28)]],
    deltas: [7, 7, -14, 7, 0, 7, -14, 7, 7], total: 14, scores: { engagement: 14, fit: 0, intent: 0 },
  },
]

const slug = (name: string): string => name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()
const bodyOf = (c: Case) => c.events.map(([type, at], i) => ({
  externalId: `${slug(c.name)}-${i}`, lead: { email: `${slug(c.name)}@example.com` }, type, occurredAt: new Date(at).toISOString(),
}))

t.test('the rules language is only accepted up to its windowed limit, and larger counts without a window', async (t) => {
  const { app } = await buildTestApp(t)
  const v = async (source: string) => (await send(app, 'POST', '/v1/rulesets/validate', { source })).body
  const over = await v('rule "Views" when event.type == "page_view" then +1 limit 1001 per 1w')
  t.match(over.diagnostics, [{ code: 'DSL021', message: /at most 1000/ }])
  t.same((await v('rule "Views" when event.type == "page_view" then +1 limit 1000 per 1w')).diagnostics.filter((d: Json) => d.severity === 'error'), [])
  t.same((await v('rule "Views" when event.type == "page_view" then +1 limit 5000')).diagnostics.filter((d: Json) => d.severity === 'error'), [])

  // rules sent as JSON are held to the same maximum
  const active = (await send(app, 'GET', '/v1/rulesets/active')).body
  const withLimit = (count: number) => (active.rules as Json[]).map((r, i) => i === 0 ? { ...r, event: { ...r.event, params: { ...r.event.params, limit: { count, per: '1w' } } } } : r)
  const put = async (rules: Json[]) => await app.inject({ method: 'PUT', url: '/v1/rulesets/active', headers: { ...AUTH, 'content-type': 'application/json' }, payload: JSON.stringify({ rules, note: 'limit' }) })
  const refused = await put(withLimit(1001))
  t.equal(refused.statusCode, 400)
  t.match(refused.json(), { code: 'LS_ERR_RULESET_INVALID', errors: [{ pointer: '#/rules/0/event/params/limit/count' }] })
  t.equal((await put(withLimit(1000))).statusCode, 201)
})

t.test('limits, multipliers, once, set and reset: live scoring, the dry run and the backtest agree', { timeout: 400_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const draft = await send(app, 'POST', '/v1/rulesets', { source: RULES })
  t.equal(draft.status, 201, JSON.stringify(draft.body).slice(0, 500))
  const version = draft.body.version as number
  t.equal((await send(app, 'POST', `/v1/rulesets/${version}/publish`, {})).status, 200)

  // dry run of pasted events, one lead at a time
  for (const c of CASES) {
    const dry = await send(app, 'POST', '/v1/rulesets/dry-run', { source: RULES, events: bodyOf(c) })
    t.equal(dry.status, 200, `${c.name}: dry run ${JSON.stringify(dry.body).slice(0, 300)}`)
    t.same((dry.body.entries as Json[]).map((e) => e.delta), c.deltas, `${c.name}: dry run per event`)
    t.match(dry.body.final, { total: c.total, ...c.scores }, `${c.name}: dry run final`)
  }

  // live: every case's events in shuffled batches
  const all = CASES.flatMap(bodyOf)
  const shuffled = all.map((e, i) => ({ e, k: (i * 7919) % all.length })).sort((a, b) => a.k - b.k).map((x) => x.e)
  for (let i = 0; i < shuffled.length; i += 100) {
    const res = await postEvents(app, { events: shuffled.slice(i, i + 100) })
    t.equal(res.statusCode, 202)
    t.equal(res.json().accepted, Math.min(100, shuffled.length - i))
  }
  await waitForScoring(db, 240_000)
  const leadIds = new Map<string, string>()
  for (const c of CASES) {
    const lead = await db.c.leads.findOne({ email: `${slug(c.name)}@example.com` })
    t.ok(lead, `${c.name}: lead exists`)
    if (lead === null) continue
    leadIds.set(c.name, lead._id)
    const live = (await send(app, 'GET', `/v1/leads/${lead._id}`)).body
    t.equal(live.score, c.total, `${c.name}: live score`)
    t.match(live.scores, c.scores, `${c.name}: live dimensions`)
    const hist = (await send(app, 'GET', `/v1/leads/${lead._id}/history?order=asc&limit=1000`)).body.items as Json[]
    const deltas = hist.filter((x) => x.superseded !== true).sort((a, b) => a.occurredAt < b.occurredAt ? -1 : a.occurredAt > b.occurredAt ? 1 : 0).map((x) => x.delta)
    t.same(deltas, c.deltas, `${c.name}: live ledger per event`)
    // the stored state stays bounded: a windowed limit keeps its last `count` firing times
    const fired = loadState(lead.state).fired
    for (const [rule, f] of Object.entries(fired)) t.ok(f.recent.length <= 101, `${c.name}: ${rule} keeps ${f.recent.length} firing times`)

    const byLead = await send(app, 'POST', '/v1/rulesets/dry-run', { leadId: lead._id })
    t.match(byLead.body.final, { total: c.total, ...c.scores }, `${c.name}: dry run of the stored lead`)
  }

  // backtest: the default ruleset (v1) against the published one, over the stored events; "before" is this ruleset
  const bt = await send(app, 'POST', '/v1/rulesets/1/backtest', {})
  t.equal(bt.status, 202)
  const deadline = Date.now() + 120_000
  let done: Json
  for (;;) {
    done = (await send(app, 'GET', `/v1/backtests/${bt.body.jobId as string}`)).body
    if (done.status === 'done' || done.status === 'failed' || Date.now() > deadline) break
    await new Promise((r) => setTimeout(r, 200))
  }
  t.equal(done.status, 'done', JSON.stringify(done).slice(0, 500))
  t.match(done, { version: 1, baseVersion: version })
  t.equal(done.result.leads, CASES.length)
  t.equal(done.result.events, all.length)
  const movers = done.result.movers as Json[]
  for (const c of CASES) {
    const m = movers.find((x) => x.leadId === leadIds.get(c.name))
    t.equal(m?.before, c.total, `${c.name}: backtest`)
  }
})
