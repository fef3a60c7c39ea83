// The AI intent layer end to end: leads posted with a profile are scored, the intent layer (off the scoring path)
// classifies them against the active offer with the embedded model, and each result comes back through ingest as an
// `intent_classified` event, which the AI intent plugin scores into its own ledger entry carrying the model's reasons and
// provider/model. Also: with no model configured, the status says so and the rule fallback classifies.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, AUTH, postEvents, waitForScoring } from '../helpers/harness.js'
import { ensureModel, loadIntentFixtures } from '../helpers/intent.js'
import { unpackProperties } from '../../server/src/domain/events/stored-properties.js'

const { offer, leads } = loadIntentFixtures()

// No rule scores the classification: the AI intent plugin does, for any ruleset that knows the event type
const RULES = `known events lead_updated, intent_classified
cap intent 50
`
const POINTS: Record<string, number> = { High: 50, Medium: 30, Low: 10 }

async function call (app: FastifyInstance, method: 'GET' | 'POST', url: string, payload?: unknown) {
  const res = await app.inject({ method, url, headers: { ...AUTH, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}) })
  return { status: res.statusCode, body: res.json() }
}

/** Publishes the intent rules and activates the fixture's offer through the API. */
async function setUp (t: Test, app: FastifyInstance): Promise<void> {
  const draft = await call(app, 'POST', '/v1/rulesets', { source: RULES })
  t.equal(draft.status, 201, draft.status === 201 ? 'ruleset draft created' : JSON.stringify(draft.body))
  t.equal((await call(app, 'POST', `/v1/rulesets/${draft.body.version as number}/publish`, {})).status, 200)
  const created = await call(app, 'POST', '/v1/offers', {
    name: offer.name, valuePropositions: offer.valuePropositions, useCases: offer.useCases,
    icp: { industries: offer.icp.industries, roles: offer.icp.roles },
  })
  t.equal(created.status, 201, created.status === 201 ? 'offer created' : JSON.stringify(created.body))
  t.equal((await call(app, 'POST', `/v1/offers/${created.body.id as string}/activate`, {})).status, 200)
}

/** Posts one `lead_updated` event per fixture lead (its profile as attributes); returns the lead ids. */
async function postLeads (app: FastifyInstance, names: string[]): Promise<string[]> {
  const events = names.map((name, i) => {
    const p = leads.find((l) => l.profile.name === name)!.profile
    return {
      externalId: `profile-${i}`, type: 'lead_updated', occurredAt: new Date().toISOString(),
      lead: { email: `lead${i}@example.com`, name: p.name, company: p.company, attributes: { role: p.role, industry: p.industry, location: p.location, linkedin_bio: p.linkedinBio } },
    }
  })
  const res = await postEvents(app, { events })
  return (res.json().results as Array<{ leadId: string }>).map((r) => r.leadId)
}

