// The analytics page end to end, in Debian's chromium driven by playwright-core, against the real server serving the
// built SPA: empty states, then data seeded through the API shown by the three newer charts (events over time,
// conversion by score band, top sources) with their table alternatives, the range and granularity controls, and an
// error state with a working retry.
import t from 'tap'
import type { AddressInfo } from 'node:net'
import type { Locator } from 'playwright-core'
import { CONSOLE_DIR, openBrowser, requireConsoleAndBrowser } from '../helpers/browser.js'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'

const ADMIN = { email: 'admin@example.com', password: 'e2e-admin-password' }
const WAIT = 30_000

/** The text of each cell, row by row (header cells included). */
async function cells (table: Locator): Promise<string[][]> {
  return await table.locator('tr').evaluateAll((trs) => trs.map((tr) => Array.from((tr as unknown as { children: ArrayLike<{ textContent: string | null }> }).children, (c) => (c.textContent ?? '').trim())))
}

/** How many bars of a layerchart chart are drawn with a visible size. */
async function drawnBars (chart: Locator): Promise<number> {
  return await chart.locator('.lc-bars-bar').evaluateAll((els) => els.filter((e) => {
    const box = (e as unknown as { getBBox(): { width: number; height: number } }).getBBox()
    return box.width > 0.5 && box.height > 0.5
  }).length)
}

