// Rule regexes run on RE2 (linear time) wherever they run: dry runs, live scoring and backtests. Patterns that
// backtrack catastrophically in a backtracking engine answer in milliseconds and the event loop keeps serving
// other requests; patterns RE2 cannot run are refused at save and publish with diagnostics, never with a 500.
import t, { type Test } from 'tap'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { screenRegex } from '@leadscore/rules-dsl'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'
import { compileRuleRegex, regexProblem, toRe2Syntax } from '../../server/src/domain/rulesets/rule-regex.js'
import { compileRegex } from '../../server/src/domain/scoring/rule-operators.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

async function send (app: FastifyInstance, method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown) {
  const res = await app.inject({ method, url, headers: { ...AUTH, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) })
  return { status: res.statusCode, body: res.body.length > 0 ? res.json() as Json : {}, headers: res.headers }
}

const sleep = async (ms: number): Promise<void> => await new Promise((r) => setTimeout(r, ms))

// Each takes about n⁴ (a*a*a*b) or 2ⁿ ((?:\w\w?)+$) steps in a backtracking engine on 400 a's without a match.
const PATHOLOGICAL = ['a*a*a*b', '(?:\\w\\w?)+$']
const NO_MATCH = `${'a'.repeat(400)}!`
const MATCH = `${'a'.repeat(400)}b`

const ruleFor = (pattern: string, id = 'pathological'): string =>
  `rule "${id}" when event.properties.x matches /${pattern}/ then +5 engagement\n`

/**
 * Runs `work` while a trivial request (GET /healthz) is sent over and over; returns how long `work` took and the
 * slowest trivial answer. A regex that blocks the event loop delays the trivial answers by as long as it runs.
 */
async function whileServing<T> (app: FastifyInstance, work: () => Promise<T>): Promise<{ result: T; ms: number; slowestHealthMs: number; healthChecks: number }> {
  let done = false
  let slowestHealthMs = 0
  let healthChecks = 0
  const prober = (async () => {
    while (!done) {
      // timed from when the request was due, so a blocked timer counts as well as a blocked request
      const due = performance.now() + 5
      await sleep(5)
      const res = await app.inject({ method: 'GET', url: '/healthz' })
      if (res.statusCode !== 200) throw new Error(`/healthz answered ${res.statusCode}`)
      slowestHealthMs = Math.max(slowestHealthMs, performance.now() - due)
      healthChecks++
    }
  })()
  await sleep(20) // the prober is running before the work starts
  const started = performance.now()
  let result: T
  let ms: number
  try {
    result = await work()
    ms = performance.now() - started
  } finally {
    done = true
    await prober // its last request may have been due while the work blocked the event loop
  }
  return { result, ms, slowestHealthMs, healthChecks }
}

async function waitFor<T> (fn: () => Promise<T | null>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== null) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

// Small patterns over a few atoms, flags and short texts: JavaScript and RE2 both run these quickly.
const ATOMS = ['a', 'b', 'A', '.', '\\d', '\\w', '\\W', '\\s', '\\b', '[ab]', '[^a]', '[a-c\\d]', '\\u0061', '\\x62', '\\.', '-', ' ', '\\n', '^', '$']
const QUANTIFIERS = ['', '', '', '*', '+', '?', '{2}', '{1,2}', '{0,}', '*?', '+?']
const atom = fc.tuple(fc.constantFrom(...ATOMS), fc.constantFrom(...QUANTIFIERS)).map(([a, q]) => (a === '^' || a === '$' || a === '\\b' ? a : a + q))
const sequence = fc.array(atom, { minLength: 1, maxLength: 5 }).map((xs) => xs.join(''))
const patternArb = fc.oneof(
  sequence,
  fc.tuple(sequence, sequence, fc.constantFrom('(', '(?:', '(?<g>'), fc.constantFrom('', '*', '+', '?', '{2}'), sequence)
    .map(([a, b, open, q, c]) => `${a}${open}${b}|${c})${q}`),
)
const flagsArb = fc.subarray(['i', 'm', 's', 'u']).map((fs) => fs.join(''))
const textArb = fc.array(fc.constantFrom('a', 'b', 'A', 'B', '1', ' ', '-', '.', '\n', '_'), { maxLength: 8 }).map((cs) => cs.join(''))

