// The ruleset lifecycle in the rules language: drafts validated on save, publish, diff, rollback, audit, dry runs and
// backtests — and the scoring model parts the language adds (decay, recency windows, intent labels), computed the
// same way in live scoring, dry runs and backtests.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { compileSource } from '@leadscore/rules-dsl'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'
import { DEFAULT_RULES, DEFAULT_SETTINGS, DEFAULT_SOURCE } from '../../server/src/domain/rulesets/default-ruleset.js'
import { FACT_CATALOG } from '../../server/src/domain/rulesets/ruleset-service.js'
import { diffLines } from '../../server/src/lib/diff.js'
import { applyDecay, decayFactor } from '../../server/src/domain/scoring/model.js'
import type { ScoreState } from '../../server/src/domain/types.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

async function send (app: FastifyInstance, method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown, headers: Record<string, string> = AUTH) {
  const res = await app.inject({ method, url, headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) })
  return { status: res.statusCode, body: res.body.length > 0 ? res.json() as Json : {}, headers: res.headers }
}

async function waitFor<T> (fn: () => Promise<T | null>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== null) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const DAY = 86_400_000
const iso = (ms: number): string => new Date(ms).toISOString()

t.test('the default ruleset is written in the rules language and compiles to the shipped rules', async (t) => {
  const { ruleset, diagnostics } = compileSource(DEFAULT_SOURCE, FACT_CATALOG)
  t.same(diagnostics, [])
  t.same(ruleset?.rules, DEFAULT_RULES)
  t.same(ruleset?.settings, DEFAULT_SETTINGS)
})

t.test('line diff', async (t) => {
  t.same(diffLines('a\nb\nc', 'a\nc\nd').map((l) => `${l.op}:${l.text}`), ['same:a', 'remove:b', 'same:c', 'add:d'])
  t.same(diffLines('x', 'x').map((l) => l.op), ['same'])
  const big = Array.from({ length: 3000 }, (_, i) => `line ${i}`)
  const changed = [...big]
  changed[1500] = 'changed'
  const d = diffLines(big.join('\n'), changed.join('\n'))
  t.same(d.filter((l) => l.op !== 'same').map((l) => `${l.op}:${l.text}`), ['remove:line 1500', 'add:changed'])
})

t.test('decay is the same in one step or many, and only after the inactivity grace period', async (t) => {
  const settings = { decay: [{ dimension: 'engagement' as const, percent: 10, every: '30d', after: '14d' }] }
  t.equal(decayFactor(13 * DAY, settings), 1)
  t.equal(decayFactor(14 * DAY + 29 * DAY, settings), 1)
  t.equal(decayFactor(14 * DAY + 30 * DAY, settings), 0.9)
  t.ok(Math.abs(decayFactor(14 * DAY + 90 * DAY, settings) - 0.729) < 1e-9)
  t.ok(Math.abs(decayFactor(14 * DAY + 60 * DAY, { decay: [{ ...settings.decay[0]!, curve: 'linear' as const }] }) - 0.8) < 1e-9)
  const state: ScoreState = { total: 137, engagement: 137, fit: 0, intent: 0, fired: {}, stage: '', lastActivityAt: 0, decayBase: 137 }
  const ctx = (at: number) => ({ at, ruleVersion: 1, settings })
  const oneStep = applyDecay(state, ctx(200 * DAY)).state
  let stepped = state
  for (let d = 10; d <= 200; d += 7) stepped = applyDecay(stepped, ctx(d * DAY)).state
  stepped = applyDecay(stepped, ctx(200 * DAY)).state
  t.equal(stepped.engagement, oneStep.engagement)
  t.equal(oneStep.engagement, Math.round(137 * Math.pow(0.9, 6)))
  t.equal(oneStep.total, oneStep.engagement)
})

