// Credentials on /v1/live, with real `ws` clients against a listening server: an open connection is closed (4401)
// soon after its session is signed out or its user disabled, or its key revoked (by this process or another one on
// the same database); API keys are refused in REST URLs; browsers open the socket with a single-use, short-lived
// ticket instead of a key in the URL; and request logs never show a ticket or a key from the URL.
import t from 'tap'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import WebSocket from 'ws'
import { buildTestApp, testConfig, AUTH, ADMIN_KEY } from '../helpers/harness.js'
import { buildApp } from '../../server/src/app.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const CSRF = { 'x-leadscore-csrf': '1' }
// the bound the issue sets: a connection outlives its credential by at most this long
const CLOSE_WITHIN_MS = 5000

async function listen (app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const a = app.server.address() as AddressInfo
  return `ws://127.0.0.1:${a.port}/v1/live`
}

interface Live { ws: WebSocket; closed: Promise<{ code: number; reason: string }>; pong: () => Promise<boolean> }

/** Opens a socket (rejecting with the status when the upgrade is refused) and checks that it answers a ping. */
async function open (url: string, headers: Record<string, string> = {}): Promise<Live> {
  const ws = new WebSocket(url, { headers, handshakeTimeout: 10_000 })
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => { ws.terminate(); reject(Object.assign(new Error(`upgrade refused with ${res.statusCode}`), { status: res.statusCode })) })
  })
  // other frames may come first (a socket opened with topics is sent `subscribed` once the server has read the feed's
  // position, which on a busy machine can follow the ping): the answer is the first pong within 15 s
  const pong = async (): Promise<boolean> => await new Promise((resolve) => {
    const onMessage = (d: Buffer): void => {
      if ((JSON.parse(d.toString()) as Json).type !== 'pong') return
      clearTimeout(timer)
      ws.off('message', onMessage)
      resolve(true)
    }
    const timer = setTimeout(() => { ws.off('message', onMessage); resolve(false) }, 15_000)
    ws.on('message', onMessage)
    ws.send(JSON.stringify({ op: 'ping' }))
  })
  return { ws, closed, pong }
}

/** The HTTP status of an upgrade that must be refused (101 when it was not). */
async function upgradeStatus (url: string, headers: Record<string, string> = {}): Promise<number> {
  try {
    const c = await open(url, headers)
    c.ws.close()
    return 101
  } catch (err) {
    return (err as { status?: number }).status ?? 0
  }
}

/** How the socket closed, and after how long, or null when it stayed open `ms`. */
async function closedWithin (c: Live, ms: number): Promise<{ code: number; reason: string; after: number } | null> {
  const started = Date.now()
  const r = await Promise.race([c.closed, new Promise<null>((resolve) => setTimeout(() => resolve(null), ms))])
  if (r === null) { c.ws.terminate(); return null }
  return { ...r, after: Date.now() - started }
}

function cookieOf (res: LightMyRequestResponse): string {
  const h = res.headers['set-cookie']
  const v = Array.isArray(h) ? h[0] : h
  if (typeof v !== 'string') throw new Error(`no set-cookie header (status ${res.statusCode}: ${res.body})`)
  return v.split(';')[0]!
}

/** Creates a user with `role` and signs them in; returns their id and session cookie. */
async function signedIn (app: FastifyInstance, email: string, role: 'admin' | 'author' | 'viewer' = 'viewer'): Promise<{ id: string; cookie: string }> {
  const created = await app.inject({ method: 'POST', url: '/v1/users', headers: AUTH, payload: { email, role, password: 'pass-word-123' } })
  if (created.statusCode !== 201) throw new Error(`create user: ${created.statusCode} ${created.body}`)
  const res = await app.inject({ method: 'POST', url: '/v1/session', headers: { ...CSRF, 'content-type': 'application/json' }, payload: { email, password: 'pass-word-123' } })
  if (res.statusCode !== 200) throw new Error(`login: ${res.statusCode} ${res.body}`)
  return { id: (created.json() as { id: string }).id, cookie: cookieOf(res) }
}

