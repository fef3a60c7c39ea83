// Console users and sessions: sign-in sets a hardened cookie, failures look alike and are throttled, roles map to
// scopes (a viewer cannot replace the ruleset, an author can), cookie-authenticated writes need the CSRF header and a
// same-origin Origin, sign-out ends the session, the first admin is bootstrapped once, and /v1/live takes the cookie.
import t from 'tap'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import WebSocket from 'ws'
import { buildTestApp, testConfig, AUTH } from '../helpers/harness.js'
import { buildApp } from '../../server/src/app.js'
import { sessionCookie } from '../../server/src/http/auth.js'
import { hashPassword, verifyPassword } from '../../server/src/domain/auth/users.js'
import type { FastifyRequest } from 'fastify'

const ADMIN = { email: 'Root@Example.com', password: 'correct horse battery staple' }
const ENV = { LEADSCORE_ADMIN_EMAIL: ADMIN.email, LEADSCORE_ADMIN_PASSWORD: ADMIN.password }
const CSRF = { 'x-leadscore-csrf': '1' }

function setCookie (res: LightMyRequestResponse): string {
  const h = res.headers['set-cookie']
  const v = Array.isArray(h) ? h[0] : h
  if (typeof v !== 'string') throw new Error(`no set-cookie header (status ${res.statusCode}: ${res.body})`)
  return v
}

/** The `name=value` part of a Set-Cookie header, ready to send back as a Cookie header. */
function cookieOf (res: LightMyRequestResponse): string {
  return setCookie(res).split(';')[0]!
}

async function login (app: FastifyInstance, email: string, password: string, extra: Record<string, string> = {}, remoteAddress = '127.0.0.1') {
  return await app.inject({ method: 'POST', url: '/v1/session', headers: { ...CSRF, 'content-type': 'application/json', ...extra }, payload: { email, password }, remoteAddress })
}

async function createUser (app: FastifyInstance, email: string, role: 'admin' | 'author' | 'viewer', password = 'pass-word-123') {
  const res = await app.inject({ method: 'POST', url: '/v1/users', headers: AUTH, payload: { email, role, password } })
  if (res.statusCode !== 201) throw new Error(`create user: ${res.statusCode} ${res.body}`)
  return res.json() as { id: string; email: string; role: string }
}

async function signedIn (app: FastifyInstance, email: string, role: 'admin' | 'author' | 'viewer'): Promise<string> {
  await createUser(app, email, role)
  const res = await login(app, email, 'pass-word-123')
  if (res.statusCode !== 200) throw new Error(`login: ${res.statusCode} ${res.body}`)
  return cookieOf(res)
}

t.test('passwords are salted scrypt hashes, compared in constant time', async (t) => {
  const a = await hashPassword('s3cret-pass')
  const b = await hashPassword('s3cret-pass')
  t.match(a, /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/)
  t.not(a, b, 'a fresh salt per hash')
  t.equal(await verifyPassword('s3cret-pass', a), true)
  t.equal(await verifyPassword('s3cret-pasS', a), false)
  t.equal(await verifyPassword('s3cret-pass', 'garbage'), false)
})