const DRAFT = `cap total 1000
floor total 0
decay engagement 10% every 30d after 14d inactivity
stage Cold at 0
stage Nurture at 20
stage MQL at 50 exit below 40
stage SQL at 100 exit below 80
intent label Low at 0
intent label High at 40
known events email_open, page_view, form_submit, demo_request, purchase, unsubscribed

rule "Email open"
  when event.type == "email_open"
  then +10 engagement

rule "Page view"
  when event.type == "page_view"
  then +15 engagement within 30d

rule "Form submit"
  when event.type == "form_submit"
  then +20 engagement

rule "Demo request"
  when event.type == "demo_request"
  then +50 intent once

rule "Purchase"
  when event.type == "purchase"
  then +100 engagement

rule "Unsubscribed" priority 10
  when event.type == "unsubscribed"
  then reset
`

t.test('drafts, validation with diagnostics, publish, diff, rollback and the audit log', { timeout: 120_000 }, async (t) => {
  const { app } = await buildTestApp(t)
  const v1 = await send(app, 'GET', '/v1/rulesets/active')
  t.match(v1.body, { version: 1, status: 'published', source: DEFAULT_SOURCE })

  const catalog = await send(app, 'GET', '/v1/rulesets/catalog')
  t.equal(catalog.status, 200)
  t.match(catalog.body.facts['event.properties.*'], { type: 'any' })
  t.ok(catalog.body.eventTypes.includes('demo_request'))

  // an error is reported with its code and position, and nothing is saved
  const bad = DRAFT.replace('when event.type == "page_view"', 'when event.typo == "page_view"')
  const val = await send(app, 'POST', '/v1/rulesets/validate', { source: bad })
  t.equal(val.status, 200)
  t.equal(val.body.ok, false)
  const diag = val.body.diagnostics.find((d: Json) => d.severity === 'error')
  t.ok(diag, 'an error diagnostic')
  t.equal(diag.range.start.line, bad.split('\n').findIndex((l) => l.includes('event.typo')) + 1)
  t.match(diag.message, /typo/)
  const rejected = await send(app, 'POST', '/v1/rulesets', { source: bad })
  t.equal(rejected.status, 400)
  t.equal(rejected.body.code, 'LS_ERR_RULESET_INVALID')
  t.equal(rejected.body.diagnostics[0].code, diag.code)
  t.equal((await send(app, 'GET', '/v1/rulesets')).body.items.length, 1)

  const draft = await send(app, 'POST', '/v1/rulesets', { source: DRAFT, note: 'pricing focus', basedOn: 1 })
  t.equal(draft.status, 201)
  t.match(draft.body, { version: 2, status: 'draft', basedOn: 1, note: 'pricing focus', publishedAt: null })
  t.match(draft.body.settings, { decay: [{ dimension: 'engagement', percent: 10, every: '30d', after: '14d' }], intentLabels: [{ name: 'Low', min: 0 }, { name: 'High', min: 40 }] })
  t.equal((await send(app, 'GET', '/v1/rulesets/active')).body.version, 1, 'a draft does not change the published ruleset')

  const edited = await send(app, 'PUT', '/v1/rulesets/2', { source: DRAFT.replace('+10 engagement', '+12 engagement'), note: 'opens worth more' })
  t.equal(edited.status, 200, JSON.stringify(edited.body).slice(0, 400))
  t.match(edited.body, { version: 2, status: 'draft', note: 'opens worth more' })
  t.equal(edited.body.rules.find((r: Json) => r.name === 'email-open').event.params.points, 12)

  const pub = await send(app, 'POST', '/v1/rulesets/2/publish', {})
  t.equal(pub.status, 200)
  t.match(pub.body, { ruleset: { version: 2, status: 'published' }, rescoreJobId: null })
  t.equal((await send(app, 'GET', '/v1/rulesets/active')).body.version, 2)
  t.equal((await send(app, 'GET', '/v1/rulesets/1')).body.status, 'archived')
  const again = await send(app, 'PUT', '/v1/rulesets/2', { source: DRAFT })
  t.equal(again.status, 409)
  t.equal(again.body.code, 'LS_ERR_RULESET_NOT_DRAFT')
  t.equal((await send(app, 'POST', '/v1/rulesets/2/publish', {})).body.code, 'LS_ERR_RULESET_NOT_DRAFT')

  const diff = await send(app, 'GET', '/v1/rulesets/diff?from=1&to=2')
  t.equal(diff.status, 200)
  t.ok(diff.body.lines.some((l: Json) => l.op === 'add' && l.text.includes('+12 engagement')))
  t.ok(diff.body.lines.some((l: Json) => l.op === 'remove' && l.text.includes('+10 engagement')))
  t.ok(diff.body.lines.some((l: Json) => l.op === 'same'))
  t.same(diff.body.rules.added, [])
  t.same(diff.body.rules.removed.sort(), ['email-bounced', 'marked-spam'])
  t.same(diff.body.rules.changed.sort(), ['demo-request', 'email-open', 'page-view'])
  t.ok(diff.body.settings.changed.includes('decay'))

  const rb = await send(app, 'POST', '/v1/rulesets/1/rollback', {})
  t.equal(rb.status, 201)
  t.match(rb.body.ruleset, { version: 3, status: 'published', basedOn: 1, source: DEFAULT_SOURCE })
  t.same(rb.body.ruleset.rules, v1.body.rules)
  t.equal((await send(app, 'GET', '/v1/rulesets/active')).body.version, 3)
  t.equal((await send(app, 'GET', '/v1/rulesets/2')).body.status, 'archived')

  // an old draft published after a newer version becomes a new version, so the newest publish is what scores
  const old = await send(app, 'POST', '/v1/rulesets', { source: DRAFT })
  t.equal(old.body.version, 4)
  await send(app, 'POST', '/v1/rulesets/3/rollback', {}) // v5
  const late = await send(app, 'POST', '/v1/rulesets/4/publish', {})
  t.match(late.body.ruleset, { version: 6, status: 'published', basedOn: 4 })
  t.equal((await send(app, 'GET', '/v1/rulesets/active')).body.version, 6)
  const published = (await send(app, 'GET', '/v1/rulesets')).body.items.filter((r: Json) => r.status === 'published')
  t.equal(published.length, 1, 'exactly one version is published')

  const audit = await send(app, 'GET', '/v1/audit-log')
  const actions = audit.body.items.map((a: Json) => a.action)
  for (const a of ['ruleset.draft.create', 'ruleset.draft.update', 'ruleset.publish', 'ruleset.rollback']) t.ok(actions.includes(a), `audit has ${a}`)

  // scopes: a read-only key may validate and dry-run but not change rules
  const key = await send(app, 'POST', '/v1/api-keys', { name: 'viewer', scopes: ['read'] })
  const viewer = { authorization: `Bearer ${key.body.key}` }
  const denied = await send(app, 'POST', '/v1/rulesets', { source: DRAFT }, viewer)
  t.equal(denied.status, 403)
  t.equal(denied.body.code, 'LS_ERR_FORBIDDEN')
  t.equal((await send(app, 'POST', '/v1/rulesets/4/rollback', {}, viewer)).status, 403)
  t.equal((await send(app, 'POST', '/v1/rulesets/validate', { source: DRAFT }, viewer)).status, 200)
})