t.test('the analytics page, end to end', { timeout: 240_000 }, async (t) => {
  requireConsoleAndBrowser()

  const { app, db } = await buildTestApp(t, { LEADSCORE_CONSOLE_DIR: CONSOLE_DIR, LEADSCORE_ADMIN_EMAIL: ADMIN.email, LEADSCORE_ADMIN_PASSWORD: ADMIN.password })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  // the error state is reached by answering one request 500 in the browser: that failed load is expected
  const { page, pageErrors, shot } = await openBrowser(t, { viewport: { width: 1280, height: 860 }, timeoutMs: WAIT, expectedFailedLoads: /Failed to load resource: the server responded with a status of [45]\d\d/ })

  const events = page.locator('section', { has: page.getByRole('heading', { name: 'Events over time' }) })
  const conversion = page.locator('section', { has: page.getByRole('heading', { name: 'Conversion by score band' }) })
  const sources = page.locator('section', { has: page.getByRole('heading', { name: 'Top sources' }) })

  await t.test('with no data, each chart says so', async (t) => {
    await page.goto(`${base}/analytics`)
    await page.waitForURL(/\/sign-in/)
    await page.getByLabel('Email').fill(ADMIN.email)
    await page.getByLabel('Password').fill(ADMIN.password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${base}/analytics`)
    await events.getByText('No events in this range').waitFor()
    await conversion.getByText('No leads yet').waitFor()
    await sources.getByText('No leads yet').waitFor()
    t.pass('empty states')
  })

  // two days before today at noon UTC, and one day before
  const today = new Date()
  today.setUTCHours(0, 0, 0, 0)
  const day1 = new Date(today.getTime() - 2 * 86_400_000 + 12 * 3_600_000)
  const day2 = new Date(today.getTime() - 86_400_000 + 12 * 3_600_000)
  const utcDay = (d: Date): string => new Intl.DateTimeFormat('en', { month: 'short', day: 'numeric', timeZone: 'UTC' }).format(d)

  await t.test('seeded data shows in the charts and their tables', async (t) => {
    const ev = (externalId: string, email: string, type: string, at: Date) => ({ externalId, lead: { email }, type, occurredAt: at.toISOString() })
    const res = await postEvents(app, { events: [
      ev('a1', 'a@example.com', 'page_view', day1), // a: 5
      ev('b1', 'b@example.com', 'demo_request', day1),
      ev('b2', 'b@example.com', 'page_view', day2), // b: 55
      ev('c1', 'c@example.com', 'purchase', day2), // c: 100, converted by its purchase
    ] })
    t.equal(res.json().accepted, 4)
    const d = await app.inject({ method: 'POST', url: '/v1/leads', headers: AUTH, payload: { email: 'd@example.com', status: 'converted' } }) // 0, no source
    t.equal(d.statusCode, 201)
    await waitForScoring(db)

    await page.reload()
    // events over time: the last 30 days, daily; the table lists the days with events
    await events.getByTestId('events-chart').locator('svg').first().waitFor()
    await events.getByTestId('events-summary').filter({ hasText: '4 events by event time, in UTC days' }).waitFor()
    await events.getByText('As a table').click()
    t.same(await cells(events.getByTestId('events-table')), [
      ['Day (UTC)', 'page_view', 'demo_request', 'purchase', 'Total'],
      [utcDay(day1), '1', '1', '0', '2'],
      [utcDay(day2), '1', '0', '1', '2'],
      ['Total', '2', '1', '1', '4'],
    ])
    t.equal(await events.getByTestId('events-chart').getByText('page_view').count() > 0, true, 'the legend names the types')
    t.equal(await drawnBars(events.getByTestId('events-chart')), 4, 'four stacked segments: two types on each day')

    // conversion by score band
    await conversion.getByTestId('conversion-chart').locator('svg').first().waitFor()
    await conversion.getByTestId('conversion-summary').filter({ hasText: '2 of 4 leads converted (50%)' }).waitFor()
    await conversion.getByText('As a table').click()
    const conv = await cells(conversion.getByTestId('conversion-table'))
    t.same(conv[0], ['Score band', 'Leads', 'Converted', 'Rate'])
    t.equal(conv.length, 12, 'bands 0 to 100, contiguous')
    t.same(conv[1], ['0 to 10', '2', '1', '50%'])
    t.same(conv[2], ['10 to 20', '0', '0', '—'])
    t.same(conv[6], ['50 to 60', '1', '0', '0%'])
    t.same(conv[11], ['100 to 110', '1', '1', '100%'])
    t.equal(await conversion.getByTestId('conversion-chart').locator('.lc-bars-bar').count(), 11, 'one bar per band')
    t.equal(await drawnBars(conversion.getByTestId('conversion-chart')), 2, 'two bands with conversions have a visible bar')

    // top sources
    await sources.getByTestId('sources-chart').locator('svg').first().waitFor()
    t.same(await cells(sources.getByTestId('sources-table')), [
      ['Source', 'Leads', 'Avg score', 'Converted', 'Rate'],
      ['REST APIapi', '3', '53.3', '1', '33.3%'],
      ['(no source)', '1', '0', '1', '100%'],
    ])
    t.equal(await drawnBars(sources.getByTestId('sources-chart')), 1, 'one bar per listed source')
    t.same(pageErrors, [], 'no script errors')
    await shot(page, 'analytics-full')
  })

  await t.test('range and granularity controls ask the server again', async (t) => {
    const granularity = page.getByLabel('Granularity', { exact: true })
    await granularity.selectOption('hour')
    await events.getByTestId('events-summary').filter({ hasText: 'in UTC hours' }).waitFor()
    const hours = await cells(events.getByTestId('events-table'))
    t.same(hours.map((r) => r[0]), ['Hour (UTC)', `${utcDay(day1)}, 12:00`, `${utcDay(day2)}, 12:00`, 'Total'])
    // hourly buckets for 90 days would be more than the server answers: the page moves to days
    await page.getByLabel('Range', { exact: true }).selectOption('90d')
    await events.getByTestId('events-summary').filter({ hasText: 'in UTC days' }).waitFor()
    t.equal(await granularity.inputValue(), 'day')
    t.equal(await granularity.locator('option[value="hour"]').isDisabled(), true, 'hourly is not offered for 90 days')
    await granularity.selectOption('week')
    await events.getByTestId('events-summary').filter({ hasText: 'in UTC weeks from Monday' }).waitFor()
    const weeks = await cells(events.getByTestId('events-table'))
    t.equal(weeks.at(-1)?.at(-1), '4', 'all four events in the weekly view')
    t.ok(weeks.slice(1, -1).every((r) => r[0]!.startsWith('Week of ')), 'rows are weeks')

    await page.getByLabel('Sort by', { exact: true }).selectOption('leads')
    await sources.getByTestId('sources-table').waitFor()
    t.same(pageErrors, [], 'no script errors')
  })

  await t.test('a failed request shows a problem with a retry', async (t) => {
    await page.route('**/v1/analytics/sources?**', async (route) => {
      await route.fulfill({
        status: 503, contentType: 'application/problem+json',
        body: JSON.stringify({ type: 'about:blank', title: 'Unavailable', status: 503, detail: 'The database is not reachable: test', instance: '/v1/analytics/sources', code: 'LS_ERR_DB_UNAVAILABLE', requestId: 'r1' }),
      })
    })
    await page.reload()
    const alert = sources.getByRole('alert')
    await alert.filter({ hasText: 'Could not load the sources' }).waitFor()
    await page.unroute('**/v1/analytics/sources?**')
    await alert.getByRole('button', { name: /Retry|Try again/ }).click()
    await sources.getByTestId('sources-table').waitFor()
    t.equal(await alert.count(), 0, 'the retry loads the table')
  })
})