async function readKey (app: FastifyInstance, name = 'live reader'): Promise<{ id: string; key: string }> {
  const res = await app.inject({ method: 'POST', url: '/v1/api-keys', headers: AUTH, payload: { name, scopes: ['read'] } })
  if (res.statusCode !== 201) throw new Error(`create key: ${res.statusCode} ${res.body}`)
  return res.json() as { id: string; key: string }
}

async function ticket (app: FastifyInstance, headers: Record<string, string>): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/v1/live/tickets', headers })
}

t.test('a socket opened with a session cookie is closed when the session is signed out', { timeout: 60_000 }, async (t) => {
  const { app } = await buildTestApp(t)
  const url = await listen(app)
  const { cookie } = await signedIn(app, 'viewer@example.com')
  const c = await open(url, { cookie })
  t.equal(await c.pong(), true, 'the cookie opens a working socket')

  const out = await app.inject({ method: 'DELETE', url: '/v1/session', headers: { cookie, ...CSRF } })
  t.equal(out.statusCode, 204, 'signed out')
  const closed = await closedWithin(c, CLOSE_WITHIN_MS)
  t.ok(closed !== null, `closed within ${CLOSE_WITHIN_MS} ms of the sign-out`)
  t.match(closed, { code: 4401, reason: /no longer valid/ })
  t.equal(await upgradeStatus(url, { cookie }), 401, 'and the cookie opens no new one')
})

t.test('a socket of a user who is disabled is closed; their other users\' sockets stay', { timeout: 60_000 }, async (t) => {
  const { app } = await buildTestApp(t)
  const url = await listen(app)
  const gone = await signedIn(app, 'leaving@example.com')
  const stays = await signedIn(app, 'staying@example.com')
  const c = await open(url, { cookie: gone.cookie })
  const other = await open(url, { cookie: stays.cookie })
  t.equal(await c.pong(), true)

  const res = await app.inject({ method: 'PATCH', url: `/v1/users/${gone.id}`, headers: AUTH, payload: { disabled: true } })
  t.equal(res.statusCode, 200, 'disabled')
  t.match(await closedWithin(c, CLOSE_WITHIN_MS), { code: 4401 }, `the disabled user's socket is closed within ${CLOSE_WITHIN_MS} ms`)
  t.equal(await other.pong(), true, 'another user\'s socket still works')
  t.equal(other.ws.readyState, WebSocket.OPEN)
  other.ws.close()
})

t.test('a socket opened with an API key is closed when the key is revoked', { timeout: 60_000 }, async (t) => {
  const { app } = await buildTestApp(t)
  const url = await listen(app)
  const k = await readKey(app)
  const kept = await readKey(app, 'other reader')
  const c = await open(url, { authorization: `Bearer ${k.key}` })
  const other = await open(url, { authorization: `Bearer ${kept.key}` })
  t.equal(await c.pong(), true)

  const res = await app.inject({ method: 'DELETE', url: `/v1/api-keys/${k.id}`, headers: AUTH })
  t.equal(res.statusCode, 204, 'revoked')
  t.match(await closedWithin(c, CLOSE_WITHIN_MS), { code: 4401 }, `closed within ${CLOSE_WITHIN_MS} ms of the revocation`)
  t.equal(await other.pong(), true, 'a socket on another key still works')
  other.ws.close()
})