t.test('dry runs explain every point, match live scoring, and apply decay, recency and intent labels', { timeout: 120_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const now = Date.now()
  const lead = { email: 'dry@example.com', name: 'Dry Run' }
  const events = [
    { externalId: 'a', lead, type: 'email_open', occurredAt: iso(now - 120 * DAY) },
    { externalId: 'b', lead, type: 'form_submit', occurredAt: iso(now - 118 * DAY) },
    { externalId: 'c', lead, type: 'page_view', occurredAt: iso(now - 60 * DAY) }, // received 60 days late: outside `within 30d`
    { externalId: 'd', lead, type: 'demo_request', occurredAt: iso(now - 2 * DAY) },
    { externalId: 'e', lead, type: 'demo_request', occurredAt: iso(now - 1 * DAY) }, // `once`
    { externalId: 'f', lead, type: 'page_view', occurredAt: iso(now - 1 * DAY + 1000) },
    { externalId: 'g', lead, type: 'webinar', occurredAt: iso(now - 1000) },
  ]
  const dry = await send(app, 'POST', '/v1/rulesets/dry-run', { source: DRAFT, events })
  t.equal(dry.status, 200, JSON.stringify(dry.body).slice(0, 500))
  t.equal(dry.body.version, null)
  const e = dry.body.entries as Json[]
  t.same(e.map((x) => x.status), ['scored', 'scored', 'scored', 'scored', 'scored', 'scored', 'unmapped'])
  t.same(e.map((x) => x.type), ['email_open', 'form_submit', 'page_view', 'demo_request', 'demo_request', 'page_view', 'webinar'])
  // 30 engagement, 58 days quiet → 14d grace + one whole 30d period → 30 × 0.9 = 27
  t.match(e[2], { delta: -3, reasons: [{ ruleId: 'decay', points: -3 }] }, 'decay, and the late page view scores nothing')
  t.equal(e[2]!.reasons.length, 1)
  // 58 more quiet days: 27 × 0.9 = 24.3 → 24, then +50 intent
  t.match(e[3], { delta: 47, reasons: [{ ruleId: 'decay', points: -3 }, { ruleId: 'demo-request', dimension: 'intent', points: 50 }] })
  t.same(e[4]!.reasons, [], 'once')
  t.match(e[5], { delta: 15, reasons: [{ ruleId: 'page-view', points: 15 }] })
  t.match(dry.body.final, { total: 89, engagement: 39, intent: 50, intentLabel: 'High', stage: 'MQL' })
  t.equal(dry.body.final.total, e.reduce((s, x) => s + x.delta, 0), 'the entries sum to the score')

  // the same events, live: publish the draft, ingest, and compare the ledger with the dry run
  const draft = await send(app, 'POST', '/v1/rulesets', { source: DRAFT })
  await send(app, 'POST', `/v1/rulesets/${draft.body.version}/publish`, {})
  const res = await postEvents(app, { events })
  t.equal(res.json().accepted, events.length)
  const leadId = res.json().results[0].leadId as string
  await waitForScoring(db)
  const live = await send(app, 'GET', `/v1/leads/${leadId}`)
  t.equal(live.body.score, dry.body.final.total, JSON.stringify(live.body).slice(0, 600))
  t.equal(live.body.intentLabel, 'High')
  t.equal(live.body.stage, dry.body.final.stage)
  const hist = (await send(app, 'GET', `/v1/leads/${leadId}/history`)).body.items as Json[]
  const liveDeltas = hist.filter((h) => !h.superseded).sort((a, b) => a.occurredAt < b.occurredAt ? -1 : 1).map((h) => h.delta)
  t.same(liveDeltas, e.filter((x) => x.status === 'scored').map((x) => x.delta), 'live ledger = dry run')

  // by lead id, with the published version: the stored history replayed
  const byLead = await send(app, 'POST', '/v1/rulesets/dry-run', { leadId })
  t.equal(byLead.status, 200)
  t.equal(byLead.body.version, draft.body.version)
  t.same(byLead.body.final, dry.body.final)
  t.same(byLead.body.current, { total: live.body.score, stage: live.body.stage })
  t.equal(byLead.body.entries.filter((x: Json) => x.eventId !== null).length, events.length)

  // what-if: stored history plus a pasted event, with the default ruleset (version 1)
  const whatIf = await send(app, 'POST', '/v1/rulesets/dry-run', { leadId, version: 1, events: [{ lead, type: 'purchase' }] })
  t.equal(whatIf.body.version, 1)
  const last = whatIf.body.entries[whatIf.body.entries.length - 1]
  t.equal(last.type, 'purchase')
  t.equal(last.reasons[0].ruleId, 'purchase')

  const invalid = await send(app, 'POST', '/v1/rulesets/dry-run', { source: 'rule "x" when event.type == then +1', events })
  t.equal(invalid.status, 400)
  t.ok(invalid.body.diagnostics.length > 0)
  t.equal((await send(app, 'POST', '/v1/rulesets/dry-run', { leadId: 'ld_missing' })).body.code, 'LS_ERR_LEAD_NOT_FOUND')
  t.equal((await send(app, 'POST', '/v1/rulesets/dry-run', { source: DRAFT })).body.code, 'LS_ERR_VALIDATION')
  const badEvent = await send(app, 'POST', '/v1/rulesets/dry-run', { source: DRAFT, events: [{ lead: {}, type: 'x' }] })
  t.equal(badEvent.status, 422)
})

