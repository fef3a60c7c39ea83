// Recency weights and fit rules scored through a real server (issue 17, items 5 and 6). Recency: points weighted by
// the event's age on arrival (received − occurred), the same live, after a late-event replay, in a dry run and in a
// backtest. Fit rules: fit follows the lead's attributes as of each event, a rule that stops matching gives its
// points back with a ledger reason, whether the attributes change by events (in one batch, or arriving late in
// reverse order) or by PATCH /v1/leads/{id}. Expected values come from the independent model in helpers/model.ts.
import t, { type Test } from 'tap'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'
import fc from 'fast-check'
import { fitModel, prng, recencyModel, shuffle, type FitModelRule } from '../helpers/model.js'
import { upload } from '../helpers/upload-client.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

async function send (app: FastifyInstance, method: 'GET' | 'POST' | 'PATCH', url: string, body?: unknown) {
  const res = await app.inject({ method, url, headers: { ...AUTH, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) })
  return { status: res.statusCode, body: res.body.length > 0 ? res.json() as Json : {} }
}

const RULES = `known events r_view, r_form, r_other, lead_updated

rule "Fresh view" when event.type == "r_view" then +10 engagement weighted 100% within 7d, 50% within 30d
rule "Form" when event.type == "r_form" then +20 intent once weighted 100% within 7d, 0%

fit rule "Enterprise" when lead.attributes.employees >= 500 then +20 fit
fit rule "CEO" when lead.attributes.role == "CEO" then +10
`

const DAY = 86_400_000
const NOW = Date.now()
const ago = (days: number): string => new Date(NOW - days * DAY).toISOString()

interface Ev { externalId: string; lead: { email: string; attributes?: Record<string, unknown> }; type: string; occurredAt: string }

/** The non-superseded ledger of a lead in event-time order. */
async function ledger (app: FastifyInstance, leadId: string): Promise<Json[]> {
  const items = (await send(app, 'GET', `/v1/leads/${leadId}/history?order=asc&limit=1000`)).body.items as Json[]
  return items.filter((x) => x.superseded !== true).sort((a, b) => a.occurredAt < b.occurredAt ? -1 : a.occurredAt > b.occurredAt ? 1 : 0)
}

async function publish (t: Test, app: FastifyInstance): Promise<number> {
  const draft = await send(app, 'POST', '/v1/rulesets', { source: RULES })
  t.equal(draft.status, 201, JSON.stringify(draft.body).slice(0, 500))
  const version = draft.body.version as number
  t.equal((await send(app, 'POST', `/v1/rulesets/${version}/publish`, {})).status, 200)
  return version
}