t.test('sign-in: a hardened cookie, the user, and a session that GET /v1/session reads', async (t) => {
  const { app, db } = await buildTestApp(t, ENV)
  const res = await login(app, ' root@example.COM ', ADMIN.password)
  t.equal(res.statusCode, 200, 'signed in')
  const cookie = setCookie(res)
  t.match(cookie, /^ls_session=lss_[A-Za-z0-9_-]+;/)
  t.match(cookie, /; HttpOnly/)
  t.match(cookie, /; SameSite=Strict/)
  t.match(cookie, /; Path=\//)
  t.notMatch(cookie, /Secure/, 'no Secure flag over plain http')
  t.match(res.json(), { user: { email: 'root@example.com', role: 'admin' }, scopes: ['admin'] })
  t.notOk('passwordHash' in res.json().user, 'the hash is never returned')
  t.equal(res.headers['cache-control'], 'no-store')

  const token = cookieOf(res).slice('ls_session='.length)
  const stored = await db.c.sessions.find({}).toArray()
  t.equal(stored.length, 1)
  t.not(stored[0]!._id, token, 'the database holds a hash of the token, not the token')

  const me = await app.inject({ url: '/v1/session', headers: { cookie: cookieOf(res) } })
  t.equal(me.statusCode, 200)
  t.match(me.json(), { user: { email: 'root@example.com', role: 'admin' } })
  const anon = await app.inject({ url: '/v1/session' })
  t.equal(anon.statusCode, 401)
  t.match(anon.json(), { code: 'LS_ERR_UNAUTHORIZED' })

  // the cookie authenticates API calls, with the user's role
  const leads = await app.inject({ url: '/v1/leads', headers: { cookie: cookieOf(res) } })
  t.equal(leads.statusCode, 200)
  const keys = await app.inject({ url: '/v1/api-keys', headers: { cookie: cookieOf(res) } })
  t.equal(keys.statusCode, 200, 'an admin user may use admin routes')

  // Secure is added when the request came over https
  t.match(sessionCookie({ protocol: 'https' } as FastifyRequest, 'lss_x'), /; Secure$/)
  t.match(sessionCookie({ protocol: 'http' } as FastifyRequest, null), /^ls_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0$/)
})

t.test('failed sign-ins look alike, take alike, and are throttled', async (t) => {
  const { app } = await buildTestApp(t, ENV)
  const wrong = await login(app, ADMIN.email, 'not the password')
  const unknown = await login(app, 'nobody@example.com', 'not the password')
  for (const [what, r] of [['wrong password', wrong], ['unknown user', unknown]] as const) {
    t.equal(r.statusCode, 401, what)
    t.equal(r.headers['content-type'], 'application/problem+json; charset=utf-8')
    t.match(r.json(), { code: 'LS_ERR_LOGIN_FAILED', detail: 'The email or password is wrong' }, what)
    t.notOk(r.headers['set-cookie'], `${what}: no cookie`)
  }

  // an unknown email costs a password hash too (no fast path that tells which emails exist)
  const time = async (email: string, address: string): Promise<number> => {
    const t0 = process.hrtime.bigint()
    await login(app, email, 'not the password', {}, address)
    return Number(process.hrtime.bigint() - t0) / 1e6
  }
  const known: number[] = []
  const missing: number[] = []
  for (let i = 0; i < 3; i++) {
    known.push(await time(ADMIN.email, `10.1.0.${i}`))
    missing.push(await time(`ghost${i}@example.com`, `10.2.0.${i}`))
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[1]!
  t.ok(median(missing) > median(known) * 0.3, `unknown ${median(missing).toFixed(1)} ms vs known ${median(known).toFixed(1)} ms`)

  // throttling: 5 failures for one email from one address, then 429 with Retry-After, even for the right password
  const ip = '10.9.9.9'
  for (let i = 0; i < 5; i++) t.equal((await login(app, ADMIN.email, `bad-${i}`, {}, ip)).statusCode, 401)
  const throttled = await login(app, ADMIN.email, ADMIN.password, {}, ip)
  t.equal(throttled.statusCode, 429)
  t.match(throttled.json(), { code: 'LS_ERR_LOGIN_THROTTLED', status: 429 })
  t.ok(Number(throttled.headers['retry-after']) > 0, 'Retry-After is set')
  t.equal((await login(app, ADMIN.email, ADMIN.password, {}, '10.9.9.10')).statusCode, 200, 'another address is not affected')
})

t.test('roles map to scopes: a viewer cannot replace the ruleset, an author can', async (t) => {
  // no workers: the accepted re-score job only has to be queued (a running one keeps Agenda's 5-minute liveness timer)
  const { app } = await buildTestApp(t, ENV, { startWorkers: false })
  const viewer = await signedIn(app, 'viewer@example.com', 'viewer')
  const author = await signedIn(app, 'author@example.com', 'author')
  const active = (await app.inject({ url: '/v1/rulesets/active', headers: { cookie: viewer } }))
  t.equal(active.statusCode, 200, 'a viewer reads the ruleset')
  const body = { rules: active.json().rules, settings: active.json().settings, note: 'same rules again' }

  const refused = await app.inject({ method: 'PUT', url: '/v1/rulesets/active', headers: { cookie: viewer, ...CSRF }, payload: body })
  t.equal(refused.statusCode, 403)
  t.match(refused.json(), { code: 'LS_ERR_FORBIDDEN', status: 403 })

  const allowed = await app.inject({ method: 'PUT', url: '/v1/rulesets/active', headers: { cookie: author, ...CSRF }, payload: body })
  t.equal(allowed.statusCode, 201, 'an author publishes')
  t.match(allowed.json(), { version: 2, author: 'author@example.com', note: 'same rules again' })

  t.equal((await app.inject({ method: 'POST', url: '/v1/rescore', headers: { cookie: viewer, ...CSRF } })).statusCode, 403, 'viewer: no re-score')
  t.equal((await app.inject({ method: 'POST', url: '/v1/rescore', headers: { cookie: author, ...CSRF } })).statusCode, 202, 'author: re-score')
  t.equal((await app.inject({ url: '/v1/users', headers: { cookie: author } })).statusCode, 403, 'author: no user admin')
  t.equal((await app.inject({ url: '/v1/api-keys', headers: { cookie: author } })).statusCode, 403, 'author: no key admin')
  const ev = { lead: { email: 'x@example.com' }, type: 'page_view' }
  t.equal((await app.inject({ method: 'POST', url: '/v1/events', headers: { cookie: viewer, ...CSRF }, payload: ev })).statusCode, 403, 'viewer: no ingest')
  t.equal((await app.inject({ method: 'POST', url: '/v1/events', headers: { cookie: author, ...CSRF }, payload: ev })).statusCode, 202, 'author: ingest')

  // an API key with the new `rules` scope may publish too
  const key = await app.inject({ method: 'POST', url: '/v1/api-keys', headers: AUTH, payload: { name: 'ci', scopes: ['rules'] } })
  t.equal(key.statusCode, 201)
  const put = await app.inject({ method: 'PUT', url: '/v1/rulesets/active', headers: { authorization: `Bearer ${key.json().key}` }, payload: body })
  t.equal(put.statusCode, 201, 'a rules-scoped key publishes without any CSRF header')
})

t.test('cookie-authenticated writes need the CSRF header and a same-origin Origin', async (t) => {
  const { app } = await buildTestApp(t, ENV)
  const cookie = cookieOf(await login(app, ADMIN.email, ADMIN.password))
  const payload = { name: 'console key', scopes: ['read'] }
  const send = async (headers: Record<string, string>) => await app.inject({ method: 'POST', url: '/v1/api-keys', headers: { cookie, ...headers }, payload })

  const noHeader = await send({})
  t.equal(noHeader.statusCode, 403)
  t.match(noHeader.json(), { code: 'LS_ERR_CSRF', status: 403 })
  const wrongValue = await send({ 'x-leadscore-csrf': 'yes' })
  t.match(wrongValue.json(), { code: 'LS_ERR_CSRF' })
  const crossSite = await send({ ...CSRF, origin: 'https://evil.example' })
  t.equal(crossSite.statusCode, 403)
  t.match(crossSite.json(), { code: 'LS_ERR_CSRF' })
  const badOrigin = await send({ ...CSRF, origin: 'null' })
  t.match(badOrigin.json(), { code: 'LS_ERR_CSRF' }, 'an opaque origin is refused')
  const sameOrigin = await send({ ...CSRF, origin: 'http://localhost' })
  t.equal(sameOrigin.statusCode, 201, 'same origin with the header: allowed')
  const noOrigin = await send(CSRF)
  t.equal(noOrigin.statusCode, 201, 'no Origin (same-origin GET-like clients): the header suffices')

  t.equal((await app.inject({ url: '/v1/leads', headers: { cookie } })).statusCode, 200, 'reads need no header')
  // API keys are not cookies: no CSRF rule for them, even with a cookie alongside
  t.equal((await app.inject({ method: 'POST', url: '/v1/api-keys', headers: { ...AUTH, cookie }, payload })).statusCode, 201)

  // sign-in itself is protected against login CSRF
  const formLogin = await app.inject({ method: 'POST', url: '/v1/session', headers: { 'content-type': 'application/json' }, payload: ADMIN })
  t.equal(formLogin.statusCode, 403)
  t.match(formLogin.json(), { code: 'LS_ERR_CSRF' })
  const crossLogin = await login(app, ADMIN.email, ADMIN.password, { origin: 'https://evil.example' })
  t.match(crossLogin.json(), { code: 'LS_ERR_CSRF' })
})

t.test('sign-out ends the session for good', async (t) => {
  const { app, db } = await buildTestApp(t, ENV)
  const cookie = cookieOf(await login(app, ADMIN.email, ADMIN.password))
  const other = cookieOf(await login(app, ADMIN.email, ADMIN.password))
  t.equal((await app.inject({ url: '/v1/leads', headers: { cookie } })).statusCode, 200)

  const noCsrf = await app.inject({ method: 'DELETE', url: '/v1/session', headers: { cookie } })
  t.match(noCsrf.json(), { code: 'LS_ERR_CSRF' }, 'sign-out is a write too')
  const out = await app.inject({ method: 'DELETE', url: '/v1/session', headers: { cookie, ...CSRF } })
  t.equal(out.statusCode, 204)
  t.match(setCookie(out), /^ls_session=;.*Max-Age=0/)

  const after = await app.inject({ url: '/v1/leads', headers: { cookie } })
  t.equal(after.statusCode, 401)
  t.match(after.json(), { code: 'LS_ERR_UNAUTHORIZED' })
  t.equal((await app.inject({ url: '/v1/session', headers: { cookie } })).statusCode, 401)
  t.equal((await app.inject({ url: '/v1/leads', headers: { cookie: other } })).statusCode, 200, 'other sessions live on')
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/session', headers: { cookie } })).statusCode, 204, 'signing out twice is fine')

  // a new password ends every session of the user
  const admin = await db.c.users.findOne({ email: 'root@example.com' })
  const patch = await app.inject({ method: 'PATCH', url: `/v1/users/${admin!._id}`, headers: AUTH, payload: { password: 'another-password' } })
  t.equal(patch.statusCode, 200, 'password changed')
  t.equal((await app.inject({ url: '/v1/leads', headers: { cookie: other } })).statusCode, 401)
  t.equal((await login(app, ADMIN.email, 'another-password')).statusCode, 200)
})

t.test('the first admin is created once: from the environment, else admin@localhost with a printed password', async (t) => {
  const fromEnv = await buildTestApp(t, ENV)
  t.same(fromEnv.app.initialAdminUser, { email: 'root@example.com', password: null }, 'from env: no password to print')
  t.equal((await login(fromEnv.app, ADMIN.email, ADMIN.password)).statusCode, 200)
  const users = await fromEnv.db.c.users.find({}).toArray()
  t.equal(users.length, 1)
  t.match(users[0], { email: 'root@example.com', role: 'admin', disabled: false })

  // a second start on the same database creates nobody
  const again = await buildApp(testConfig(fromEnv.uri, fromEnv.dbName, { LEADSCORE_ADMIN_EMAIL: 'other@example.com', LEADSCORE_ADMIN_PASSWORD: 'other-password' }), { logger: false, database: fromEnv.db })
  t.teardown(async () => { await again.close() })
  t.equal(again.initialAdminUser, null)
  t.equal(await fromEnv.db.c.users.countDocuments({}), 1)

  const generated = await buildTestApp(t)
  const created = generated.app.initialAdminUser
  t.equal(created?.email, 'admin@localhost')
  t.type(created?.password, 'string')
  t.ok((created?.password ?? '').length >= 20, 'a long random password')
  t.equal((await login(generated.app, 'admin@localhost', created!.password!)).statusCode, 200)
})

t.test('user administration is admin-only and keeps one admin', async (t) => {
  const { app } = await buildTestApp(t, ENV)
  const viewer = await createUser(app, 'v@example.com', 'viewer')
  t.equal((await app.inject({ method: 'POST', url: '/v1/users', headers: AUTH, payload: { email: 'V@example.com', role: 'author', password: 'pass-word-123' } })).json().code, 'LS_ERR_USER_EXISTS')
  t.equal((await app.inject({ method: 'POST', url: '/v1/users', headers: AUTH, payload: { email: 'short@example.com', role: 'author', password: 'short' } })).statusCode, 400)
  const list = await app.inject({ url: '/v1/users', headers: AUTH })
  t.same(list.json().items.map((u: { email: string }) => u.email), ['root@example.com', 'v@example.com'])

  const promoted = await app.inject({ method: 'PATCH', url: `/v1/users/${viewer.id}`, headers: AUTH, payload: { role: 'author', name: 'Vera' } })
  t.match(promoted.json(), { role: 'author', name: 'Vera' })

  const root = list.json().items.find((u: { email: string }) => u.email === 'root@example.com')
  const demote = await app.inject({ method: 'PATCH', url: `/v1/users/${root.id}`, headers: AUTH, payload: { role: 'viewer' } })
  t.equal(demote.statusCode, 409)
  t.match(demote.json(), { code: 'LS_ERR_LAST_ADMIN' })
  t.match((await app.inject({ method: 'DELETE', url: `/v1/users/${root.id}`, headers: AUTH })).json(), { code: 'LS_ERR_LAST_ADMIN' })

  const disable = await app.inject({ method: 'PATCH', url: `/v1/users/${viewer.id}`, headers: AUTH, payload: { disabled: true } })
  t.equal(disable.statusCode, 200)
  t.match((await login(app, 'v@example.com', 'pass-word-123')).json(), { code: 'LS_ERR_LOGIN_FAILED' }, 'a disabled user cannot sign in')
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/users/${viewer.id}`, headers: AUTH })).statusCode, 204)
  t.match((await app.inject({ method: 'DELETE', url: `/v1/users/${viewer.id}`, headers: AUTH })).json(), { code: 'LS_ERR_USER_NOT_FOUND' })
  const audit = await app.inject({ url: '/v1/audit-log', headers: AUTH })
  t.ok(audit.json().items.some((a: { action: string }) => a.action === 'user.create'), 'user changes are audited')
})

t.test('/v1/live accepts the session cookie, still checking the origin', async (t) => {
  const { app } = await buildTestApp(t, ENV)
  const cookie = cookieOf(await login(app, ADMIN.email, ADMIN.password))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const url = `ws://127.0.0.1:${port}/v1/live`

  const ws = new WebSocket(url, { headers: { cookie }, origin: `http://127.0.0.1:${port}` })
  const frame = await new Promise<Record<string, unknown>>((resolve, reject) => {
    ws.once('open', () => ws.send(JSON.stringify({ op: 'subscribe', topics: ['leaderboard'] })))
    ws.once('message', (d: Buffer) => resolve(JSON.parse(d.toString()) as Record<string, unknown>))
    ws.once('error', reject)
  })
  t.match(frame, { type: 'subscribed', topics: ['leaderboard'] })
  ws.close()

  const status = async (headers: Record<string, string>, origin?: string): Promise<number> => await new Promise((resolve) => {
    const w = new WebSocket(url, { headers, ...(origin !== undefined ? { origin } : {}) })
    w.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); w.terminate() })
    w.once('open', () => { resolve(101); w.close() })
    w.once('error', () => resolve(-1))
  })
  t.equal(await status({}), 401, 'no cookie, no key')
  t.equal(await status({ cookie: 'ls_session=lss_not_a_real_session_token_at_all' }), 401, 'unknown session')
  t.equal(await status({ cookie }, 'https://evil.example'), 403, 'a foreign page cannot ride on the cookie')
})