t.test('a backtest compares a draft with the published ruleset over stored history without touching live state', { timeout: 400_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const now = Date.now()
  const batch: Json[] = []
  for (let i = 0; i < 12; i++) {
    const lead = { email: `bt${i}@example.com`, name: `Lead ${i}` }
    for (let k = 0; k <= i; k++) batch.push({ externalId: `pv-${i}-${k}`, lead, type: 'page_view', occurredAt: iso(now - (k + 1) * 3_600_000) })
    if (i % 3 === 0) batch.push({ externalId: `buy-${i}`, lead, type: 'purchase', occurredAt: iso(now - 60_000) })
  }
  const ingest = await postEvents(app, { events: batch })
  t.equal(ingest.json().accepted, batch.length)
  await waitForScoring(db)
  const before = (await db.c.leads.find({}).toArray()).map((l) => [l._id, l.score, l.rev] as const)

  const candidate = DEFAULT_SOURCE.replace('+5 engagement', '+10 engagement')
  const draft = await send(app, 'POST', '/v1/rulesets', { source: candidate })
  const start = await send(app, 'POST', `/v1/rulesets/${draft.body.version}/backtest`, {})
  t.equal(start.status, 202)
  const jobId = start.body.jobId as string
  const done = await waitFor(async () => {
    const j = await send(app, 'GET', `/v1/backtests/${jobId}`)
    return j.body.status === 'done' || j.body.status === 'failed' ? j.body : null
  }, 'backtest')
  t.equal(done.status, 'done', JSON.stringify(done).slice(0, 500))
  t.match(done, { version: draft.body.version, baseVersion: 1, progress: { done: 12, total: 12 } })
  const r = done.result as Json
  t.equal(r.leads, 12)
  t.equal(r.events, batch.length)
  t.equal(r.changed, 12, 'every lead had page views')
  // lead 11: 12 page views → 60 before, 120 after
  t.match(r.movers[0], { email: 'bt11@example.com', before: 60, after: 120, delta: 60, stageBefore: 'MQL', stageAfter: 'SQL' })
  for (const m of r.movers) t.equal(m.delta, m.after - m.before)
  const stage = (name: string): Json => r.stages.find((s: Json) => s.stage === name)
  t.equal(r.stages.reduce((n: number, s: Json) => n + s.before, 0), 12)
  t.equal(r.stages.reduce((n: number, s: Json) => n + s.after, 0), 12)
  t.ok(stage('SQL').entered > 0)
  t.equal(r.distribution.reduce((n: number, b: Json) => n + b.before, 0), 12)
  t.equal(r.distribution.reduce((n: number, b: Json) => n + b.after, 0), 12)
  t.same(r.baseline, { converted: 4, rate: 0.3333 })
  const sql = r.lift.find((l: Json) => l.stage === 'SQL')
  t.ok(sql.leads > 0)
  t.equal(sql.rate, Math.round(sql.converted / sql.leads * 10_000) / 10_000)

  const after = (await db.c.leads.find({}).toArray()).map((l) => [l._id, l.score, l.rev] as const)
  t.same(after, before, 'live scores and revisions untouched')

  // scoped to two leads and a time range that excludes the purchases
  const ids = before.slice(0, 2).map(([id]) => id)
  const scoped = await send(app, 'POST', `/v1/rulesets/${draft.body.version}/backtest`, { leadIds: ids, to: iso(now - 30 * 60_000) })
  const sdone = await waitFor(async () => {
    const j = await send(app, 'GET', `/v1/backtests/${scoped.body.jobId}`)
    return j.body.status === 'done' || j.body.status === 'failed' ? j.body : null
  }, 'scoped backtest')
  t.equal(sdone.status, 'done', JSON.stringify(sdone).slice(0, 500))
  t.equal(sdone.result.leads, 2)
  t.ok(sdone.result.movers.every((m: Json) => ids.includes(m.leadId)))
  t.equal((await send(app, 'GET', '/v1/backtests/bt_nope')).body.code, 'LS_ERR_JOB_NOT_FOUND')

  // publishing with a re-score moves the live scores to what the backtest predicted
  const pub = await send(app, 'POST', `/v1/rulesets/${draft.body.version}/publish`, { rescore: true })
  t.type(pub.body.rescoreJobId, 'string', JSON.stringify(pub.body).slice(0, 300))
  const rescored = await waitFor(async () => {
    const j = await send(app, 'GET', `/v1/jobs/${pub.body.rescoreJobId as string}`)
    return j.body.state === 'done' || j.body.state === 'failed' ? j.body : null
  }, 'rescore', 240_000)
  t.match(rescored, { state: 'done', total: 12, done: 12 }, JSON.stringify(rescored))
  await waitForScoring(db)
  const top = await db.c.leads.findOne({ email: 'bt11@example.com' })
  t.equal(top?.score, 120)
  t.equal(top?.stage, 'SQL')
})

