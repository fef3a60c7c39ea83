// Predictive scoring end to end, against the real server and database: leads with a known signal (industry
// "fintech" and a demo request make a purchase likely) are ingested through the API, a model is trained through
// the API and must find the signal; events after the prediction point change nothing; a deployed model adds
// explained predictions to scored leads; deployment, rollback, comparison, drift, bias and scopes.
import t from 'tap'
import { isDeepStrictEqual } from 'node:util'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildTestApp, postEvents, AUTH } from '../helpers/harness.js'
import { loadDataset, currentInput, type Example } from '../../server/src/domain/predictive/dataset.js'
import { encode } from '../../server/src/domain/predictive/features.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const DAY = 86_400_000
const NOW = Date.now()
const BASE = NOW - 120 * DAY
const AS_OF = new Date(NOW - 10 * DAY).toISOString()
const HORIZON = 30
const OUTCOME = { kind: 'event', eventTypes: ['purchase'], horizonDays: HORIZON }
const INDUSTRIES = ['fintech', 'retail', 'health', 'education', 'media'] as const
const COUNTRIES = ['US', 'DE', 'IN', 'BR'] as const
const LEADS = 240

/** A small deterministic generator, so the fixture is the same on every run. */
function lcg (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296 }
}

interface FixtureLead { email: string; industry: string; demo: boolean; converts: boolean; lastAt: number; convertAt: number | null }

/** Events of LEADS leads over days 0–70 after BASE; every conversion happens within 3–20 days of the lead's last event. */
function fixture (): { events: Json[]; leads: FixtureLead[] } {
  const rnd = lcg(42)
  const events: Json[] = []
  const leads: FixtureLead[] = []
  for (let i = 0; i < LEADS; i++) {
    const industry = rnd() < 0.3 ? 'fintech' : INDUSTRIES[1 + Math.floor(rnd() * 4)]!
    const country = COUNTRIES[Math.floor(rnd() * COUNTRIES.length)]!
    const email = `lead${i}@fixture.example`
    const attributes = {
      industry,
      country,
      employees: Math.round(10 + rnd() * 990),
      source: rnd() < 0.2 ? 'Select' : ['ads', 'organic', 'referral'][Math.floor(rnd() * 3)]!,
    }
    let at = BASE + Math.floor(rnd() * 60) * DAY + Math.floor(rnd() * DAY)
    const push = (type: string, props: Json = {}): void => {
      events.push({ externalId: `fx-${i}-${events.length}`, lead: { email, attributes }, type, occurredAt: new Date(at).toISOString(), properties: props })
    }
    push('page_view', { path: '/', duration: Math.round(rnd() * 300) })
    if (rnd() < 0.3) { at += Math.floor(rnd() * 3 * DAY) + 3_600_000; push('email_open') }
    const demo = rnd() < (industry === 'fintech' ? 0.6 : 0.2)
    if (demo) { at += Math.floor(rnd() * 2 * DAY) + 3_600_000; push('demo_request') }
    const z = -3 + 2.5 * (industry === 'fintech' ? 1 : 0) + 3 * (demo ? 1 : 0)
    const converts = rnd() < 1 / (1 + Math.exp(-z))
    const lastAt = at
    let convertAt: number | null = null
    if (converts) { at += (3 + Math.floor(rnd() * 17)) * DAY; convertAt = at; push('purchase', { amount: 100 }) }
    leads.push({ email, industry, demo, converts, lastAt, convertAt })
  }
  return { events, leads }
}

async function ingest (app: FastifyInstance, events: Json[]): Promise<void> {
  for (let i = 0; i < events.length; i += 500) {
    const res = await postEvents(app, { events: events.slice(i, i + 500) })
    if (res.statusCode !== 202 || res.json().accepted !== Math.min(500, events.length - i)) throw new Error(`ingest failed: ${res.statusCode} ${res.body.slice(0, 300)}`)
  }
}

async function get (app: FastifyInstance, url: string, headers: Record<string, string> = AUTH): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'GET', url, headers })
}
async function post (app: FastifyInstance, url: string, payload: unknown = {}, headers: Record<string, string> = AUTH): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify(payload) })
}

