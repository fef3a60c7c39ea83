// The console on a database of 20,000 leads, in Debian's chromium driven by playwright-core against the real server
// serving the built SPA: the leads are stored straight through the driver with their index keys and counters, as
// scoring would have left them (test/helpers/large-dataset.ts), then the leads page (sorts, filters, search, next
// page), a lead's page, the leaderboard and the analytics page must show what the data says. No timing is asserted
// (bench/scale.ts measures speed); the slowest API requests the pages made are printed as comments.
import t from 'tap'
import type { AddressInfo } from 'node:net'
import type { Locator, Page } from 'playwright-core'
import { CONSOLE_DIR, openBrowser, requireConsoleAndBrowser, signIn } from '../helpers/browser.js'
import { buildTestApp } from '../helpers/harness.js'
import { leadAt, loadLeads, STAGES } from '../helpers/large-dataset.js'
import type { LeadSummary } from '../../server/src/domain/lead-views/summary.js'

const ADMIN = { email: 'admin@example.com', password: 'e2e-admin-password' }
const N = 20_000
const PER_LEAD = 2
const WAIT = 30_000
const fmt = new Intl.NumberFormat('en', { maximumFractionDigits: 1 })

/** The text of each cell, row by row (header cells included). */
async function cells (table: Locator): Promise<string[][]> {
  return await table.locator('tr').evaluateAll((trs) => trs.map((tr) => Array.from((tr as unknown as { children: ArrayLike<{ textContent: string | null }> }).children, (c) => (c.textContent ?? '').trim())))
}

const byId = (a: LeadSummary, b: LeadSummary): number => a.id < b.id ? -1 : a.id > b.id ? 1 : 0
const byScoreDesc = (a: LeadSummary, b: LeadSummary): number => b.score - a.score || byId(a, b)

