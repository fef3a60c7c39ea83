// `npm start` on a fresh data folder: the launcher (scripts/start.mjs) runs the built server with the embedded
// FerretDB and seeds the demo. Through the HTTP API, with the admin key the server prints, this checks what the
// console's pages show on first start: scored leads with grades, stages and intent labels, a leaderboard, weeks of
// events and conversions in analytics, the active offer, the published ruleset, the tracking plan's flagged events, a
// deployed model and the intent layer's classifications.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../server/src/infra/ferretdb.js'
import { ROOT, waitUntil } from '../helpers/processes.js'
import { openBrowser, requireConsoleAndBrowser, signIn } from '../helpers/browser.js'

t.setTimeout(180_000)

const root = mkdtempSync(join(tmpdir(), 'ls-demo-start-'))
const dataDir = join(root, 'data')

/** Pids of the FerretDB processes serving the test's data folder, read from /proc (a backstop for the teardown). */
function ferretDbPids (): number[] {
  const pids: number[] = []
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue
    let argv: string[]
    try { argv = readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0') } catch { continue }
    if ((argv[0] ?? '').endsWith('ferretdb') && argv.some((a) => a.startsWith('--state-dir=') && a.includes(dataDir))) pids.push(Number(n))
  }
  return pids
}

t.teardown(() => {
  for (const pid of ferretDbPids()) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
  rmSync(root, { recursive: true, force: true })
})

interface Lead {
  id: string; email: string | null; name: string | null; score: number; stage: string; grade: string; intentLabel: string
  scores: { engagement: number; fit: number; intent: number; predictive?: number }
  predictive: { probability: number; model: { id: string } } | null
}

