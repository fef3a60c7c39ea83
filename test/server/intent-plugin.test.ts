// The AI intent layer's scoring half, the `ai_intent` scoring plugin: its pure score() on intent_classified events
// (points, the ledger note with the model's reasons and provider/model, the rule fallback), and, through the real
// server, which rulesets it scores for: the Buying intent template (no rule of its own on the event), a ruleset that
// does not know the event type, one without a known-events list, and the demo ruleset, which weighs the classification
// with its own rules under an alias and so is not scored twice.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, AUTH, postEvents, waitForScoring } from '../helpers/harness.js'
import { createIntentPlugin, intentNote, reasonsOfNote, intentLabelOfRule, INTENT_PLUGIN_ID } from '../../server/src/domain/intent/plugin.js'
import { internalPluginContext } from '../../server/src/domain/predictive/service.js'
import { compileRulesSource } from '../../server/src/domain/rulesets/ruleset-service.js'
import { BUYING_INTENT_SOURCE } from '../../server/src/domain/rulesets/templates.js'
import { DEMO_RULESET } from '../../server/src/demo/demo-ruleset.js'
import type { ScoringInput } from '../../server/src/contracts/index.js'
import { runScoringConformance } from '@leadscore/server/testing'

const quiet = { debug () {}, info () {}, warn () {}, error () {} }
const ctx = internalPluginContext(INTENT_PLUGIN_ID, quiet)

function input (type: string, properties: Record<string, unknown>): ScoringInput {
  return {
    lead: { id: 'ld_1', email: 'a@example.com', externalId: null, name: 'A', company: 'B', attributes: {}, status: 'active', sources: ['intent'] },
    event: { id: 'ld_1-000000002', sourceId: 'intent', type, occurredAt: new Date('2026-12-01T10:00:00Z'), properties },
    score: { total: 40, engagement: 0, fit: 30, intent: 10, stage: 'Medium' },
    rulesetVersion: 3,
  }
}

t.test('score(): the label sets intent to 50/30/10 with a note that carries the model\'s reasons and provider/model', async (t) => {
  const plugin = createIntentPlugin()
  t.match(plugin, { kind: 'scoring', manifest: { id: 'ai_intent', contract: 1 } })
  t.equal(plugin.predict, undefined, 'it only scores')
  const props = { intent: 'High', reasons: ['VP of Engineering at a FinTech', 'owns the reliability roadmap'], provider: 'openai', model: 'gpt-4o-mini', offerId: 'of_1', offerVersion: 3 }
  const out = await plugin.score!(input('intent_classified', props), ctx)
  t.same(out, [{
    ruleId: 'high', action: 'set', dimension: 'intent', points: 50,
    reason: 'AI intent High (openai, gpt-4o-mini) — VP of Engineering at a FinTech | owns the reliability roadmap',
  }])
  t.same(await plugin.score!(input('intent_classified', props), ctx), out, 'pure: the same input gives the same output')
  t.match(await plugin.score!(input('intent_classified', { ...props, intent: 'Medium' }), ctx), [{ ruleId: 'medium', action: 'set', points: 30 }])
  t.match(await plugin.score!(input('intent_classified', { ...props, intent: 'Low' }), ctx), [{ ruleId: 'low', action: 'set', points: 10 }])
  for (const intent of ['high', 'Urgent', '', 50, null, undefined]) {
    t.same(await plugin.score!(input('intent_classified', { ...props, intent }), ctx), [], `no contribution for intent ${JSON.stringify(intent)}`)
  }
  for (const type of ['lead_updated', 'page_view', 'intent']) t.same(await plugin.score!(input(type, props), ctx), [], `nothing for ${type}`)
})

t.test('the scoring conformance suite', async (t) => {
  const props = { reasons: ['Runs the platform team', 'Budget approved'], provider: 'local', model: 'SmolLM2-135M-Instruct.Q4_1.gguf', offerId: 'of_1', offerVersion: 2 }
  await runScoringConformance(t, createIntentPlugin(), {
    inputs: [
      { name: 'High', input: input('intent_classified', { ...props, intent: 'High' }), expectRules: ['high'] },
      { name: 'Medium, by the rule fallback', input: input('intent_classified', { ...props, intent: 'Medium', provider: 'rules-fallback', model: 'icp-rules-1', fallbackReason: 'local: the model file is missing' }), expectRules: ['medium'] },
      { name: 'Low without reasons', input: input('intent_classified', { intent: 'Low' }), expectRules: ['low'] },
      { name: 'an unknown label', input: input('intent_classified', { ...props, intent: 'Maybe' }), expectRules: [] },
      { name: 'another event type', input: input('page_view', { path: '/pricing' }), expectRules: [] },
    ],
  })
})

