// Rules evaluation benchmark. Run from the repository root:
//   npx tsx --conditions=leadscore-source bench/rules.ts      (or npm run bench:rules)
// Measures, in one run and on identical fact sets, evaluations per CPU-second of a 20-rule marketing ruleset with
//   (a) json-rules-engine   (b) the compiled evaluator (evaluateSync)   (c) the same logic written by hand in plain JS,
// and counts the fact sets on which the three disagree (it must be 0).
// Environment: BENCH_SECONDS (per evaluator, default 5), BENCH_ROUNDS (alternating rounds, default 5),
// BENCH_FACT_SETS (default 5000), BENCH_SEED (default 42).
import { isDeepStrictEqual } from 'node:util'
import type { RuleProperties } from 'json-rules-engine'
import type { Contribution } from '../server/src/contracts/index.js'
import { createEngineEvaluator, createRulesEvaluator, type RuleFacts } from '../server/src/domain/scoring/rules-engine.js'
import { validateRuleset } from '../server/src/domain/rulesets/validate.js'

const num = (name: string, def: number): number => {
  const v = process.env[name]
  return v !== undefined && /^\d+(\.\d+)?$/.test(v) ? Number(v) : def
}
const SECONDS = num('BENCH_SECONDS', 5)
const FACT_SETS = num('BENCH_FACT_SETS', 5000)
const SEED = num('BENCH_SEED', 42)
const ROUNDS = num('BENCH_ROUNDS', 5)

// ---------------------------------------------------------------------------------------------------------------
// The ruleset, as the DSL compiles it and the server stores it

type Params = Omit<Contribution, 'ruleId'> & { reason: string }
const leaf = (fact: 'event' | 'lead' | 'score', path: string, operator: string, value: unknown): Record<string, unknown> => ({ fact, path, operator, value })
const ev = (path: string, operator: string, value: unknown): Record<string, unknown> => leaf('event', path, operator, value)
const ld = (path: string, operator: string, value: unknown): Record<string, unknown> => leaf('lead', path, operator, value)
const sc = (path: string, operator: string, value: unknown): Record<string, unknown> => leaf('score', path, operator, value)
const rule = (ruleId: string, priority: number, conditions: Record<string, unknown>, params: Params): RuleProperties =>
  ({ name: ruleId, priority, conditions, event: { type: 'score', params: { ruleId, ...params } } }) as unknown as RuleProperties