t.test('the first start seeds a demo that every console page can show', async (t) => {
  const port = await freePort()
  // the environment of someone typing `npm start`: no database address, no demo switch, no bootstrap key
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k === 'NODE_OPTIONS' || k.startsWith('TAP') || k.startsWith('MONGODB') || k.startsWith('LEADSCORE_')) continue
    env[k] = v
  }
  Object.assign(env, { PORT: String(port), HOST: '127.0.0.1', LEADSCORE_DATA_DIR: dataDir })
  const started = Date.now()
  const proc = spawn(process.execPath, ['scripts/start.mjs'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (b: Buffer) => { stdout += b.toString() })
  proc.stderr.on('data', (b: Buffer) => { stderr = (stderr + b.toString()).slice(-4000) })
  const exited = new Promise<void>((r) => proc.once('exit', () => { r() }))
  let ended = false
  void exited.then(() => { ended = true })
  t.teardown(async () => {
    if (ended) return
    proc.kill('SIGTERM')
    const timer = setTimeout(() => { proc.kill('SIGKILL') }, 15_000)
    await exited
    clearTimeout(timer)
  })
  const tail = (): string => `${stdout.slice(-3000)}\n${stderr}`

  // the admin key is printed once the server listens, after the demo was seeded
  await waitUntil(async () => { if (ended) throw new Error(`the server ended: ${tail()}`); return /Leadscore is running at/.test(stdout) }, 90_000, tail)
  const listeningMs = Date.now() - started
  const key = /Leadscore admin API key[^\n]*\n\s*\n\s*(lsk_\S+)/.exec(stdout)?.[1]
  if (key === undefined) throw new Error(`no admin key in the output: ${tail()}`)
  t.match(stdout, /password: \S+/, 'the console admin password is printed too')
  const seeded = stdout.split('\n').find((l) => l.includes('demo data seeded'))
  t.ok(seeded, 'one line sums up the demo')
  const summary = JSON.parse(seeded!) as { leads: number; events: number; converted: number; flagged: number; model: { id: string } | null; ms: number }
  t.ok(summary.leads >= 100 && summary.events >= 1000 && summary.converted >= 10, `the summary counts leads, events and customers: ${seeded!}`)
  t.ok(summary.model !== null, 'the summary names the deployed model')
  t.ok(summary.ms < 30_000, `the seed took ${summary.ms} ms (listening after ${listeningMs} ms)`)

  const base = `http://127.0.0.1:${port}`
  const get = async (path: string): Promise<any> => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const r = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(30_000) })
    const body = await r.json() as unknown
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(body)}`)
    return body
  }
  const allLeads = async (): Promise<Lead[]> => {
    const out: Lead[] = []
    let cursor: string | null = null
    do {
      const page = await get(`/v1/leads?limit=100${cursor !== null ? `&cursor=${encodeURIComponent(cursor)}` : ''}`) as { items: Lead[]; nextCursor: string | null }
      out.push(...page.items)
      cursor = page.nextCursor
    } while (cursor !== null)
    return out
  }

  // settled: nothing left to score, and the re-score after the deploy gave every lead the model's prediction
  let leads: Lead[] = []
  let pending = -1
  // on a time-out, the server's warnings and errors tell why (the tail of its output is mostly request lines)
  const problems = (): string => stdout.split('\n').filter((l) => /"level":(40|50|60)/.test(l)).slice(-10).join('\n')
  await waitUntil(async () => {
    const stats = await get('/v1/stats') as { events: { pending: number } }
    pending = stats.events.pending
    if (pending > 0) return false
    leads = await allLeads()
    return leads.length === summary.leads && leads.every((l) => l.predictive !== null)
  }, 90_000, async () => `${pending} events pending; ${leads.filter((l) => l.predictive === null).length} of ${leads.length} leads without a prediction; warnings and errors:\n${problems()}\n${tail()}`, 1000)

  // the seed kept the lead views as it wrote, so the first start did not rebuild them (a rebuild beside the first
  // decay tick counted its events twice, and /v1/stats showed them pending for good)
  const audit = await get('/v1/audit-log?limit=500') as { items: Array<{ action: string }> }
  t.notOk(audit.items.some((a) => a.action === 'views.rebuild'), `no views rebuild at the first start (audit: ${[...new Set(audit.items.map((a) => a.action))].join(', ')})`)

  // the leads page (the first page): scores, grades, stages and intent labels that differ between leads
  const stages = new Set(leads.map((l) => l.stage))
  const grades = new Set(leads.map((l) => l.grade))
  const labels = new Set(leads.map((l) => l.intentLabel))
  t.same([...stages].sort(), ['Cold', 'MQL', 'Nurture', 'SQL'], 'leads are in every stage')
  t.same([...grades].sort(), ['A', 'B', 'C', 'D'], 'and of every grade')
  t.same([...labels].sort(), ['Hot', 'Low', 'Warm'], 'with every intent label')
  t.ok(leads.filter((l) => l.scores.fit > 0).length > leads.length / 2, 'most leads have fit points from the offer\'s ICP')
  const byEmail = new Map(leads.map((l) => [l.email, l]))
  const grace = byEmail.get('grace.hopper@contoso.example')
  const ada = byEmail.get('ada.lovelace@northwind.example')
  const linus = byEmail.get('linus.torvalds@fabrikam.example')
  t.match(grace, { name: 'Grace Hopper', grade: 'A', intentLabel: 'Hot', scores: { intent: 100 } }, 'the customer: a full-fit buyer')
  t.match(ada, { name: 'Ada Lovelace', grade: 'A' }, 'the hot prospect has the best grade')
  t.ok(ada!.scores.intent >= 40, 'and intent from her demo request')
  t.match(linus, { name: 'Linus Torvalds', grade: 'C' }, 'the quiet lead fits poorly')
  t.ok(linus!.score < ada!.score && linus!.score < grace!.score, 'and scores below both')

  // the leaderboard: highest first, and customers near the top
  const board = (await get('/v1/leaderboard?limit=10')).items as Lead[]
  t.equal(board.length, 10)
  for (let i = 1; i < board.length; i++) t.ok(board[i - 1]!.score >= board[i]!.score, 'ranked by score')
  t.equal(board[0]!.score, Math.max(...leads.map((l) => l.score)), 'the leader has the highest score')

  // analytics: events over several weeks, a stage funnel, conversions
  const from = new Date(Date.now() - 70 * 86_400_000).toISOString()
  const overTime = await get(`/v1/analytics/events-over-time?granularity=week&from=${from}`) as { series: Array<{ type: string; counts: number[] }> }
  const pageViews = overTime.series.find((s) => s.type === 'page_view')!
  t.ok(pageViews.counts.filter((c) => c > 0).length >= 6, `page views in ${pageViews.counts.filter((c) => c > 0).length} weeks`)
  t.ok(overTime.series.some((s) => s.type === 'purchase'), 'purchases are among the event types')
  const funnel = await get('/v1/analytics/stages') as { total: number; stages: Array<{ name: string; count: number }> }
  t.equal(funnel.total, summary.leads)
  t.ok(funnel.stages.every((s) => s.count > 0), `every stage holds leads: ${JSON.stringify(funnel.stages.map((s) => [s.name, s.count]))}`)
  const conv = await get('/v1/analytics/conversion-by-score?bucket=50') as { converted: number; total: number }
  t.ok(conv.converted >= 10 && conv.converted < conv.total, `${conv.converted} of ${conv.total} leads converted`)

  // the offer, the ruleset and the model the other pages show
  const offer = await get('/v1/offers/active') as { name: string; icp: { industries: string[] } }
  t.match(offer, { name: 'Leadscore Cloud (demo)', icp: { industries: ['SaaS', 'Software'] } }, 'an active offer')
  const ruleset = await get('/v1/rulesets/active') as { version: number; source?: string; settings: { stages: unknown[]; grades: unknown[]; intentLabels: unknown[]; decay: unknown[] } }
  t.ok(ruleset.version >= 2, 'the demo ruleset is published over the default one')
  t.equal(ruleset.settings.stages.length, 4)
  t.equal(ruleset.settings.grades.length, 4)
  t.equal(ruleset.settings.intentLabels.length, 3)
  t.equal(ruleset.settings.decay.length, 1)
  const deployment = await get('/v1/models/deployment') as { current: { champion: { id: string } | null } }
  t.equal(deployment.current.champion?.id, summary.model!.id, 'the demo model is the champion')
  const model = await get(`/v1/models/${summary.model!.id}`) as { metrics: { auc: number }; data: { examples: number; positives: number } }
  t.ok(model.metrics.auc > 0.6, `it learned something: holdout AUC ${model.metrics.auc}`)
  t.ok(model.data.positives >= 4 && model.data.examples >= 40, `trained on ${model.data.examples} examples, ${model.data.positives} converted`)
  t.ok(leads.every((l) => l.predictive!.model.id === summary.model!.id), 'every lead carries its prediction')

  // the tracking plan (warn mode) flagged the page views that carry their time on site as text
  const violations = await get('/v1/tracking-plan/violations') as { planVersion: number; items: Array<{ type: string; sourceId: string; warned: number; lastPointer: string | null }> }
  t.ok(violations.planVersion >= 1, 'a tracking plan is saved')
  t.ok(summary.flagged > 0, `${summary.flagged} demo events were flagged`)
  t.match(violations.items, [{ type: 'page_view', sourceId: 'demo', warned: summary.flagged, lastPointer: '#/properties/timeOnSite' }], 'and counted per type and source')

  // the intent layer classifies the leads against the offer with the rule fallback (no model configured)
  let intent: { intent?: string; provider?: string } = {}
  await waitUntil(async () => {
    const r = await fetch(`${base}/v1/intent/leads/${ada!.id}`, { headers: { authorization: `Bearer ${key}` } })
    if (r.status !== 200) return false
    intent = await r.json() as typeof intent
    return true
  }, 90_000, () => `Ada was not classified: ${tail()}`, 1000)
  t.match(intent, { intent: 'High', provider: 'rules-fallback' }, 'a decision maker in an ICP industry: High')

  // the quiet lead's trend rises while it was active and falls afterwards: decay, in event time, applied by the decay
  // ticks or by its next event (its intent classification), whichever comes first
  let trend: Array<{ score: number; max: number }> = []
  await waitUntil(async () => {
    trend = (await get(`/v1/leads/${linus!.id}/trend?bucket=week`)).buckets as typeof trend
    return trend.at(-1)!.score < Math.max(...trend.map((b) => b.max))
  }, 90_000, () => `no decay in the quiet lead's trend: ${JSON.stringify(trend.slice(-9))}`, 1000)
  t.ok(trend.filter((b) => b.score > 0).length >= 3, 'the quiet lead has weeks of history')
  t.pass(`its score fell from ${Math.max(...trend.map((b) => b.max))} to ${trend.at(-1)!.score} since it went quiet`)

  // the console's first page in a browser, signed in with the printed password: the demo's leads with their stages
  requireConsoleAndBrowser()
  const email = /email:\s+(\S+)/.exec(stdout)![1]!
  const password = /password: (\S+)/.exec(stdout)![1]!
  const { page, pageErrors, shot } = await openBrowser(t, { viewport: { width: 1280, height: 860 }, timeoutMs: 30_000 })
  await signIn(page, base, { email, password }, '/leads')
  await page.getByText(/@[a-z]+\.example$/).first().waitFor()
  const html = await page.content()
  const shown = new Set(html.match(/[a-z0-9.-]+@[a-z]+\.example/g) ?? [])
  t.ok(shown.size >= 20, `the leads page lists ${shown.size} demo leads`)
  t.ok([...shown].every((e) => byEmail.has(e)), 'all of them seeded leads')
  t.ok(['SQL', 'MQL', 'Nurture'].some((s) => html.includes(s)), 'with their stages')
  await shot(page, 'demo-first-page')
  t.same(pageErrors, [], 'no script errors')

  // the seed ran once: a restart on the same folder finds leads and seeds nothing
  proc.kill('SIGTERM')
  await exited
  const again = spawn(process.execPath, ['scripts/start.mjs'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out2 = ''
  again.stdout.on('data', (b: Buffer) => { out2 += b.toString() })
  const exited2 = new Promise<void>((r) => again.once('exit', () => { r() }))
  t.teardown(async () => { again.kill('SIGKILL'); await exited2 })
  await waitUntil(async () => /Leadscore is running at/.test(out2), 60_000, () => out2.slice(-3000))
  t.notMatch(out2, /demo data seeded/, 'no second seed')
  t.notMatch(out2, /admin API key/, 'nor a second admin key')
  const r = await fetch(`${base}/v1/stats`, { headers: { authorization: `Bearer ${key}` } })
  t.equal(((await r.json()) as { leads: { total: number } }).leads.total, summary.leads, 'the same leads')
  again.kill('SIGTERM')
  await exited2
})
