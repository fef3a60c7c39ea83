// Rate limits: each API key (else console user, else client address) has a budget per window for ingest routes and
// another for the rest of the API; over it the answer is 429 LS_ERR_RATE_LIMITED problem+json with Retry-After.
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildTestApp, AUTH, postEvents } from '../helpers/harness.js'

const LIMITS = { LEADSCORE_RATE_LIMIT_API: '5', LEADSCORE_RATE_LIMIT_INGEST: '3', LEADSCORE_RATE_LIMIT_WINDOW_MS: '60000' }

function assertLimited (t: Test, res: LightMyRequestResponse, what: string): void {
  t.equal(res.statusCode, 429, `${what}: 429`)
  t.match(res.headers['content-type'], /^application\/problem\+json/, `${what}: problem+json`)
  const retry = Number(res.headers['retry-after'])
  t.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `${what}: Retry-After is 1-60 s (${res.headers['retry-after']})`)
  const body = res.json<{ code: string; status: number; type: string; requestId: string }>()
  t.equal(body.code, 'LS_ERR_RATE_LIMITED', `${what}: code`)
  t.equal(body.status, 429)
  t.equal(body.type, '/problems/rate-limited')
  t.type(body.requestId, 'string')
}

async function newKey (app: FastifyInstance, scopes: string[]): Promise<Record<string, string>> {
  const res = await app.inject({ method: 'POST', url: '/v1/api-keys', headers: AUTH, payload: { name: `k-${scopes.join('-')}`, scopes } })
  if (res.statusCode !== 201) throw new Error(`key not created: ${res.statusCode} ${res.body}`)
  return { authorization: `Bearer ${res.json<{ key: string }>().key}` }
}

const event = (i: number) => ({ type: 'page_view', externalId: `rl-${i}`, lead: { email: `rl${i}@example.com` } })

t.test('a key over its API budget gets 429 with Retry-After; another key and the ingest budget are untouched', async (t) => {
  const { app } = await buildTestApp(t, LIMITS)
  // made with the other key, so the admin key's budget is still whole
  const other = await newKey(app, ['read', 'ingest'])
  const admin = await newKey(app, ['admin'])

  for (let i = 0; i < 5; i++) {
    const res = await app.inject({ url: '/v1/leads', headers: admin })
    t.equal(res.statusCode, 200, `request ${i + 1} of 5 is served`)
    t.equal(res.headers['x-ratelimit-remaining'], String(4 - i), 'the remaining budget is announced')
  }
  assertLimited(t, await app.inject({ url: '/v1/leads', headers: admin }), 'the 6th request')
  assertLimited(t, await app.inject({ url: '/v1/stats', headers: admin }), 'another API route with the same key')

  t.equal((await app.inject({ url: '/v1/leads', headers: other })).statusCode, 200, 'another key is not limited')
  // ingest has its own budget: the exhausted API budget does not stop the key's events
  for (let i = 0; i < 3; i++) t.equal((await postEvents(app, event(i), admin)).statusCode, 202, `event ${i + 1} of 3 is accepted`)
  assertLimited(t, await postEvents(app, event(3), admin), 'the 4th ingest request')
  t.equal((await postEvents(app, event(4), other)).statusCode, 202, 'the other key still ingests')
  // health probes are never limited
  for (let i = 0; i < 8; i++) t.equal((await app.inject({ url: '/healthz' })).statusCode, 200)
})

t.test('requests without a key are counted per client address', async (t) => {
  const { app } = await buildTestApp(t, LIMITS)
  const get = (remoteAddress: string) => app.inject({ url: '/problems/rate-limited', remoteAddress })
  for (let i = 0; i < 5; i++) t.equal((await get('10.0.0.1')).statusCode, 200)
  assertLimited(t, await get('10.0.0.1'), 'the 6th request from one address')
  t.equal((await get('10.0.0.2')).statusCode, 200, 'another address is not limited')
})

t.test('0 turns a limit off, and the 429 answer is in the OpenAPI document', async (t) => {
  const { app } = await buildTestApp(t, { ...LIMITS, LEADSCORE_RATE_LIMIT_API: '0' })
  for (let i = 0; i < 12; i++) {
    const res = await app.inject({ url: '/v1/leads', headers: AUTH })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-ratelimit-limit'], undefined, 'no rate limit headers')
  }
  const doc = (await app.inject({ url: '/docs/json' })).json<{ paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }>()
  t.ok('429' in doc.paths['/v1/events']!.post!.responses, 'POST /v1/events documents 429')
  t.notOk('429' in doc.paths['/v1/leads']!.get!.responses, 'an unlimited route does not')
})
