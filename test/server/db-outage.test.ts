// A database outage: once the database server is gone, requests that need it answer 503 LS_ERR_DB_UNAVAILABLE with
// Retry-After (temporary, retry later), never 500 LS_ERR_INTERNAL.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LightMyRequestResponse } from 'fastify'
import { buildApp } from '../../server/src/app.js'
import { startFerretDb } from '../../server/src/infra/ferretdb.js'
import { AUTH, freshDbName, testConfig } from '../helpers/harness.js'

function unavailable (t: Test, res: LightMyRequestResponse, what: string): void {
  t.equal(res.statusCode, 503, `${what}: 503 (${res.body.slice(0, 200)})`)
  t.match(res.headers['content-type'], /^application\/problem\+json/, `${what}: problem+json`)
  t.equal(res.headers['retry-after'], '2', `${what}: Retry-After`)
  t.equal(res.json<{ code: string }>().code, 'LS_ERR_DB_UNAVAILABLE', `${what}: code`)
}

t.test('requests that need the database answer 503 LS_ERR_DB_UNAVAILABLE once its server stopped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'leadscore-outage-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  // a database server of this test's own, so stopping it harms no other test
  const ferret = await startFerretDb({ dataDir: dir })
  t.teardown(async () => { await ferret.stop() })
  const app = await buildApp(testConfig(`${ferret.uri}?serverSelectionTimeoutMS=2000`, freshDbName(), { LEADSCORE_WORKER: '0' }), { logger: false, startWorkers: false })
  t.teardown(async () => { await app.close() })
  await app.ready()

  const post = async (payload: unknown) => await app.inject({ method: 'POST', url: '/v1/events', headers: { ...AUTH, 'content-type': 'application/json' }, payload: JSON.stringify(payload) })
  const batch = (n: number) => ({ events: Array.from({ length: 5 }, (_, i) => ({ type: 'page_view', lead: { email: `outage${n}-${i}@example.com` } })) })
  t.equal((await post(batch(0))).statusCode, 202, 'events are stored while the database runs')

  await ferret.stop()
  unavailable(t, await post(batch(1)), 'POST /v1/events (a batch)')
  // an invalid event is still recorded as a reject, with a batch write: the driver wraps the network error in a
  // MongoBulkWriteError
  unavailable(t, await post({ type: 'page_view' }), 'POST /v1/events (an invalid event)')
  unavailable(t, await post([{ type: 'page_view' }]), 'POST /v1/events (not an object)')
  unavailable(t, await app.inject({ url: '/v1/leads', headers: AUTH }), 'GET /v1/leads (a read)')
  unavailable(t, await app.inject({ url: '/v1/leads/ld_unknown', headers: AUTH }), 'GET /v1/leads/:id')
  unavailable(t, await app.inject({ url: '/readyz' }), 'GET /readyz')
  // authenticating a key not seen before needs the database too
  unavailable(t, await app.inject({ url: '/v1/leads', headers: { authorization: 'Bearer lsk_not_cached_key_0123456789' } }), 'a key not seen before')
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'liveness does not need the database')
})
