// Credentials on /v1/live, with real `ws` clients against a listening server: an open connection is closed (4401)
// soon after its session is signed out or its user disabled, or its key revoked (by this process or another one on
// the same database).
import t from 'tap'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import WebSocket from 'ws'
import { buildTestApp, testConfig, AUTH } from '../helpers/harness.js'
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
  const pong = async (): Promise<boolean> => await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 5000)
    ws.once('message', (d: Buffer) => { clearTimeout(timer); resolve((JSON.parse(d.toString()) as Json).type === 'pong') })
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