t.test('a revocation or sign-out made by another process closes the sockets here too', { timeout: 90_000 }, async (t) => {
  const { app, db, dbName, uri } = await buildTestApp(t)
  const url = await listen(app)
  // a second process on the same database (no workers): it ends the credentials, this one holds the sockets
  const other = await buildApp(testConfig(uri, dbName), { logger: false, database: db, startWorkers: false })
  await other.ready()
  t.teardown(async () => { await other.close() })

  const k = await readKey(app)
  const { cookie } = await signedIn(app, 'elsewhere@example.com')
  const byKey = await open(url, { authorization: `Bearer ${k.key}` })
  const bySession = await open(url, { cookie })
  t.equal(await byKey.pong(), true)
  t.equal(await bySession.pong(), true)

  t.equal((await other.inject({ method: 'DELETE', url: `/v1/api-keys/${k.id}`, headers: AUTH })).statusCode, 204)
  t.equal((await other.inject({ method: 'DELETE', url: '/v1/session', headers: { cookie, ...CSRF } })).statusCode, 204)
  const [a, b] = await Promise.all([closedWithin(byKey, CLOSE_WITHIN_MS), closedWithin(bySession, CLOSE_WITHIN_MS)])
  t.match(a, { code: 4401 }, 'the key\'s socket is closed within the bound')
  t.match(b, { code: 4401 }, 'the session\'s socket is closed within the bound')
})

t.test('REST routes refuse an API key in the URL', async (t) => {
  const { app } = await buildTestApp(t)
  const k = await readKey(app)
  const inUrl = await app.inject({ method: 'GET', url: `/v1/leads?access_token=${encodeURIComponent(k.key)}` })
  t.equal(inUrl.statusCode, 401, 'a valid key as ?access_token= is refused')
  t.match(inUrl.json(), { code: 'LS_ERR_UNAUTHORIZED', detail: /not accepted in the URL/ })
  t.equal(inUrl.json().instance, '/v1/leads?access_token=[redacted]', 'the problem does not echo the key')
  t.notOk(inUrl.body.includes(k.key), 'the key appears nowhere in the answer')
  const admin = await app.inject({ method: 'GET', url: `/v1/api-keys?access_token=${ADMIN_KEY}` })
  t.equal(admin.statusCode, 401, 'the admin key too')
  const ticketInUrl = await app.inject({ method: 'GET', url: '/v1/leads?ticket=lst_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' })
  t.equal(ticketInUrl.statusCode, 401, 'a ticket does not authenticate REST routes either')
  const header = await app.inject({ method: 'GET', url: '/v1/leads', headers: { authorization: `Bearer ${k.key}` } })
  t.equal(header.statusCode, 200, 'the same key in the Authorization header works')
})