const FREEMAIL = { pattern: '@(gmail|yahoo|hotmail|outlook)\\.', flags: 'i' }
const SENIOR_TITLE = { pattern: '\\b(chief|vp|head|director)\\b', flags: 'i' }
const RULES: RuleProperties[] = [
  rule('competitor', 100, { any: [ld('email', 'endsWith', '@rivalsoft.com'), ld('company', 'includesText', 'rivalsoft')] }, { action: 'reset', reason: 'Competitor' }),
  rule('unsubscribed', 50, { all: [ev('type', 'in', ['unsubscribed', 'email_bounced', 'marked_spam'])] }, { action: 'add', dimension: 'engagement', points: -20, reason: 'Opted out or bounced' }),
  rule('demo-request', 20, { all: [ev('type', 'in', ['demo_request', 'contact_sales'])] }, { action: 'add', dimension: 'intent', points: 30, reason: 'Asked for a demo' }),
  rule('form-submit', 10, { all: [ev('type', 'equal', 'form_submit')] }, { action: 'add', dimension: 'engagement', points: 15, reason: 'Form submitted' }),
  rule('enterprise', 10, { all: [ld('attributes.employees', 'greaterThanInclusive', 500), { not: ld('attributes.freemail', 'equal', true) }] }, { action: 'set', dimension: 'fit', points: 40, reason: 'Enterprise-sized', limit: { count: 1 } }),
  rule('pricing-page', 5, { all: [ev('type', 'equal', 'page_view'), ev('properties.path', 'startsWith', '/pricing')] }, { action: 'add', dimension: 'intent', points: 10, reason: 'Pricing page', limit: { count: 3, per: '7d' } }),
  rule('hot-lead', 5, { all: [sc('total', 'greaterThanInclusive', 80), ev('type', 'in', ['page_view', 'email_click']), { not: ld('status', 'equal', 'customer') }] }, { action: 'add', dimension: 'intent', points: 5, reason: 'Hot and still active', multiplier: { factor: 0.5, after: 3 } }),
  rule('page-view', 1, { all: [ev('type', 'equal', 'page_view')] }, { action: 'add', dimension: 'engagement', points: 1, reason: 'Page view', limit: { count: 20, per: '1d' } }),
  rule('docs-deep-read', 1, { all: [ev('type', 'equal', 'page_view'), ev('properties.path', 'startsWith', '/docs'), ev('properties.duration', 'greaterThanInclusive', 120)] }, { action: 'add', dimension: 'engagement', points: 3, reason: 'Read the docs' }),
  rule('email-open', 1, { all: [ev('type', 'equal', 'email_open')] }, { action: 'add', dimension: 'engagement', points: 1, reason: 'Email opened', limit: { count: 5, per: '30d' } }),
  rule('email-click', 1, { all: [ev('type', 'equal', 'email_click'), ev('properties.campaign', 'exists', true)] }, { action: 'add', dimension: 'engagement', points: 3, reason: 'Campaign click' }),
  rule('webinar', 1, { any: [{ all: [ev('type', 'equal', 'webinar_attended'), ev('properties.minutes', 'greaterThanInclusive', 30)] }, { all: [ev('type', 'equal', 'webinar_registered'), ld('sources', 'contains', 'webinar')] }] }, { action: 'add', dimension: 'engagement', points: 8, reason: 'Webinar' }),
  rule('trial-started', 1, { all: [ev('type', 'equal', 'trial_started')] }, { action: 'add', dimension: 'intent', points: 25, reason: 'Trial started', limit: { count: 1 } }),
  rule('pricing-while-engaged', 1, { all: [ev('type', 'equal', 'page_view'), ev('properties.path', 'includesText', 'pricing'), sc('engagement', 'greaterThanInclusive', 20)] }, { action: 'add', dimension: 'intent', points: 5, reason: 'Engaged lead on pricing' }),
  rule('mid-market', 1, { all: [ld('attributes.employees', 'greaterThanInclusive', 50), ld('attributes.employees', 'lessThan', 500)] }, { action: 'add', dimension: 'fit', points: 10, reason: 'Mid-market', limit: { count: 1 } }),
  rule('target-industry', 1, { all: [ld('attributes.industry', 'in', ['Software', 'Finance', 'Healthcare', 'Manufacturing'])] }, { action: 'add', dimension: 'fit', points: 10, reason: 'Target industry', limit: { count: 1 } }),
  rule('target-country', 1, { all: [ld('attributes.country', 'in', ['US', 'CA', 'GB', 'DE', 'FR', 'NL', 'SE', 'AU'])] }, { action: 'add', dimension: 'fit', points: 5, reason: 'Target country', limit: { count: 1 } }),
  rule('decision-maker', 1, { any: [ld('attributes.title', 'matches', SENIOR_TITLE), ld('attributes.seniority', 'in', ['executive', 'director'])] }, { action: 'add', dimension: 'fit', points: 15, reason: 'Decision maker', limit: { count: 1 } }),
  rule('freemail', 1, { all: [ld('email', 'matches', FREEMAIL), { not: ld('sources', 'contains', 'partner') }] }, { action: 'add', dimension: 'fit', points: -10, reason: 'Free mail address', limit: { count: 1 } }),
  rule('student', 1, { any: [ld('email', 'endsWith', '.edu'), ld('attributes.title', 'includesText', 'student')] }, { action: 'add', dimension: 'fit', points: -15, reason: 'Student', limit: { count: 1 } }),
]

// ---------------------------------------------------------------------------------------------------------------
// The same logic written by hand

type Obj = Record<string, unknown>
const obj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Obj : undefined)
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const n = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined)
const FREEMAIL_RE = new RegExp(FREEMAIL.pattern, FREEMAIL.flags)
const SENIOR_RE = new RegExp(SENIOR_TITLE.pattern, SENIOR_TITLE.flags)
const OPTED_OUT = new Set(['unsubscribed', 'email_bounced', 'marked_spam'])
const INDUSTRIES = new Set(['Software', 'Finance', 'Healthcare', 'Manufacturing'])
const COUNTRIES = new Set(['US', 'CA', 'GB', 'DE', 'FR', 'NL', 'SE', 'AU'])

