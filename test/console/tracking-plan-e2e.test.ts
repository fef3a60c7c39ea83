// The Tracking plan page in a browser: an admin declares a type with a schema in mode enforce, events that do not
// match are refused and counted on the page, and the rules editor completes the plan's property names.
import t from 'tap'
import type { AddressInfo } from 'node:net'
import { CONSOLE_DIR, openBrowser, requireConsoleAndBrowser, signIn } from '../helpers/browser.js'
import { buildTestApp, postEvents } from '../helpers/harness.js'

const ADMIN = { email: 'admin@example.com', password: 'e2e-admin-password' }
const WAIT = 30_000
const SCHEMA = JSON.stringify({ type: 'object', properties: { plan: { type: 'string', enum: ['free', 'pro'] }, seats: { type: 'integer' } }, required: ['plan'] }, null, 2)

t.test('declare a type, see its violations counted, complete its properties in the rules editor', { timeout: 180_000 }, async (t) => {
  requireConsoleAndBrowser()
  const { app } = await buildTestApp(t, { LEADSCORE_WORKER: '0', LEADSCORE_CONSOLE_DIR: CONSOLE_DIR, LEADSCORE_ADMIN_EMAIL: ADMIN.email, LEADSCORE_ADMIN_PASSWORD: ADMIN.password })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const { page, pageErrors, shot } = await openBrowser(t, { viewport: { width: 1280, height: 900 }, timeoutMs: WAIT })
  await signIn(page, base, ADMIN, '/leads')

  await page.getByRole('link', { name: 'Tracking plan' }).click()
  await page.waitForURL(`${base}/tracking-plan`)
  await page.getByText('No event types declared').waitFor()

  // a schema that is not JSON cannot be saved
  await page.getByRole('textbox', { name: 'Event type' }).fill('demo_request')
  await page.getByLabel('Mode').selectOption('enforce')
  await page.getByLabel(/JSON Schema of/).fill('{ "type": ')
  await page.getByText(/^Not valid JSON/).waitFor()
  t.equal(await page.getByRole('button', { name: 'Save as a new version' }).isDisabled(), true, 'save is off while the schema is not JSON')
  // one Ajv refuses is answered with the server's problem
  await page.getByLabel(/JSON Schema of/).fill('{ "type": "object", "propertys": {} }')
  await page.getByRole('button', { name: 'Save as a new version' }).click()
  await page.getByText('The plan was not saved').waitFor()
  await page.getByLabel(/JSON Schema of/).fill(SCHEMA)
  // sample properties are checked against the schema being edited, before it is saved
  await page.getByLabel('Try properties').fill('{ "plan": "gold" }')
  await page.getByRole('button', { name: 'Check against this schema' }).click()
  await page.getByRole('status', { name: 'Check result' }).getByText('#/properties/plan').waitFor()
  await page.getByLabel('Try properties').fill('{ "plan": "pro", "seats": 3 }')
  await page.getByRole('button', { name: 'Check against this schema' }).click()
  await page.getByText('These properties match.').waitFor()
  await page.getByLabel('Note for this version').fill('first types')
  await page.getByRole('button', { name: 'Save as a new version' }).click()
  await page.getByText('Saved as version 1.').waitFor()
  const row = page.locator('tbody tr[data-type="demo_request"]')
  await row.waitFor()
  t.match(await row.innerText(), /enforce/)

  // events that do not match are refused; the page counts them per type with the latest example
  const r = await postEvents(app, { events: [
    { externalId: 'e1', lead: { email: 'a@plan.example' }, type: 'demo_request', properties: { plan: 'gold' } },
    { externalId: 'e2', lead: { email: 'a@plan.example' }, type: 'demo_request', properties: { plan: 'pro', seats: 2 } },
  ] })
  t.match(r.json(), { accepted: 1, rejected: 1 })
  await page.reload()
  await row.waitFor()
  const cells = row.locator('td')
  t.equal((await cells.nth(2).innerText()).trim(), '1', 'one rejected')
  t.match(await cells.nth(3).innerText(), /properties\/plan must be equal to one of the allowed values/)
  t.match(await cells.nth(3).innerText(), /api: 1/, 'per source')
  t.match(await page.locator('table').last().innerText(), /first types/, 'the versions list shows the note')
  await shot(page, 'tracking-plan')

  // the rules editor offers the plan's properties
  await page.getByRole('link', { name: 'Rules' }).click()
  await page.waitForURL(/\/rules/)
  await page.locator('.monaco-editor .view-lines').waitFor()
  await page.locator('.monaco-editor .view-lines').click()
  await page.keyboard.press('Control+End')
  await page.keyboard.insertText('\n\nrule "Pro plan"\n  when event.properties.pl')
  await page.keyboard.press('Control+Space')
  const suggestion = page.locator('.suggest-widget .monaco-list-row', { hasText: 'event.properties.plan' })
  await suggestion.first().waitFor()
  // the detail shows in the focused row, or in the side pane when the details are expanded (Monaco keeps that choice)
  await page.locator('.suggest-widget .monaco-list-row.focused, .suggest-details', { hasText: 'string · demo_request' }).first().waitFor()
  t.pass('with its type and event type in the details')
  await shot(page, 'tracking-plan-completion')
  t.same(pageErrors, [], 'no errors in the page')
})