t.test('a ticket opens one socket, once, before it expires, for the credential it was issued to', { timeout: 90_000 }, async (t) => {
  // a clock the test can move, to let tickets expire without waiting
  let skewMs = 0
  const { app } = await buildTestApp(t, {}, { now: () => new Date(Date.now() + skewMs) })
  const url = await listen(app)
  const k = await readKey(app)

  t.equal((await ticket(app, {})).statusCode, 401, 'a ticket needs a credential')
  const issued = await ticket(app, { authorization: `Bearer ${k.key}` })
  t.equal(issued.statusCode, 200)
  t.equal(issued.headers['cache-control'], 'no-store')
  const body = issued.json() as { ticket: string; expiresAt: string; expiresIn: number }
  t.match(body, { ticket: /^lst_[A-Za-z0-9_-]{40,}$/, expiresAt: String, expiresIn: Number })
  t.ok(body.expiresIn >= 25 && body.expiresIn <= 60, `valid 25-60 s (${body.expiresIn})`)

  const c = await open(`${url}?ticket=${body.ticket}`)
  t.equal(await c.pong(), true, 'the ticket opens a working socket, without any header')
  t.equal(await upgradeStatus(`${url}?ticket=${body.ticket}`), 401, 'used twice: refused')
  t.equal(await upgradeStatus(`${url}?ticket=lst_${'x'.repeat(43)}`), 401, 'an unknown ticket: refused')

  // two upgrades racing with one ticket: exactly one opens
  const race = (await ticket(app, AUTH)).json() as { ticket: string }
  const statuses = await Promise.all([upgradeStatus(`${url}?ticket=${race.ticket}`), upgradeStatus(`${url}?ticket=${race.ticket}`)])
  t.same(statuses.sort(), [101, 401], 'of two concurrent uses, one wins')

  const late = (await ticket(app, AUTH)).json() as { ticket: string }
  skewMs = 31_000
  t.equal(await upgradeStatus(`${url}?ticket=${late.ticket}`), 401, 'expired after 30 s: refused')
  skewMs = 0

  // a ticket stands on its key: revoked before the upgrade, it opens nothing; revoked after, its socket is closed
  const unused = (await ticket(app, { authorization: `Bearer ${k.key}` })).json() as { ticket: string }
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/api-keys/${k.id}`, headers: AUTH })).statusCode, 204)
  t.match(await closedWithin(c, CLOSE_WITHIN_MS), { code: 4401 }, 'the ticket\'s socket closes when its key is revoked')
  t.equal(await upgradeStatus(`${url}?ticket=${unused.ticket}`), 401, 'a ticket of a revoked key opens nothing')
})

t.test('a ticket from a session cookie needs the CSRF header and ends with the session', { timeout: 60_000 }, async (t) => {
  const { app } = await buildTestApp(t)
  const url = await listen(app)
  const { cookie } = await signedIn(app, 'browser@example.com')
  const noCsrf = await ticket(app, { cookie })
  t.equal(noCsrf.statusCode, 403, 'a cross-site form cannot get one')
  t.match(noCsrf.json(), { code: 'LS_ERR_CSRF' })
  const issued = await ticket(app, { cookie, ...CSRF })
  t.equal(issued.statusCode, 200)
  const c = await open(`${url}?ticket=${(issued.json() as { ticket: string }).ticket}`)
  t.equal(await c.pong(), true)
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/session', headers: { cookie, ...CSRF } })).statusCode, 204)
  t.match(await closedWithin(c, CLOSE_WITHIN_MS), { code: 4401 }, 'signed out: the ticket\'s socket is closed')
})

t.test('request logs show no ticket and no key from a WebSocket URL', { timeout: 60_000 }, async (t) => {
  const lines: string[] = []
  const stream = { write: (s: string) => { lines.push(s) } }
  const { app } = await buildTestApp(t, {}, { logger: { level: 'info', stream } })
  const url = await listen(app)
  const k = await readKey(app)
  const upgrades = (): Json[] => lines.map((l) => JSON.parse(l) as Json).filter((l) => typeof l.req?.url === 'string' && (l.req.url as string).startsWith('/v1/live?'))

  // the deprecated ?access_token= still opens the WebSocket (and only it); its key is not logged
  const legacy = await open(`${url}?access_token=${encodeURIComponent(k.key)}&since=0`)
  t.equal(await legacy.pong(), true)
  legacy.ws.close()
  t.ok(upgrades().some((l) => l.req.url === '/v1/live?access_token=[redacted]&since=0'), 'the key upgrade is logged with its key redacted')
  t.notOk(lines.join('\n').includes(k.key.slice(4)), 'the key appears in no log line')

  const issued = (await ticket(app, { authorization: `Bearer ${k.key}` })).json() as { ticket: string }
  const c = await open(`${url}?topics=leaderboard&ticket=${issued.ticket}`)
  t.equal(await c.pong(), true)
  c.ws.close()
  t.equal(await upgradeStatus(`${url}?ticket=${issued.ticket}`), 401)
  t.ok(upgrades().length >= 3, `the upgrades are logged (${upgrades().length} lines)`)
  t.ok(upgrades().some((l) => l.req.url === '/v1/live?topics=leaderboard&ticket=[redacted]'), 'the ticket upgrade is logged with its ticket redacted')
  const all = lines.join('\n')
  t.notOk(all.includes(issued.ticket.slice(4)), 'the ticket appears in no log line')
  t.notOk(all.includes(k.key.slice(4)), 'nor does the key')
})
