// The console's Models view end to end, in Debian's chromium driven by playwright-core, against the real server
// serving the built SPA: leads with a known signal (industry "fintech" and a demo request make a purchase likely) are
// ingested through the API; an admin starts training from the form and watches its phases live to the end (and a
// training that cannot succeed is shown as a problem), reads the metrics, the ROC and calibration charts and the
// feature set, deploys the model as champion, opens the drift, bias and performance panels and compares two versions;
// a viewer sees the models but cannot train or deploy, and the API refuses the viewer's deploy.
import t from 'tap'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Page } from 'playwright-core'
import { CONSOLE_DIR, openBrowser, requireConsoleAndBrowser, signIn as signInAs } from '../helpers/browser.js'
import { buildTestApp, postEvents, AUTH } from '../helpers/harness.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const ADMIN = { email: 'admin@example.com', password: 'e2e-admin-password' }
const VIEWER = { email: 'viewer@example.com', password: 'e2e-viewer-password' }
const WAIT = 60_000
const TRAIN_WAIT = 240_000

const DAY = 86_400_000
const NOW = Date.now()
const BASE = NOW - 120 * DAY
const INDUSTRIES = ['fintech', 'retail', 'health', 'education', 'media'] as const
const COUNTRIES = ['US', 'DE', 'IN', 'BR'] as const
const LEADS = 160

/** A small deterministic generator, so the fixture is the same on every run. */
function lcg (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296 }
}

/**
 * Events of LEADS leads between 120 and 58 days ago: a page view, sometimes an email open, a demo request (likelier
 * for fintech), and a purchase 3–20 days after the last event with a probability that the industry and the demo
 * request drive. With the cutoff now and a 30-day horizon, every lead has a fully observed label.
 */
function fixture (): Json[] {
  const rnd = lcg(7)
  const events: Json[] = []
  for (let i = 0; i < LEADS; i++) {
    const industry = rnd() < 0.3 ? 'fintech' : INDUSTRIES[1 + Math.floor(rnd() * 4)]!
    const attributes = { industry, country: COUNTRIES[Math.floor(rnd() * COUNTRIES.length)]!, employees: Math.round(10 + rnd() * 990) }
    const email = `lead${i}@models.example`
    let at = BASE + Math.floor(rnd() * 60) * DAY + Math.floor(rnd() * DAY)
    const push = (type: string, properties: Json = {}): void => {
      events.push({ externalId: `m-${i}-${events.length}`, lead: { email, attributes }, type, occurredAt: new Date(at).toISOString(), properties })
    }
    push('page_view', { path: '/', duration: Math.round(rnd() * 300) })
    if (rnd() < 0.3) { at += Math.floor(rnd() * 2 * DAY) + 3_600_000; push('email_open') }
    const demo = rnd() < (industry === 'fintech' ? 0.6 : 0.2)
    if (demo) { at += Math.floor(rnd() * 2 * DAY) + 3_600_000; push('demo_request') }
    const z = -3 + 2.5 * (industry === 'fintech' ? 1 : 0) + 3 * (demo ? 1 : 0)
    if (rnd() < 1 / (1 + Math.exp(-z))) { at += (3 + Math.floor(rnd() * 17)) * DAY; push('purchase', { amount: 100 }) }
  }
  return events
}

async function api (app: FastifyInstance, method: 'GET' | 'POST', url: string, payload?: unknown): Promise<Json> {
  const res = await app.inject({ method, url, headers: { ...AUTH, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}) })
  if (res.statusCode >= 300) throw new Error(`${method} ${url} answered ${res.statusCode}: ${res.body}`)
  return res.json() as Json
}

