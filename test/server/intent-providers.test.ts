// The AI intent layer's parts: the strict answer parser, the rule fallback on hand-labelled leads, the
// OpenAI-compatible provider against a real HTTP server answered by the embedded model (with its faults: a slow
// server, 503s, a server that knows only json_object), the classifier's time-outs, retries, pause and cache, and the
// embedded provider itself on a few leads.
import t, { type Test } from 'tap'
import { createServer } from 'node:net'
import { parseAnswer, IntentAnswerError, MAX_REASONS } from '../../server/src/domain/intent/prompt.js'
import { classifyByRules, RULES_MODEL } from '../../server/src/domain/intent/rules-fallback.js'
import { createOpenAiProvider } from '../../server/src/domain/intent/openai-provider.js'
import { createLocalProvider } from '../../server/src/domain/intent/local-provider.js'
import { createIntentClassifier, type IntentCache } from '../../server/src/domain/intent/classifier.js'
import { INTENT_LABELS, RULES_FALLBACK, type IntentAnswer } from '../../server/src/domain/intent/types.js'
import { ensureModel, loadIntentFixtures, startChatServer } from '../helpers/intent.js'

const { offer, leads } = loadIntentFixtures()
const byName = (name: string) => leads.find((l) => l.profile.name === name)!.profile

/** A valid answer: a label and 1–3 non-empty reasons (the shape, never a specific label: the model decides). */
function assertAnswer (t: Test, a: IntentAnswer): void {
  t.ok(INTENT_LABELS.includes(a.intent), `intent ${a.intent} is a label`)
  t.ok(a.reasons.length >= 1 && a.reasons.length <= MAX_REASONS, 'one to three reasons')
  for (const r of a.reasons) t.ok(typeof r === 'string' && r.trim().length > 0, 'each reason is text')
}

t.test('the answer parser takes exactly the schema and refuses everything else', async (t) => {
  t.same(parseAnswer('{"intent":"High","reasons":["CTO at a fintech"]}'), { intent: 'High', reasons: ['CTO at a fintech'] })
  t.same(parseAnswer('```json\n{"intent":"Low","reasons":["retired"]}\n```'), { intent: 'Low', reasons: ['retired'] })
  for (const bad of ['High', '{"intent":"high","reasons":["x"]}', '{"intent":"High","reasons":[]}', '{"intent":"High","reasons":["a","b","c","d"]}',
    '{"intent":"High","reasons":["ok"],"score":9}', '{"intent":"High","reasons":[" "]}', '{"intent":"High","reasons":[3]}', '[]', 'null',
    `{"intent":"Medium","reasons":["${'x'.repeat(161)}"]}`]) {
    t.throws(() => parseAnswer(bad), IntentAnswerError, bad.slice(0, 60))
  }
})

t.test('the rule fallback reads role tier, industry fit and completeness', async (t) => {
  const cto = classifyByRules(byName('Aiko Tanaka'), offer)
  t.equal(cto.intent, 'High')
  t.match(cto.reasons, ['Decision-maker role (CTO)', 'Target industry (FinTech)', 'Complete profile'])
  // "Head of" counts as VP rank; Logistics is adjacent to E-commerce
  t.match(classifyByRules(byName('Olga Smirnova'), offer), { intent: 'High', reasons: [/^Decision-maker/, /^Adjacent industry/, 'Complete profile'] })
  t.match(classifyByRules(byName('Julia Novak'), offer), { intent: 'High', reasons: [/^Influencer role/, /^Target industry/, 'Complete profile'] })
  t.match(classifyByRules(byName('Raj Patel'), offer), { intent: 'Medium', reasons: [/^Influencer/, /^Industry outside/, 'Complete profile'] })
  t.match(classifyByRules(byName('Lucy Evans'), offer), { intent: 'Low', reasons: [/^Role outside/, /^Industry outside/, 'Complete profile'] })
  t.match(classifyByRules(byName('Laura Méndez'), offer), { intent: 'Medium', reasons: ['Role unknown', /^Target industry/] })
  // the same profile always gets the same answer
  for (const l of leads) t.same(classifyByRules(l.profile, offer), classifyByRules(l.profile, offer))
})

t.test('OpenAI-compatible provider against a real chat-completions server answered by the embedded model', async (t) => {
  const server = await startChatServer()
  t.teardown(async () => { await server.close() })
  const provider = createOpenAiProvider({ baseUrl: server.url, model: 'smollm2-135m', apiKey: 'sk-test-secret' })
  for (const name of ['Priya Raman', 'Carlos Mendoza']) {
    const a = await provider.classify(byName(name), offer, AbortSignal.timeout(120_000))
    assertAnswer(t, a)
  }
  const sent = server.requests[0]!
  t.equal(sent.headers.authorization, 'Bearer sk-test-secret')
  t.match(sent.body, { model: 'smollm2-135m', temperature: 0, response_format: { type: 'json_schema', json_schema: { name: 'lead_intent', strict: true } } })
  const user = (sent.body.messages as Array<{ role: string; content: string }>).find((m) => m.role === 'user')!.content
  t.match(user, /Role: VP of Engineering/)
  t.match(user, /Target industries: SaaS, FinTech, E-commerce/)
})