/** Starts training and waits for its job to finish; returns the finished job. */
async function trainModel (app: FastifyInstance, body: Json): Promise<Json> {
  const res = await post(app, '/v1/models/train', body)
  if (res.statusCode !== 202) throw new Error(`train answered ${res.statusCode}: ${res.body}`)
  const id = res.json().id as string
  const deadline = Date.now() + 300_000
  for (;;) {
    const job = (await get(app, `/v1/models/jobs/${id}`)).json() as Json
    if (job.state === 'done' || job.state === 'failed') return job
    if (Date.now() > deadline) throw new Error(`training job ${id} did not finish: ${JSON.stringify(job)}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

function stripIds (examples: Example[]): unknown {
  return examples.map((e) => ({ leadId: e.leadId, at: e.at, label: e.label, input: e.input }))
}

t.test('a model trained through the API finds the signal, ignores the future, and explains deployed predictions', { timeout: 900_000 }, async (t) => {
  // Training reads events, not scores, so the first part runs before any scoring (workers start later)
  const { app, db } = await buildTestApp(t, {}, { startWorkers: false })
  const { events, leads } = fixture()
  const started = Date.now()
  const phase = (what: string): void => { t.comment(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`) }
  await ingest(app, events)
  phase(`ingested ${events.length} events`)

  // ---- training through the API
  const trainBody = { outcome: OUTCOME, asOf: AS_OF, seed: 3, testFraction: 0.3 }
  const job = await trainModel(app, trainBody)
  phase('trained')
  t.equal(job.state, 'done', `the training job finished (${job.error ?? ''})`)
  t.equal(job.percent, 100)
  t.match(job.modelId, /^mdl_/)
  const model = (await get(app, `/v1/models/${job.modelId as string}`)).json() as Json
  t.equal(model.version, 1)
  t.match(model.outcome, OUTCOME)
  t.equal(model.window.asOf, AS_OF)
  const expectedPositives = leads.filter((l) => l.converts && l.convertAt! - l.lastAt <= HORIZON * DAY).length
  t.equal(model.data.positives, expectedPositives, 'every conversion within the horizon of the prediction point is a positive')
  t.equal(model.data.examples, LEADS, 'every lead has a prediction point')
  t.ok(model.metrics.auc > 0.8, `holdout AUC ${model.metrics.auc} is well above chance`)
  t.ok(model.cv.every((c: Json) => c.auc > 0.75), `every candidate validated well above chance (${(model.cv as Json[]).map((c) => `${c.name as string} ${c.auc as number}`).join('; ')})`)
  t.ok(model.metrics.brier < 0.2, `Brier ${model.metrics.brier}`)
  const cm = model.metrics.confusion
  t.equal(cm.tp + cm.fp + cm.tn + cm.fn, model.metrics.examples, 'the confusion matrix covers the holdout')
  t.ok(model.metrics.roc.length > 2 && model.metrics.calibration.length > 1, 'ROC and calibration curves are point arrays')
  t.ok(model.cv.length === 3 && model.winner === model.cv.reduce((b: Json, c: Json) => c.auc > b.auc + 1e-9 ? c : b).name, 'the winner has the best validation AUC')
  // the signal: industry and demo requests dominate the importance
  const top = (model.importance.features as Json[]).slice(0, 5).map((f) => f.feature as string)
  t.ok(top.includes('attributes.industry'), `industry is a top feature (${top.join(', ')})`)
  t.ok(top.some((f) => f.startsWith('events.demo_request.')), `demo requests are a top feature (${top.join(', ')})`)
  const signal = (model.importance.features as Json[]).filter((f) => f.feature === 'attributes.industry' || f.feature.startsWith('events.demo_request.')).reduce((s, f) => s + (f.importance as number), 0)
  t.ok(signal > 0.4, `the signal carries the largest share of the importance (${signal.toFixed(3)})`)
  // the feature set is declared and shown; the purchase outcome is never a feature; "Select" is missing
  t.notOk((model.featureSet.sources as Json[]).some((s) => (s.name as string).startsWith('events.purchase')), 'the outcome event is not a feature')
  const source = (model.featureSet.sources as Json[]).find((s) => s.name === 'attributes.source')
  t.ok(source !== undefined && !(source.levels as string[]).includes('Select'), '"Select" counts as missing')
  t.ok((model.featureSet.columns as Json[]).some((c) => c.name === 'attributes.source is missing'), 'missing values get an indicator column')
  t.match(model.featureSet, { version: 1, hash: /^[0-9a-f]{16}$/ })
  const list = (await get(app, '/v1/models')).json() as Json
  t.match(list.items, [{ id: model.id, version: 1, role: null }])
  const declared = (await get(app, '/v1/models/feature-set')).json() as Json
  t.match(declared, { version: 1, spec: { maxLevels: 20, missingValues: ['', 'select'] }, outcome: { kind: 'event', eventTypes: ['purchase'] } })

  // ---- leakage: events after the prediction point change nothing in features, labels or model
  const settings = (await app.core.rulesets.active()).settings
  const opts = { outcome: OUTCOME as { kind: 'event'; eventTypes: string[]; horizonDays: number }, asOf: Date.parse(AS_OF), settings, maxLeads: 100_000 }
  const before = await loadDataset(db.c, opts)
  const future: Json[] = []
  const windowStart = Date.parse(AS_OF) - HORIZON * DAY
  leads.forEach((l, i) => {
    if (i % 8 !== 0) return
    const at = (ms: number): string => new Date(ms).toISOString()
    // after every prediction point, inside the label window: a strong signal that must not reach the features
    future.push({ externalId: `future-${i}-a`, lead: { email: l.email, attributes: { industry: 'fintech' } }, type: 'demo_request', occurredAt: at(windowStart + DAY) })
    // after the cutoff: conversions that must not reach the labels
    future.push({ externalId: `future-${i}-b`, lead: { email: l.email }, type: 'purchase', occurredAt: at(Date.parse(AS_OF) + DAY) })
    future.push({ externalId: `future-${i}-c`, lead: { email: l.email }, type: 'page_view', occurredAt: at(Date.parse(AS_OF) + 2 * DAY) })
  })
  await ingest(app, future)
  const after = await loadDataset(db.c, opts)
  t.same(after.stats, before.stats, 'the same leads, examples and labels')
  t.same(stripIds(after.examples), stripIds(before.examples), 'identical features and labels for every lead')
  const job2 = await trainModel(app, trainBody)
  phase('trained again')
  t.equal(job2.state, 'done')
  const [docA, docB] = await Promise.all([db.c.models.findOne({ _id: job.modelId }), db.c.models.findOne({ _id: job2.modelId })])
  t.equal(docB!.featureSet.hash, docA!.featureSet.hash, 'the same feature encoding')
  t.same(docB!.artifact, docA!.artifact, 'the same model, parameter for parameter')
  t.same(docB!.metrics, docA!.metrics, 'the same holdout metrics')
  const cmp = (await get(app, `/v1/models/compare?a=${job.modelId as string}&b=${job2.modelId as string}`)).json() as Json
  t.match(cmp, { sameOutcome: true, sameFeatureSet: true, a: { version: 1 }, b: { version: 2 }, features: { onlyA: [], onlyB: [] } })
  t.ok((cmp.metrics as Json[]).every((m) => m.delta === 0), 'no metric differs')

  // ---- scoring: the worker's own run (processLead, what the pool runs per lead) on a sample of the leads; the
  // pool is not started so that the rest of the fixture stays unscored (and the test quick on FerretDB)
  const score = async (ids: readonly string[]): Promise<void> => { for (const id of ids) await app.core.processor.processLead(id) }
  const sample = (await db.c.leads.find({}).sort({ _id: 1 }).project<{ _id: string }>({ _id: 1 }).toArray()).slice(0, 30).map((l) => l._id)
  await score(sample)
  phase(`scored ${sample.length} leads`)
  // the worker's features equal what training computes at the same point (a recorded outcome: the last event)
  const recorded = await loadDataset(db.c, { ...opts, outcome: { kind: 'status', values: ['converted'] }, asOf: NOW })
  const fsA = (await app.core.predictive.mustGet(model.id as string)).featureSet
  let same = 0
  for (const ex of recorded.examples.filter((e) => sample.includes(e.leadId))) {
    const served = currentInput((await db.c.leads.findOne({ _id: ex.leadId }))!, NOW)
    if (isDeepStrictEqual(served, ex.input) && isDeepStrictEqual(encode(fsA, served).x, encode(fsA, ex.input).x)) same++
    else t.same(served, ex.input, `lead ${ex.leadId}: served features equal training features`)
  }
  t.equal(same, sample.length, 'the worker\'s features (activity, rule scores, attributes) equal what training computes')

  // ---- serving: after deploy, every scored event carries an explained prediction
  const dep = await post(app, `/v1/models/${job.modelId as string}/deploy`, { role: 'champion' })
  t.equal(dep.statusCode, 200)
  t.match(dep.json(), { champion: { id: job.modelId, version: 1 }, challenger: null, action: 'deploy' })
  const t0 = NOW - DAY
  const fresh = [
    { externalId: 'new-hot-1', lead: { email: 'hot@new.example', attributes: { industry: 'fintech', country: 'US', employees: 200, source: 'ads' } }, type: 'page_view', occurredAt: new Date(t0).toISOString() },
    { externalId: 'new-hot-2', lead: { email: 'hot@new.example' }, type: 'demo_request', occurredAt: new Date(t0 + 3_600_000).toISOString() },
    { externalId: 'new-cold-1', lead: { email: 'cold@new.example', attributes: { industry: 'media', country: 'DE', employees: 50, source: 'Select' } }, type: 'page_view', occurredAt: new Date(t0).toISOString() },
    { externalId: 'new-odd-1', lead: { email: 'odd@new.example', attributes: { industry: 'fintech' } }, type: 'webinar_attended', occurredAt: new Date(t0).toISOString() },
  ]
  const ing = await postEvents(app, { events: fresh })
  const ids = (ing.json().results as Json[]).map((r) => r.leadId as string)
  await score([...new Set(ids)])
  const hot = (await get(app, `/v1/leads/${ids[0]!}`)).json() as Json
  const cold = (await get(app, `/v1/leads/${ids[2]!}`)).json() as Json
  const odd = (await get(app, `/v1/leads/${ids[3]!}`)).json() as Json
  t.match(hot.predictive, { model: { id: job.modelId, version: 1, arm: 'champion' }, grade: /^[ABCD]$/ })
  t.ok(hot.predictive.probability > 0 && hot.predictive.probability < 1 && hot.predictive.score === Math.round(hot.predictive.probability * 100), 'probability and its 0–100 score')
  t.equal(hot.scores.predictive, hot.predictive.score, 'scores.predictive is the 0–100 score')
  t.ok(hot.predictive.confidence > 0.5 && hot.predictive.confidence <= 1, `confidence ${hot.predictive.confidence}`)
  t.ok(hot.predictive.probability > cold.predictive.probability + 0.3, `the fintech lead with a demo request (${hot.predictive.probability}) is far likelier than the other (${cold.predictive.probability})`)
  t.ok(['A', 'B'].includes(hot.predictive.grade), `hot lead grade ${hot.predictive.grade}`)
  const hotFactors = (hot.predictive.factors.positive as Json[]).map((f) => f.feature as string)
  t.ok(hotFactors.includes('attributes.industry') && hotFactors.some((f) => f.startsWith('events.demo_request')), `positive factors name the signal (${hotFactors.join(', ')})`)
  t.ok((hot.predictive.factors.positive as Json[]).find((f) => f.feature === 'attributes.industry')?.value === 'fintech', 'a factor shows the lead\'s value')
  t.ok((cold.predictive.factors.negative as Json[]).length > 0, 'the cold lead has negative factors')
  t.ok(odd.predictive !== null, 'an event type the rules do not score still gets a prediction')
  const hist = (await get(app, `/v1/leads/${ids[0]!}/history?order=asc`)).json() as Json
  t.equal(hist.items.length, 2)
  t.ok(hist.items.every((h: Json) => h.predictive?.model?.id === job.modelId), 'each ledger entry stores its prediction')
  t.ok(hist.items[1].predictive.probability > hist.items[0].predictive.probability, 'the demo request raised the probability')
  const deployment = (await get(app, '/v1/models/deployment')).json() as Json
  t.match(deployment.current, { champion: { id: job.modelId } })
  t.ok(deployment.serving.samples >= 4 && typeof deployment.serving.p99Ms === 'number', 'serving latency is reported')
  // the served model answers for every lead's current features (its latency is measured by bench/predictive, not here)
  const sel = app.core.predictive.runtime.select(ids[0]!)!
  const inputs = (await db.c.leads.find({}).toArray()).map((l) => currentInput(l, NOW))
  const probs = inputs.map((inp) => sel.model.predictor.predict(inp).probability)
  t.ok(probs.length > 0 && probs.every((p) => Number.isFinite(p) && p >= 0 && p <= 1), `a probability in [0, 1] for each of ${probs.length} leads`)

  phase('served')
  // ---- monitoring
  const drift = (await get(app, `/v1/models/${job.modelId as string}/drift?days=3650`)).json() as Json
  t.ok(['stable', 'warning', 'alarm'].includes(drift.status), `drift status ${drift.status}`)
  t.ok(drift.window.leads >= sample.length + 3, `drift looks at the active leads (${drift.window.leads as number})`)
  t.ok(drift.features.length === model.featureSet.sources.length && drift.features.every((f: Json) => typeof f.psi === 'number' && f.bins.length > 0), 'PSI per feature with its bins')
  t.type(drift.prediction.psi, 'number')
  const bias = (await get(app, `/v1/models/${job.modelId as string}/bias?attribute=country`)).json() as Json
  t.equal(bias.leads, model.metrics.examples, 'the bias report covers the holdout')
  t.equal((bias.groups as Json[]).reduce((s, g) => s + (g.leads as number), 0), bias.leads)
  t.ok((bias.groups as Json[]).every((g) => COUNTRIES.includes(g.group) && typeof g.meanProbability === 'number'), 'one group per country')
  const perf = (await get(app, `/v1/models/${job.modelId as string}/performance`)).json() as Json
  t.ok(perf.leads >= 3 && perf.matured === 0, 'live predictions are counted, none has matured yet')

  // ---- champion/challenger, rollback
  const ch = await post(app, `/v1/models/${job2.modelId as string}/deploy`, { role: 'challenger', challengerShare: 0.5 })
  t.match(ch.json(), { champion: { id: job.modelId }, challenger: { id: job2.modelId }, challengerShare: 0.5 })
  const arms = new Set<string>()
  const armEvents = Array.from({ length: 12 }, (_, i) => ({ externalId: `arm-${i}`, lead: { email: `arm${i}@new.example`, attributes: { industry: 'retail' } }, type: 'page_view', occurredAt: new Date(t0).toISOString() }))
  const armRes = await postEvents(app, { events: armEvents })
  await score((armRes.json().results as Json[]).map((r) => r.leadId as string))
  for (const r of armRes.json().results as Json[]) arms.add(((await get(app, `/v1/leads/${r.leadId as string}`)).json() as Json).predictive.model.arm)
  t.same([...arms].sort(), ['challenger', 'champion'], 'leads are split between the arms')
  const promoted = await post(app, '/v1/models/challenger/end', { promote: true })
  t.match(promoted.json(), { champion: { id: job2.modelId }, challenger: null, action: 'promote' })
  const rb = await post(app, '/v1/models/rollback')
  t.match(rb.json(), { champion: { id: job.modelId }, action: 'rollback' })
  const rb2 = await post(app, '/v1/models/rollback')
  t.match(rb2.json(), { champion: null }, 'rolling back the first champion leaves no model')
  const rb3 = await post(app, '/v1/models/rollback')
  t.equal(rb3.statusCode, 409)
  t.match(rb3.json(), { code: 'LS_ERR_MODEL_NO_ROLLBACK' })
  t.match((await post(app, '/v1/models/challenger/end', {})).json(), { code: 'LS_ERR_MODEL_NO_CHALLENGER' })
})

