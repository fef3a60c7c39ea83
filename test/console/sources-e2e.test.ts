// The console's Sources pages end to end, in Debian's chromium driven by playwright-core, against the real server
// serving the built SPA: an admin creates a webhook source and reads its URL and secret once; the test then delivers
// correctly and badly signed webhooks over real HTTP and watches the counters and the reject reasons appear; the
// secret is rotated with an overlap, during which both secrets verify, and after which (on the server's clock) only
// the new one does; no secret is shown after a reload; a viewer sees sources but cannot change them.
import t from 'tap'
import { CONSOLE_DIR, openBrowser, requireConsoleAndBrowser } from '../helpers/browser.js'
import { buildTestApp, AUTH } from '../helpers/harness.js'
import { listen, post, standardHeaders, TestClock } from '../helpers/sources.js'

const ADMIN = { email: 'admin@example.com', password: 'e2e-admin-password' }
const VIEWER = { email: 'viewer@example.com', password: 'e2e-viewer-password' }
const WAIT = 30_000

t.test('the Sources pages, end to end', { timeout: 300_000 }, async (t) => {
  requireConsoleAndBrowser()

  // the server's clock, so that the end of a secret's overlap can be reached without waiting for it
  const clock = new TestClock()
  const { app } = await buildTestApp(t, { LEADSCORE_CONSOLE_DIR: CONSOLE_DIR, LEADSCORE_ADMIN_EMAIL: ADMIN.email, LEADSCORE_ADMIN_PASSWORD: ADMIN.password }, { now: clock.now })
  const base = await listen(app)

  const browser = await openBrowser(t, { viewport: { width: 1280, height: 900 }, timeoutMs: WAIT })
  const { page, pageErrors } = browser
  const menu = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true })
  const shot = async (name: string): Promise<void> => { await browser.shot(page, name) }

  /** Delivers a Standard Webhooks request signed with each of `secrets`, timestamped by the server's clock. */
  const deliver = async (url: string, secrets: string[], msgId: string, body: string): Promise<{ status: number; code?: string; detail?: string }> => {
    const headers = standardHeaders(secrets, msgId, clock.unix(), body)
    const res = await post(url, body, headers)
    return { status: res.status, code: res.body.code as string | undefined, ...(res.status >= 400 ? { detail: res.body.detail as string } : {}) }
  }
  const demo = (email: string): string => JSON.stringify({ type: 'demo_request', timestamp: clock.now().toISOString(), data: { email, name: 'Ada' } })
  const forged = `whsec_${Buffer.alloc(32, 7).toString('base64')}`

  await t.test('an admin signs in and sees no sources yet', async (t) => {
    await page.goto(`${base}/sources`)
    await page.waitForURL(/\/sign-in\?next=%2Fsources$/)
    await page.getByLabel('Email').fill(ADMIN.email)
    await page.getByLabel('Password').fill(ADMIN.password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${base}/sources`)
    await page.getByText('No sources yet').waitFor()
    t.equal(await menu('Sources').getAttribute('aria-current'), 'page', 'the menu marks the page')
  })

  let url = ''
  let secret = ''
  let sourceUrl = ''
  await t.test('a webhook source is created; its URL and secret are shown once', async (t) => {
    await page.getByRole('link', { name: 'New source' }).first().click()
    await page.waitForURL(`${base}/sources/new`)
    // the form comes from the type's config schema: the webhook's signature scheme is a choice
    await page.getByRole('radio', { name: /Webhook/ }).check()
    const adapter = page.getByLabel('Adapter')
    t.same(await adapter.locator('option').allTextContents(), ['standard', 'stripe', 'github'], 'the adapters of the schema')
    t.equal(await adapter.inputValue(), 'standard', 'the default is selected')
    await page.getByLabel('Tolerance seconds').fill('99999')
    await page.getByRole('button', { name: 'Create source' }).click()
    await page.getByText('Enter a name').waitFor()
    await page.getByText('At most 3600').waitFor()
    await page.getByLabel('Name *').fill('Product signups')
    await page.getByLabel('Tolerance seconds').fill('300')
    await page.getByRole('button', { name: 'Create source' }).click()

    await page.getByRole('heading', { name: 'Source “Product signups” created' }).waitFor()
    await page.getByText('Copy the secret now: it will not be shown again.').waitFor()
    url = (await page.getByTestId('ingest-url').textContent())!.trim()
    secret = (await page.getByTestId('secret-signingSecret').textContent())!.trim()
    t.match(url, new RegExp(`^${base}/v1/sources/src_[^/]+/webhook$`), 'the full ingest URL')
    t.match(secret, /^whsec_/, 'the signing secret')
    t.ok(await page.getByRole('button', { name: 'Copy signingSecret' }).isVisible(), 'a copy button')
    await shot('source-created')
    await page.getByRole('link', { name: 'Open the source' }).click()
    await page.waitForURL(/\/sources\/src_/)
    sourceUrl = page.url()
    await page.getByRole('heading', { name: 'Product signups' }).waitFor()
    t.equal(await page.getByTestId('endpoint-url').textContent(), url, 'the detail page shows the same URL')
  })

  await t.test('signed and badly signed deliveries show in the counters, with the reasons', async (t) => {
    const ok = await deliver(url, [secret], 'msg-ok-1', demo('ada@example.com'))
    t.equal(ok.status, 202, `a correctly signed delivery is accepted ${ok.code ?? ''} ${ok.detail ?? ''}`)
    t.match(await deliver(url, [forged], 'msg-bad-1', demo('eve@example.com')), { status: 401, code: 'LS_ERR_WEBHOOK_SIGNATURE' }, 'a badly signed one is refused')
    await page.getByTestId('stat-accepted').filter({ hasText: /^1$/ }).waitFor()
    await page.getByTestId('stat-rejected').filter({ hasText: /^1$/ }).waitFor()
    const refused = page.getByTestId('problem-row').filter({ hasText: 'LS_ERR_WEBHOOK_SIGNATURE' })
    await refused.waitFor()
    t.match(await refused.textContent(), /Refused delivery/, 'named as a refused delivery')

    // an authentic delivery whose event cannot be stored: its reason, and the stored event
    t.match(await deliver(url, [secret], 'msg-nolead', JSON.stringify({ type: 'demo_request', data: { plan: 'pro' } })), { status: 202 })
    await page.getByTestId('stat-rejected').filter({ hasText: /^2$/ }).waitFor()
    const rejected = page.getByTestId('problem-row').filter({ hasText: 'LS_ERR_LEAD_IDENTITY_INVALID' })
    await rejected.waitFor()
    t.match(await rejected.textContent(), /Rejected event/)
    await rejected.getByRole('button', { name: 'Stored reject' }).click()
    await page.getByTestId('stored-reject').filter({ hasText: '"plan": "pro"' }).waitFor()
    t.pass('the stored reject shows the refused event')
    await shot('source-detail')

    await menu('Sources').click()
    await page.waitForURL(`${base}/sources`)
    const row = page.getByTestId('source-row').filter({ hasText: 'Product signups' })
    await row.getByTestId('accepted').filter({ hasText: /^1$/ }).waitFor()
    await row.getByTestId('rejected').filter({ hasText: /^2$/ }).waitFor()
    t.match(await row.textContent(), /Webhook · standard/, 'the list names the type and adapter')
    t.match(await row.textContent(), /LS_ERR_/, 'and the last error')
    await page.setViewportSize({ width: 390, height: 844 })
    await shot('sources-narrow')
    await page.setViewportSize({ width: 1280, height: 900 })
  })

  await t.test('rotating the secret: both verify during the overlap, only the new one after it', async (t) => {
    await page.goto(sourceUrl)
    await page.getByRole('button', { name: 'Rotate signingSecret' }).click()
    const dialog = page.getByRole('dialog', { name: 'Rotate signingSecret?' })
    await dialog.waitFor()
    await dialog.getByLabel('Keep the previous value working for').selectOption({ label: '1 hour' })
    await dialog.getByRole('button', { name: 'Rotate' }).click()
    await page.getByText('Copy the new secret now: it will not be shown again.').waitFor()
    await page.getByText(/The previous value keeps working until/).waitFor()
    const fresh = (await page.getByTestId('rotated-secret').textContent())!.trim()
    t.match(fresh, /^whsec_/)
    t.not(fresh, secret, 'a new value')
    await page.getByText('2 valid values').waitFor()

    t.match(await deliver(url, [secret], 'msg-old-during', demo('grace@example.com')), { status: 202 }, 'the old secret works during the overlap')
    t.match(await deliver(url, [fresh], 'msg-new-during', demo('grace@example.com')), { status: 202 }, 'the new one too')
    clock.advance(3600_000 + 1000)
    t.match(await deliver(url, [secret], 'msg-old-after', demo('grace@example.com')), { status: 401, code: 'LS_ERR_WEBHOOK_SIGNATURE' }, 'the old secret is refused after the overlap')
    t.match(await deliver(url, [fresh], 'msg-new-after', demo('grace@example.com')), { status: 202 }, 'the new one works')
    await page.getByTestId('stat-accepted').filter({ hasText: /^4$/ }).waitFor()
    await page.getByTestId('stat-rejected').filter({ hasText: /^3$/ }).waitFor()
    await page.getByText('1 valid value').waitFor()

    // no secret after a reload, here or on the creation page
    await page.reload()
    await page.getByTestId('stat-accepted').filter({ hasText: /^4$/ }).waitFor()
    const html = await page.content()
    t.notOk(html.includes(fresh) || html.includes(secret), 'no secret on the page after a reload')
    t.equal(await page.getByTestId('rotated-secret').count(), 0)
    await page.goto(`${base}/sources/new`)
    await page.getByRole('button', { name: 'Create source' }).waitFor()
    const html2 = await page.content()
    t.notOk(html2.includes(fresh) || html2.includes(secret), 'nor on the creation page')
  })

  await t.test('a viewer sees sources but cannot change them', async (t) => {
    const created = await app.inject({ method: 'POST', url: '/v1/users', headers: AUTH, payload: { ...VIEWER, role: 'viewer' } })
    t.equal(created.statusCode, 201, 'the viewer is created through the API')
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL(`${base}/sign-in`)
    await page.goto(`${base}/sources`)
    await page.waitForURL(/\/sign-in/)
    await page.getByLabel('Email').fill(VIEWER.email)
    await page.getByLabel('Password').fill(VIEWER.password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${base}/sources`)
    await page.getByTestId('source-row').filter({ hasText: 'Product signups' }).getByTestId('accepted').filter({ hasText: /^4$/ }).waitFor()
    await page.getByText('only admins create or change them').waitFor()
    t.equal(await page.getByRole('link', { name: 'New source' }).count(), 0, 'no way to create one')

    await page.getByRole('link', { name: 'Product signups' }).click()
    await page.waitForURL(sourceUrl)
    await page.getByTestId('problem-row').first().waitFor()
    await page.getByText('Only admins change sources.').waitFor()
    for (const name of [/^Rotate/, 'Disable', 'Delete', 'Poll now']) {
      t.equal(await page.getByRole('button', { name }).count(), 0, `no ${String(name)} button`)
    }

    await page.goto(`${base}/sources/new`)
    await page.getByText('Only admins create sources.').waitFor()
    t.equal(await page.getByRole('button', { name: 'Create source' }).count(), 0)

    const id = sourceUrl.split('/').pop()!
    const tries: Array<{ status: number; code?: string }> = []
    for (const [method, path, body] of [
      ['POST', '/v1/sources', { type: 'webhook', name: 'sneaky' }], ['POST', `/v1/sources/${id}/rotate-secret`, {}],
      ['PATCH', `/v1/sources/${id}`, { enabled: false }], ['DELETE', `/v1/sources/${id}`, undefined],
    ] as const) {
      tries.push(await page.evaluate(async ([method, path, body]) => {
        const r = await fetch(path, { method, credentials: 'same-origin', headers: { 'content-type': 'application/json', 'x-leadscore-csrf': '1' }, body: body === undefined ? undefined : JSON.stringify(body) })
        return { status: r.status, code: (await r.json() as { code?: string }).code }
      }, [method, path, body] as const))
    }
    t.same(tries, Array(4).fill({ status: 403, code: 'LS_ERR_FORBIDDEN' }), 'the API refuses the viewer\'s writes')
    const list = (await app.inject({ url: '/v1/sources', headers: AUTH })).json().items as Array<{ name: string; enabled: boolean }>
    t.same(list.map((s) => [s.name, s.enabled]), [['Product signups', true]], 'nothing was created or changed')
  })

  t.same(pageErrors, [], 'no script errors in the pages')
})