t.test('the Models view, end to end', { timeout: 900_000 }, async (t) => {
  requireConsoleAndBrowser()

  // training reads stored events, not scores: the scoring workers stay off so the machine trains rather than scores;
  // the leads that the drift report needs scored are run through the worker's own per-lead step below
  const { app, db } = await buildTestApp(t, { LEADSCORE_CONSOLE_DIR: CONSOLE_DIR, LEADSCORE_ADMIN_EMAIL: ADMIN.email, LEADSCORE_ADMIN_PASSWORD: ADMIN.password }, { startWorkers: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  const events = fixture()
  for (let i = 0; i < events.length; i += 500) {
    const res = await postEvents(app, { events: events.slice(i, i + 500) })
    t.equal(res.statusCode, 202, 'fixture events accepted')
  }
  const created = await app.inject({ method: 'POST', url: '/v1/users', headers: AUTH, payload: { ...VIEWER, role: 'viewer' } })
  t.equal(created.statusCode, 201, 'the viewer is created through the API')

  const { page, pageErrors, newContext, shot } = await openBrowser(t, { viewport: { width: 1280, height: 900 }, timeoutMs: WAIT })
  const signIn = async (p: Page, who: { email: string; password: string }, next: string): Promise<void> => { await signInAs(p, base, who, next) }
  /** Records every phase the training panel shows (a string: the test runner's transform must not reach the page). */
  const recordPhases = async (): Promise<void> => {
    await page.evaluate(`(() => {
      window.phases = []
      const seen = () => {
        const text = document.querySelector('[data-testid="training-phase"]')?.textContent?.trim()
        if (text && window.phases[window.phases.length - 1] !== text) window.phases.push(text)
      }
      new MutationObserver(seen).observe(document.body, { subtree: true, childList: true, characterData: true })
    })()`)
  }
  /** Opens the training form's advanced options (unless they are open). */
  const openOptions = async (): Promise<void> => {
    const d = page.locator('details.options')
    if (await d.getAttribute('open') === null) await d.locator('summary').click()
  }
  const phases = async (): Promise<string[]> => await page.evaluate(() => (globalThis as unknown as { phases: string[] }).phases)

  await t.test('an admin finds the Models view, with no model yet', async (t) => {
    await signIn(page, ADMIN, '/leads')
    await page.getByRole('link', { name: 'Models', exact: true }).click()
    await page.waitForURL(`${base}/models`)
    await page.getByRole('heading', { name: 'Models', exact: true }).waitFor()
    await page.getByText('No model trained yet').waitFor()
    await page.getByTestId('champion').filter({ hasText: 'No model' }).waitFor()
    t.pass('empty list and no champion')
  })

  await t.test('a training that cannot succeed is shown as a problem', async (t) => {
    await page.getByLabel('Conversion event types').fill('signed_contract')
    await page.getByRole('button', { name: 'Start training' }).click()
    const alert = page.getByTestId('training-job').getByRole('alert')
    await alert.filter({ hasText: 'The training failed' }).waitFor({ timeout: TRAIN_WAIT })
    t.match(await alert.textContent(), /LS_ERR_MODEL_TRAINING_DATA/, 'the failure names its code')
    t.equal(await page.getByTestId('training-job').getAttribute('data-state'), 'failed')
  })

  let modelId = ''
  await t.test('a training run started from the form shows its progress live and ends with a model', async (t) => {
    await page.getByLabel('Conversion event types').fill('purchase')
    await openOptions()
    // logistic regression only, 3 folds: seconds on a loaded machine
    await page.getByLabel(/Gradient-boosted trees/).uncheck()
    await page.getByLabel('Cross-validation folds').fill('3')
    await page.getByLabel('Holdout share').fill('0.3')
    await recordPhases()
    await page.getByRole('button', { name: 'Start training' }).click()
    const job = page.locator('[data-testid="training-job"][data-state="done"]')
    await job.waitFor({ timeout: TRAIN_WAIT })
    t.equal(await job.locator('progress').evaluate((el) => (el as unknown as { value: number }).value), 100, 'the bar is full')
    const seen = await phases()
    t.ok(seen.some((p) => /cross-validating/.test(p)), `the phases were shown as they happened (${seen.join(' → ')})`)
    t.equal(seen.at(-1), 'done')
    const list = await api(app, 'GET', '/v1/models')
    t.equal(list.items.length, 1, 'one model in the registry')
    modelId = list.items[0].id as string
    const row = page.locator(`tr[data-model="${modelId}"]`)
    await row.waitFor()
    const auc = Number(await row.getByTestId('auc').textContent())
    t.equal(auc.toFixed(3), (list.items[0].auc as number).toFixed(3), 'the list shows the holdout AUC')
    t.ok(auc > 0.75, `the model found the signal (AUC ${auc})`)
    await shot(page, 'models')
  })

  await t.test('the model\'s report: metrics, charts, feature set', async (t) => {
    const model = await api(app, 'GET', `/v1/models/${modelId}`)
    await page.locator(`tr[data-model="${modelId}"]`).getByRole('link', { name: 'v1' }).click()
    await page.waitForURL(`${base}/models/${modelId}`)
    await page.getByRole('heading', { name: /Version 1/ }).waitFor()
    for (const k of ['auc', 'precision', 'recall', 'f1', 'brier'] as const) {
      t.equal(await page.locator(`[data-metric="${k}"]`).textContent(), (model.metrics[k] as number).toFixed(3), `${k} as measured`)
    }
    const cm = model.metrics.confusion as Json
    t.match(await page.getByTestId('confusion').textContent(), new RegExp(`${cm.tp as number}\\s*true positives\\s*${cm.fn as number}\\s*false negatives[\\s\\S]*${cm.fp as number}\\s*false positives\\s*${cm.tn as number}\\s*true negatives`), 'the confusion matrix')
    // layerchart renders lazily: wait for the curves' paths
    const roc = page.getByTestId('roc-chart').locator('svg path[d*="L"]').first()
    await roc.waitFor()
    t.ok(((await roc.getAttribute('d')) ?? '').length > 10, 'the ROC curve is drawn')
    await page.getByTestId('calibration-chart').locator('svg path[d*="L"]').first().waitFor()
    const bars = page.getByTestId('importance-chart').locator('svg rect, svg path').filter({ visible: true })
    await bars.first().waitFor()
    const shown = Math.min(15, (model.importance.features as Json[]).filter((f) => f.importance > 0.01).length)
    t.ok(await bars.count() >= shown, `a bar per important feature (${shown})`)
    t.match(await page.getByTestId('importance-chart').textContent(), /attributes\.industry|events\.demo_request/, 'the signal is among the important features')
    await shot(page, 'model-report')

    await page.getByRole('link', { name: 'Feature set', exact: true }).click()
    await page.waitForURL(/tab=features/)
    await page.getByTestId('feature-set').getByText(`fingerprint ${model.featureSet.hash as string}`).waitFor()
    t.equal(await page.getByTestId('feature-sources').locator('tbody tr').count(), model.featureSet.sources.length, 'every fitted feature is listed')
    t.equal(await page.getByTestId('feature-sources').getByText('events.purchase', { exact: false }).count(), 0, 'the outcome event is not a feature')
  })

  await t.test('deployed as champion, the model is marked so', async (t) => {
    await page.getByRole('button', { name: 'Deploy as champion…' }).click()
    const dialog = page.getByRole('dialog', { name: 'Deploy version 1 as champion?' })
    await dialog.waitFor()
    await dialog.getByRole('button', { name: 'Deploy as champion', exact: true }).click()
    await page.getByTestId('role').filter({ hasText: 'champion' }).waitFor()
    await page.getByTestId('champion').filter({ hasText: 'Version 1' }).waitFor()
    t.equal(await page.getByRole('button', { name: 'Deploy as champion…' }).isDisabled(), true, 'the champion cannot be deployed again')
    const dep = await api(app, 'GET', '/v1/models/deployment')
    t.equal(dep.current.champion?.id, modelId, 'the server serves it')
    await page.getByRole('link', { name: 'Models', exact: true }).first().click()
    await page.locator(`tr[data-model="${modelId}"]`).getByText('champion').waitFor()
    t.pass('the list marks it champion')
    await page.goBack()
    await page.getByTestId('role').filter({ hasText: 'champion' }).waitFor()
  })

  await t.test('drift, bias and performance panels', async (t) => {
    // the drift report reads leads as served: run the scoring worker's own step for some of the fixture leads
    const ids = (await db.c.leads.find({}).sort({ _id: 1 }).project<{ _id: string }>({ _id: 1 }).toArray()).slice(0, 40).map((l) => l._id)
    for (const id of ids) await app.core.processor.processLead(id)

    await page.getByRole('link', { name: 'Drift', exact: true }).click()
    await page.waitForURL(/tab=drift/)
    const drift = page.getByTestId('drift-panel')
    // the fixture's events are 58 days old or more: none in the last 30 days
    await drift.getByText('No lead was active in this window').waitFor()
    await drift.getByLabel('Window').selectOption({ label: 'last 10 years' })
    await drift.getByRole('button', { name: 'Update' }).click()
    await drift.getByTestId('prediction-drift').waitFor()
    const expected = await api(app, 'GET', `/v1/models/${modelId}/drift?days=3650`)
    t.equal(expected.window.leads, ids.length, 'the scored leads are the active ones')
    t.equal(await drift.getByTestId('drift-status').textContent(), expected.status, `overall status ${expected.status as string}`)
    t.equal(await drift.getByTestId('feature-drift').count(), expected.features.length, 'PSI for every feature')
    const alarmed = (expected.features as Json[]).filter((f) => f.status === 'alarm').length
    t.equal(await drift.locator('tr.alarm[data-testid="feature-drift"]').count(), alarmed, 'features in alarm are highlighted')
    await drift.getByText(`alarm ≥ ${expected.thresholds.alarm as number}`).waitFor()
    await shot(page, 'model-drift')

    await page.getByRole('link', { name: 'Bias', exact: true }).click()
    const bias = page.getByTestId('bias-panel')
    await bias.getByText('Pick an attribute to compare groups').waitFor()
    await bias.getByLabel('Attribute').fill('country')
    await bias.getByRole('button', { name: 'Show' }).click()
    const groups = bias.getByTestId('bias-groups').locator('tbody tr')
    await groups.first().waitFor()
    const names = (await groups.locator('th').allTextContents()).map((s) => s.trim()).sort()
    t.same(names, [...COUNTRIES].sort(), 'one group per country')
    const report = await api(app, 'GET', `/v1/models/${modelId}/bias?attribute=country`)
    const di = report.disparateImpact === null ? '—' : (report.disparateImpact as number).toFixed(2)
    t.equal(await bias.getByTestId('disparate-impact').textContent(), di, 'the disparate-impact ratio')
    await shot(page, 'model-bias')

    await page.getByRole('link', { name: 'Performance', exact: true }).click()
    const perf = page.getByTestId('performance-panel')
    const live = await api(app, 'GET', `/v1/models/${modelId}/performance`)
    t.ok(live.leads >= ids.length, `the scored leads carry live predictions (${live.leads as number})`)
    await perf.getByText('Leads predicted').waitFor()
    t.equal(await perf.getByTestId('perf-matured').textContent(), String(live.matured), 'outcomes known so far')
  })

  await t.test('two versions compared side by side', async (t) => {
    await page.getByRole('link', { name: 'Models', exact: true }).first().click()
    await page.waitForURL(`${base}/models`)
    await openOptions()
    await page.getByLabel(/Gradient-boosted trees/).uncheck()
    await page.getByLabel('Cross-validation folds').fill('3')
    await page.getByLabel('Seed').fill('2')
    await page.getByRole('button', { name: 'Start training' }).click()
    await page.locator('[data-testid="training-job"][data-state="done"]').getByText('Training · version 2').waitFor({ timeout: TRAIN_WAIT })
    const items = (await api(app, 'GET', '/v1/models')).items as Json[]
    t.equal(items.length, 2)
    await page.getByLabel('Select version 1 to compare').check()
    await page.getByLabel('Select version 2 to compare').check()
    await page.getByRole('link', { name: 'Compare the two selected' }).click()
    await page.waitForURL(/\/models\/compare\?a=/)
    const table = page.getByTestId('compare-metrics')
    await table.waitFor()
    const cmp = await api(app, 'GET', `/v1/models/compare?a=${modelId}&b=${items.find((m) => m.version === 2)!.id as string}`)
    const aucRow = (cmp.metrics as Json[]).find((m) => m.metric === 'auc')!
    t.match(await table.locator('tr', { hasText: 'AUC' }).textContent(), (aucRow.a as number).toFixed(3), 'A\'s AUC')
    t.match(await table.locator('tr', { hasText: 'AUC' }).textContent(), (aucRow.b as number).toFixed(3), 'B\'s AUC')
    await shot(page, 'models-compare')
  })

  await t.test('a viewer sees the models but cannot train or deploy', async (t) => {
    const { page: vp } = await newContext()
    await signIn(vp, VIEWER, `/models/${modelId}`)
    await vp.getByRole('heading', { name: /Version 1/ }).waitFor()
    t.equal(await vp.getByRole('button', { name: 'Deploy as champion…' }).isDisabled(), true, 'deploying is disabled')
    t.equal(await vp.getByRole('button', { name: 'Deploy as challenger…' }).isDisabled(), true)
    t.equal(await vp.getByRole('button', { name: 'Roll back…' }).count(), 0, 'no roll back')
    await vp.getByText('can read this model\'s reports, not deploy it').waitFor()
    const status = await vp.evaluate(async (id) => {
      const res = await fetch(`/v1/models/${id}/deploy`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-leadscore-csrf': '1' }, body: JSON.stringify({ role: 'champion' }) })
      return res.status
    }, modelId)
    t.equal(status, 403, 'the API refuses the viewer\'s deploy')
    await vp.getByRole('link', { name: 'Models', exact: true }).first().click()
    await vp.locator(`tr[data-model="${modelId}"]`).waitFor()
    t.equal(await vp.getByRole('button', { name: 'Start training' }).isDisabled(), true, 'training is disabled')
    t.equal(await vp.getByLabel('Conversion event types').count(), 0, 'no training form')
  })

  t.same(pageErrors, [], 'no page errors')
})
