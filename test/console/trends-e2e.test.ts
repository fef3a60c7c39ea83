// The lead page's trend buckets and "as of" picker, and the leaderboard as of a day, in the built console.
import t from 'tap'
import type { AddressInfo } from 'node:net'
import { CONSOLE_DIR, openBrowser, requireConsoleAndBrowser, signIn } from '../helpers/browser.js'
import { buildTestApp, postEvents, waitForScoring } from '../helpers/harness.js'

const ADMIN = { email: 'admin@example.com', password: 'e2e-admin-password' }

t.test('trend buckets and as-of pickers', { timeout: 240_000 }, async (t) => {
  requireConsoleAndBrowser()
  const { app, db } = await buildTestApp(t, { LEADSCORE_CONSOLE_DIR: CONSOLE_DIR, LEADSCORE_ADMIN_EMAIL: ADMIN.email, LEADSCORE_ADMIN_PASSWORD: ADMIN.password })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const ev = (id: string, email: string, name: string, type: string, at: string) => ({ externalId: id, lead: { email, name }, type, occurredAt: at })
  const res = await postEvents(app, { events: [
    ev('t1', 'ada@example.com', 'Ada Lovelace', 'purchase', '2025-01-01T10:00:00Z'), // Ada 100 on Jan 15
    ev('t2', 'ada@example.com', 'Ada Lovelace', 'demo_request', '2025-03-01T10:00:00Z'),
    ev('t3', 'grace@example.com', 'Grace Hopper', 'demo_request', '2025-01-02T10:00:00Z'), // Grace 50 on Jan 15
    ev('t4', 'grace@example.com', 'Grace Hopper', 'purchase', '2025-02-01T10:00:00Z'),
    ev('t5', 'grace@example.com', 'Grace Hopper', 'purchase', '2025-02-02T10:00:00Z'),
  ] })
  t.equal(res.statusCode, 202)
  const ada = res.json().results[0].leadId as string
  await waitForScoring(db)

  const { page, shot } = await openBrowser(t, { viewport: { width: 1280, height: 900 }, timeoutMs: 30_000 })
  await signIn(page, base, ADMIN, `/leads/${ada}`)
  await page.getByRole('heading', { name: 'Ada Lovelace' }).waitFor()
  await page.getByLabel('Per', { exact: true }).selectOption('month')
  await page.locator('.chart-box svg').first().waitFor()
  // a quiet lead's trend ends a bucket after its last event (Mar 1), so its history is in view
  await page.getByText('up to 2025-04-01 (no events since)', { exact: false }).waitFor()
  await page.getByLabel('As of the end of (UTC)').fill('2025-01-15')
  const asOf = page.getByTestId('as-of-score')
  await asOf.filter({ hasText: /^100 on 2025-01-15/ }).waitFor()
  t.match(await asOf.innerText(), /engagement 100/)
  await page.getByLabel('As of the end of (UTC)').fill('2024-12-01')
  await page.getByText('The lead had no score yet on 2024-12-01.').waitFor()
  await shot(page, 'lead-detail-as-of')

  await page.goto(`${base}/leaderboard`)
  await page.getByRole('heading', { name: 'Live leaderboard' }).waitFor()
  t.equal(await page.locator('.board li .who a').first().innerText(), 'Grace Hopper', 'now: Grace leads')
  await page.getByLabel('As of', { exact: true }).fill('2025-01-15')
  await page.getByRole('heading', { name: 'Leaderboard as of 2025-01-15' }).waitFor()
  await page.getByTestId('board-score').first().filter({ hasText: /^100$/ }).waitFor()
  t.same(await page.locator('.board li .who a').allInnerTexts(), ['Ada Lovelace', 'Grace Hopper'])
  t.same(await page.getByTestId('board-score').allInnerTexts(), ['100', '50'])
  await shot(page, 'leaderboard-as-of')
  await page.getByRole('button', { name: 'Live' }).click()
  await page.getByRole('heading', { name: 'Live leaderboard' }).waitFor()
})
