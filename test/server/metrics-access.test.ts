// GET /metrics needs credentials: the configured metrics token, or an admin API key or admin console session.
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildTestApp, AUTH } from '../helpers/harness.js'

const TOKEN = 'metrics-token-for-tests-0123456789'

function refused (t: Test, res: LightMyRequestResponse, status: number, code: string, what: string): void {
  t.equal(res.statusCode, status, `${what}: ${status}`)
  t.match(res.headers['content-type'], /^application\/problem\+json/, `${what}: problem+json`)
  t.equal(res.json<{ code: string }>().code, code, `${what}: ${code}`)
  t.notMatch(res.body, /leadscore_/, `${what}: no metric in the answer`)
}

function served (t: Test, res: LightMyRequestResponse, what: string): void {
  t.equal(res.statusCode, 200, `${what}: 200`)
  t.match(res.headers['content-type'], /^text\/plain/, `${what}: Prometheus text`)
  t.match(res.body, /# TYPE leadscore_http_requests_total counter/, `${what}: the metrics`)
  t.match(res.body, /# TYPE leadscore_http_request_duration_seconds histogram/, `${what}: request times`)
  t.match(res.body, /leadscore_http_request_duration_seconds_bucket\{method="GET",route="[^"]+",le="\+Inf"\} \d+/, `${what}: cumulative buckets`)
}

async function keyWith (app: FastifyInstance, scopes: string[]): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/v1/api-keys', headers: AUTH, payload: { name: 'metrics test', scopes } })
  if (res.statusCode !== 201) throw new Error(`key not created: ${res.statusCode} ${res.body}`)
  return res.json<{ key: string }>().key
}

async function sessionOf (app: FastifyInstance, role: 'admin' | 'viewer'): Promise<string> {
  const email = `${role}-metrics@example.com`
  const created = await app.inject({ method: 'POST', url: '/v1/users', headers: AUTH, payload: { email, role, password: 'pass-word-123' } })
  if (created.statusCode !== 201) throw new Error(`user not created: ${created.statusCode} ${created.body}`)
  const res = await app.inject({ method: 'POST', url: '/v1/session', headers: { 'x-leadscore-csrf': '1' }, payload: { email, password: 'pass-word-123' } })
  const cookie = res.headers['set-cookie']
  if (res.statusCode !== 200 || typeof cookie !== 'string') throw new Error(`sign-in failed: ${res.statusCode} ${res.body}`)
  return cookie.split(';')[0]!
}

t.test('without a metrics token, only admin keys and admin sessions read /metrics', async (t) => {
  const { app } = await buildTestApp(t)
  refused(t, await app.inject({ url: '/metrics' }), 401, 'LS_ERR_UNAUTHORIZED', 'no credentials')
  refused(t, await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } }), 401, 'LS_ERR_UNAUTHORIZED', 'a token that is not configured')
  refused(t, await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${await keyWith(app, ['read'])}` } }), 403, 'LS_ERR_FORBIDDEN', 'a read key')
  served(t, await app.inject({ url: '/metrics', headers: AUTH }), 'the admin key')
  served(t, await app.inject({ url: '/metrics', headers: { cookie: await sessionOf(app, 'admin') } }), 'an admin session')
  refused(t, await app.inject({ url: '/metrics', headers: { cookie: await sessionOf(app, 'viewer') } }), 403, 'LS_ERR_FORBIDDEN', 'a viewer session')
})

t.test('with LEADSCORE_METRICS_TOKEN, the token reads /metrics and so do admin keys', async (t) => {
  const { app } = await buildTestApp(t, { LEADSCORE_METRICS_TOKEN: TOKEN })
  refused(t, await app.inject({ url: '/metrics' }), 401, 'LS_ERR_UNAUTHORIZED', 'no credentials')
  refused(t, await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${TOKEN}x` } }), 401, 'LS_ERR_UNAUTHORIZED', 'a wrong token')
  refused(t, await app.inject({ url: '/metrics', headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` } }), 401, 'LS_ERR_UNAUTHORIZED', 'the token as Basic credentials')
  served(t, await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } }), 'the token')
  served(t, await app.inject({ url: '/metrics', headers: AUTH }), 'the admin key')
  // the token is for /metrics only, not an API key
  refused(t, await app.inject({ url: '/v1/stats', headers: { authorization: `Bearer ${TOKEN}` } }), 401, 'LS_ERR_UNAUTHORIZED', 'the token on /v1/stats')
})
