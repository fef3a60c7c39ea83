// The Offers page in a browser: an admin describes an offer and its ICP, activates it, downloads the intent CSV, and
// starts a ruleset from the "Buying intent" template in the rules editor.
import t from 'tap'
import type { AddressInfo } from 'node:net'
import { CONSOLE_DIR, openBrowser, requireConsoleAndBrowser, signIn } from '../helpers/browser.js'
import { buildTestApp, AUTH } from '../helpers/harness.js'

const ADMIN = { email: 'admin@example.com', password: 'e2e-admin-password' }
const WAIT = 30_000

t.test('create and activate an offer, download the intent CSV, start rules from the Buying intent template', { timeout: 180_000 }, async (t) => {
  requireConsoleAndBrowser()
  const { app } = await buildTestApp(t, { LEADSCORE_WORKER: '0', LEADSCORE_CONSOLE_DIR: CONSOLE_DIR, LEADSCORE_ADMIN_EMAIL: ADMIN.email, LEADSCORE_ADMIN_PASSWORD: ADMIN.password })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const { page, pageErrors, shot } = await openBrowser(t, { viewport: { width: 1280, height: 1000 }, timeoutMs: WAIT })
  await signIn(page, base, ADMIN, '/leads')

  await page.getByRole('link', { name: 'Offers' }).click()
  await page.waitForURL(`${base}/offers`)
  await page.getByText('No offer yet').waitFor()
  await page.getByLabel('Name').fill('Acme Revenue Cloud')
  await page.getByLabel(/Value propositions/).fill('Forecasts pipeline from CRM activity\nNo spreadsheets')
  await page.getByLabel(/^Industries/).fill('saas, Made-up Industry')
  await page.getByText('Not in the taxonomy (no adjacent industries): Made-up Industry.').waitFor()
  await page.getByLabel(/^Industries/).fill('saas')
  await page.getByLabel(/More adjacent industries/).fill('Consulting')
  t.equal(await page.getByLabel(/Decision-maker roles/).inputValue(), 'CEO, CTO, VP, Director, Founder, Owner', 'the seed roles are the default')
  await page.getByRole('button', { name: 'Create offer' }).click()
  await page.getByText(/Saved as version 1; activate it/).waitFor()
  t.match(await page.locator('p', { hasText: 'Adjacent industries of v1' }).innerText(), /Software.*Consulting|Consulting.*Software/s, 'adjacency resolved from the taxonomy and the addition')

  await page.locator('tr[data-version="1"]').getByRole('button', { name: 'Activate' }).click()
  await page.getByText(/Version 1 is the active offer/).waitFor()
  await page.locator('tr[data-version="1"] .badge', { hasText: 'active' }).waitFor()
  const active = (await app.inject({ url: '/v1/offers/active', headers: AUTH })).json<{ name: string; icp: { industries: string[] }; valuePropositions: string[] }>()
  t.match(active, { name: 'Acme Revenue Cloud', icp: { industries: ['SaaS'] }, valuePropositions: ['Forecasts pipeline from CRM activity', 'No spreadsheets'] })

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('intent-export').click()])
  t.match(download.suggestedFilename(), /^intent-.*\.csv$/, 'the intent CSV downloads with the session')
  await shot(page, 'offers')

  await page.getByRole('link', { name: 'Rules' }).click()
  await page.waitForURL(/\/rules/)
  await page.locator('.monaco-editor .view-lines').waitFor()
  await page.getByTestId('rules-template').selectOption('buying-intent')
  await page.getByText(/The Buying intent template is in the editor/).waitFor()
  await page.getByRole('button', { name: 'Save as new draft' }).click()
  const draft = await (async () => {
    for (let i = 0; i < 100; i++) {
      const items = (await app.inject({ url: '/v1/rulesets', headers: AUTH })).json<{ items: Array<{ status: string; source: string | null; note: string | null }> }>().items
      const d = items.find((r) => r.status === 'draft')
      if (d !== undefined) return d
      await new Promise((r) => setTimeout(r, 100))
    }
    return null
  })()
  t.match(draft, { note: 'From the Buying intent template', source: /rule "ICP industry"/ }, 'a draft of the template was saved')
  t.same(pageErrors, [], 'no errors in the page')
})