function handWritten (facts: RuleFacts): Contribution[] {
  const e = facts.event
  const l = facts.lead
  const s = facts.score
  const type = e.type
  const props = obj(e.properties)
  const path = str(props?.path)
  const attrs = obj(l.attributes)
  const email = str(l.email)
  const sources = Array.isArray(l.sources) ? l.sources : undefined
  const employees = n(attrs?.employees)
  const title = str(attrs?.title)
  const out: Contribution[] = []
  // in the order rules-engine.ts returns them: priority, then ruleId
  if (email?.endsWith('@rivalsoft.com') === true || str(l.company)?.toLowerCase().includes('rivalsoft') === true) out.push({ ruleId: 'competitor', action: 'reset', reason: 'Competitor' })
  if (typeof type === 'string' && OPTED_OUT.has(type)) out.push({ ruleId: 'unsubscribed', action: 'add', dimension: 'engagement', points: -20, reason: 'Opted out or bounced' })
  if (type === 'demo_request' || type === 'contact_sales') out.push({ ruleId: 'demo-request', action: 'add', dimension: 'intent', points: 30, reason: 'Asked for a demo' })
  if (employees !== undefined && employees >= 500 && attrs?.freemail !== true) out.push({ ruleId: 'enterprise', action: 'set', dimension: 'fit', points: 40, reason: 'Enterprise-sized', limit: { count: 1 } })
  if (type === 'form_submit') out.push({ ruleId: 'form-submit', action: 'add', dimension: 'engagement', points: 15, reason: 'Form submitted' })
  const total = n(s.total)
  if (total !== undefined && total >= 80 && (type === 'page_view' || type === 'email_click') && l.status !== 'customer') out.push({ ruleId: 'hot-lead', action: 'add', dimension: 'intent', points: 5, reason: 'Hot and still active', multiplier: { factor: 0.5, after: 3 } })
  if (type === 'page_view' && path?.startsWith('/pricing') === true) out.push({ ruleId: 'pricing-page', action: 'add', dimension: 'intent', points: 10, reason: 'Pricing page', limit: { count: 3, per: '7d' } })
  if ((title !== undefined && SENIOR_RE.test(title)) || attrs?.seniority === 'executive' || attrs?.seniority === 'director') out.push({ ruleId: 'decision-maker', action: 'add', dimension: 'fit', points: 15, reason: 'Decision maker', limit: { count: 1 } })
  const duration = n(props?.duration)
  if (type === 'page_view' && path?.startsWith('/docs') === true && duration !== undefined && duration >= 120) out.push({ ruleId: 'docs-deep-read', action: 'add', dimension: 'engagement', points: 3, reason: 'Read the docs' })
  if (type === 'email_click' && props?.campaign !== undefined && props.campaign !== null) out.push({ ruleId: 'email-click', action: 'add', dimension: 'engagement', points: 3, reason: 'Campaign click' })
  if (type === 'email_open') out.push({ ruleId: 'email-open', action: 'add', dimension: 'engagement', points: 1, reason: 'Email opened', limit: { count: 5, per: '30d' } })
  if (email !== undefined && FREEMAIL_RE.test(email) && !(sources?.includes('partner') === true)) out.push({ ruleId: 'freemail', action: 'add', dimension: 'fit', points: -10, reason: 'Free mail address', limit: { count: 1 } })
  if (employees !== undefined && employees >= 50 && employees < 500) out.push({ ruleId: 'mid-market', action: 'add', dimension: 'fit', points: 10, reason: 'Mid-market', limit: { count: 1 } })
  if (type === 'page_view') out.push({ ruleId: 'page-view', action: 'add', dimension: 'engagement', points: 1, reason: 'Page view', limit: { count: 20, per: '1d' } })
  const engagement = n(s.engagement)
  if (type === 'page_view' && path?.includes('pricing') === true && engagement !== undefined && engagement >= 20) out.push({ ruleId: 'pricing-while-engaged', action: 'add', dimension: 'intent', points: 5, reason: 'Engaged lead on pricing' })
  if (email?.endsWith('.edu') === true || title?.toLowerCase().includes('student') === true) out.push({ ruleId: 'student', action: 'add', dimension: 'fit', points: -15, reason: 'Student', limit: { count: 1 } })
  const country = str(attrs?.country)
  if (country !== undefined && COUNTRIES.has(country)) out.push({ ruleId: 'target-country', action: 'add', dimension: 'fit', points: 5, reason: 'Target country', limit: { count: 1 } })
  const industry = str(attrs?.industry)
  if (industry !== undefined && INDUSTRIES.has(industry)) out.push({ ruleId: 'target-industry', action: 'add', dimension: 'fit', points: 10, reason: 'Target industry', limit: { count: 1 } })
  if (type === 'trial_started') out.push({ ruleId: 'trial-started', action: 'add', dimension: 'intent', points: 25, reason: 'Trial started', limit: { count: 1 } })
  const minutes = n(props?.minutes)
  if ((type === 'webinar_attended' && minutes !== undefined && minutes >= 30) || (type === 'webinar_registered' && sources?.includes('webinar') === true)) out.push({ ruleId: 'webinar', action: 'add', dimension: 'engagement', points: 8, reason: 'Webinar' })
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Fact sets: events and leads as the pipeline builds them

function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const rnd = mulberry32(SEED)
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
const maybe = <T>(p: number, v: () => T): T | undefined => (rnd() < p ? v() : undefined)

const TYPES = ['page_view', 'page_view', 'page_view', 'page_view', 'email_open', 'email_open', 'email_click', 'form_submit',
  'demo_request', 'contact_sales', 'webinar_registered', 'webinar_attended', 'trial_started', 'unsubscribed', 'email_bounced', 'login']
const PATHS = ['/', '/pricing', '/pricing/team', '/docs/api', '/docs/start', '/blog/scoring', '/about', '/product/pricing-faq']
const DOMAINS = ['acme.com', 'gmail.com', 'yahoo.co.uk', 'uni.edu', 'rivalsoft.com', 'bank.example', 'Outlook.com', 'corp.io']

function factSet (i: number): RuleFacts {
  const type = pick(TYPES)
  const properties: Obj = {}
  if (type === 'page_view') { properties.path = pick(PATHS); if (rnd() < 0.7) properties.duration = Math.floor(rnd() * 300) }
  if (type.startsWith('email_') && rnd() < 0.6) properties.campaign = pick(['spring', 'launch', null])
  if (type === 'webinar_attended') properties.minutes = Math.floor(rnd() * 90)
  const attributes: Obj = {}
  const set = (k: string, v: unknown): void => { if (v !== undefined) attributes[k] = v }
  set('employees', maybe(0.8, () => Math.floor(10 ** (rnd() * 4.5))))
  set('industry', maybe(0.7, () => pick(['Software', 'Finance', 'Retail', 'Healthcare', 'Education', 'Manufacturing'])))
  set('country', maybe(0.8, () => pick(['US', 'DE', 'FR', 'BR', 'IN', 'GB', 'JP', 'NL'])))
  set('title', maybe(0.6, () => pick(['VP Sales', 'Head of Growth', 'Engineer', 'Student assistant', 'Chief Executive Officer', 'Marketing Manager', 'director of it'])))
  set('seniority', maybe(0.3, () => pick(['executive', 'director', 'manager', 'individual'])))
  set('freemail', maybe(0.4, () => rnd() < 0.3))
  const engagement = Math.floor(rnd() * 60)
  const fit = Math.floor(rnd() * 60)
  const intent = Math.floor(rnd() * 40)
  return {
    event: { id: `ev${i}`, type, rawType: type, sourceId: pick(['web', 'mail', 'crm']), occurredAt: new Date(Date.UTC(2025, 0, 1) + i * 60_000).toISOString(), properties },
    lead: {
      id: `ld${i % 500}`, email: `user${i % 500}@${pick(DOMAINS)}`, externalId: null, name: 'Ann Example', company: pick(['Acme', 'RivalSoft GmbH', 'Initech', null]),
      attributes, status: pick(['lead', 'lead', 'customer']), sources: rnd() < 0.3 ? ['web', pick(['webinar', 'partner', 'import'])] : ['web'],
    },
    score: { total: engagement + fit + intent, engagement, fit, intent, stage: 'lead' },
  }
}

// ---------------------------------------------------------------------------------------------------------------

// Rates are evaluations per second of this process's CPU time (user + system), so that load from other processes on
// the machine changes them less than wall-clock rates. Each evaluator has its own loop, as a backtest would, and the
// rounds of the three alternate; the median round of each is reported.
const cpuSeconds = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }
let sink = 0