t.test('the console on 20,000 leads', { timeout: 240_000 }, async (t) => {
  requireConsoleAndBrowser()

  const { app, db } = await buildTestApp(t, {
    LEADSCORE_CONSOLE_DIR: CONSOLE_DIR, LEADSCORE_ADMIN_EMAIL: ADMIN.email, LEADSCORE_ADMIN_PASSWORD: ADMIN.password, LEADSCORE_WORKER: 'false',
  }, { startWorkers: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  const t0 = performance.now()
  const loaded = await loadLeads(db, N, { perLead: PER_LEAD })
  t.comment(`loaded ${loaded.leads} leads and ${loaded.events} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  t.equal(loaded.events, N * PER_LEAD)

  // what the pages must show, from the same data
  const all = Array.from({ length: N }, (_, l) => leadAt(l, { perLead: PER_LEAD, now: loaded.now }).summary)
  const ranked = [...all].sort(byScoreDesc)
  const ids = (xs: LeadSummary[]): string[] => xs.map((x) => x.id)

  const { page, pageErrors, shot } = await openBrowser(t, { viewport: { width: 1280, height: 900 }, timeoutMs: WAIT })
  // how long each API request took, as the browser saw it
  const timings: Array<{ url: string; ms: number }> = []
  page.on('requestfinished', (req) => {
    const url = new URL(req.url())
    if (!url.pathname.startsWith('/v1/')) return
    const timing = req.timing()
    timings.push({ url: `${req.method()} ${url.pathname}${url.search}`, ms: timing.responseEnd })
  })

  const rows = page.locator('tbody tr[data-lead-id]')
  const rowIds = async (): Promise<string[]> => await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-lead-id') ?? ''))
  /** Waits until the list's first row is `id` and the list is not loading. */
  const firstRowIs = async (p: Page, id: string): Promise<void> => {
    await p.locator(`tbody tr[data-lead-id="${id}"]:first-child`).waitFor()
    await p.locator('.table-wrap[aria-busy="false"]').waitFor()
  }

  await t.test('the leads page: first page by score, the next page, other sorts', async (t) => {
    await signIn(page, base, ADMIN, '/leads')
    await firstRowIs(page, ranked[0]!.id)
    t.same(await rowIds(), ids(ranked.slice(0, 25)), 'the 25 top-scored leads, ties in id order')
    const first = rows.first()
    t.equal(await first.getByTestId('lead-score').textContent(), fmt.format(ranked[0]!.score))
    t.equal(await first.getByRole('link').textContent(), ranked[0]!.name)
    await shot(page, 'scale-leads')

    await page.getByRole('navigation', { name: 'Pages' }).getByRole('button', { name: 'Next →' }).click()
    await firstRowIs(page, ranked[25]!.id)
    t.same(await rowIds(), ids(ranked.slice(25, 50)), 'page 2 goes on where page 1 ended')
    t.ok(await page.getByText('Page 2', { exact: true }).isVisible())

    const sort = page.getByLabel('Sort', { exact: true })
    await sort.selectOption('score_asc')
    const lowest = [...all].sort((a, b) => a.score - b.score || byId(a, b))
    await firstRowIs(page, lowest[0]!.id)
    t.same(await rowIds(), ids(lowest.slice(0, 25)), 'score, low to high')

    await sort.selectOption('last_event_desc')
    const recent = [...all].sort((a, b) => (b.lastEventAt ?? 0) - (a.lastEventAt ?? 0) || byId(a, b))
    await firstRowIs(page, recent[0]!.id)
    t.same(await rowIds(), ids(recent.slice(0, 25)), 'last activity')

    await sort.selectOption('name_asc')
    const ada0 = all[0]!
    t.equal(ada0.name, 'Ada Lovelace 0')
    await firstRowIs(page, ada0.id)
    t.equal(await rows.first().getByRole('link').textContent(), 'Ada Lovelace 0', 'name, A–Z')
    const names = await rows.evaluateAll((trs) => trs.map((tr) => tr.querySelector('a')?.textContent ?? ''))
    t.ok(names.every((n) => n.startsWith('Ada Lovelace ')), 'the first page is all Ada Lovelaces')

    await sort.selectOption('score_desc')
    await firstRowIs(page, ranked[0]!.id)
    t.same(pageErrors, [], 'no script errors')
  })

  await t.test('the leads page: filters and search', async (t) => {
    // the score range (number inputs: their bound value is a number)
    await page.getByLabel('Min score', { exact: true }).fill('60')
    await page.getByLabel('Max score', { exact: true }).fill('80')
    const band = ranked.filter((l) => l.score >= 60 && l.score <= 80)
    await firstRowIs(page, band[0]!.id)
    t.same(await rowIds(), ids(band.slice(0, 25)), 'score 60 to 80')
    await page.getByRole('button', { name: 'Clear filters' }).first().click()
    await firstRowIs(page, ranked[0]!.id)

    await page.getByLabel('Stage', { exact: true }).selectOption('MQL')
    const mql = ranked.filter((l) => l.stage === 'MQL')
    await firstRowIs(page, mql[0]!.id)
    t.same(await rowIds(), ids(mql.slice(0, 25)), 'stage MQL')
    await page.getByRole('button', { name: 'Next →' }).click()
    await firstRowIs(page, mql[25]!.id)
    t.same(await rowIds(), ids(mql.slice(25, 50)), 'stage MQL, page 2')
    await page.getByRole('button', { name: 'Clear filters' }).first().click()
    await firstRowIs(page, ranked[0]!.id)

    await page.getByLabel('Source', { exact: true }).fill('crm')
    const crm = ranked.filter((l) => l.sources.includes('crm'))
    t.not(crm[0]!.id, ranked[0]!.id, 'the top crm lead is not the top lead')
    await firstRowIs(page, crm[0]!.id)
    t.same(await rowIds(), ids(crm.slice(0, 25)), 'source crm')
    await page.getByRole('button', { name: 'Clear filters' }).first().click()
    await firstRowIs(page, ranked[0]!.id)

    // a unique email finds its one lead
    const known = all[12_345]!
    const search = page.getByRole('searchbox', { name: 'Search' })
    await search.fill(known.email!)
    await firstRowIs(page, known.id)
    t.same(await rowIds(), [known.id], 'the email finds its lead only')
    t.equal(await rows.first().getByRole('link').textContent(), known.name)

    // a common last name: every row found has it, and there are more pages
    await search.fill('hopper')
    const hoppers = all.filter((l) => l.name!.includes('Hopper'))
    await page.locator(`tbody tr[data-lead-id]:first-child:not([data-lead-id="${known.id}"])`).waitFor()
    await page.locator('.table-wrap[aria-busy="false"]').waitFor()
    const found = await rowIds()
    const hopperIds = new Set(ids(hoppers))
    t.equal(found.length, 25, 'a full page')
    t.ok(found.every((id) => hopperIds.has(id)), 'every row is a Hopper')
    t.equal(await page.getByRole('button', { name: 'Next →' }).isEnabled(), true, 'more on the next page')
    await page.getByRole('button', { name: 'Next →' }).click()
    await page.getByText('Page 2', { exact: true }).waitFor()
    await page.locator('.table-wrap[aria-busy="false"]').waitFor()
    const found2 = await rowIds()
    t.ok(found2.length > 0 && found2.every((id) => hopperIds.has(id) && !found.includes(id)), 'page 2: other Hoppers')
    await shot(page, 'scale-leads-search')
    await page.getByRole('button', { name: 'Clear filters' }).first().click()
    await firstRowIs(page, ranked[0]!.id)
    t.same(pageErrors, [], 'no script errors')
  })

  await t.test("a lead's page", async (t) => {
    const top = ranked[0]!
    await rows.first().getByRole('link').click()
    await page.waitForURL(`${base}/leads/${top.id}`)
    await page.getByRole('heading', { level: 1, name: top.name! }).waitFor()
    t.equal(await page.getByTestId('detail-score').textContent(), fmt.format(top.score))
    const timeline = page.locator('section', { has: page.getByRole('heading', { name: 'Event timeline' }) })
    await timeline.locator('ol li').first().waitFor()
    t.equal(await timeline.locator('ol > li').count(), PER_LEAD, 'its events')
    // no ledger entries were stored for these leads
    await page.locator('section', { has: page.getByRole('heading', { name: 'Ledger' }) }).getByText('Nothing scored yet').waitFor()

    const sample = all.find((l) => l.id === loaded.sampleLead)!
    await page.goto(`${base}/leads/${sample.id}`)
    await page.getByRole('heading', { level: 1, name: sample.name! }).waitFor()
    t.equal(await page.getByTestId('detail-score').textContent(), fmt.format(sample.score))
    await timeline.locator('ol li').first().waitFor()
    t.equal(await timeline.locator('ol > li').count(), PER_LEAD)
    await shot(page, 'scale-lead')
    t.same(pageErrors, [], 'no script errors')
  })

  await t.test('the leaderboard', async (t) => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Leaderboard' }).click()
    const board = page.getByRole('list', { name: 'Leaderboard' })
    await board.locator(`li[data-lead-id="${ranked[0]!.id}"]:first-child`).waitFor()
    const boardIds = async (): Promise<string[]> => await board.locator('li[data-lead-id]').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-lead-id') ?? ''))
    t.same(await boardIds(), ids(ranked.slice(0, 10)), 'the top 10')
    t.equal(await board.getByTestId('board-score').first().textContent(), fmt.format(ranked[0]!.score))

    await page.getByLabel('Stage', { exact: true }).selectOption('Nurture')
    const nurture = ranked.filter((l) => l.stage === 'Nurture')
    await board.locator(`li[data-lead-id="${nurture[0]!.id}"]:first-child`).waitFor()
    t.same(await boardIds(), ids(nurture.slice(0, 10)), 'the top 10 in Nurture')
    await shot(page, 'scale-leaderboard')
    t.same(pageErrors, [], 'no script errors')
  })

  await t.test('the analytics page', async (t) => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Analytics' }).click()
    await page.waitForURL(`${base}/analytics`)
    const tiles = page.getByRole('region', { name: 'Counts' })
    const tile = (label: string): Locator => tiles.locator('.tile', { has: page.getByText(label, { exact: true }) }).locator('strong')
    await tile('Leads').waitFor()
    t.equal(await tile('Leads').textContent(), fmt.format(N), 'all the leads counted')
    t.equal(await tile('Events').textContent(), fmt.format(N * PER_LEAD))
    t.equal(await tile('Pending').textContent(), '0')

    // stage funnel: leads in each stage, and in it or beyond
    const funnel = page.locator('section', { has: page.getByRole('heading', { name: 'Stage funnel' }) }).locator('table')
    await funnel.waitFor()
    const inStage = new Map(STAGES.map(([name]) => [name as string, all.filter((l) => l.stage === name).length]))
    const got = (await cells(funnel)).slice(1)
    t.same(got.map((r) => [r[0], r[2]]), STAGES.map(([name, min]) => [`${name}from ${min}`, String(inStage.get(name))]), 'in stage')
    let reached = 0
    const expectReached: string[] = []
    for (const [name] of [...STAGES].reverse()) { reached += inStage.get(name)!; expectReached.unshift(String(reached)) }
    t.same(got.map((r) => r[1]!.split(' · ')[0]), expectReached, 'reached')

    // score distribution
    const dist = page.locator('section', { has: page.getByRole('heading', { name: 'Score distribution' }) })
    const scores = all.map((l) => l.score)
    await dist.getByText(`${N} leads · lowest ${fmt.format(Math.min(...scores))} · highest ${fmt.format(Math.max(...scores))}`).waitFor()

    // conversion
    const converted = all.filter((l) => l.converted).length
    const conv = page.locator('section', { has: page.getByRole('heading', { name: 'Conversion by score band' }) })
    await conv.getByTestId('conversion-summary').filter({ hasText: `${converted} of ${N} leads converted` }).waitFor()

    // sources: leads per source
    const sources = page.locator('section', { has: page.getByRole('heading', { name: 'Top sources' }) })
    await sources.getByTestId('sources-table').waitFor()
    const srcRows = (await cells(sources.getByTestId('sources-table'))).slice(1)
    for (const s of ['api', 'crm']) {
      const row = srcRows.find((r) => r[0]!.endsWith(s))
      t.equal(row?.[1], String(all.filter((l) => l.sources.includes(s)).length), `leads from ${s}`)
    }

    // events over time: the events lie 31 to 180 days back
    const events = page.locator('section', { has: page.getByRole('heading', { name: 'Events over time' }) })
    await page.getByLabel('Range', { exact: true }).selectOption('365d')
    await events.getByTestId('events-summary').filter({ hasText: `${N * PER_LEAD} events by event time, in UTC days` }).waitFor()
    await shot(page, 'scale-analytics')
    t.same(pageErrors, [], 'no script errors')
  })

  await t.test('the home page opens the leads', async (t) => {
    await page.goto(`${base}/`)
    await page.waitForURL(`${base}/leads`)
    await firstRowIs(page, ranked[0]!.id)
    t.same(await rowIds(), ids(ranked.slice(0, 25)))
    t.same(pageErrors, [], 'no script errors')
  })

  const slow = [...timings].sort((a, b) => b.ms - a.ms).slice(0, 12)
  t.comment(`${timings.length} API requests; the slowest:\n${slow.map((s) => `  ${s.ms.toFixed(0)} ms  ${s.url}`).join('\n')}`)
})