t.test('patterns the screen accepts compile on RE2 and match as they do in JavaScript', async (t) => {
  let compared = 0
  fc.assert(fc.property(patternArb, flagsArb, fc.array(textArb, { minLength: 1, maxLength: 6 }), (pattern, flags, texts) => {
    let js: RegExp
    try { js = new RegExp(pattern, flags) } catch { return } // the rules language refuses it before the screen
    if (screenRegex(pattern, flags) !== undefined) return
    const re2 = compileRuleRegex(pattern, flags)
    if (!re2.ok) throw new Error(`/${pattern}/${flags} passed the screen but RE2 refused it: ${re2.reason}`)
    for (const text of texts) {
      compared++
      if (js.test(text) !== re2.regex.test(text)) throw new Error(`/${pattern}/${flags} on ${JSON.stringify(text)}: RegExp ${js.test(text)}, RE2 ${re2.regex.test(text)}`)
    }
  }), { seed: 1405, numRuns: 3000 })
  t.ok(compared > 5000, `${compared} texts compared`)
})

t.test('the RE2 translation and the compiled-pattern cache', async (t) => {
  t.equal(toRe2Syntax('\\u0041\\\\u0041[\\u0042-\\u0044]', false), '\\x{0041}\\\\u0041[\\x{0042}-\\x{0044}]', 'escaped backslashes are left alone')
  t.equal(toRe2Syntax('\\uD83D\\uDE00', false), '\\x{1f600}', 'a surrogate pair is one code point')
  t.equal(toRe2Syntax('\\u{1F600}', true), '\\x{1F600}')
  t.equal(toRe2Syntax('^/docs', false), '^/docs')
  t.same(regexProblem('a(?=b)'), { field: 'pattern', detail: "DSL055 '(?=' is a lookahead. Regular expressions run on RE2, which has no lookahead or lookbehind." })
  t.match(regexProblem('\\p{Script=Greek}', 'u'), { field: 'pattern', detail: /^RE2 cannot run this regular expression: / })
  t.match(regexProblem('(', ''), { field: 'pattern', detail: /^invalid regular expression/ })
  t.same(regexProblem('a', 'gi')?.field, 'flags')
  t.equal(regexProblem('(?:\\w\\w?)+$', 'imsu'), null)
  const value = { pattern: '^p[a-z]+$', flags: 'i' }
  const first = compileRegex(value)
  t.ok(first?.test('Pricing'))
  t.equal(compileRegex({ ...value }), first, 'one compiled program per pattern and flags')
  t.equal(compileRegex({ pattern: value.pattern, flags: 'ig' }), first, 'g and y are dropped before the cache')
  t.not(compileRegex({ pattern: value.pattern, flags: '' }), first, 'other flags, another program')
  for (let i = 0; i < 1500; i++) compileRegex({ pattern: `^x${i}$`, flags: '' })
  t.not(compileRegex({ ...value }), first, 'the cache is bounded: a long unused pattern was compiled again')
  t.equal(compileRegex({ pattern: 'a(?=b)', flags: '' }), null, 'a pattern RE2 cannot compile is null')
})

t.test('a dry run with a pathological regex answers in linear time and the event loop keeps serving', { timeout: 120_000 }, async (t) => {
  const { app } = await buildTestApp(t)
  for (const pattern of PATHOLOGICAL) {
    // once on a short text first, so the timings below are not the first run's compilation
    const warm = await send(app, 'POST', '/v1/rulesets/dry-run', { source: ruleFor(pattern), events: [{ lead: { email: 'warm@example.com' }, type: 'page_view', properties: { x: 'aab' } }] })
    t.equal(warm.status, 200)
    const at = Date.now() - 60_000
    const events = [
      { lead: { email: 'redos@example.com' }, type: 'page_view', occurredAt: new Date(at).toISOString(), properties: { x: NO_MATCH } },
      { lead: { email: 'redos@example.com' }, type: 'page_view', occurredAt: new Date(at + 1000).toISOString(), properties: { x: MATCH } },
    ]
    const run = await whileServing(app, async () => await send(app, 'POST', '/v1/rulesets/dry-run', { source: ruleFor(pattern), events }))
    const dry = run.result
    t.equal(dry.status, 200, `/${pattern}/: ${JSON.stringify(dry.body).slice(0, 300)}`)
    t.same((dry.body.entries as Json[]).map((e) => e.delta), [0, 5], `/${pattern}/: no match on the adversarial text, a match on the other`)
    t.ok(run.ms < 1000, `/${pattern}/: the dry run took ${Math.round(run.ms)} ms`)
    t.ok(run.healthChecks > 0, `/${pattern}/: trivial requests were answered meanwhile (${run.healthChecks})`)
    t.ok(run.slowestHealthMs < 500, `/${pattern}/: the slowest trivial request took ${Math.round(run.slowestHealthMs)} ms`)
  }
})