async function roundEngine (facts: readonly RuleFacts[], ms: number): Promise<number> {
  const c0 = cpuSeconds()
  const end = performance.now() + ms
  let k = 0
  while (performance.now() < end) {
    for (let i = 0; i < 50; i++) sink += (await engine.evaluate(facts[(k + i) % facts.length]!)).length
    k += 50
  }
  return k / (cpuSeconds() - c0)
}

function roundCompiled (facts: readonly RuleFacts[], ms: number): number {
  const c0 = cpuSeconds()
  const end = performance.now() + ms
  let k = 0
  while (performance.now() < end) {
    for (let i = 0; i < 500; i++) sink += evaluateSync(facts[(k + i) % facts.length]!).length
    k += 500
  }
  return k / (cpuSeconds() - c0)
}

function roundHandWritten (facts: readonly RuleFacts[], ms: number): number {
  const c0 = cpuSeconds()
  const end = performance.now() + ms
  let k = 0
  while (performance.now() < end) {
    for (let i = 0; i < 500; i++) sink += handWritten(facts[(k + i) % facts.length]!).length
    k += 500
  }
  return k / (cpuSeconds() - c0)
}

async function measure (facts: readonly RuleFacts[]): Promise<[number, number, number]> {
  const labels = ['(a) json-rules-engine', '(b) compiled evaluator', '(c) hand-written JavaScript']
  const rates: number[][] = [[], [], []]
  const ms = (SECONDS * 1000) / ROUNDS
  await roundEngine(facts, 300); roundCompiled(facts, 300); roundHandWritten(facts, 300) // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    rates[0]!.push(await roundEngine(facts, ms))
    rates[1]!.push(roundCompiled(facts, ms))
    rates[2]!.push(roundHandWritten(facts, ms))
  }
  const fmt = (x: number): string => Math.round(x).toLocaleString('en-US')
  const medians = rates.map((rs, i) => {
    const sorted = [...rs].sort((a, b) => a - b)
    const median = sorted[Math.floor(sorted.length / 2)]!
    console.log(`${labels[i]!.padEnd(30)} ${fmt(median).padStart(11)} evaluations/s   (rounds ${fmt(sorted[0]!)} to ${fmt(sorted.at(-1)!)})`)
    return median
  })
  return medians as [number, number, number]
}