t.test('errors, scopes and training that cannot succeed', { timeout: 60_000 }, async (t) => {
  const { app } = await buildTestApp(t)
  const key = (await post(app, '/v1/api-keys', { name: 'reader', scopes: ['read'] })).json() as Json
  const reader = { authorization: `Bearer ${key.key as string}` }
  const forbidden = await post(app, '/v1/models/train', {}, reader)
  t.equal(forbidden.statusCode, 403)
  t.match(forbidden.json(), { code: 'LS_ERR_FORBIDDEN' })
  t.equal((await get(app, '/v1/models', reader)).statusCode, 200, 'read may list models')
  t.match((await get(app, '/v1/models/mdl_nope')).json(), { status: 404, code: 'LS_ERR_MODEL_NOT_FOUND' })
  t.match((await post(app, '/v1/models/mdl_nope/deploy', {})).json(), { status: 404, code: 'LS_ERR_MODEL_NOT_FOUND' })
  t.match((await get(app, '/v1/models/jobs/job_nope')).json(), { status: 404, code: 'LS_ERR_JOB_NOT_FOUND' })
  t.match((await post(app, '/v1/models/train', { outcome: { kind: 'event', eventTypes: [], horizonDays: 30 } })).json(), { status: 400, code: 'LS_ERR_VALIDATION' })
  t.match((await post(app, '/v1/models/rollback')).json(), { status: 409, code: 'LS_ERR_MODEL_NO_ROLLBACK' })
  // no data: the job fails with a coded reason
  await postEvents(app, { events: [{ externalId: 'x1', lead: { email: 'a@x.example' }, type: 'page_view', occurredAt: new Date(NOW - 90 * DAY).toISOString() }] })
  const job = await trainModel(app, {})
  t.match(job, { state: 'failed', errorCode: 'LS_ERR_MODEL_TRAINING_DATA', error: /at least 20 examples/ })
  const busy = await Promise.all([post(app, '/v1/models/train', {}), post(app, '/v1/models/train', {})])
  const codes = busy.map((r) => r.statusCode).sort()
  t.same(codes, [202, 409], 'one training at a time')
  t.match(busy.find((r) => r.statusCode === 409)!.json(), { code: 'LS_ERR_MODEL_TRAINING_BUSY' })
  const running = busy.find((r) => r.statusCode === 202)!.json() as Json
  for (let i = 0; i < 100; i++) {
    const j = (await get(app, `/v1/models/jobs/${running.id as string}`)).json() as Json
    if (j.state === 'failed' || j.state === 'done') break
    await new Promise((r) => setTimeout(r, 100))
  }
})