t.test('quiet leads decay over time through decay ticks, once per period, and the ledger still sums to the score', { timeout: 120_000 }, async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_DECAY_TICK_MS: '300' })
  const draft = await send(app, 'POST', '/v1/rulesets', { source: DRAFT })
  await send(app, 'POST', `/v1/rulesets/${draft.body.version as number}/publish`, {})
  const now = Date.now()
  const lead = { email: 'quiet@example.com' }
  const res = await postEvents(app, { events: [
    { externalId: 'q1', lead, type: 'email_open', occurredAt: iso(now - 100 * DAY) },
    { externalId: 'q2', lead, type: 'form_submit', occurredAt: iso(now - 100 * DAY + 1000) },
  ] })
  const leadId = res.json().results[0].leadId as string
  // 30 engagement, 100 quiet days: 14d grace, then 2 whole 30d periods → 30 × 0.9² = 24.3 → 24
  const decayed = await waitFor(async () => {
    const l = await db.c.leads.findOne({ _id: leadId })
    return l !== null && l.score === 24 ? l : null
  }, 'decay tick')
  t.equal(decayed.scores.engagement, 24)
  await new Promise((r) => setTimeout(r, 1500)) // several more tick intervals
  await waitForScoring(db)
  const ticks = await db.c.events.find({ leadId, type: 'decay_tick' }).toArray()
  t.equal(ticks.length, 1, 'one tick for one decay period')
  t.equal(ticks[0]!.sourceId, 'system')
  const hist = (await send(app, 'GET', `/v1/leads/${leadId}/history`)).body.items as Json[]
  const live = hist.filter((h) => !h.superseded)
  t.equal(live.reduce((s, h) => s + (h.delta as number), 0), 24, 'ledger sums to the score')
  t.match(live.find((h) => h.eventType === 'decay_tick'), { delta: -6, reasons: [{ ruleId: 'decay', points: -6 }] })
  // a new event does not decay the lead a second time for the same quiet period
  await postEvents(app, { externalId: 'q3', lead, type: 'email_open' })
  await waitForScoring(db)
  t.equal((await db.c.leads.findOne({ _id: leadId }))?.score, 34)
})

