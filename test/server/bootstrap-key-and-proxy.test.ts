// A revoked bootstrap API key stays revoked when the app boots again with the same LEADSCORE_BOOTSTRAP_API_KEY, and
// LEADSCORE_TRUST_PROXY: with it, x-forwarded-for is the client address (sign-in throttle, request logs) and
// x-forwarded-proto: https gives a Secure session cookie; without it, both headers are ignored.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../server/src/app.js'
import { loadConfig } from '../../server/src/config.js'
import { openDatabase } from '../../server/src/infra/db.js'
import { ADMIN_KEY, AUTH, buildTestApp, freshDbName, testConfig, testMongoUri } from '../helpers/harness.js'

const ADMIN = { email: 'root@example.com', password: 'correct horse battery staple' }

t.test('LEADSCORE_TRUST_PROXY parsing', async (t) => {
  t.equal(loadConfig({}).trustProxy, false, 'off by default')
  t.equal(loadConfig({ LEADSCORE_TRUST_PROXY: 'off' }).trustProxy, false)
  t.equal(loadConfig({ LEADSCORE_TRUST_PROXY: 'true' }).trustProxy, true)
  t.equal(loadConfig({ LEADSCORE_TRUST_PROXY: '1' }).trustProxy, 1, '1 is one hop')
  t.equal(loadConfig({ LEADSCORE_TRUST_PROXY: '2' }).trustProxy, 2)
  t.same(loadConfig({ LEADSCORE_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,::1' }).trustProxy, ['10.0.0.0/8', '127.0.0.1', '::1'])
  for (const bad of ['proxy.example.com', '10.0.0.0/33', '1.2.3', 'true,false']) {
    t.throws(() => loadConfig({ LEADSCORE_TRUST_PROXY: bad }), { code: 'LS_ERR_CONFIG_INVALID' }, `${bad} is refused`)
  }
})

t.test('a revoked bootstrap key stays revoked at the next boot with the same value', async (t) => {
  const uri = await testMongoUri(t)
  const dbName = freshDbName()
  const db = await openDatabase(uri, dbName)
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const config = testConfig(uri, dbName)
  const first = await buildApp(config, { logger: false, database: db, startWorkers: false })
  await first.ready()
  t.equal((await first.inject({ url: '/v1/leads', headers: AUTH })).statusCode, 200, 'the bootstrap key works')
  const keys = (await first.inject({ url: '/v1/api-keys', headers: AUTH })).json() as { items: Array<{ id: string; name: string }> }
  const boot = keys.items.find((k) => k.name === 'bootstrap admin')!
  t.equal((await first.inject({ method: 'DELETE', url: `/v1/api-keys/${boot.id}`, headers: AUTH })).statusCode, 204, 'an admin revokes it')
  await first.close()

  const logs: string[] = []
  const second = await buildApp(config, { logger: { level: 'warn', stream: { write: (s: string) => { logs.push(s) } } }, database: db, startWorkers: false })
  await second.ready()
  t.teardown(async () => { await second.close() })
  const res = await second.inject({ url: '/v1/leads', headers: AUTH })
  t.equal(res.statusCode, 401, 'after a new boot with the same LEADSCORE_BOOTSTRAP_API_KEY it is still refused')
  t.ok(logs.some((l) => /LEADSCORE_BOOTSTRAP_API_KEY names a key that was revoked/.test(l) && /"level":40/.test(l)), 'a warning says so')
  t.notOk(logs.some((l) => l.includes(ADMIN_KEY)), 'the key itself is not logged')
})

/** An app with a console admin, logging requests into `logs`. */
async function app (t: Test, env: Record<string, string>, logs: string[]): Promise<FastifyInstance> {
  const { app } = await buildTestApp(t, { LEADSCORE_ADMIN_EMAIL: ADMIN.email, LEADSCORE_ADMIN_PASSWORD: ADMIN.password, ...env }, {
    startWorkers: false, logger: { level: 'info', stream: { write: (s: string) => { logs.push(s) } } },
  })
  return app
}

async function signIn (a: FastifyInstance, password: string, headers: Record<string, string>): Promise<{ status: number; cookie: string }> {
  const res = await a.inject({
    method: 'POST', url: '/v1/session', headers: { 'content-type': 'application/json', 'x-leadscore-csrf': '1', ...headers },
    payload: { email: ADMIN.email, password },
  })
  return { status: res.statusCode, cookie: String(res.headers['set-cookie'] ?? '') }
}

t.test('LEADSCORE_TRUST_PROXY=1: forwarded client address and protocol are used', async (t) => {
  const logs: string[] = []
  const a = await app(t, { LEADSCORE_TRUST_PROXY: '1' }, logs)
  const ok = await signIn(a, ADMIN.password, { 'x-forwarded-for': '198.51.100.9', 'x-forwarded-proto': 'https' })
  t.equal(ok.status, 200)
  t.match(ok.cookie, /; Secure/, 'a sign-in over https through the proxy gets a Secure cookie')
  t.ok(logs.some((l) => l.includes('"remoteAddress":"198.51.100.9"')), 'the request log shows the forwarded client address')
  const plain = await signIn(a, ADMIN.password, { 'x-forwarded-for': '198.51.100.10', 'x-forwarded-proto': 'http' })
  t.notMatch(plain.cookie, /Secure/, 'over plain http, no Secure')

  for (let i = 0; i < 5; i++) t.equal((await signIn(a, 'wrong password!', { 'x-forwarded-for': '203.0.113.7' })).status, 401)
  t.equal((await signIn(a, 'wrong password!', { 'x-forwarded-for': '203.0.113.7' })).status, 429, 'that client is throttled')
  t.equal((await signIn(a, 'wrong password!', { 'x-forwarded-for': '203.0.113.8' })).status, 401, 'another client behind the proxy is not')
})

t.test('without LEADSCORE_TRUST_PROXY the forwarded headers are ignored', async (t) => {
  const logs: string[] = []
  const a = await app(t, {}, logs)
  const ok = await signIn(a, ADMIN.password, { 'x-forwarded-for': '198.51.100.9', 'x-forwarded-proto': 'https' })
  t.equal(ok.status, 200)
  t.notMatch(ok.cookie, /Secure/, 'x-forwarded-proto is not believed')
  t.notOk(logs.some((l) => l.includes('198.51.100.9')), 'the request log shows the socket address')
  for (let i = 0; i < 5; i++) t.equal((await signIn(a, 'wrong password!', { 'x-forwarded-for': '203.0.113.7' })).status, 401)
  t.equal((await signIn(a, 'wrong password!', { 'x-forwarded-for': '203.0.113.8' })).status, 429, 'a forged x-forwarded-for does not escape the throttle')
})
