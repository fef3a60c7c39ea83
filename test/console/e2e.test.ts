// The console end to end, in Debian's chromium driven by playwright-core, against the real server serving the built
// SPA: sign-in, a lead created through the event form, live score and leaderboard changes without a reload, the rules
// page as a viewer (read-only, and the API refuses the write), and screenshots of the main views. The rules editor,
// backtests and uploads are in rules-e2e.test.ts.
import t from 'tap'
import type { AddressInfo } from 'node:net'
import { CONSOLE_DIR, openBrowser, requireConsoleAndBrowser } from '../helpers/browser.js'
import { buildTestApp, postEvents, AUTH } from '../helpers/harness.js'

const ADMIN = { email: 'admin@example.com', password: 'e2e-admin-password' }
const VIEWER = { email: 'viewer@example.com', password: 'e2e-viewer-password' }
const WAIT = 30_000
// what page.evaluate sees as `globalThis` (the test program has no DOM types)
type Win = { marker?: number }

t.test('the console, end to end', { timeout: 240_000 }, async (t) => {
  requireConsoleAndBrowser()

  const { app } = await buildTestApp(t, { LEADSCORE_CONSOLE_DIR: CONSOLE_DIR, LEADSCORE_ADMIN_EMAIL: ADMIN.email, LEADSCORE_ADMIN_PASSWORD: ADMIN.password })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  const { context, page, pageErrors, watch, shot } = await openBrowser(t, { viewport: { width: 1280, height: 860 }, timeoutMs: WAIT })

  await t.test('an unauthenticated visit leads to sign-in, and signing in comes back', async (t) => {
    await page.goto(`${base}/leads`)
    await page.waitForURL(/\/sign-in\?next=%2Fleads$/)
    await page.getByLabel('Email').fill(ADMIN.email)
    await page.getByLabel('Password').fill('wrong password')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('alert').filter({ hasText: 'The email or password is wrong' }).waitFor()
    await page.getByLabel('Password').fill(ADMIN.password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${base}/leads`)
    await page.getByText('No leads yet').waitFor()
    const cookies = await context.cookies(base)
    const session = cookies.find((c) => c.name === 'ls_session')
    t.ok(session, 'the session cookie is set')
    t.equal(session?.httpOnly, true, 'HttpOnly')
    t.equal(session?.sameSite, 'Strict', 'SameSite=Strict')
    t.equal(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie.includes('ls_session')), false, 'scripts cannot read it')
  })

  let leadUrl = ''
  await t.test('the event form validates, then creates a lead', async (t) => {
    await page.getByRole('link', { name: 'Submit event' }).first().click()
    await page.waitForURL(`${base}/events/new`)
    await page.getByRole('button', { name: 'Submit event' }).click()
    await page.getByText('Enter an email or an external id for the lead').waitFor()
    await page.getByText('Choose an event type').waitFor()
    t.equal(await page.getByLabel('Email *').getAttribute('aria-invalid'), 'true', 'the field is marked invalid')

    await page.getByLabel('Email *').fill('ada@example.com')
    await page.getByLabel('Name').fill('Ada Lovelace')
    await page.getByLabel('Company').fill('Analytical Engines')
    await page.getByLabel('Type *').fill('page_view')
    await page.getByLabel('Properties').fill('[1, 2]')
    await page.getByRole('button', { name: 'Submit event' }).click()
    await page.getByText('Properties must be a JSON object').waitFor()
    await page.getByLabel('Properties').fill('{"url": "/pricing"}')
    await page.getByRole('button', { name: 'Submit event' }).click()
    await page.getByText('Event accepted for ada@example.com').waitFor()
    await page.getByRole('link', { name: 'View lead' }).click()
    await page.waitForURL(/\/leads\/ld_/)
    leadUrl = page.url()
    await page.getByRole('heading', { name: 'Ada Lovelace' }).waitFor()
    await page.getByTestId('detail-score').filter({ hasText: /^5$/ }).waitFor()
    await page.locator('.ledger').getByText('page-view@v1').waitFor()
    t.pass('the lead is scored and its ledger names the rule and version')
  })

  await t.test('scores and the leaderboard change live, without a reload', async (t) => {
    const board = watch(await context.newPage())
    await board.goto(`${base}/leaderboard`)
    await board.getByTestId('board-score').filter({ hasText: /^5$/ }).waitFor()
    await board.locator('.live.open').waitFor()
    await page.locator('.live.open').waitFor()
    // a page that reloads loses this marker
    await page.evaluate(() => { (globalThis as unknown as Win).marker = 1 })
    await board.evaluate(() => { (globalThis as unknown as Win).marker = 1 })

    const res = await postEvents(app, { events: [
      { externalId: 'e2e-1', lead: { email: 'ada@example.com' }, type: 'demo_request' },
      { externalId: 'e2e-2', lead: { email: 'grace@example.com', name: 'Grace Hopper' }, type: 'purchase' },
    ] })
    t.equal(res.statusCode, 202, 'events accepted')

    await page.getByTestId('detail-score').filter({ hasText: /^55$/ }).waitFor()
    await page.locator('.ledger').getByText('demo-request@v1').waitFor()
    await board.locator('li', { hasText: 'Grace Hopper' }).getByTestId('board-score').filter({ hasText: /^100$/ }).waitFor()
    await board.locator('li', { hasText: 'Ada Lovelace' }).getByTestId('board-score').filter({ hasText: /^55$/ }).waitFor()
    const names = await board.locator('ol.board li .who a').allTextContents()
    t.same(names, ['Grace Hopper', 'Ada Lovelace'], 'the board is re-ranked')
    t.match(await board.locator('li', { hasText: 'Grace Hopper' }).locator('.move').textContent(), /new|▲/, 'the newcomer is marked')
    t.equal(await page.evaluate(() => (globalThis as unknown as Win).marker), 1, 'the detail page was not reloaded')
    t.equal(await board.evaluate(() => (globalThis as unknown as Win).marker), 1, 'the leaderboard was not reloaded')

    // the leads table updates its rows in place
    await board.getByRole('link', { name: 'Leads', exact: true }).click()
    await board.waitForURL(`${base}/leads`)
    await board.locator('tr', { hasText: 'Ada Lovelace' }).getByTestId('lead-score').filter({ hasText: /^55$/ }).waitFor()
    const rowsBefore = await board.locator('tbody tr').count()
    t.equal((await postEvents(app, { externalId: 'e2e-3', lead: { email: 'ada@example.com' }, type: 'form_submit' })).statusCode, 202)
    await board.locator('tr', { hasText: 'Ada Lovelace' }).getByTestId('lead-score').filter({ hasText: /^75$/ }).waitFor()
    t.equal(await board.locator('tbody tr').count(), rowsBefore, 'rows stay where they are')
    await page.getByTestId('detail-score').filter({ hasText: /^75$/ }).waitFor()

    await shot(board, 'leads')
    await board.setViewportSize({ width: 390, height: 844 })
    await board.getByRole('button', { name: 'Menu' }).waitFor()
    await shot(board, 'leads-narrow')
    await board.setViewportSize({ width: 1280, height: 860 })
    await page.getByRole('heading', { name: 'Score trend' }).scrollIntoViewIfNeeded()
    await page.locator('.chart-box svg').first().waitFor()
    await shot(page, 'lead-detail')
    await board.goto(`${base}/leaderboard`)
    await board.getByTestId('board-score').first().waitFor()
    await shot(board, 'leaderboard')
    await board.goto(`${base}/analytics`)
    await board.getByRole('heading', { name: 'Stage funnel' }).waitFor()
    await board.locator('.chart-box svg').first().waitFor()
    await board.locator('.funnel').getByText('Cold').waitFor()
    await shot(board, 'analytics')
    await board.close()
  })

  await t.test('a viewer sees the rules but cannot replace them', async (t) => {
    const created = await app.inject({ method: 'POST', url: '/v1/users', headers: AUTH, payload: { ...VIEWER, role: 'viewer' } })
    t.equal(created.statusCode, 201, 'the viewer is created through the API')
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL(`${base}/sign-in`)
    await page.goto(`${base}/rules`)
    await page.waitForURL(/\/sign-in/)
    await page.getByLabel('Email').fill(VIEWER.email)
    await page.getByLabel('Password').fill(VIEWER.password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${base}/rules`)
    await page.getByRole('heading', { name: /^Version \d+$/ }).waitFor()
    await page.getByTestId('read-only').waitFor()
    t.equal(await page.getByRole('button', { name: /Save|Publish/ }).count(), 0, 'no Save or Publish button')
    t.equal(await page.getByRole('link', { name: 'API keys' }).count(), 0, 'no admin pages in the menu')
    const put = await page.evaluate(async () => {
      const r = await fetch('/v1/rulesets/active', {
        method: 'PUT', credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'x-leadscore-csrf': '1' },
        body: JSON.stringify({ rules: [] }),
      })
      return { status: r.status, body: await r.json() as { code?: string } }
    })
    t.equal(put.status, 403, 'the API refuses the viewer\'s PUT')
    t.equal(put.body.code, 'LS_ERR_FORBIDDEN')
    await page.goto(leadUrl)
    await page.getByTestId('detail-score').waitFor()
    t.equal(await page.getByRole('button', { name: 'Add adjustment' }).count(), 0, 'no adjustment form for a viewer')
  })

  t.same(pageErrors, [], 'no script errors in the pages')
})
