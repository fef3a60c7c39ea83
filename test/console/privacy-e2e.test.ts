// Personal data in the console: an admin exports a lead's data (a JSON download), erases the lead with its identity
// suppressed, sees the redelivery refused, and lifts the suppression on the Privacy page.
import t from 'tap'
import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { CONSOLE_DIR, openBrowser, requireConsoleAndBrowser, signIn } from '../helpers/browser.js'
import { buildTestApp, postEvents, AUTH } from '../helpers/harness.js'

const ADMIN = { email: 'admin@example.com', password: 'e2e-admin-password' }
const WAIT = 30_000

t.test('export and erase a lead from its page, then lift the suppression', { timeout: 180_000 }, async (t) => {
  requireConsoleAndBrowser()
  const { app } = await buildTestApp(t, { LEADSCORE_CONSOLE_DIR: CONSOLE_DIR, LEADSCORE_ADMIN_EMAIL: ADMIN.email, LEADSCORE_ADMIN_PASSWORD: ADMIN.password })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const res = await postEvents(app, { externalId: 'g1', lead: { email: 'grace@example.com', name: 'Grace Hopper' }, type: 'page_view' })
  const leadId = res.json().results[0].leadId as string

  const { page, pageErrors, shot } = await openBrowser(t, { viewport: { width: 1280, height: 900 }, timeoutMs: WAIT })
  await signIn(page, base, ADMIN, `/leads/${leadId}`)
  await page.getByRole('heading', { name: 'Grace Hopper' }).waitFor()

  // export: a JSON file with the lead and its events
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export data' }).click()])
  t.equal(download.suggestedFilename(), `lead-${leadId}.json`)
  const data = JSON.parse(await readFile((await download.path())!, 'utf8')) as { lead: { id: string; email: string }; events: unknown[] }
  t.match(data.lead, { id: leadId, email: 'grace@example.com' }, 'the lead')
  t.equal(data.events.length, 1, 'its events')

  // erase, with suppression (checked by default)
  await page.getByRole('button', { name: 'Erase lead…' }).click()
  const dialog = page.getByRole('dialog', { name: 'Erase this lead?' })
  await dialog.waitFor()
  t.equal(await dialog.getByRole('checkbox').isChecked(), true, 'suppression is on by default')
  await shot(page, 'privacy-erase-dialog')
  await dialog.getByRole('button', { name: 'Erase' }).click()
  await page.waitForURL(`${base}/leads`)
  t.equal((await app.inject({ url: `/v1/leads/${leadId}`, headers: AUTH })).statusCode, 404, 'the lead is gone')
  t.equal((await postEvents(app, { externalId: 'g2', lead: { email: 'grace@example.com' }, type: 'page_view' })).json().code, 'LS_ERR_LEAD_SUPPRESSED', 'a redelivery is refused')

  // the Privacy page lists the hashed identity and lifts it
  await page.getByRole('link', { name: 'Privacy' }).click()
  await page.waitForURL(`${base}/privacy`)
  const rows = page.locator('tbody tr')
  await rows.first().waitFor()
  t.equal(await rows.count(), 1, 'one entry (the lead had an email only)')
  t.notOk((await page.locator('table').innerText()).includes('grace@'), 'no email on the list')
  await shot(page, 'privacy-suppressions')
  page.once('dialog', (d) => { void d.accept() })
  await page.getByRole('button', { name: /^Lift email suppression/ }).click()
  await page.getByText('The suppression was lifted.').waitFor()
  await page.getByText('No suppressed identities').waitFor()
  t.equal((await postEvents(app, { externalId: 'g3', lead: { email: 'grace@example.com' }, type: 'page_view' })).json().results[0].status, 'accepted', 'accepted again')
  t.same(pageErrors, [], 'no errors in the page')
})
