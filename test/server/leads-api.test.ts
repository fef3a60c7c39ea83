// The leads API, rulesets, re-scoring jobs, stats, scopes and the audit log, against a real database.
import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildTestApp, postEvents, waitForScoring, AUTH, eventStatusCounts } from '../helpers/harness.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
interface Asserts {
  equal(a: unknown, b: unknown, m: string): unknown
  match(a: unknown, b: unknown, m: string): unknown
}

const PROBLEM = 'application/problem+json; charset=utf-8'
const sleep = async (ms: number): Promise<void> => await new Promise((r) => setTimeout(r, ms))

function problem (t: Asserts, res: LightMyRequestResponse, status: number, code: string, m = code): Json {
  t.equal(res.statusCode, status, `${m}: status ${status}`)
  t.equal(res.headers['content-type'], PROBLEM, `${m}: problem+json`)
  const body = res.json() as Json
  t.match(body, { code, status }, m)
  return body
}

async function get (app: FastifyInstance, url: string, headers: Record<string, string> = AUTH): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'GET', url, headers })
}
async function send (app: FastifyInstance, method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = AUTH): Promise<LightMyRequestResponse> {
  return await app.inject({ method, url, headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json' }, ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }) })
}

t.test('create, read, patch and delete a lead', { timeout: 80_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const created = await send(app, 'POST', '/v1/leads', { email: ' Zoë@Example.COM ', name: 'Zoë', company: 'Acme', attributes: { plan: 'pro', 'a.b': 1 } })
  t.equal(created.statusCode, 201)
  const lead = created.json() as Json
  t.match(lead, { id: /^ld_/, email: 'zoë@example.com', name: 'Zoë', company: 'Acme', status: 'open', score: 0, lastEventAt: null, attributes: { plan: 'pro', 'a.b': 1 } })

  // the same identity in another case or Unicode form
  for (const email of ['ZOË@example.com', 'zoe\u0308@EXAMPLE.com']) {
    const dup = await send(app, 'POST', '/v1/leads', { email })
    problem(t, dup, 409, 'LS_ERR_LEAD_EXISTS', `duplicate ${JSON.stringify(email)}`)
  }
  const byExt = await send(app, 'POST', '/v1/leads', { externalId: 'crm-42', name: 'No Mail' })
  t.equal(byExt.statusCode, 201)
  problem(t, await send(app, 'POST', '/v1/leads', { externalId: 'crm-42' }), 409, 'LS_ERR_LEAD_EXISTS')
  problem(t, await send(app, 'POST', '/v1/leads', { name: 'nobody' }), 400, 'LS_ERR_VALIDATION', 'no email or externalId')
  problem(t, await send(app, 'POST', '/v1/leads', { email: 'not-an-email' }), 400, 'LS_ERR_VALIDATION', 'bad email')
  t.equal(await db.c.leads.countDocuments({}), 2)

  t.match((await get(app, `/v1/leads/${lead.id as string}`)).json(), { id: lead.id, email: 'zoë@example.com' })
  problem(t, await get(app, '/v1/leads/ld_missing'), 404, 'LS_ERR_LEAD_NOT_FOUND')

  const patched = await send(app, 'PATCH', `/v1/leads/${lead.id as string}`, { name: 'Zoë Q', attributes: { seats: 10, plan: 'enterprise' } })
  t.equal(patched.statusCode, 200)
  t.match(patched.json(), { name: 'Zoë Q', company: 'Acme', attributes: { plan: 'enterprise', seats: 10, 'a.b': 1 } }, 'attributes are merged')
  for (const field of ['email', 'externalId', 'id', 'score']) {
    const bad = problem(t, await send(app, 'PATCH', `/v1/leads/${lead.id as string}`, { [field]: field === 'score' ? 999 : 'x@example.com' }), 400, 'LS_ERR_VALIDATION', `identity field ${field}`)
    t.match(bad, { errors: [{ pointer: String }] })
  }
  t.match((await get(app, `/v1/leads/${lead.id as string}`)).json(), { email: 'zoë@example.com', externalId: null, score: 0 }, 'identity unchanged')

  // a lead with events and a ledger, then erased
  const evs = await postEvents(app, { events: [{ externalId: 'd1', lead: { email: 'zoe\u0308@example.com' }, type: 'demo_request' }, { externalId: 'd2', lead: { email: 'ZOË@example.com' }, type: 'page_view' }] })
  t.equal(evs.json().results[0].leadId, lead.id, 'events join the lead by its normalized email')
  await waitForScoring(db, 40_000)
  t.equal((await get(app, `/v1/leads/${lead.id as string}`)).json().score, 55)
  t.ok(await db.c.scoreHistory.countDocuments({ leadId: lead.id }) >= 2)
  const del = await send(app, 'DELETE', `/v1/leads/${lead.id as string}`)
  t.equal(del.statusCode, 204)
  problem(t, await get(app, `/v1/leads/${lead.id as string}`), 404, 'LS_ERR_LEAD_NOT_FOUND', 'gone')
  problem(t, await get(app, `/v1/leads/${lead.id as string}/events`), 404, 'LS_ERR_LEAD_NOT_FOUND', 'its events are gone')
  t.equal(await db.c.events.countDocuments({ leadId: lead.id }), 0)
  t.equal(await db.c.scoreHistory.countDocuments({ leadId: lead.id }), 0)
  problem(t, await send(app, 'DELETE', `/v1/leads/${lead.id as string}`), 404, 'LS_ERR_LEAD_NOT_FOUND', 'deleted twice')
})

t.test('a profile change through PATCH is a lead_updated event: fit rules re-evaluate on it', { timeout: 80_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const active = (await get(app, '/v1/rulesets/active')).json() as Json
  const fit = (id: string, role: string, points: number) => ({
    name: id, priority: 1,
    conditions: { all: [{ fact: 'event', path: 'type', operator: 'equal', value: 'lead_updated' }, { fact: 'lead', path: 'attributes.role', operator: 'equal', value: role }] },
    event: { type: 'score', params: { ruleId: id, action: 'add', dimension: 'fit', points, reason: role, limit: { count: 1 } } },
  })
  const put = await send(app, 'PUT', '/v1/rulesets/active', { rules: [...(active.rules as Json[]), fit('ceo-fit', 'CEO', 30), fit('vp-fit', 'VP', 10)], note: 'fit on role' })
  t.equal(put.statusCode, 201, 'fit rules published')
  const lead = (await send(app, 'POST', '/v1/leads', { email: 'mira@example.com', name: 'Mira', attributes: { role: 'VP' } })).json() as Json
  t.equal(lead.score, 0, 'creating a lead scores nothing')

  const p1 = await send(app, 'PATCH', `/v1/leads/${lead.id as string}`, { attributes: { role: 'CEO' } })
  t.equal(p1.statusCode, 200)
  t.match(p1.json(), { attributes: { role: 'CEO' } }, 'the answer shows the new profile')
  // well under the sweeper's 30 s backstop: the PATCH itself queues the run its lock may have turned away
  await waitForScoring(db, 20_000)
  const after = (await get(app, `/v1/leads/${lead.id as string}`)).json() as Json
  t.match(after, { attributes: { role: 'CEO' }, scores: { fit: 30 }, score: 30 }, 'the CEO fit rule fired on the change')
  const history = (await get(app, `/v1/leads/${lead.id as string}/history`)).json() as Json
  t.match(history.items, [{ eventType: 'lead_updated', delta: 30, reasons: [{ ruleId: 'ceo-fit', points: 30 }] }], 'the change and its points are in the ledger')

  t.equal((await send(app, 'PATCH', `/v1/leads/${lead.id as string}`, { status: 'won' })).statusCode, 200)
  t.equal(await db.c.events.countDocuments({ leadId: lead.id }), 1, 'a status change alone is not a profile event')
  const bad = await send(app, 'PATCH', `/v1/leads/${lead.id as string}`, { attributes: { notes: 'x'.repeat(70_000) } })
  problem(t, bad, 400, 'LS_ERR_VALIDATION', 'a profile too large for an event')
  t.equal((await get(app, `/v1/leads/${lead.id as string}`)).json().attributes.notes, undefined, 'and nothing of it was written')
  t.equal(await db.c.ingestRejects.countDocuments({}), 1, 'the rejected change is stored with its reason')
})

const SORTS = ['score_desc', 'score_asc', 'updated_desc', 'created_desc', 'last_event_desc', 'name_asc'] as const
const SORT_FIELD: Record<typeof SORTS[number], [string, 1 | -1]> = {
  score_desc: ['score', -1], score_asc: ['score', 1], updated_desc: ['updatedAt', -1], created_desc: ['createdAt', -1], last_event_desc: ['lastEventAt', -1], name_asc: ['name', 1],
}

/** Mongo order of (value, id) for one sort: nulls first ascending, last descending; ties by id. */
function compare (field: string, dir: 1 | -1) {
  return (a: Json, b: Json): number => {
    const av = a[field] as string | number | null
    const bv = b[field] as string | number | null
    if (av !== bv) {
      if (av === null) return dir === 1 ? -1 : 1
      if (bv === null) return dir === 1 ? 1 : -1
      return (av < bv ? -1 : 1) * dir
    }
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
  }
}

t.test('listing: filters, every sort, cursor pagination, limits and tampered cursors', { timeout: 80_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const e = (id: string, email: string, type: string, extra: Json = {}) => ({ externalId: id, lead: { email, ...extra }, type })
  const res = await postEvents(app, {
    events: [
      e('a1', 'alice@acme.com', 'demo_request', { name: 'Alice Smith', company: 'Acme Corp' }), e('a2', 'alice@acme.com', 'purchase'),
      e('b1', 'bob@globex.com', 'demo_request', { name: 'Bob Jones', company: 'Globex' }),
      e('c1', 'carol@acme.com', 'form_submit', { name: 'Carol', company: 'ACME (EU)' }),
      e('d1', 'dave@example.com', 'page_view', { name: 'Dave' }),
      e('u1', 'eugene@example.com', 'demo_request', { name: 'Eugene' }),
      e('w1', 'weird@example.com', 'demo_request', { name: 'W', company: 'Weird [x]+*? Co' }),
      e('s1', 'silent@example.com', 'demo_request'),
    ],
  })
  t.equal(res.json().accepted, 8)
  for (const [email, name] of [['p1@example.com', 'Pat'], ['p2@example.com', null], ['p3@example.com', 'Pat']] as const) {
    t.equal((await send(app, 'POST', '/v1/leads', name === null ? { email } : { email, name })).statusCode, 201)
  }
  await waitForScoring(db, 40_000)
  const ids = new Map((await db.c.leads.find({}).toArray()).map((l) => [l.email!, l._id]))
  t.equal(ids.size, 10)
  t.equal((await send(app, 'PATCH', `/v1/leads/${ids.get('bob@globex.com')!}`, { status: 'won' })).statusCode, 200)
  const adj = await send(app, 'POST', `/v1/leads/${ids.get('dave@example.com')!}/adjustments`, { points: 45, note: 'met at the fair' })
  t.equal(adj.statusCode, 202)
  await waitForScoring(db, 40_000)

  const emails = async (qs: string): Promise<string[]> => {
    const r = await get(app, `/v1/leads?limit=500&${qs}`)
    t.equal(r.statusCode, 200, qs)
    return (r.json().items as Json[]).map((l) => l.email as string).sort()
  }
  t.same(await emails('minScore=50&maxScore=100'), ['bob@globex.com', 'dave@example.com', 'eugene@example.com', 'silent@example.com', 'weird@example.com'])
  t.same(await emails('minScore=150'), ['alice@acme.com'])
  t.same(await emails('maxScore=0'), ['p1@example.com', 'p2@example.com', 'p3@example.com'])
  t.same(await emails('stage=SQL'), ['alice@acme.com'])
  t.same(await emails('stage=Nurture'), ['carol@acme.com'])
  t.same(await emails('status=won'), ['bob@globex.com'])
  t.same(await emails('source=manual'), ['dave@example.com'])
  t.equal((await emails('source=api')).length, 7, 'source=api: the seven leads created by events')
  t.same(await emails('q=ACME'), ['alice@acme.com', 'carol@acme.com'], 'q: case-insensitive on name, email and company')
  t.same(await emails('q=jones'), ['bob@globex.com'])
  t.same(await emails(`q=${encodeURIComponent('(EU)')}`), ['carol@acme.com'], 'regex characters are literal: (EU) does not match Eugene')
  t.same(await emails(`q=${encodeURIComponent('[x]+*?')}`), ['weird@example.com'], 'an invalid regex is a literal')
  t.same(await emails(`q=${encodeURIComponent('.*')}`), [], '.* matches nothing literally')
  t.same(await emails(`q=${encodeURIComponent('Acme|Globex')}`), [])
  t.same(await emails(`q=ACME&minScore=100`), ['alice@acme.com'], 'filters combine')

  const all = (await db.c.leads.find({}).toArray()).map((l) => ({ id: l._id, score: l.score, updatedAt: l.updatedAt.toISOString(), createdAt: l.createdAt.toISOString(), lastEventAt: l.lastEventAt?.toISOString() ?? null, name: l.name ?? null }))
  t.ok(all.filter((l) => l.score === 50).length >= 3, 'several leads share a score')
  t.ok(all.filter((l) => l.lastEventAt === null).length >= 3, 'several leads have no event')
  for (const sort of SORTS) {
    const [field, dir] = SORT_FIELD[sort]
    const expected = [...all].sort(compare(field, dir)).map((l) => l.id)
    const first = await get(app, `/v1/leads?sort=${sort}&limit=500`)
    t.same((first.json().items as Json[]).map((l) => l.id), expected, `${sort}: one page in order`)
    t.equal(first.json().nextCursor, null)
    for (const limit of [1, 3]) {
      const walked: string[] = []
      let cursor: string | null = null
      for (let page = 0; page < 30; page++) {
        const r = await get(app, `/v1/leads?sort=${sort}&limit=${limit}${cursor !== null ? `&cursor=${cursor}` : ''}`)
        t.equal(r.statusCode, 200)
        const body = r.json() as Json
        t.ok((body.items as Json[]).length <= limit)
        walked.push(...(body.items as Json[]).map((l) => l.id as string))
        cursor = body.nextCursor as string | null
        if (cursor === null) break
      }
      t.same(walked, expected, `${sort}, limit ${limit}: every lead once, in order, no gaps`)
    }
  }

  for (const limit of ['0', '501', '-1', 'x']) {
    const bad = problem(t, await get(app, `/v1/leads?limit=${limit}`), 400, 'LS_ERR_VALIDATION', `limit=${limit}`)
    t.match(bad, { errors: [{ pointer: '#/limit', detail: String }] })
  }
  t.equal((await get(app, '/v1/leads?limit=500')).statusCode, 200)
  problem(t, await get(app, '/v1/leads?sort=random'), 400, 'LS_ERR_VALIDATION')

  const page = (await get(app, '/v1/leads?limit=2&sort=updated_desc')).json() as Json
  const good = page.nextCursor as string
  const enc = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')
  const tampered = [
    good.slice(0, -3) + (good.endsWith('AAA') ? 'BBB' : 'AAA'), 'not-a-cursor!', enc({ v: { $gt: '' }, id: 'x' }), enc({ v: 1, id: { $ne: null } }),
    enc([1, 2]), enc({ v: 'not-a-date', id: 'ld_x' }), enc('x'),
  ]
  for (const c of tampered) problem(t, await get(app, `/v1/leads?sort=updated_desc&limit=2&cursor=${encodeURIComponent(c)}`), 400, 'LS_ERR_INVALID_CURSOR', `cursor ${c.slice(0, 30)}`)

  // leaderboard
  const top3 = (await get(app, '/v1/leaderboard?limit=3')).json().items as Json[]
  t.same(top3.map((l) => l.id), [...all].sort(compare('score', -1)).slice(0, 3).map((l) => l.id), 'leaderboard: top by score')
  t.equal(top3[0]!.email, 'alice@acme.com')
  problem(t, await get(app, '/v1/leaderboard?limit=0'), 400, 'LS_ERR_VALIDATION')
})

t.test('events order, stats, adjustments and re-scoring', { timeout: 80_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const base = Date.now() - 3_600_000
  const at = (m: number): string => new Date(base + m * 60_000).toISOString()
  const mail = 'ord@example.com'
  // posted out of event-time order
  const r = await postEvents(app, {
    events: [
      { externalId: 'o3', lead: { email: mail }, type: 'page_view', occurredAt: at(30) },
      { externalId: 'o1', lead: { email: mail }, type: 'email_open', occurredAt: at(10) },
      { externalId: 'o4', lead: { email: mail }, type: 'form_submit', occurredAt: at(40) },
      { externalId: 'o2', lead: { email: mail }, type: 'page_view', occurredAt: at(20) },
      { externalId: 'x1', lead: { email: mail }, type: 'something_unknown', occurredAt: at(25) },
      { externalId: 'other', lead: { email: 'other@example.com' }, type: 'page_view' },
    ],
  })
  t.equal(r.json().accepted, 6)
  const id = r.json().results[0].leadId as string
  await waitForScoring(db, 40_000)
  const evs = (await get(app, `/v1/leads/${id}/events?limit=100`)).json().items as Json[]
  t.same(evs.map((x) => x.externalId), ['o4', 'o3', 'x1', 'o2', 'o1'], 'canonical (event-time) order, newest first')
  const walked: string[] = []
  let cursor: string | null = null
  for (let i = 0; i < 10; i++) {
    const p = (await get(app, `/v1/leads/${id}/events?limit=2${cursor !== null ? `&cursor=${cursor}` : ''}`)).json() as Json
    walked.push(...(p.items as Json[]).map((x) => x.externalId as string))
    cursor = p.nextCursor as string | null
    if (cursor === null) break
  }
  t.same(walked, ['o4', 'o3', 'x1', 'o2', 'o1'], 'paginated the same')

  const stats = (await get(app, '/v1/stats')).json() as Json
  t.match(stats, {
    events: { total: await db.c.events.countDocuments({}), pending: (await eventStatusCounts(db)).pending, unmapped: (await eventStatusCounts(db)).unmapped },
    leads: { total: await db.c.leads.countDocuments({}) },
    ruleset: { version: 1 },
  })
  t.match(stats, { events: { total: 6, pending: 0, unmapped: 1 }, leads: { total: 2 } })

  const lead0 = (await get(app, `/v1/leads/${id}`)).json() as Json
  t.equal(lead0.score, 40)
  const adj = await send(app, 'POST', `/v1/leads/${id}/adjustments`, { points: 12, note: 'called back personally' })
  t.equal(adj.statusCode, 202)
  t.match(adj.json(), { eventId: String, leadId: id })
  problem(t, await send(app, 'POST', `/v1/leads/${id}/adjustments`, { points: 1 }), 400, 'LS_ERR_VALIDATION', 'adjustment without a note')
  problem(t, await send(app, 'POST', '/v1/leads/ld_nope/adjustments', { points: 1, note: 'x' }), 404, 'LS_ERR_LEAD_NOT_FOUND')
  await waitForScoring(db, 40_000)
  t.equal((await get(app, `/v1/leads/${id}`)).json().score, 52, 'the adjustment changes the score')
  const hist = (await get(app, `/v1/leads/${id}/history?limit=100`)).json().items as Json[]
  t.match(hist.find((h) => h.kind === 'adjustment'), { eventId: adj.json().eventId, delta: 12, reasons: [{ ruleId: 'manual-adjustment', points: 12, note: 'called back personally' }], superseded: false })
  const before = hist.length

  const rs = await send(app, 'POST', `/v1/leads/${id}/rescore`)
  t.equal(rs.statusCode, 202)
  t.match(rs.json(), { leadId: id, queued: true })
  await waitForScoring(db, 40_000)
  const after = (await get(app, `/v1/leads/${id}`)).json() as Json
  t.equal(after.score, 52, 're-score leaves the score unchanged')
  const live = (await get(app, `/v1/leads/${id}/history?limit=100`)).json().items as Json[]
  t.equal(live.length, before, 'a rebuilt ledger of the same length')
  t.ok(live.every((h) => !hist.some((o) => o.id === h.id)), 'every visible entry is new')
  t.match(live.find((h) => h.kind === 'adjustment'), { delta: 12, reasons: [{ note: 'called back personally' }] }, 'the adjustment survives the re-score')
  const everything = (await get(app, `/v1/leads/${id}/history?limit=1000&includeSuperseded=true`)).json().items as Json[]
  const old = everything.filter((h) => hist.some((o) => o.id === h.id))
  t.equal(old.length, before)
  t.ok(old.every((h) => h.superseded === true && typeof h.supersededReason === 'string'), 'old entries are superseded')
  problem(t, await send(app, 'POST', '/v1/leads/ld_nope/rescore'), 404, 'LS_ERR_LEAD_NOT_FOUND')
})

/** The default rules with page_view worth `points`. */
async function rulesWithPageView (app: FastifyInstance, points: number): Promise<Json[]> {
  const active = (await get(app, '/v1/rulesets/active')).json() as Json
  return (active.rules as Json[]).map((r) => r.event.params.ruleId === 'page-view' ? { ...r, event: { ...r.event, params: { ...r.event.params, points } } } : r)
}

t.test('a new ruleset, a re-score job and invalid rulesets', { timeout: 80_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const events = []
  for (let l = 0; l < 6; l++) for (let i = 0; i <= l % 3; i++) events.push({ externalId: `pv-${l}-${i}`, lead: { email: `l${l}@example.com` }, type: 'page_view' })
  events.push({ externalId: 'em', lead: { email: 'l0@example.com' }, type: 'email_open' })
  t.equal((await postEvents(app, { events })).json().accepted, events.length)
  await waitForScoring(db, 40_000)
  const views = new Map<string, number>()
  for (const e of await db.c.events.find({ type: 'page_view' }).toArray()) views.set(e.leadId, (views.get(e.leadId) ?? 0) + 1)
  const l0 = (await db.c.leads.findOne({ email: 'l0@example.com' }))!
  t.equal(l0.score, 15)

  const put = await send(app, 'PUT', '/v1/rulesets/active', { rules: await rulesWithPageView(app, 7), note: 'page views worth 7' })
  t.equal(put.statusCode, 201)
  t.match(put.json(), { version: 2, status: 'published', note: 'page views worth 7' })
  t.match((await get(app, '/v1/rulesets/active')).json(), { version: 2 })
  t.equal((await db.c.leads.findOne({ _id: l0._id }))!.score, 15, 'existing scores change only on re-score')

  const visible = async (leadId: string) => await db.c.scoreHistory.find({ leadId, committed: true, superseded: false }).toArray()
  const visibleBefore = new Map<string, number>()
  for (const l of await db.c.leads.find({}).toArray()) visibleBefore.set(l._id, (await visible(l._id)).length)
  const job = await send(app, 'POST', '/v1/rescore')
  t.equal(job.statusCode, 202)
  t.match(job.json(), { id: String, kind: 'rescore-all', total: 6 })
  const deadline = Date.now() + 40_000
  let state: Json
  for (;;) {
    state = (await get(app, `/v1/jobs/${job.json().id as string}`)).json() as Json
    if (state.state === 'done' || state.state === 'failed' || Date.now() > deadline) break
    await sleep(200)
  }
  t.match(state, { state: 'done', total: 6, done: 6, error: null, finishedAt: String })
  await waitForScoring(db, 40_000)
  for (const l of await db.c.leads.find({}).toArray()) {
    const expected = 7 * (views.get(l._id) ?? 0) + (l._id === l0._id ? 10 : 0)
    const api = (await get(app, `/v1/leads/${l._id}`)).json() as Json
    t.match(api, { score: expected, rulesetVersion: 2 }, `${l.email!} re-scored with version 2`)
    // the re-score (its leads in one page) superseded every entry it replaced: one visible entry per event, all new
    const now = await visible(l._id)
    t.equal(now.length, visibleBefore.get(l._id), `${l.email!}: as many visible entries as before`)
    t.same([...new Set(now.map((e) => e.rulesetVersion))], [2], `${l.email!}: every visible entry is from version 2`)
  }
  problem(t, await get(app, '/v1/jobs/job_nope'), 404, 'LS_ERR_JOB_NOT_FOUND')

  // invalid rulesets are refused with pointers, and the published version stays
  const base = await rulesWithPageView(app, 7)
  const cond = (c: Json): Json[] => [{ name: 'bad', conditions: { all: [c] }, event: { type: 'score', params: { ruleId: 'bad', points: 1 } } }]
  let deep: Json = { fact: 'event', path: 'type', operator: 'equal', value: 'x' }
  for (let i = 0; i < 40; i++) deep = { all: [deep] }
  const many = Array.from({ length: 250 }, (_, i) => ({ fact: 'event', path: 'type', operator: 'equal', value: `t${i}` }))
  const cases: Array<[string, Json[], RegExp]> = [
    ['unknown operator', cond({ fact: 'event', path: 'type', operator: 'regexMatch', value: 'x' }), /^#\/rules\/0\/conditions\/all\/0\/operator$/],
    ['JSONPath script', cond({ fact: 'event', path: "$..[?(@.constructor.constructor('return process')())]", operator: 'equal', value: 1 }), /^#\/rules\/0\/conditions\/all\/0\/path$/],
    ['prototype path', cond({ fact: 'event', path: 'properties.__proto__.x', operator: 'equal', value: 1 }), /\/path$/],
    ['backreference (RE2 has none)', cond({ fact: 'event', path: 'properties.url', operator: 'matches', value: { pattern: '(a)\\1' } }), /^#\/rules\/0\/conditions\/all\/0\/value\/pattern$/],
    ['condition reference', cond({ condition: 'sharedCondition' }), /^#\/rules\/0\/conditions\/all\/0$/],
    ['depth 40', [{ name: 'deep', conditions: deep, event: { type: 'score', params: { ruleId: 'deep', points: 1 } } }], /^#\/rules\/0\/conditions/],
    ['250 conditions', [{ name: 'many', conditions: { any: many }, event: { type: 'score', params: { ruleId: 'many', points: 1 } } }], /^#\/rules\/0\/conditions$/],
    ['duplicate ruleId', [...base, { ...base[1]!, name: 'again' }], new RegExp(`^#/rules/${base.length}/event/params/ruleId$`)],
  ]
  for (const [name, rules, pointer] of cases) {
    const res = await send(app, 'PUT', '/v1/rulesets/active', { rules, note: name })
    const body = problem(t, res, 400, 'LS_ERR_RULESET_INVALID', name)
    t.ok(Array.isArray(body.errors) && (body.errors as Json[]).some((e) => pointer.test(e.pointer as string)), `${name}: errors[].pointer ${String(pointer)} in ${JSON.stringify(body.errors)?.slice(0, 200)}`)
  }
  t.match((await get(app, '/v1/rulesets/active')).json(), { version: 2 }, 'the published version is unchanged')
  t.equal(await db.c.rulesets.countDocuments({}), 2, 'no version was stored')
  t.equal(({} as Json).polluted, undefined)
})

t.test('scopes, revocation and the audit log', { timeout: 80_000 }, async (t) => {
  const { app } = await buildTestApp(t)
  const mk = async (name: string, scopes: string[]): Promise<{ id: string; key: string }> => {
    const r = await send(app, 'POST', '/v1/api-keys', { name, scopes })
    t.equal(r.statusCode, 201)
    t.match(r.json(), { id: String, key: /^lsk_/, scopes })
    return r.json() as { id: string; key: string }
  }
  const ingest = await mk('ingest only', ['ingest'])
  const read = await mk('read only', ['read'])
  const asKey = (k: string) => ({ authorization: `Bearer ${k}` })

  t.equal((await postEvents(app, { externalId: 'k1', lead: { email: 'k@example.com' }, type: 'page_view' }, asKey(ingest.key))).statusCode, 202, 'ingest key can post events')
  problem(t, await get(app, '/v1/leads', asKey(ingest.key)), 403, 'LS_ERR_FORBIDDEN', 'ingest key cannot list leads')
  problem(t, await send(app, 'PUT', '/v1/rulesets/active', { rules: await rulesWithPageView(app, 9) }, asKey(ingest.key)), 403, 'LS_ERR_FORBIDDEN', 'ingest key cannot publish rules')
  problem(t, await send(app, 'POST', '/v1/api-keys', { name: 'escalate', scopes: ['admin'] }, asKey(read.key)), 403, 'LS_ERR_FORBIDDEN', 'read key cannot create keys')
  problem(t, await postEvents(app, { externalId: 'k2', lead: { email: 'k@example.com' }, type: 'page_view' }, asKey(read.key)), 403, 'LS_ERR_FORBIDDEN', 'read key cannot post events')
  t.equal((await get(app, '/v1/leads', asKey(read.key))).statusCode, 200, 'read key can list leads')
  problem(t, await get(app, '/v1/audit-log', asKey(read.key)), 403, 'LS_ERR_FORBIDDEN')

  t.equal((await send(app, 'DELETE', `/v1/api-keys/${read.id}`)).statusCode, 204)
  const deadline = Date.now() + 8000
  let res = await get(app, '/v1/leads', asKey(read.key))
  while (res.statusCode !== 401 && Date.now() < deadline) { await sleep(250); res = await get(app, '/v1/leads', asKey(read.key)) }
  problem(t, res, 401, 'LS_ERR_UNAUTHORIZED', 'a revoked key is refused')
  problem(t, await send(app, 'DELETE', `/v1/api-keys/${read.id}`), 404, 'LS_ERR_API_KEY_NOT_FOUND', 'revoked twice')

  t.equal((await send(app, 'PUT', '/v1/rulesets/active', { rules: await rulesWithPageView(app, 9), note: 'nine' })).statusCode, 201)
  const audit = (await get(app, '/v1/audit-log')).json().items as Json[]
  t.match(audit.find((a) => a.action === 'ruleset.publish'), { actor: 'bootstrap admin', target: 'ruleset:2', details: { note: 'nine' } })
  t.match(audit.find((a) => a.action === 'apikey.create' && a.target === ingest.id), { actor: 'bootstrap admin', details: { scopes: ['ingest'] } })
  t.match(audit.find((a) => a.action === 'apikey.revoke'), { target: read.id })
  const keys = (await get(app, '/v1/api-keys')).json().items as Json[]
  t.match(keys.find((k) => k.id === read.id), { revokedAt: String })
  t.ok(keys.every((k) => !('key' in k) && !('hash' in k)), 'secrets are never listed')
})
