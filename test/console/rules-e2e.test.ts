// The rule author's views and the upload view end to end, in Debian's chromium driven by playwright-core, against the
// real server serving the built SPA: the first page loads neither Monaco nor the charts; a rule with an error gets a
// Monaco marker and a problem that jumps to it; the fixed text is formatted, saved as a draft, dry-run, compared and
// published with a re-score whose progress reaches the end; a backtest of a draft shows its results; a CSV upload's
// progress goes from bytes sent to the final report with its rejected lines; a viewer sees everything read-only and
// the API refuses their changes. Screenshots of these views go to test-artifacts/console.
import t from 'tap'
import type { AddressInfo } from 'node:net'
import { CONSOLE_DIR, openBrowser, requireConsoleAndBrowser, signIn as signInAs } from '../helpers/browser.js'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'
// @ts-expect-error a plain .mjs script without type declarations
import { bundleGroups } from '../../scripts/console-bundle-sizes.mjs'

const ADMIN = { email: 'admin@example.com', password: 'e2e-admin-password' }
const VIEWER = { email: 'viewer@example.com', password: 'e2e-viewer-password' }
// generous: on a loaded 2-core machine Monaco's chunk alone can take seconds to parse
const WAIT = 45_000
type Groups = { initial: { files: string[] }; monaco: { files: string[]; workers: string[] }; charts: { files: string[] } }
// what page.evaluate sees (the test program has no DOM types)
type Doc = { document: { activeElement: { closest: (s: string) => unknown } | null } }

const PRICING_BROKEN = 'rule "Pricing page" when event.typ == "page_view" and event.properties.path startsWith "/pricing" then +15 "Looked at pricing"'
const PRICING = 'rule "Pricing page" when event.type == "page_view" and event.properties.path startsWith "/pricing" then +15 "Looked at pricing"'