t.test('a server that knows only json_object is asked again with it', async (t) => {
  const server = await startChatServer({ refuseJsonSchema: true })
  t.teardown(async () => { await server.close() })
  const provider = createOpenAiProvider({ baseUrl: server.url, model: 'smollm2-135m' })
  // json_object constrains the syntax only, so a tiny model may miss the shape: either way no bad answer passes
  const a = await provider.classify(byName('Noah Fischer'), offer, AbortSignal.timeout(120_000)).catch((err: Error) => err)
  if (a instanceof Error) t.match(a.message, /answer was refused/)
  else assertAnswer(t, a)
  t.same(server.requests.map((r) => (r.body.response_format as { type: string }).type), ['json_schema', 'json_object'])
  t.equal(server.requests[0]!.headers.authorization, undefined, 'no key, no authorization header')
})

t.test('the classifier retries a 503, then the model answers', async (t) => {
  const server = await startChatServer({ failFirst: 1 })
  t.teardown(async () => { await server.close() })
  const classifier = createIntentClassifier({ provider: createOpenAiProvider({ baseUrl: server.url, model: 'm' }), timeoutMs: 120_000, retries: 2, backoffMs: 10 })
  const r = await classifier.classify(byName('Grace Mwangi'), offer)
  t.equal(r.provider, 'openai')
  t.equal(r.fallbackReason, undefined)
  assertAnswer(t, r)
  t.equal(server.requests.length, 2, 'one 503, one answer')
  t.equal(classifier.health().state, 'ok')
})

t.test('a slow server times out and the rule fallback answers; after three such leads the provider is paused', async (t) => {
  const server = await startChatServer({ delayMs: 1500 })
  t.teardown(async () => { await server.close() })
  let clock = 1_000_000
  const classifier = createIntentClassifier({
    provider: createOpenAiProvider({ baseUrl: server.url, model: 'm' }), timeoutMs: 200, retries: 1, backoffMs: 10, breakerAfter: 3, cooldownMs: 60_000, now: () => clock,
  })
  const profile = byName('Hannah Becker')
  const r = await classifier.classify(profile, offer)
  t.match(r, { provider: RULES_FALLBACK, model: RULES_MODEL, fallbackReason: /no answer within 200 ms/ })
  t.same({ intent: r.intent, reasons: r.reasons }, classifyByRules(profile, offer))
  t.equal(server.requests.length, 2, 'the first attempt and one retry')
  await classifier.classify(profile, offer)
  await classifier.classify(profile, offer)
  t.equal(classifier.health().state, 'paused')
  const asked = server.requests.length
  t.match(await classifier.classify(profile, offer), { provider: RULES_FALLBACK, fallbackReason: /paused/ })
  t.equal(server.requests.length, asked, 'a paused provider is not asked')
  clock += 60_001
  t.equal(classifier.health().state, 'failing', 'the pause ends after the cool-down')
})

t.test('an unreachable endpoint, a bad answer and no provider all fall back; a cached answer is not asked again', async (t) => {
  const port = await new Promise<number>((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => { resolve(p) }) }) })
  const down = createIntentClassifier({ provider: createOpenAiProvider({ baseUrl: `http://127.0.0.1:${port}/v1`, model: 'm' }), timeoutMs: 2000, retries: 1, backoffMs: 10 })
  t.match(await down.classify(byName('Ben Carter'), offer), { provider: RULES_FALLBACK, fallbackReason: /could not be reached/ })
  const off = createIntentClassifier({ provider: null, timeoutMs: 1000, retries: 0, backoffMs: 0 })
  t.match(await off.classify(byName('Ben Carter'), offer), { provider: RULES_FALLBACK, fallbackReason: /no model is configured/ })
  t.equal(off.health().state, 'off')

  const store = new Map<string, IntentAnswer>()
  const cache: IntentCache = { get: async (k) => store.get(k) ?? null, set: async (k, a) => { store.set(k, a) } }
  const server = await startChatServer()
  t.teardown(async () => { await server.close() })
  const cached = createIntentClassifier({ provider: createOpenAiProvider({ baseUrl: server.url, model: 'm' }), cache, timeoutMs: 120_000, retries: 0, backoffMs: 0 })
  const first = await cached.classify(byName('Ben Carter'), offer)
  const again = await cached.classify(byName('Ben Carter'), offer)
  t.equal(server.requests.length, 1)
  t.same({ intent: again.intent, reasons: again.reasons, cached: again.cached }, { intent: first.intent, reasons: first.reasons, cached: true })
  await cached.classify(byName('Ben Carter'), { ...offer, version: 2 })
  t.equal(server.requests.length, 2, 'a new offer version is a new cache key')
})

t.test('the embedded model classifies a few leads with schema-constrained output', async (t) => {
  const provider = createLocalProvider({ modelPath: ensureModel(), threads: 1 })
  t.teardown(async () => { await provider.close?.() })
  for (const name of ['Fatima Al-Sayed', 'Kate Sullivan', 'Paul Schmidt']) assertAnswer(t, await provider.classify(byName(name), offer, AbortSignal.timeout(120_000)))
  const missing = createLocalProvider({ modelPath: '/nonexistent/model.gguf', threads: 1 })
  await t.rejects(missing.classify(byName('Kate Sullivan'), offer, AbortSignal.timeout(1000)), { retryable: false, message: /does not exist.*intent:model/ })
})