t.test('live scoring and backtests run pathological regexes in linear time', { timeout: 300_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const source = PATHOLOGICAL.map((p, i) => ruleFor(p, `pathological ${i}`)).join('')
  const draft = await send(app, 'POST', '/v1/rulesets', { source })
  t.equal(draft.status, 201, JSON.stringify(draft.body).slice(0, 300))
  const pub = await send(app, 'POST', `/v1/rulesets/${draft.body.version as number}/publish`, {})
  t.equal(pub.status, 200, JSON.stringify(pub.body).slice(0, 300))

  const events = [
    { externalId: 'n1', lead: { email: 'adversary@example.com' }, type: 'page_view', properties: { x: NO_MATCH } },
    { externalId: 'n2', lead: { email: 'adversary@example.com' }, type: 'page_view', properties: { x: `${'a'.repeat(9_000)}!` } },
    { externalId: 'm1', lead: { email: 'matcher@example.com' }, type: 'page_view', properties: { x: MATCH } },
  ]
  const live = await whileServing(app, async () => {
    const res = await postEvents(app, { events })
    t.equal(res.json().accepted, events.length)
    await waitForScoring(db, 60_000)
  })
  t.ok(live.slowestHealthMs < 500, `the slowest trivial request during scoring took ${Math.round(live.slowestHealthMs)} ms`)
  const score = async (email: string): Promise<number | undefined> => (await db.c.leads.findOne({ email }))?.score
  t.equal(await score('adversary@example.com'), 0, 'neither rule fired on the adversarial texts')
  t.equal(await score('matcher@example.com'), 10, 'both rules fired on the matching text')

  // a backtest of a draft that also adds points for the adversarial texts' lead
  const candidate = `${source}${ruleFor('^a+!$', 'bang')}`
  const next = await send(app, 'POST', '/v1/rulesets', { source: candidate })
  t.equal(next.status, 201, JSON.stringify(next.body).slice(0, 300))
  const backtest = await whileServing(app, async () => {
    const start = await send(app, 'POST', `/v1/rulesets/${next.body.version as number}/backtest`, {})
    t.equal(start.status, 202)
    return await waitFor(async () => {
      const j = await send(app, 'GET', `/v1/backtests/${start.body.jobId as string}`)
      return j.body.status === 'done' || j.body.status === 'failed' ? j.body : null
    }, 'backtest')
  })
  t.equal(backtest.result.status, 'done', JSON.stringify(backtest.result).slice(0, 300))
  t.ok(backtest.slowestHealthMs < 500, `the slowest trivial request during the backtest took ${Math.round(backtest.slowestHealthMs)} ms`)
  const movers = backtest.result.result.movers as Json[]
  t.same(movers.map((m) => [m.email, m.before, m.after]), [['adversary@example.com', 0, 10]], 'only the bang rule changes a score')
})

/** Asserts a 400 LS_ERR_RULESET_INVALID whose diagnostics include `code` at `line`:`column`. */
function refusedWith (t: Test, res: { status: number; body: Json }, code: string, line: number, column: number, what: string): void {
  t.equal(res.status, 400, `${what}: refused (${JSON.stringify(res.body).slice(0, 300)})`)
  t.equal(res.body.code, 'LS_ERR_RULESET_INVALID', what)
  const d = (res.body.diagnostics as Json[] | undefined)?.find((x) => x.code === code)
  t.ok(d, `${what}: a ${code} diagnostic`)
  t.match(d?.range, { start: { line, column } }, `${what}: at ${line}:${column}`)
  t.equal(d?.severity, 'error', what)
}