t.test('rule abuse is refused at save, and a ruleset stored around validation cannot hang scoring', { timeout: 120_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const rule = (cond: string): string => `rule "abuse"\n  when ${cond}\n  then +1 engagement\n`
  const cases: Array<[string, string]> = [
    ['nesting 20,000 deep', rule(`${'('.repeat(20_000)}event.type == "a"${')'.repeat(20_000)}`)],
    ['10,000 conditions', rule(Array.from({ length: 10_000 }, (_, i) => `event.type == "t${i}"`).join(' or '))],
    ['JSONPath script in a path', rule('event.properties.$..[?(@.constructor.constructor(\'return process\')())] == "x"')],
    ['regex RE2 cannot run', rule('event.properties.x matches /(a)\\1/')],
    ['prototype path', rule('lead.attributes.__proto__.polluted == "yes"')],
  ]
  for (const [name, source] of cases) {
    const started = Date.now()
    const res = await send(app, 'POST', '/v1/rulesets', { source })
    t.equal(res.status, 400, `${name}: refused`)
    t.equal(res.body.code, 'LS_ERR_RULESET_INVALID', name)
    t.ok(res.body.diagnostics.some((d: Json) => d.severity === 'error' && /^DSL\d{3}$/.test(d.code as string)), `${name}: a diagnostic with its code`)
    t.ok(Date.now() - started < 15_000, `${name}: answered quickly`)
  }
  // 100,000 conditions do not even fit in a request
  const huge = await send(app, 'POST', '/v1/rulesets', { source: rule(Array.from({ length: 100_000 }, (_, i) => `event.type == "t${i}"`).join(' or ')) })
  t.equal(huge.status, 413)
  t.equal(huge.body.code, 'LS_ERR_BODY_TOO_LARGE')
  t.equal((await send(app, 'GET', '/v1/rulesets')).body.items.length, 1, 'nothing was saved')
  t.equal(({} as Json).polluted, undefined)

  // a ruleset written straight into the database, bypassing validation: a regex that backtracks catastrophically in
  // JavaScript runs in linear time on RE2, and one RE2 cannot compile never matches
  const t0 = new Date()
  await db.c.rulesets.insertOne({
    _id: 'default:2', name: 'default', version: 2, status: 'published', source: null, author: 'db', note: null, createdAt: t0, publishedAt: t0,
    settings: { caps: { total: 1000 }, floors: { total: 0 } },
    rules: [
      { name: 'redos', priority: 1, conditions: { all: [{ fact: 'event', path: 'properties.x', operator: 'matches', value: { pattern: '(a+)+$', flags: '' } }] }, event: { type: 'score', params: { ruleId: 'redos', action: 'add', points: 1000 } } },
      { name: 'lookahead', priority: 1, conditions: { all: [{ fact: 'event', path: 'properties.x', operator: 'matches', value: { pattern: '(?=a)a', flags: '' } }] }, event: { type: 'score', params: { ruleId: 'lookahead', action: 'add', points: 100 } } },
      { name: 'ok', priority: 1, conditions: { all: [{ fact: 'event', path: 'type', operator: 'equal', value: 'page_view' }] }, event: { type: 'score', params: { ruleId: 'ok', action: 'add', points: 5 } } },
    ],
  })
  await db.c.rulesets.updateOne({ _id: 'default:1' }, { $set: { status: 'archived' } })
  await new Promise((r) => setTimeout(r, 1200)) // the active-version cache
  const started = Date.now()
  await postEvents(app, { events: [
    { externalId: 'r1', lead: { email: 'redos@example.com' }, type: 'page_view', properties: { x: `${'a'.repeat(50)}!` } },
    { externalId: 'r2', lead: { email: 'bystander@example.com' }, type: 'page_view' },
  ] })
  await waitForScoring(db, 30_000)
  t.ok(Date.now() - started < 30_000, 'scoring finished')
  const leads = await db.c.leads.find({}).toArray()
  t.same(leads.map((l) => l.score).sort(), [5, 5], 'neither regex rule fired; the plain one did, for both leads')
})