const problems = validateRuleset({ rules: RULES })
if (problems.length > 0) throw new Error(`the benchmark ruleset is invalid: ${JSON.stringify(problems)}`)
const engine = createEngineEvaluator(1, RULES)
const compiled = createRulesEvaluator(1, RULES)
if (compiled.evaluateSync === null) throw new Error(`the benchmark ruleset did not compile: ${compiled.fallbackReason}`)
const evaluateSync = compiled.evaluateSync
const facts = Array.from({ length: FACT_SETS }, (_, i) => factSet(i))

console.log(`# ${RULES.length} rules, ${facts.length} fact sets (seed ${SEED}), ${SECONDS} s per evaluator in ${ROUNDS} rounds, Node ${process.version}`)
console.log('# rates are evaluations per second of CPU time of this process (median round)')
let mismatches = 0
let fired = 0
for (const f of facts) {
  const a = await engine.evaluate(f)
  const b = evaluateSync(f)
  const c = handWritten(f)
  fired += a.length
  if (!isDeepStrictEqual(a, b) || !isDeepStrictEqual(a, c)) {
    if (mismatches < 3) console.log('mismatch', JSON.stringify({ facts: f, engine: a, compiled: b, handWritten: c }))
    mismatches++
  }
}
console.log(`# ${fired} firings in ${facts.length} fact sets (${(fired / facts.length).toFixed(2)} per evaluation)`)

const [jre, cmp, hand] = await measure(facts)
if (sink < 0) console.log(sink) // keeps the results alive
console.log(`compiled / json-rules-engine: ${(cmp / jre).toFixed(1)}x`)
console.log(`compiled / hand-written: ${(cmp / hand).toFixed(2)} (target >= 0.25)`)
console.log(`mismatches: ${mismatches} of ${facts.length} fact sets (must be 0)`)
if (mismatches > 0) process.exitCode = 1
