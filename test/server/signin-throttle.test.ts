// Sign-in under a burst, over real HTTP: attempts are counted as they arrive (before the password is hashed), so
// parallel guesses at one account are refused beyond the limit; password hashing is bounded process-wide, so a
// burst over many accounts is partly refused (429, Retry-After: 1) instead of starving the console's static files.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../helpers/harness.js'
import { LoginThrottle, type LoginAttempt } from '../../server/src/domain/auth/login-throttle.js'

const ADMIN = { email: 'root@example.com', password: 'correct horse battery staple' }
const ASSET = 'console static file\n'.repeat(200)

/** An app with a console directory (so static files are served) listening on a loopback port. */
async function start (t: Test): Promise<{ app: FastifyInstance; base: string }> {
  const ui = mkdtempSync(join(tmpdir(), 'ls-console-'))
  writeFileSync(join(ui, 'index.html'), '<!doctype html><title>Leadscore</title>')
  writeFileSync(join(ui, 'asset.txt'), ASSET)
  t.teardown(() => { rmSync(ui, { recursive: true, force: true }) })
  const { app } = await buildTestApp(t, { LEADSCORE_ADMIN_EMAIL: ADMIN.email, LEADSCORE_ADMIN_PASSWORD: ADMIN.password, LEADSCORE_CONSOLE_DIR: ui }, { startWorkers: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` }
}

interface Answer { status: number; code: string | null; detail: string | null; retryAfter: string | null; type: string | null }

async function signIn (base: string, email: string, password: string): Promise<Answer> {
  const res = await fetch(`${base}/v1/session`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-leadscore-csrf': '1' }, body: JSON.stringify({ email, password }),
  })
  const body = await res.json() as { code?: string; detail?: string }
  return { status: res.status, code: body.code ?? null, detail: body.detail ?? null, retryAfter: res.headers.get('retry-after'), type: res.headers.get('content-type') }
}

/**
 * Fetches the static file while the burst runs, together with /healthz: the health check needs no thread-pool work,
 * so it measures how loaded the machine itself is, while the static file also waits for a pool thread to read it.
 */
async function timeStatic (t: Test, base: string, afterMs: number): Promise<{ staticMs: number; healthMs: number }> {
  await new Promise((resolve) => setTimeout(resolve, afterMs))
  const timed = async (path: string): Promise<{ ms: number; status: number; body: string }> => {
    const t0 = performance.now()
    const res = await fetch(`${base}${path}`)
    const body = await res.text()
    return { ms: performance.now() - t0, status: res.status, body }
  }
  const [file, health] = await Promise.all([timed('/asset.txt'), timed('/healthz')])
  t.equal(file.status, 200, 'the static file is served during the burst')
  t.equal(file.body, ASSET)
  t.equal(health.status, 200)
  return { staticMs: file.ms, healthMs: health.ms }
}

/** The static file answers within 1 s, not counting what the machine's own load costs a plain health check. */
function assertNotStarved (t: Test, { staticMs, healthMs }: { staticMs: number; healthMs: number }): void {
  t.ok(staticMs - healthMs < 1000, `a static file answers quickly during the burst (${staticMs.toFixed(0)} ms; /healthz ${healthMs.toFixed(0)} ms)`)
}

const tally = (answers: Answer[]): Record<number, number> => {
  const out: Record<number, number> = {}
  for (const a of answers) out[a.status] = (out[a.status] ?? 0) + 1
  return out
}

t.test('100 parallel wrong guesses at one account: at most 5 are checked, the rest and the right password get 429', async (t) => {
  const { app, base } = await start(t)
  const burst = Promise.all(Array.from({ length: 100 }, async (_, i) => await signIn(base, ADMIN.email, `wrong-guess-${i}`)))
  const timing = await timeStatic(t, base, 100)
  const answers = await burst
  t.comment(`answers: ${JSON.stringify(tally(answers))}`)

  const verified = answers.filter((a) => a.status === 401)
  t.ok(verified.length >= 1 && verified.length <= 5, `at most 5 guesses reached password verification (got ${verified.length})`)
  t.ok(verified.every((a) => a.code === 'LS_ERR_LOGIN_FAILED'), 'those failed as wrong passwords')
  const refused = answers.filter((a) => a.status === 429)
  t.equal(refused.length, 100 - verified.length, 'every other guess was refused')
  for (const a of refused) {
    if (a.code !== 'LS_ERR_LOGIN_THROTTLED' || !(Number(a.retryAfter) > 0) || !(a.type ?? '').startsWith('application/problem+json')) {
      t.fail(`a refused guess is a problem+json LS_ERR_LOGIN_THROTTLED with Retry-After: ${JSON.stringify(a)}`)
      break
    }
  }
  assertNotStarved(t, timing)

  // the right password right after the burst, within the window: refused too
  const right = await signIn(base, ADMIN.email, ADMIN.password)
  t.equal(right.status, 429, 'the right password is refused within the window')
  t.equal(right.code, 'LS_ERR_LOGIN_THROTTLED')
  t.ok(Number(right.retryAfter) > 60, `Retry-After covers the window (${right.retryAfter ?? 'none'} s)`)

  // the account is not locked for other addresses
  const elsewhere = await app.inject({
    method: 'POST', url: '/v1/session', remoteAddress: '10.20.30.40', headers: { 'content-type': 'application/json', 'x-leadscore-csrf': '1' }, payload: ADMIN,
  })
  t.equal(elsewhere.statusCode, 200, 'another address signs in')
})

t.test('password hashing is bounded: a burst over many accounts is partly refused and never starves static files', async (t) => {
  const { base } = await start(t)
  // 60 accounts from one address: 50 are admitted by the per-address limit, which the hashing slots cannot all serve
  const burst = Promise.all(Array.from({ length: 60 }, async (_, i) => await signIn(base, `ghost-${i}@example.com`, 'not the password')))
  const timing = await timeStatic(t, base, 100)
  const answers = await burst
  t.comment(`answers: ${JSON.stringify(tally(answers))}`)

  t.ok(answers.every((a) => a.status === 401 || a.status === 429), 'each sign-in failed as such or was refused (no 5xx, no hang)')
  const busy = answers.filter((a) => a.status === 429 && a.retryAfter === '1')
  t.ok(busy.length > 0, `some sign-ins found no hashing slot and were told to retry in 1 s (${busy.length})`)
  t.ok(busy.every((a) => a.code === 'LS_ERR_LOGIN_THROTTLED' && (a.type ?? '').startsWith('application/problem+json')), 'as problem+json LS_ERR_LOGIN_THROTTLED')
  assertNotStarved(t, timing)

  // sign-ins refused for want of a slot were never checked, so they do not count against the address
  const right = await signIn(base, ADMIN.email, ADMIN.password)
  t.equal(right.status, 200, `the address may still sign in (${right.status} ${right.code ?? ''})`)
})

t.test('the throttle counts attempts when they start; a success forgets earlier failures, an unchecked attempt is not counted', async (t) => {
  let now = 1_000_000
  const throttle = new LoginThrottle(() => now, { perAccount: 3, perAddress: 5, windowMs: 60_000 })
  const admitted = (r: ReturnType<LoginThrottle['begin']>): LoginAttempt => {
    if ('retryAfter' in r) throw new Error(`refused for ${r.retryAfter} s`)
    return r
  }

  // three attempts still running fill the account's allowance: the fourth is refused before any of them ends
  const running = [0, 1, 2].map(() => admitted(throttle.begin('10.0.0.1', 'a@example.com')))
  const fourth = throttle.begin('10.0.0.1', 'a@example.com')
  t.ok('retryAfter' in fourth && fourth.retryAfter === 60, 'refused while three are in flight, for the window')
  t.notOk('retryAfter' in throttle.begin('10.0.0.2', 'a@example.com'), 'another address is counted apart')

  // one was never checked (no hashing slot): it gives its place back
  running[0]!.abandoned()
  const again = admitted(throttle.begin('10.0.0.1', 'a@example.com'))
  running[1]!.failed()
  // a success forgets the finished failures, not the attempt still running
  running[2]!.succeeded()
  now += 1000
  const more = [0, 1].map(() => admitted(throttle.begin('10.0.0.1', 'a@example.com')))
  t.ok('retryAfter' in throttle.begin('10.0.0.1', 'a@example.com'), 'the attempt still running and two new ones fill it again')
  for (const a of [again, ...more]) a.failed()

  // the address limit counts attempts at any email; it frees up when the window has passed
  admitted(throttle.begin('10.0.0.1', 'b@example.com')).failed()
  const perAddress = throttle.begin('10.0.0.1', 'c@example.com')
  t.ok('retryAfter' in perAddress, 'five attempts from the address: refused for any email')
  now += 60_001
  t.notOk('retryAfter' in throttle.begin('10.0.0.1', 'c@example.com'), 'admitted once the window passed')
})