t.test('the note: the rule fallback and why, missing parts, clipping, and the reasons read back', async (t) => {
  const fallback = intentNote('Medium', { intent: 'Medium', provider: 'rules-fallback', model: 'icp-rules-1', fallbackReason: 'openai: timed out after 20000 ms — 3 attempts', reasons: ['Influencer role (Manager)', 'Target industry (SaaS)'] })
  t.equal(fallback, 'AI intent Medium (rule fallback icp-rules-1: openai: timed out after 20000 ms - 3 attempts) — Influencer role (Manager) | Target industry (SaaS)')
  t.equal(reasonsOfNote(fallback), 'Influencer role (Manager) | Target industry (SaaS)', 'a dash in the fallback reason does not hide the reasons')
  t.equal(intentNote('Low', { provider: 'rules-fallback', reasons: ['x'] }), 'AI intent Low (rule fallback) — x')
  t.equal(intentNote('High', { reasons: ['a — b', '  c  d ', 7, ''] }), 'AI intent High (provider not given) — a — b | c d', 'reasons are kept as given, whitespace folded, non-text dropped')
  t.equal(reasonsOfNote(intentNote('High', { reasons: ['a — b'] })), 'a — b')
  t.equal(intentNote('High', { provider: 'local', model: 'm.gguf' }), 'AI intent High (local, m.gguf)')
  t.equal(reasonsOfNote('AI intent High (local, m.gguf)'), null, 'no reasons: none read back')
  const long = intentNote('High', { provider: 'p'.repeat(500), reasons: Array.from({ length: 8 }, (_, i) => `${i}`.repeat(300)) })
  t.equal(reasonsOfNote(long)!.split(' | ').length, 5, 'at most five reasons')
  t.ok(reasonsOfNote(long)!.split(' | ').every((r) => r.length === 200 && r.endsWith('…')), 'each clipped to 200 characters')
  t.ok(long.indexOf(' — ') <= 'AI intent High ('.length + 121, 'the provider is clipped too')
  t.equal(intentLabelOfRule('ai_intent.medium'), 'Medium')
  for (const id of ['ai_intent.urgent', 'ai-intent-high', 'predictive.high', 'high']) t.equal(intentLabelOfRule(id), null, id)
})

t.test('the Buying intent template leaves the classification to the plugin; the demo ruleset renames it for its own rules', async (t) => {
  const tpl = await compileRulesSource(BUYING_INTENT_SOURCE)
  t.ok(tpl.ok)
  t.same(tpl.settings?.eventTypes?.known, ['lead_updated', 'intent_classified', 'score_adjusted'], 'the template knows intent_classified, so the pipeline hands it to the plugin')
  t.notOk(JSON.stringify(tpl.rules).includes('intent_classified'), 'and no rule of its own reads it')
  const demo = await compileRulesSource(DEMO_RULESET)
  t.ok(demo.ok)
  t.same(demo.settings?.eventTypes?.aliases, { intent_classified: 'ai_intent_signal' })
  t.notOk(demo.settings?.eventTypes?.known?.includes('intent_classified'))
})

async function call (app: FastifyInstance, method: 'GET' | 'POST', url: string, payload?: unknown) {
  const res = await app.inject({ method, url, headers: { ...AUTH, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}) })
  return { status: res.statusCode, body: res.json() }
}

/** Publishes `source`, posts one High classification for a new lead, and returns that event's ledger entry (or null). */
async function classifiedUnder (t: Test, app: FastifyInstance, db: Db, source: string, who: string) {
  const draft = await call(app, 'POST', '/v1/rulesets', { source })
  t.equal(draft.status, 201, draft.status === 201 ? 'draft created' : JSON.stringify(draft.body).slice(0, 400))
  t.equal((await call(app, 'POST', `/v1/rulesets/${draft.body.version as number}/publish`, {})).status, 200)
  const res = await postEvents(app, {
    events: [{
      lead: { email: `${who}@example.com` }, type: 'intent_classified', externalId: `intent-${who}`,
      properties: { intent: 'High', reasons: ['Runs the platform team'], provider: 'openai', model: 'gpt-4o-mini', offerVersion: 1 },
    }],
  })
  t.equal(res.statusCode, 202)
  const { leadId, eventId } = (res.json().results as Array<{ leadId: string; eventId: string }>)[0]!
  await waitForScoring(db)
  const history = await call(app, 'GET', `/v1/leads/${leadId}/history`)
  const entry = (history.body.items as Array<{ eventId: string; reasons: Array<{ ruleId: string; points: number; note: string }>; after: { intent: number } }>).find((e) => e.eventId === eventId) ?? null
  return { entry, lead: (await call(app, 'GET', `/v1/leads/${leadId}`)).body as { scores: { intent: number } } }
}
type Db = Awaited<ReturnType<typeof buildTestApp>>['db']

t.test('which rulesets the plugin scores for', async (t) => {
  const { app, db } = await buildTestApp(t)

  const tpl = await classifiedUnder(t, app, db, BUYING_INTENT_SOURCE, 'template')
  t.match(tpl.entry?.reasons, [{ ruleId: 'ai_intent.high', points: 50, note: 'AI intent High (openai, gpt-4o-mini) — Runs the platform team' }])
  t.equal(tpl.entry?.reasons.length, 1, 'the template: the plugin alone')
  t.equal(tpl.lead.scores.intent, 50)

  const unknown = await classifiedUnder(t, app, db, 'known events page_view\nrule "View" when event.type == "page_view" then +1 engagement\n', 'unknown')
  t.equal(unknown.entry, null, 'a ruleset that does not know intent_classified: not scored, no ledger entry')
  t.equal(unknown.lead.scores.intent, 0)

  const open = await classifiedUnder(t, app, db, 'rule "View" when event.type == "page_view" then +1 engagement\n', 'open')
  t.match(open.entry?.reasons, [{ ruleId: 'ai_intent.high', points: 50 }], 'no known-events list: every type is known, the plugin scores')

  const demo = await classifiedUnder(t, app, db, DEMO_RULESET, 'demo')
  t.match(demo.entry?.reasons, [{ ruleId: 'ai-intent-high', points: 30 }], 'the demo: its own rule, under the alias')
  t.notOk(demo.entry?.reasons.some((r) => r.ruleId.startsWith('ai_intent.')), 'and not the plugin: no double counting')
  t.equal(demo.lead.scores.intent, 30)
})