async function waitForIntent (app: FastifyInstance, leadId: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const r = await call(app, 'GET', `/v1/intent/leads/${leadId}`)
    if (r.status === 200) return r.body
    if (Date.now() > deadline) throw new Error(`lead ${leadId} was not classified within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

t.test('the embedded model classifies changed leads; each result is a ledger entry with its reasons', async (t) => {
  const { app, db } = await buildTestApp(t, {
    LEADSCORE_INTENT_PROVIDER: 'local', LEADSCORE_INTENT_MODEL: ensureModel(), LEADSCORE_INTENT_THREADS: '1',
    LEADSCORE_INTENT_POLL_MS: '100', LEADSCORE_INTENT_TIMEOUT_MS: '120000', LEADSCORE_INTENT_RETRIES: '1',
  })
  const before = await call(app, 'GET', '/v1/intent/status')
  t.match(before.body, { provider: 'local', model: 'SmolLM2-135M-Instruct.Q4_1.gguf', configured: true, offer: null, running: true })
  await setUp(t, app)
  const ids = await postLeads(app, ['Priya Raman', 'Kate Sullivan'])
  for (const id of ids) {
    const intent = await waitForIntent(app, id, 240_000)
    t.match(intent, { leadId: id, intent: /^(High|Medium|Low)$/, provider: 'local', model: 'SmolLM2-135M-Instruct.Q4_1.gguf', fallbackReason: null, offerVersion: 1, eventId: /./ })
    const reasons = intent.reasons as string[]
    t.ok(reasons.length >= 1 && reasons.every((r) => r.trim() !== ''), 'reasons are text')
    await waitForScoring(db)
    const history = await call(app, 'GET', `/v1/leads/${id}/history`)
    const entry = (history.body.items as Array<{ id: string; eventId: string; eventType: string; reasons: Array<{ ruleId: string; points: number }> }>)
      .find((e) => e.eventType === 'intent_classified')
    t.ok(entry, 'the intent event has its own ledger entry')
    t.equal(entry?.eventId, intent.eventId)
    // one reason, the plugin's: the label's points, the provider/model and the model's reasons in the ledger itself
    const label = intent.intent as string
    t.match(entry?.reasons, [{ ruleId: `ai_intent.${label.toLowerCase()}`, dimension: 'intent', action: 'set', points: POINTS[label] }])
    t.equal(entry?.reasons.length, 1)
    t.equal((entry?.reasons[0] as { note?: string } | undefined)?.note, `AI intent ${label} (local, SmolLM2-135M-Instruct.Q4_1.gguf) — ${reasons.join(' | ')}`)
    t.match((await call(app, 'GET', `/v1/intent/leads/${id}`)).body, { ledger: { entryId: entry?.id, ruleId: `ai_intent.${label.toLowerCase()}`, points: POINTS[label], note: / — / } })
    // the entry's event carries the model's reasons and who produced them
    const events = await call(app, 'GET', `/v1/leads/${id}/events`)
    const event = (events.body.items as Array<{ id: string; sourceId: string; properties: Record<string, unknown> }>).find((e) => e.id === intent.eventId)
    t.match(event, { sourceId: 'intent', properties: { intent: intent.intent, reasons, provider: 'local', model: 'SmolLM2-135M-Instruct.Q4_1.gguf', offerVersion: 1 } })
    // asking again with the same profile, offer and model makes the same event: ingest keeps one
    const offerNow = (await app.core.offers.active())!
    await app.intent.classifyLead(id, offerNow, true)
    t.equal(await db.c.events.countDocuments({ leadId: id, type: 'intent_classified' }), 1)
  }
  // scoring the intent events changed no profile: nothing is queued again
  await waitForScoring(db)
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.match((await call(app, 'GET', '/v1/intent/status')).body, { queued: 0, offer: { version: 1 }, health: { state: 'ok' } })
})

t.test('with no model configured the status says so and the rule fallback classifies', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_INTENT_POLL_MS: '100' })
  const status = await call(app, 'GET', '/v1/intent/status')
  t.match(status.body, { provider: 'off', model: null, configured: false, message: /No model is configured/, health: { state: 'off' } })
  await setUp(t, app)
  const [id] = await postLeads(app, ['Aiko Tanaka'])
  const intent = await waitForIntent(app, id!, 30_000)
  t.match(intent, { intent: 'High', provider: 'rules-fallback', model: 'icp-rules-1', fallbackReason: /no model is configured/, reasons: ['Decision-maker role (CTO)', 'Target industry (FinTech)', 'Complete profile'] })
  await waitForScoring(db)
  const event = await db.c.events.findOne({ leadId: id!, type: 'intent_classified' })
  t.match(event, { sourceId: 'intent' })
  t.match(unpackProperties(event?.properties), { intent: 'High', provider: 'rules-fallback', offerVersion: 1 })
  // the ledger entry says it was the rule fallback, and why, next to the fallback's reasons
  const history = await call(app, 'GET', `/v1/leads/${id!}/history`)
  const entry = (history.body.items as Array<{ eventId: string; reasons: Array<{ ruleId: string; points: number; note: string }> }>).find((e) => e.eventId === event?._id)
  t.match(entry?.reasons, [{ ruleId: 'ai_intent.high', points: 50 }])
  t.match(entry?.reasons[0]?.note, /^AI intent High \(rule fallback icp-rules-1: no model is configured[^—]*\) — Decision-maker role \(CTO\) \| Target industry \(FinTech\) \| Complete profile$/)
  t.match((await call(app, 'GET', `/v1/intent/leads/${id!}`)).body, { ledger: { ruleId: 'ai_intent.high', points: 50, rulesetVersion: Number } })
  t.match((await call(app, 'GET', `/v1/leads/${id!}`)).body, { scores: { intent: 50 } })
  t.equal((await call(app, 'GET', '/v1/intent/leads/nope')).status, 404)
  t.equal((await call(app, 'POST', `/v1/intent/leads/${id!}/classify`)).status, 202)
})

t.test('the server starts with a local model that is not installed, and its status says why it cannot answer', async (t) => {
  const { app } = await buildTestApp(t, { LEADSCORE_INTENT_PROVIDER: 'local', LEADSCORE_INTENT_MODEL: '/nonexistent/model.gguf' })
  t.match((await call(app, 'GET', '/v1/intent/status')).body, {
    provider: 'local', model: 'model.gguf', configured: true, message: /cannot answer: the model file \/nonexistent\/model\.gguf does not exist \(npm run intent:model/,
  })
})