t.test('rules, backtests and uploads in the console', { timeout: 600_000 }, async (t) => {
  requireConsoleAndBrowser()
  const groups = bundleGroups() as Groups
  const fileName = (f: string): string => f.split('/').at(-1)!

  const { app, db } = await buildTestApp(t, {
    LEADSCORE_CONSOLE_DIR: CONSOLE_DIR, LEADSCORE_ADMIN_EMAIL: ADMIN.email, LEADSCORE_ADMIN_PASSWORD: ADMIN.password, LEADSCORE_UPLOAD_BATCH_ROWS: '25',
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  // three leads to dry-run, re-score and backtest
  const seeded = await postEvents(app, { events: [
    { externalId: 'r-1', lead: { email: 'ada@example.com', name: 'Ada Lovelace' }, type: 'page_view', properties: { path: '/pricing' } },
    { externalId: 'r-2', lead: { email: 'ada@example.com' }, type: 'page_view', properties: { path: '/pricing/teams' } },
    { externalId: 'r-3', lead: { email: 'grace@example.com', name: 'Grace Hopper' }, type: 'demo_request' },
    { externalId: 'r-4', lead: { email: 'linus@example.com', name: 'Linus' }, type: 'page_view', properties: { path: '/blog' } },
  ] })
  t.equal(seeded.statusCode, 202)
  const adaId = (seeded.json() as { results: Array<{ leadId: string }> }).results[0]!.leadId
  await waitForScoring(db)
  const lead = async (id: string): Promise<{ score: number }> => (await app.inject({ url: `/v1/leads/${id}`, headers: AUTH })).json()
  t.equal((await lead(adaId)).score, 10, 'two page views before the new rule')
  const active = (await app.inject({ url: '/v1/rulesets/active', headers: AUTH })).json() as { version: number; source: string | null }
  t.equal(typeof active.source, 'string', 'the published ruleset has rules-language text')
  const fixedSource = `${active.source!.trimEnd()}\n\n${PRICING}\n`
  const check = (await app.inject({ method: 'POST', url: '/v1/rulesets/validate', headers: AUTH, payload: { source: fixedSource } })).json() as { ok: boolean; diagnostics: unknown[] }
  t.equal(check.ok, true, `the fixed text is valid: ${JSON.stringify(check.diagnostics)}`)

  const { page, pageErrors, shot } = await openBrowser(t, { viewport: { width: 1280, height: 900 }, timeoutMs: WAIT })
  const requested: string[] = []
  page.on('request', (r) => requested.push(r.url()))
  const signIn = async (who: { email: string; password: string }, path: string): Promise<void> => { await signInAs(page, base, who, path) }
  const editorText = async (): Promise<string> => (await page.locator('.monaco-editor .view-lines').innerText()).replace(/\u00a0/g, ' ')
  // Monaco renders only the lines in view; these read the model through the problems and the editor's own DOM
  const squiggles = (kind: 'error' | 'warning') => page.locator(`.monaco-editor .squiggly-${kind}`)

  await t.test('the first page loads neither Monaco nor the charts', async (t) => {
    await signIn(ADMIN, '/leads')
    await page.getByRole('heading', { name: 'Leads' }).waitFor()
    await page.getByText('Ada Lovelace').first().waitFor()
    const loaded = new Set(requested.map(fileName))
    t.same(groups.monaco.files.map(fileName).filter((f) => loaded.has(f)), [], 'no Monaco chunk')
    t.same(groups.charts.files.map(fileName).filter((f) => loaded.has(f)), [], 'no chart chunk')
    t.ok(groups.initial.files.map(fileName).some((f) => loaded.has(f)), 'the initial chunks are what was loaded')
  })

  await t.test('a rule with an error gets a Monaco marker; fixing it clears it', async (t) => {
    requested.length = 0
    await page.getByRole('link', { name: 'Rules', exact: true }).click()
    await page.waitForURL(/\/rules/)
    await page.locator('.monaco-editor .view-lines').waitFor()
    await page.getByRole('heading', { name: `Version ${active.version}` }).waitFor()
    t.match(await editorText(), /rule "Page view"/, 'the published text is in the editor')
    // Monaco starts its worker when it needs it; the one it would start is the built editor worker, and it loads
    const started: string[] = []
    page.on('worker', (w) => started.push(w.url()))
    const loads = await page.evaluate(async () => {
      const env = (globalThis as unknown as { MonacoEnvironment?: { getWorker: (id: string, label: string) => { onerror: ((e: unknown) => void) | null; terminate: () => void } } }).MonacoEnvironment
      if (env === undefined) return false
      const w = env.getWorker('probe', 'editorWorkerService')
      const ok = await new Promise<boolean>((resolve) => { w.onerror = () => resolve(false); setTimeout(() => resolve(true), 1500) })
      w.terminate()
      return ok
    })
    t.ok(loads, 'the editor worker loads')
    t.same([...new Set(started.map(fileName))], groups.monaco.workers.map(fileName), 'the only worker is the editor\'s own')

    // a new rule at the end, with a misspelt fact
    await page.locator('.monaco-editor .view-lines').click()
    await page.keyboard.press('Control+End')
    await page.keyboard.insertText(`\n\n${PRICING_BROKEN}\n`)
    await page.getByTestId('unsaved').waitFor()
    await squiggles('error').first().waitFor()
    const problem = page.getByTestId('problems').getByRole('button').filter({ hasText: /event\.typ\b/ })
    await problem.waitFor()
    t.match(await problem.textContent(), /Did you mean 'event\.type'/, 'the problem suggests the right fact')
    t.match(await page.getByTestId('problems-summary').textContent(), /1 error/)
    t.equal(await page.getByRole('button', { name: 'Save as new draft' }).isDisabled(), true, 'an erroneous text cannot be saved')
    await shot(page, 'rules-marker')

    // the problem list, used with the keyboard, moves the cursor into the editor
    await problem.focus()
    await page.keyboard.press('Enter')
    t.ok(await page.evaluate(() => (globalThis as unknown as Doc).document.activeElement?.closest('.monaco-editor') != null), 'choosing the problem focuses the editor')
    await page.keyboard.press('Control+A')
    await page.keyboard.insertText(fixedSource)
    await page.getByTestId('problems-summary').filter({ hasText: 'No problems' }).waitFor()
    t.equal(await squiggles('error').count(), 0, 'no error marker left')

    await page.getByRole('button', { name: 'Format' }).click()
    await page.getByText(/Formatted|Already formatted/).waitFor()
    t.match(await editorText(), /rule "Pricing page"\s+when event\.type == "page_view"/, 'the formatter put the rule on its lines')
  })

  let draft = 0
  await t.test('the fixed text is saved as a draft and dry-run', async (t) => {
    await page.getByLabel('Note for the new draft').fill('Pricing page views')
    await page.getByRole('button', { name: 'Save as new draft' }).click()
    const notice = page.getByTestId('rules-notice').filter({ hasText: /Saved as draft v\d+/ })
    await notice.waitFor()
    draft = Number(/v(\d+)/.exec((await notice.textContent()) ?? '')?.[1])
    t.ok(draft > active.version, `draft v${draft}`)
    await page.getByRole('heading', { name: `Draft v${draft}` }).waitFor()
    t.equal(await page.getByTestId('unsaved').count(), 0, 'nothing unsaved')
    const saved = (await app.inject({ url: `/v1/rulesets/${draft}`, headers: AUTH })).json() as { status: string; source: string; basedOn: number; note: string }
    t.match(saved, { status: 'draft', basedOn: active.version, note: 'Pricing page views' })
    t.match(saved.source, /rule "Pricing page"/)

    // pasted events, with the text in the editor
    await page.getByLabel('Events I paste').check()
    await page.locator('#dr-events').fill(JSON.stringify([{ type: 'page_view', properties: { path: '/pricing' } }, { type: 'email_open' }]))
    await page.getByRole('button', { name: 'Run dry run' }).click()
    await page.getByTestId('dry-run-total').filter({ hasText: /^30$/ }).waitFor()
    await page.getByTestId('dry-run-result').getByText('pricing-page').first().waitFor()
    t.pass('5 + 15 for the pricing page view, 10 for the email open')

    // a stored lead's events, with the saved draft
    await page.getByLabel('A lead\'s stored events').check()
    await page.getByLabel('Lead id').fill(adaId)
    await page.getByLabel('Saved version', { exact: true }).check()
    await page.getByRole('combobox', { name: 'Saved version to run' }).selectOption(String(draft))
    await page.getByRole('button', { name: 'Run dry run' }).click()
    await page.getByTestId('dry-run-total').filter({ hasText: /^40$/ }).waitFor()
    await page.getByTestId('dry-run-result').getByText('stored score is').waitFor()
    t.equal((await lead(adaId)).score, 10, 'the dry run stored nothing')
    await page.getByRole('heading', { name: 'Dry run' }).scrollIntoViewIfNeeded()
    await shot(page, 'rules-dry-run')
  })

  await t.test('two versions are compared, side by side and unified', async (t) => {
    t.equal(await page.getByLabel('From', { exact: true }).inputValue(), String(active.version), 'the draft is compared with its base')
    t.equal(await page.getByLabel('To', { exact: true }).inputValue(), String(draft))
    await page.getByRole('button', { name: 'Compare' }).click()
    await page.getByTestId('diff-summary').getByText('+ pricing-page').waitFor()
    await page.getByTestId('diff-split').locator('td.code.add', { hasText: 'rule "Pricing page"' }).waitFor()
    await page.getByRole('heading', { name: 'Compare versions' }).scrollIntoViewIfNeeded()
    await shot(page, 'rules-diff')
    await page.getByLabel('Unified').check()
    await page.getByTestId('diff-unified').locator('tr.add', { hasText: 'rule "Pricing page"' }).waitFor()
    t.pass('the added rule is shown in both layouts')
  })

  await t.test('the draft is published with a re-score whose progress reaches the end', async (t) => {
    await page.getByRole('button', { name: 'Publish…' }).click()
    const dialog = page.getByRole('dialog', { name: `Publish draft v${draft}?` })
    await dialog.waitFor()
    await dialog.getByLabel('Re-score all leads with it now').check()
    await dialog.getByRole('button', { name: 'Publish' }).click()
    await page.getByTestId('rules-notice').filter({ hasText: `Version ${draft} is published` }).waitFor()
    await page.getByTestId('job-progress').and(page.locator('[data-state="done"]')).waitFor({ timeout: 120_000 })
    t.match(await page.getByTestId('job-progress').textContent(), /3 of 3 leads/, 'every lead was re-scored')
    await page.getByRole('heading', { name: `Version ${draft}` }).waitFor()
    const now = (await app.inject({ url: '/v1/rulesets/active', headers: AUTH })).json() as { version: number }
    t.equal(now.version, draft, 'the draft is the published version')
    await waitForScoring(db)
    t.equal((await lead(adaId)).score, 40, 'the re-score applied the new rule')
    await shot(page, 'rules-published')
  })

  await t.test('a backtest of a draft shows its progress and results', async (t) => {
    const source = fixedSource.replace(/then \+5 engagement/, 'then +60 engagement')
    const created = await app.inject({ method: 'POST', url: '/v1/rulesets', headers: AUTH, payload: { source, note: 'Page views worth more', basedOn: draft } })
    t.equal(created.statusCode, 201, 'a second draft through the API')
    const next = (created.json() as { version: number }).version
    requested.length = 0
    await page.getByRole('link', { name: 'Backtests' }).click()
    await page.waitForURL(`${base}/backtests`)
    await page.getByLabel('Version to test').selectOption(String(next))
    await page.getByLabel('All leads').check()
    await page.getByRole('button', { name: 'Start backtest' }).click()
    await page.waitForURL(/\/backtests\?job=/)
    await page.getByTestId('backtest-status').and(page.locator('[data-status="done"]')).waitFor({ timeout: 120_000 })
    t.match(await page.getByTestId('backtest-status').textContent(), /3 of 3 leads/)
    await page.getByRole('heading', { name: 'Score distribution' }).waitFor()
    await page.locator('.chart-box svg').first().waitFor()
    t.ok(groups.charts.files.map(fileName).some((f) => requested.map(fileName).includes(f)), 'the chart code was fetched for the results')
    await page.getByTestId('backtest-movers').getByRole('link', { name: 'Ada Lovelace' }).waitFor()
    t.match(await page.getByTestId('backtest-movers').locator('tr', { hasText: 'Ada Lovelace' }).textContent(), /\+110/, 'two page views gain 55 each')
    await page.getByTestId('backtest-stages').waitFor()
    await page.getByTestId('backtest-lift').or(page.getByText('No conversions to compare')).first().waitFor()
    t.ok(Number(await page.getByTestId('backtest-changed').textContent()) >= 2, 'changed scores are counted')
    t.equal((await lead(adaId)).score, 40, 'a backtest changes no lead')
    await shot(page, 'backtest')
  })

  await t.test('a CSV upload shows bytes sent, then the report with its rejected lines', async (t) => {
    await page.getByRole('link', { name: 'Submit event' }).click()
    await page.getByRole('link', { name: 'Upload a file' }).click()
    await page.waitForURL(`${base}/events/upload`)
    // about 9 MB: 150 good rows for 20 leads and two bad ones, each with a 60 KB note the mapping drops. More than the
    // sockets buffer, and the server reads the file only as fast as it stores the rows (in batches of 25, see
    // buildTestApp above), so the bytes sent and the rows read can be watched while the file arrives.
    const rows = ['email,name,type,occurredAt,externalId,note']
    const note = 'n'.repeat(60_000)
    for (let i = 0; i < 150; i++) rows.push(`bulk${i % 20}@example.com,Bulk Lead ${i % 20},page_view,2025-01-02T03:04:05Z,bulk-${i},${note}`)
    rows.splice(51, 0, `,No Email,page_view,2025-01-02T03:04:05Z,bad-1,${note}`)
    rows.splice(101, 0, `bad@example.com,Bad Date,page_view,not a date,bad-2,${note}`)
    const csv = Buffer.from(rows.join('\n') + '\n')
    await page.locator('input[type=file]').setInputFiles({ name: 'leads.csv', mimeType: 'text/csv', buffer: csv })
    await page.getByText(/leads\.csv/).waitFor()
    await page.getByLabel('Events', { exact: true }).check()
    await page.getByText('Column mapping').click()
    await page.getByLabel(/One column = field per line/).fill('note =')
    // every state the progress card goes through, recorded in the page
    await page.evaluate(() => {
      const g = globalThis as unknown as { document: { querySelector: (s: string) => { getAttribute: (a: string) => string | null; textContent: string | null } | null }; MutationObserver: new (f: () => void) => { observe: (n: unknown, o: unknown) => void }; progressSeen: string[] }
      g.progressSeen = []
      new g.MutationObserver(() => {
        g.progressSeen.push(`${g.document.querySelector('[data-testid="upload-bytes"] progress')?.getAttribute('value') ?? ''}|${g.document.querySelector('[data-testid="upload-rows-read"]')?.textContent?.trim() ?? ''}`)
      }).observe(g.document.querySelector('.progress-card'), { attributes: true, subtree: true, childList: true, characterData: true })
    })
    await page.getByRole('button', { name: 'Upload', exact: true }).click()
    await page.getByTestId('upload-report').waitFor({ timeout: 180_000 })
    const seen = await page.evaluate(() => (globalThis as unknown as { progressSeen: string[] }).progressSeen)
    const sentValues = seen.map((x) => Number(x.split('|')[0])).filter((v) => Number.isFinite(v))
    const partial = [...new Set(sentValues.filter((v) => v > 0 && v < 100))]
    t.ok(partial.length >= 1, `the bytes bar moved through ${partial.join(', ')}%`)
    t.same(sentValues, sentValues.slice().sort((a, b) => a - b), 'and only forward')
    t.ok(seen.some((x) => /\d+ rows read/.test(x)), `the rows read were counted live: ${[...new Set(seen.map((x) => x.split('|')[1]))].filter((x) => /rows read/.test(x ?? '')).slice(0, 3).join(' / ')}`)
    const bytes = page.getByRole('progressbar', { name: 'Bytes sent' })
    t.equal(await bytes.getAttribute('value'), '100', 'every byte sent')
    await page.getByTestId('upload-accepted').filter({ hasText: /^150$/ }).waitFor()
    t.equal(await page.getByTestId('upload-rejected').textContent(), '2')
    const rejects = page.getByTestId('upload-rejects').locator('tbody tr')
    t.equal(await rejects.count(), 2, 'both rejected lines are listed')
    t.same([await rejects.nth(0).locator('td').first().textContent(), await rejects.nth(1).locator('td').first().textContent()], ['52', '102'], 'with their line numbers')
    t.match(await rejects.nth(0).textContent(), /LS_ERR_LEAD_IDENTITY_INVALID/, 'and why')
    await shot(page, 'upload')
  })

  await t.test('a viewer sees the rules read-only, and the API refuses their changes', async (t) => {
    const created = await app.inject({ method: 'POST', url: '/v1/users', headers: AUTH, payload: { ...VIEWER, role: 'viewer' } })
    t.equal(created.statusCode, 201, 'the viewer is created through the API')
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL(`${base}/sign-in`)
    await signIn(VIEWER, '/rules')
    await page.getByTestId('read-only').waitFor()
    await page.getByRole('heading', { name: `Version ${draft}` }).waitFor()
    await page.locator('.monaco-editor .view-lines').waitFor()
    for (const name of ['Format', 'Save as new draft', 'Save draft', 'Publish…', 'Save and publish…']) {
      t.equal(await page.getByRole('button', { name }).count(), 0, `no ${name} button`)
    }
    const before = await editorText()
    await page.locator('.monaco-editor .view-lines').click()
    await page.keyboard.insertText('# typed by a viewer\n')
    await page.waitForTimeout(300)
    t.equal(await editorText(), before, 'the editor does not change')
    t.equal(await page.getByTestId('unsaved').count(), 0)
    await page.getByTestId('rules-editor').getByText('Read only: your role may not change rules.').waitFor()
    await page.keyboard.press('Tab')
    t.ok(await page.evaluate(() => (globalThis as unknown as Doc).document.activeElement?.closest('.monaco-editor') == null), 'Tab leaves the read-only editor')

    // (no named functions inside evaluate: the test runner's transpiler would wrap them in a helper the page lacks)
    const calls = await page.evaluate(async (list) => {
      const out: Record<string, { status: number; code?: string }> = {}
      for (const [what, method, url, body] of list) {
        const r = await fetch(url, { method, credentials: 'same-origin', headers: { 'content-type': 'application/json', 'x-leadscore-csrf': '1' }, body: JSON.stringify(body) })
        out[what] = { status: r.status, code: (await r.json() as { code?: string }).code }
      }
      return out
    }, [
      ['create', 'POST', '/v1/rulesets', { source: '' }],
      ['publish', 'POST', `/v1/rulesets/${draft}/publish`, {}],
      ['rollback', 'POST', '/v1/rulesets/1/rollback', {}],
      ['backtest', 'POST', `/v1/rulesets/${draft}/backtest`, {}],
    ] as Array<[string, string, string, unknown]>)
    for (const [what, r] of Object.entries(calls)) t.same(r, { status: 403, code: 'LS_ERR_FORBIDDEN' }, `the API refuses the viewer's ${what}`)

    // reading and trying is allowed
    await page.getByLabel('Events I paste').check()
    await page.locator('#dr-events').fill('{"type":"page_view","properties":{"path":"/pricing"}}')
    await page.getByRole('button', { name: 'Run dry run' }).click()
    await page.getByTestId('dry-run-total').filter({ hasText: /^20$/ }).waitFor()
    await shot(page, 'rules-viewer')
    await page.getByRole('link', { name: 'Backtests' }).click()
    await page.getByText('can read backtest results, not start backtests').waitFor()
    t.equal(await page.getByRole('button', { name: 'Start backtest' }).isDisabled(), true, 'no backtest for a viewer')
    await page.goto(`${base}/events/upload`)
    t.equal(await page.getByRole('button', { name: 'Upload', exact: true }).isDisabled(), true, 'no upload for a viewer')
  })

  await t.test('the rules page is usable on a phone-sized screen', async (t) => {
    await page.setViewportSize({ width: 390, height: 844 })
    await page.goto(`${base}/rules`)
    await page.locator('.monaco-editor .view-lines').waitFor()
    const overflow = await page.evaluate(() => {
      const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement
      return d.scrollWidth - d.clientWidth
    })
    t.equal(overflow, 0, 'no sideways scrolling')
    await shot(page, 'rules-narrow')
  })

  t.same(pageErrors, [], 'no script errors in the pages')
})