t.test('patterns RE2 cannot run are refused at save, dry run and publish with diagnostics, never a 500', { timeout: 120_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const header = 'rule "ok" when event.type == "page_view" then +1\n'
  // the regex literal starts at column 44 of line 2, so a pattern's first character is at column 45
  const bad = (pattern: string, flags = ''): string => `${header}rule "bad" when event.properties.x matches /${pattern}/${flags} then +1\n`
  const screened: Array<[string, string, string, number]> = [
    ['a backreference', '(a)\\1', 'DSL055', 48],
    ['a lookahead', 'x(?=y)', 'DSL055', 46],
    ['a negative lookbehind', '(?<!x)y', 'DSL055', 45],
    ['an escape RE2 reads as an anchor', 'a\\z', 'DSL055', 46],
    ['a repeat count over 1000', 'x{1001}', 'DSL026', 46],
  ]
  for (const [what, pattern, code, column] of screened) {
    refusedWith(t, await send(app, 'POST', '/v1/rulesets', { source: bad(pattern) }), code, 2, column, `save: ${what}`)
    refusedWith(t, await send(app, 'POST', '/v1/rulesets/dry-run', { source: bad(pattern), events: [{ lead: { email: 'a@example.com' }, type: 'page_view' }] }), code, 2, column, `dry run: ${what}`)
  }
  // valid JavaScript that passes the rules language's screen, but RE2 has no such Unicode property: the server says so
  const greek = await send(app, 'POST', '/v1/rulesets', { source: bad('\\p{Script=Greek}', 'u') })
  refusedWith(t, greek, 'DSL025', 2, 44, 'a Unicode property RE2 does not know')
  t.match(greek.body.diagnostics.find((d: Json) => d.code === 'DSL025')?.message, /RE2/)
  const validated = await send(app, 'POST', '/v1/rulesets/validate', { source: bad('\\p{Script=Greek}', 'u') })
  t.equal(validated.status, 200)
  t.equal(validated.body.ok, false, 'validate reports it too')

  // rules given as JSON are checked the same way; the pointer names the pattern or the flags
  const json = (value: unknown): unknown => ({
    rules: [{ name: 'bad', conditions: { all: [{ fact: 'event', path: 'properties.x', operator: 'matches', value }] }, event: { type: 'score', params: { ruleId: 'bad', points: 1 } } }],
  })
  const jsonCases: Array<[string, unknown, string]> = [
    ['a lookahead', { pattern: 'x(?=y)', flags: '' }, 'pattern'],
    ['a backreference', { pattern: '(a)\\1' }, 'pattern'],
    ['an unknown Unicode property', { pattern: '\\p{Script=Greek}', flags: 'u' }, 'pattern'],
    ['invalid syntax', { pattern: '(' }, 'pattern'],
    ['a stateful flag', { pattern: 'a', flags: 'g' }, 'flags'],
    ['a repeated flag', { pattern: 'a', flags: 'ii' }, 'flags'],
  ]
  for (const [what, value, field] of jsonCases) {
    const res = await send(app, 'PUT', '/v1/rulesets/active', json(value))
    t.equal(res.status, 400, `JSON ${what}: refused`)
    t.equal(res.body.code, 'LS_ERR_RULESET_INVALID', `JSON ${what}`)
    t.ok((res.body.errors as Json[]).some((e) => e.pointer === `#/rules/0/conditions/all/0/value/${field}`), `JSON ${what}: points at the ${field} (${JSON.stringify(res.body.errors)})`)
  }
  const fine = await send(app, 'PUT', '/v1/rulesets/active', json({ pattern: '(?:\\w\\w?)+$', flags: 'i' }))
  t.equal(fine.status, 201, `a pathological pattern is accepted: RE2 runs it in linear time (${JSON.stringify(fine.body).slice(0, 300)})`)

  // a draft saved before RE2 (a lookahead then passed every check) cannot be published now
  const t0 = new Date()
  const draftSource = bad('x(?=y)')
  await db.c.rulesets.insertOne({
    _id: 'default:90', name: 'default', version: 90, status: 'draft', source: draftSource, author: 'db', note: null, createdAt: t0, publishedAt: null, basedOn: null, updatedAt: t0,
    settings: { caps: { total: 1000 }, floors: { total: 0 } },
    rules: [{ name: 'bad', priority: 1, conditions: { all: [{ fact: 'event', path: 'properties.x', operator: 'matches', value: { pattern: 'x(?=y)', flags: '' } }] }, event: { type: 'score', params: { ruleId: 'bad', action: 'add', points: 1 } } }],
  })
  const publish = await send(app, 'POST', '/v1/rulesets/90/publish', {})
  refusedWith(t, publish, 'DSL055', 2, 46, 'publishing an old draft with a lookahead')
  t.ok((publish.body.errors as Json[]).some((e) => e.pointer === '#/rules/0/conditions/all/0/value/pattern'), 'and the stored rule is named')
  t.equal((await db.c.rulesets.findOne({ _id: 'default:90' }))?.status, 'draft', 'the draft stays a draft')
})