/** A backtest of the default ruleset (v1) against the published one: each lead's score under the published one. */
async function backtestBefore (app: FastifyInstance): Promise<Map<string, number>> {
  const bt = await send(app, 'POST', '/v1/rulesets/1/backtest', {})
  const deadline = Date.now() + 120_000
  for (;;) {
    const done = (await send(app, 'GET', `/v1/backtests/${bt.body.jobId as string}`)).body
    if (done.status === 'done') return new Map((done.result.movers as Json[]).map((m) => [m.leadId as string, m.before as number]))
    if (done.status === 'failed' || Date.now() > deadline) throw new Error(`backtest ${JSON.stringify(done).slice(0, 300)}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

t.test('recency tiers: live, after a late-event replay, dry runs and the backtest weigh each event alike', { timeout: 300_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  await publish(t, app)
  const email = 'recency@example.com'
  // [type, days before now]; ages stay far from the 7d and 30d boundaries
  const spec: Array<[string, number]> = [['r_view', 60], ['r_form', 59], ['r_view', 10], ['r_form', 2], ['r_view', 1], ['r_form', 0.5]]
  const events: Ev[] = spec.map(([type, d], i) => ({ externalId: `rec-${i}`, lead: { email }, type, occurredAt: ago(d) }))
  // the model: views weigh 100/50/0 %, forms 100 % within 7d else nothing, and `once` is used up only by a firing
  let formUsed = false
  const expected = spec.map(([type, d]) => {
    if (type === 'r_view') return recencyModel(10, d, [[100, 7], [50, 30]])
    const p = formUsed ? 0 : recencyModel(20, d, [[100, 7]], 0)
    if (p !== 0) formUsed = true
    return p
  })
  t.same(expected, [0, 0, 5, 20, 10, 0], 'the model says what the docs say')

  const dry = await send(app, 'POST', '/v1/rulesets/dry-run', { source: RULES, events })
  t.equal(dry.status, 200, JSON.stringify(dry.body).slice(0, 300))
  t.same((dry.body.entries as Json[]).map((e) => e.delta), expected, 'dry run per event')
  t.match(dry.body.final, { total: 35, engagement: 15, fit: 0, intent: 20 })

  // live: the recent half first, then the older half arrives late and is replayed in event time
  t.equal((await postEvents(app, { events: events.slice(3) })).statusCode, 202)
  await waitForScoring(db, 120_000)
  const lead = await db.c.leads.findOne({ email })
  t.ok(lead)
  const leadId = lead!._id
  t.same((await ledger(app, leadId)).map((e) => e.delta), [20, 10, 0], 'live, before the late events')
  t.equal((await postEvents(app, { events: events.slice(0, 3) })).statusCode, 202)
  await waitForScoring(db, 120_000)
  const live = await ledger(app, leadId)
  t.same(live.map((e) => e.delta), expected, 'live per event after the replay')
  t.match(live[2]!.reasons, [{ ruleId: 'fresh-view', requested: 5, points: 5 }], 'a 10-day-old view scores its 50 % tier')
  t.match((await send(app, 'GET', `/v1/leads/${leadId}`)).body, { score: 35, scores: { engagement: 15, fit: 0, intent: 20 } })

  const byLead = await send(app, 'POST', '/v1/rulesets/dry-run', { leadId })
  t.same((byLead.body.entries as Json[]).map((e) => e.delta), expected, 'dry run of the stored lead per event')
  t.equal((await backtestBefore(app)).get(leadId), 35, 'backtest')
})

t.test('fit rules follow the attributes: removal on change, by events (batched or late) and by PATCH', { timeout: 400_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  await publish(t, app)
  const steps: Array<[type: string, days: number, attributes?: Record<string, unknown>]> = [
    ['lead_updated', 10, { employees: 800, role: 'VP' }],
    ['r_other', 9],
    ['lead_updated', 8, { role: 'CEO' }],
    ['lead_updated', 6, { employees: 100 }],
    ['r_other', 5],
  ]
  const rules: FitModelRule[] = [
    { id: 'enterprise', points: 20, matches: (a) => typeof a.employees === 'number' && a.employees >= 500 },
    { id: 'ceo', points: 10, matches: (a) => a.role === 'CEO' },
  ]
  const model = fitModel(steps.map(([, d, attributes]) => ({ at: NOW - d * DAY, ...(attributes !== undefined ? { attributes } : {}) })), rules)
  const expected = model.map((m) => m.delta)
  t.same(expected, [20, 0, 10, -20, 0])
  const eventsOf = (email: string, tag: string): Ev[] => steps.map(([type, d, attributes], i) => ({
    externalId: `${tag}-${i}`, lead: { email, ...(attributes !== undefined ? { attributes } : {}) }, type, occurredAt: ago(d),
  }))

  // dry run of the pasted events
  const dry = await send(app, 'POST', '/v1/rulesets/dry-run', { source: RULES, events: eventsOf('dry@example.com', 'dry') })
  t.same((dry.body.entries as Json[]).map((e) => e.delta), expected, 'dry run per event')
  t.match(dry.body.final, { total: 10, fit: 10, engagement: 0, intent: 0 })

  // lead B: every event in one shuffled batch (the stored attributes are the latest ones while they are scored)
  const b = eventsOf('batched@example.com', 'b')
  t.equal((await postEvents(app, { events: [b[3], b[0], b[4], b[2], b[1]] })).statusCode, 202)
  // lead C: one event per request, newest first, so each arrives late and replays the ones after it
  const c = eventsOf('late@example.com', 'c')
  for (const e of [...c].reverse()) {
    t.equal((await postEvents(app, e)).statusCode, 202)
    await waitForScoring(db, 120_000)
  }
  await waitForScoring(db, 120_000)
  const ids: Record<string, string> = {}
  for (const who of ['batched', 'late']) {
    const lead = await db.c.leads.findOne({ email: `${who}@example.com` })
    t.ok(lead, `${who}: lead`)
    ids[who] = lead!._id
    const entries = await ledger(app, lead!._id)
    t.same(entries.map((e) => e.delta), expected, `${who}: live per event`)
    t.match(entries[3]!.reasons, [{ ruleId: 'enterprise', dimension: 'fit', requested: -20, points: -20, note: 'Enterprise (no longer matches)' }], `${who}: the removal has its reason`)
    t.match(entries[0]!.reasons, [{ ruleId: 'enterprise', points: 20, note: 'Enterprise' }])
    t.same(entries[1]!.reasons, [], `${who}: an event that changes nothing adds nothing`)
    t.match((await send(app, 'GET', `/v1/leads/${lead!._id}`)).body, { score: 10, scores: { fit: 10, engagement: 0, intent: 0 } }, `${who}: score`)
  }

  // PATCH: no longer CEO → the CEO rule gives its 10 back; then a large company again → +20
  const leadId = ids.late!
  t.equal((await send(app, 'PATCH', `/v1/leads/${leadId}`, { attributes: { role: 'VP' } })).status, 200)
  await waitForScoring(db, 120_000)
  let entries = await ledger(app, leadId)
  t.match(entries.at(-1), { delta: -10, reasons: [{ ruleId: 'ceo', points: -10, note: 'CEO (no longer matches)' }] }, 'PATCH removal in the ledger')
  t.match((await send(app, 'GET', `/v1/leads/${leadId}`)).body, { score: 0, scores: { fit: 0 } })
  t.equal((await send(app, 'PATCH', `/v1/leads/${leadId}`, { attributes: { employees: 900 } })).status, 200)
  await waitForScoring(db, 120_000)
  entries = await ledger(app, leadId)
  t.match(entries.at(-1), { delta: 20, reasons: [{ ruleId: 'enterprise', points: 20 }] })
  t.match((await send(app, 'GET', `/v1/leads/${leadId}`)).body, { score: 20, scores: { fit: 20 } })

  // the stored lead dry-run and the backtest replay the same history to the same fit
  const byLead = await send(app, 'POST', '/v1/rulesets/dry-run', { leadId })
  t.same((byLead.body.entries as Json[]).map((e) => e.delta), [...expected, -10, 20], 'dry run of the stored lead')
  t.match(byLead.body.final, { total: 20, fit: 20 })
  const before = await backtestBefore(app)
  t.equal(before.get(leadId), 20, 'backtest: patched lead')
  t.equal(before.get(ids.batched!), 10, 'backtest: batched lead')
})

t.test('a fit rule taken out of the ruleset gives its points back at the next event; plain +N fit rules keep theirs', { timeout: 200_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  await publish(t, app)
  const email = 'versions@example.com'
  t.equal((await postEvents(app, { externalId: 'v-0', lead: { email, attributes: { role: 'CEO', employees: 10 } }, type: 'lead_updated', occurredAt: ago(3) })).statusCode, 202)
  await waitForScoring(db, 120_000)
  const lead = await db.c.leads.findOne({ email })
  t.match(lead?.scores, { fit: 10 })
  // the next version drops the CEO fit rule and adds an ordinary rule that adds fit on every r_other
  const next = RULES.replace(/fit rule "CEO".*\n/, '') + 'rule "Old style" when event.type == "r_other" then +5 fit\n'
  const draft = await send(app, 'POST', '/v1/rulesets', { source: next })
  t.equal(draft.status, 201)
  t.equal((await send(app, 'POST', `/v1/rulesets/${draft.body.version as number}/publish`, {})).status, 200)
  await waitForScoring(db, 120_000)
  for (const [i, d] of [[1, 2], [2, 1]] as const) {
    t.equal((await postEvents(app, { externalId: `v-${i}`, lead: { email }, type: 'r_other', occurredAt: ago(d) })).statusCode, 202)
    await waitForScoring(db, 120_000)
  }
  const entries = await ledger(app, lead!._id)
  const last = entries.slice(-2)
  t.same(last.map((e) => e.delta), [-10 + 5, 5], 'the dropped fit rule is removed once; the ordinary rule adds every time')
  t.match(last[0]!.reasons, [{ ruleId: 'ceo', points: -10, note: 'CEO (no longer matches)' }, { ruleId: 'old-style', points: 5 }])
  t.match((await send(app, 'GET', `/v1/leads/${lead!._id}`)).body, { score: 10, scores: { fit: 10 } })
})

t.test('fit rules on a leads upload: a second file that changes the attribute removes the points', { timeout: 200_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  await publish(t, app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const file = (role: string, employees: number): string => `name,email,role,employees\r\nAda Lovelace,ada@fit.example,${role},${employees}\r\n`
  const first = await upload(port, { file: file('CEO', 800), fields: { kind: 'leads' }, filename: 'leads.csv' })
  t.equal(first?.status, 201, String(first?.text.slice(0, 300)))
  await waitForScoring(db, 120_000)
  const lead = await db.c.leads.findOne({ email: 'ada@fit.example' })
  t.ok(lead)
  t.match((await send(app, 'GET', `/v1/leads/${lead!._id}`)).body.scores, { fit: 30 }, 'CEO and Enterprise hold their points')
  const second = await upload(port, { file: file('Engineer', 800), fields: { kind: 'leads' }, filename: 'leads2.csv' })
  t.equal(second?.status, 201)
  await waitForScoring(db, 120_000)
  const entries = await ledger(app, lead!._id)
  t.match(entries.at(-1), { delta: -10, reasons: [{ ruleId: 'ceo', points: -10, note: 'CEO (no longer matches)' }] }, 'the row that changed the role removes the CEO points')
  t.match((await send(app, 'GET', `/v1/leads/${lead!._id}`)).body, { score: 20, scores: { fit: 20 } }, 'Enterprise still holds')
})

t.test('property: random attribute and activity streams, shuffled and batched, score as the independent model says', { timeout: 400_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  await publish(t, app)
  const rules: FitModelRule[] = [
    { id: 'enterprise', points: 20, matches: (a) => typeof a.employees === 'number' && a.employees >= 500 },
    { id: 'ceo', points: 10, matches: (a) => a.role === 'CEO' },
  ]
  const step = fc.record({
    kind: fc.constantFrom('update', 'update', 'view', 'other'),
    employees: fc.option(fc.constantFrom(50, 499, 500, 2000), { nil: undefined }),
    role: fc.option(fc.constantFrom('CEO', 'VP'), { nil: undefined }),
  })
  let run = 0
  const seen = { removals: 0, additions: 0, halfViews: 0 }
  await fc.assert(fc.asyncProperty(fc.array(fc.array(step, { minLength: 3, maxLength: 12 }), { minLength: 2, maxLength: 3 }), fc.integer({ min: 1, max: 0x7fffffff }), async (leads, seed) => {
    const prefix = `p${run++}`
    const all: Array<{ email: string; body: Ev }> = []
    const expected = new Map<string, number[]>()
    leads.forEach((steps, li) => {
      const email = `${prefix}-${li}@example.com`
      // distinct days, oldest first, 1..40 days ago: views land in every recency tier
      const evs = steps.map((s, i) => {
        const days = 40 - i * 3 - 0.25
        const attributes: Record<string, unknown> = {}
        if (s.kind === 'update' && s.employees !== undefined) attributes.employees = s.employees
        if (s.kind === 'update' && s.role !== undefined) attributes.role = s.role
        const type = s.kind === 'update' ? 'lead_updated' : s.kind === 'view' ? 'r_view' : 'r_other'
        return { days, type, attributes }
      })
      const fit = fitModel(evs.map((e) => ({ at: NOW - e.days * DAY, attributes: e.attributes })), rules)
      for (const f of fit) { seen.removals += f.removed.length; seen.additions += f.added.length }
      seen.halfViews += evs.filter((e) => e.type === 'r_view' && e.days > 7 && e.days <= 30).length
      expected.set(email, evs.map((e, i) => fit[i]!.delta + (e.type === 'r_view' ? recencyModel(10, e.days, [[100, 7], [50, 30]]) : 0)))
      evs.forEach((e, i) => all.push({
        email, body: { externalId: `${prefix}-${li}-${i}`, lead: { email, ...(Object.keys(e.attributes).length > 0 ? { attributes: e.attributes } : {}) }, type: e.type, occurredAt: ago(e.days) },
      }))
    })
    const order = shuffle(all, prng(seed))
    for (let i = 0; i < order.length;) {
      const n = 1 + (seed + i) % 5
      const res = await postEvents(app, { events: order.slice(i, i + n).map((x) => x.body) })
      if (res.statusCode !== 202) throw new Error(`ingest ${res.statusCode}: ${res.body}`)
      i += n
    }
    await waitForScoring(db, 180_000)
    for (const [email, deltas] of expected) {
      const lead = await db.c.leads.findOne({ email })
      t.same((await ledger(app, lead!._id)).map((e) => e.delta), deltas, `${email}: per event`)
      t.equal(lead!.score, deltas.reduce((a, b) => a + b, 0), `${email}: total`)
    }
    if (!t.passing()) throw new Error(`run ${prefix} disagrees with the model`)
  }), { numRuns: 4, seed: 20261205, endOnFailure: true })
  t.comment(JSON.stringify(seen))
  t.ok(seen.removals > 0 && seen.additions > 0 && seen.halfViews > 0, 'the streams added and removed fit points and weighed views at 50 %')
})
