// Run-time configured sources: the admin API (create, read, change, delete, rotate), secrets that are shown once and
// write-only afterwards, the audit trail, counters, boot checks of plugins and stored instances, instances that
// survive a restart on the same database, and the poller of pull sources (cursor, backoff, permanent failure).
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { buildApp } from '../../server/src/app.js'
import { openDatabase } from '../../server/src/infra/db.js'
import { defineSourcePlugin, PermanentSourceError, TransientSourceError, type EventInput } from '../../server/src/contracts/index.js'
import { buildTestApp, testMongoUri, freshDbName, testConfig, AUTH } from '../helpers/harness.js'
import { createSource, getSource, listen, post, standardHeaders, waitForStats, keyWithScopes, TestClock } from '../helpers/sources.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const JSON_HEADERS = { ...AUTH, 'content-type': 'application/json' }
const demo = (email: string): string => JSON.stringify({ type: 'demo_request', data: { email } })

t.test('a source is created with its secret shown once; reads never return it; changes are audited', async (t) => {
  const { app } = await buildTestApp(t)
  const created = await createSource(app, { type: 'webhook', name: 'CRM', config: { toleranceSeconds: 120 } })
  const secret = created.secretValues.signingSecret as string
  t.match(created, {
    id: /^src_/, type: 'webhook', name: 'CRM', enabled: true, rev: 1, createdBy: 'bootstrap admin', polls: false,
    config: { adapter: 'standard', toleranceSeconds: 120, maxBodyBytes: 262144 },
    secrets: [{ name: 'signingSecret', versions: [{ expiresAt: null }] }],
    stats: { deliveries: 0, accepted: 0, duplicates: 0, rejected: 0, lastError: null, lastPoll: null },
  })
  t.notOk('signingSecret' in created.config, 'the config never carries the secret')
  const id = created.id as string

  const one = await app.inject({ url: `/v1/sources/${id}`, headers: AUTH })
  const list = await app.inject({ url: '/v1/sources', headers: AUTH })
  t.equal(one.statusCode, 200)
  t.equal(list.json().items.length, 1)
  for (const body of [one.body, list.body]) t.notOk(body.includes(secret) || body.includes(secret.slice(6, 30)), 'no read returns the secret')
  t.notOk('secretValues' in one.json())

  const types = await app.inject({ url: '/v1/source-types', headers: AUTH })
  t.equal(types.statusCode, 200)
  const webhook = types.json().items.find((x: Json) => x.id === 'webhook')
  t.match(webhook, { version: '1.0.0', contract: 1, secrets: ['signingSecret'], configSchema: { type: 'object', properties: { adapter: {}, mapping: {} } } })

  const renamed = await app.inject({ method: 'PATCH', url: `/v1/sources/${id}`, headers: JSON_HEADERS, payload: JSON.stringify({ name: 'CRM (prod)', config: { toleranceSeconds: 60 } }) })
  t.equal(renamed.statusCode, 200)
  t.match(renamed.json(), { name: 'CRM (prod)', rev: 2, config: { toleranceSeconds: 60 } })
  t.notOk(renamed.body.includes(secret))

  const rotated = await app.inject({ method: 'POST', url: `/v1/sources/${id}/rotate-secret`, headers: JSON_HEADERS, payload: JSON.stringify({ overlapSeconds: 3600 }) })
  t.equal(rotated.statusCode, 200)
  t.equal(rotated.headers['cache-control'], 'no-store')
  const r = rotated.json()
  t.match(r, { id, name: 'signingSecret', value: /^whsec_/, previousExpiresAt: String })
  t.not(r.value, secret)
  t.equal(r.secrets[0].versions.length, 2, 'both values are valid during the overlap')
  const after = await app.inject({ url: `/v1/sources/${id}`, headers: AUTH })
  t.notOk(after.body.includes(r.value as string) || after.body.includes(secret), 'neither value is readable afterwards')

  const del = await app.inject({ method: 'DELETE', url: `/v1/sources/${id}`, headers: AUTH })
  t.equal(del.statusCode, 204)
  t.match((await app.inject({ url: `/v1/sources/${id}`, headers: AUTH })).json(), { code: 'LS_ERR_SOURCE_NOT_FOUND', status: 404 })
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/sources/${id}`, headers: AUTH })).statusCode, 404)

  const audit = (await app.inject({ url: '/v1/audit-log', headers: AUTH })).json().items as Json[]
  const mine = audit.filter((a) => a.target === id).map((a) => a.action as string).sort()
  t.same(mine, ['source.create', 'source.delete', 'source.rotate_secret', 'source.update'])
  t.notOk(JSON.stringify(audit).includes(secret) || JSON.stringify(audit).includes(r.value as string), 'the audit log holds no secret')
  t.match(audit.find((a) => a.action === 'source.update'), { actor: 'bootstrap admin', details: { name: 'CRM (prod)', configKeys: ['toleranceSeconds'] } })
})

t.test('only admins change sources; the read scope (viewers) sees them', async (t) => {
  const { app } = await buildTestApp(t)
  const src = await createSource(app, { type: 'webhook', name: 'x' })
  const id = src.id as string
  const secret = src.secretValues.signingSecret as string
  for (const scopes of [['ingest'], ['read'], ['rules'], ['ingest', 'read', 'rules']]) {
    const h = await keyWithScopes(app, scopes)
    for (const [method, url] of [['POST', '/v1/sources'], ['PATCH', `/v1/sources/${id}`], ['DELETE', `/v1/sources/${id}`], ['POST', `/v1/sources/${id}/rotate-secret`], ['POST', `/v1/sources/${id}/poll`]] as const) {
      const res = await app.inject({ method, url, headers: { ...h, 'content-type': 'application/json' }, payload: method === 'DELETE' ? undefined : JSON.stringify(method === 'PATCH' ? { enabled: false } : method === 'POST' && url === '/v1/sources' ? { type: 'webhook', name: 'y' } : {}) })
      t.equal(res.statusCode, 403, `${scopes.join('+')}: ${method} ${url} is forbidden`)
      t.equal(res.json().code, 'LS_ERR_FORBIDDEN')
    }
    for (const url of ['/v1/sources', `/v1/sources/${id}`, `/v1/sources/${id}/errors`, '/v1/source-types']) {
      const res = await app.inject({ url, headers: h })
      t.equal(res.statusCode, scopes.includes('read') ? 200 : 403, `${scopes.join('+')}: GET ${url}`)
      t.notOk(res.body.includes(secret) || res.body.includes(secret.slice(6, 30)), 'no read returns the secret')
    }
  }
  const anon = await app.inject({ method: 'POST', url: '/v1/sources', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ type: 'webhook', name: 'y' }) })
  t.equal(anon.statusCode, 401)
  t.equal((await app.inject({ url: '/v1/sources' })).statusCode, 401, 'reading needs a key or a session')
  const after = await getSource(app, id)
  t.match(after, { name: 'x', enabled: true, rev: 1 }, 'nothing was changed')
  t.equal((await app.inject({ url: '/v1/sources', headers: AUTH })).json().items.length, 1, 'nothing was created or deleted')
})

t.test('configs are validated against the plugin\'s manifest', async (t) => {
  const { app } = await buildTestApp(t)
  const create = async (body: Json) => await app.inject({ method: 'POST', url: '/v1/sources', headers: JSON_HEADERS, payload: JSON.stringify(body) })
  t.match((await create({ type: 'nope', name: 'x' })).json(), { status: 400, code: 'LS_ERR_SOURCE_TYPE_UNKNOWN' })
  const bad: Array<[Json, RegExp]> = [
    [{ adapter: 'paypal' }, /adapter/],
    [{ toleranceSeconds: 0 }, /toleranceSeconds/],
    [{ unknownKey: 1 }, /unknownKey|additional/i],
    [{ signingSecret: 'not-a-whsec-secret' }, /whsec_/],
    [{ mapping: { email: 'a..b' } }, /mapping/],
    [{ mapping: { nope: 'x' } }, /mapping/],
    [{ signingSecret: 42 }, /secret must be a string/],
  ]
  for (const [config, why] of bad) {
    const res = await create({ type: 'webhook', name: 'x', config })
    t.equal(res.statusCode, 400, JSON.stringify(config))
    t.equal(res.json().code, 'LS_ERR_SOURCE_CONFIG_INVALID')
    t.match(res.json().detail, why)
  }
  t.match((await create({ type: 'webhook', name: 'x', extra: 1 })).json(), { status: 400, code: 'LS_ERR_VALIDATION' })
  const proto = await app.inject({ method: 'POST', url: '/v1/sources', headers: JSON_HEADERS, payload: '{"type":"webhook","name":"x","config":{"__proto__":{"a":1}}}' })
  t.match(proto.json(), { status: 400, code: 'LS_ERR_FORBIDDEN_KEY' })
  t.equal((await app.inject({ url: '/v1/sources', headers: AUTH })).json().items.length, 0, 'nothing invalid was stored')

  const ok = await createSource(app, { type: 'webhook', name: 'ok' })
  const patch = await app.inject({ method: 'PATCH', url: `/v1/sources/${ok.id as string}`, headers: JSON_HEADERS, payload: JSON.stringify({ config: { adapter: 'github', toleranceSeconds: 99999 } }) })
  t.match(patch.json(), { status: 400, code: 'LS_ERR_SOURCE_CONFIG_INVALID' })
  t.equal((await getSource(app, ok.id as string)).rev, 1, 'a refused change changes nothing')
  const unknownSecret = await app.inject({ method: 'POST', url: `/v1/sources/${ok.id as string}/rotate-secret`, headers: JSON_HEADERS, payload: JSON.stringify({ name: 'nope' }) })
  t.match(unknownSecret.json(), { status: 400, code: 'LS_ERR_SOURCE_SECRET_INVALID' })
  const notPolled = await app.inject({ method: 'POST', url: `/v1/sources/${ok.id as string}/poll`, headers: AUTH })
  t.match(notPolled.json(), { status: 409, code: 'LS_ERR_SOURCE_NOT_POLLED' })
})

t.test('secret rotation: both secrets verify during the overlap, only the new one after it', async (t) => {
  const clock = new TestClock()
  const { app } = await buildTestApp(t, {}, { now: clock.now })
  const base = await listen(app)
  const src = await createSource(app, { type: 'webhook', name: 'rotating' })
  const id = src.id as string
  const url = `${base}/v1/sources/${id}/webhook`
  const s1 = src.secretValues.signingSecret as string
  const send = async (secrets: string[], msgId: string): Promise<number> => {
    const body = demo(`${msgId}@example.com`)
    const headers = standardHeaders(secrets, msgId, clock.unix(), body)
    return (await post(url, body, headers)).status
  }
  t.equal(await send([s1], 'r0'), 202)
  const rot = await app.inject({ method: 'POST', url: `/v1/sources/${id}/rotate-secret`, headers: JSON_HEADERS, payload: JSON.stringify({ overlapSeconds: 600 }) })
  const s2 = rot.json().value as string
  t.equal(await send([s1], 'r1'), 202, 'the old secret during the overlap')
  t.equal(await send([s2], 'r2'), 202, 'the new secret')
  t.equal(await send([s1, s2], 'r3'), 202, 'both')
  clock.advance(601_000)
  t.equal(await send([s1], 'r4'), 401, 'the old secret after the overlap')
  t.equal(await send([s2], 'r5'), 202, 'the new secret after the overlap')
  t.equal(await send([s1, s2], 'r6'), 202, 'both, after the overlap')
  const view = await getSource(app, id)
  t.equal(view.secrets[0].versions.length, 1, 'only the new value is listed as valid')

  // a supplied value, and an immediate replacement through PATCH (no overlap)
  const s3 = `whsec_${Buffer.alloc(32, 3).toString('base64')}`
  const sup = await app.inject({ method: 'POST', url: `/v1/sources/${id}/rotate-secret`, headers: JSON_HEADERS, payload: JSON.stringify({ value: s3, overlapSeconds: 0 }) })
  t.equal(sup.json().value, s3)
  t.equal(await send([s2], 'r7'), 401, 'overlap 0: the previous value stops at once')
  t.equal(await send([s3], 'r8'), 202)
  const s4 = `whsec_${Buffer.alloc(32, 4).toString('base64')}`
  const p = await app.inject({ method: 'PATCH', url: `/v1/sources/${id}`, headers: JSON_HEADERS, payload: JSON.stringify({ config: { signingSecret: s4 } }) })
  t.equal(p.statusCode, 200)
  t.notOk(p.body.includes(s4))
  t.equal(await send([s3], 'r9'), 401)
  t.equal(await send([s4], 'r10'), 202)
  const badValue = await app.inject({ method: 'POST', url: `/v1/sources/${id}/rotate-secret`, headers: JSON_HEADERS, payload: JSON.stringify({ value: 'not-base64-whsec' }) })
  t.match(badValue.json(), { status: 400, code: 'LS_ERR_SOURCE_CONFIG_INVALID' }, 'a rotated value is validated like the config')
})

t.test('counters add up, a disabled source answers 503, a deleted one 404', async (t) => {
  const { app } = await buildTestApp(t)
  const base = await listen(app)
  const src = await createSource(app, { type: 'webhook', name: 'counted' })
  const id = src.id as string
  const url = `${base}/v1/sources/${id}/webhook`
  const secret = src.secretValues.signingSecret as string
  const now = Math.floor(Date.now() / 1000)
  const ok = demo('c1@example.com')
  t.equal((await post(url, ok, standardHeaders(secret, 'c1', now, ok))).status, 202)
  t.equal((await post(url, ok, standardHeaders(secret, 'c1', now, ok))).status, 200)
  const noLead = JSON.stringify({ type: 'demo_request', data: {} })
  t.equal((await post(url, noLead, standardHeaders(secret, 'c2', now, noLead))).status, 202)
  t.equal((await post(url, ok, { ...standardHeaders(secret, 'c3', now, ok), 'webhook-signature': 'v1,' + 'B'.repeat(43) + '=' })).status, 401)
  const stats = await waitForStats(app, id, (s) => s.deliveries === 4)
  t.match(stats, { deliveries: 4, accepted: 1, duplicates: 1, rejected: 2, rejectedDeliveries: 1, lastError: { code: 'LS_ERR_WEBHOOK_SIGNATURE' } })
  t.equal(stats.accepted + stats.duplicates + stats.rejected, 4, 'submitted = accepted + duplicates + rejected')

  await app.inject({ method: 'PATCH', url: `/v1/sources/${id}`, headers: JSON_HEADERS, payload: JSON.stringify({ enabled: false }) })
  const off = await post(url, ok, standardHeaders(secret, 'c4', now, ok))
  t.match(off, { status: 503, body: { code: 'LS_ERR_SOURCE_DISABLED' } })
  t.equal(off.headers.get('retry-after'), '60')
  await app.inject({ method: 'PATCH', url: `/v1/sources/${id}`, headers: JSON_HEADERS, payload: JSON.stringify({ enabled: true }) })
  t.equal((await post(url, ok, standardHeaders(secret, 'c4', now, ok))).status, 202, 'enabled again')

  await app.inject({ method: 'DELETE', url: `/v1/sources/${id}`, headers: AUTH })
  t.match(await post(url, ok, standardHeaders(secret, 'c5', now, ok)), { status: 404, body: { code: 'LS_ERR_SOURCE_NOT_FOUND' } })
})

t.test('a source survives a restart on the same database; stored instances are checked at boot', async (t) => {
  const uri = await testMongoUri(t)
  const dbName = freshDbName()
  const db = await openDatabase(uri, dbName)
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const config = testConfig(uri, dbName)

  const a = await buildApp(config, { logger: false, database: db })
  await a.ready()
  const src = await createSource(a, { type: 'webhook', name: 'durable', config: { mapping: { fixedType: 'page_view', email: 'who' } } })
  const id = src.id as string
  const secret = src.secretValues.signingSecret as string
  const body = JSON.stringify({ who: 'durable@example.com' })
  const first = await a.inject({ method: 'POST', url: `/v1/sources/${id}/webhook`, headers: standardHeaders(secret, 'd1', Math.floor(Date.now() / 1000), body), payload: body })
  t.equal(first.statusCode, 202)
  await a.close()

  const b = await buildApp(config, { logger: false, database: db })
  await b.ready()
  t.teardown(async () => { await b.close() })
  const view = await getSource(b, id)
  t.match(view, { name: 'durable', config: { mapping: { fixedType: 'page_view' } }, stats: { deliveries: 1, accepted: 1 } }, 'config and counters survived')
  const again = await b.inject({ method: 'POST', url: `/v1/sources/${id}/webhook`, headers: standardHeaders(secret, 'd1', Math.floor(Date.now() / 1000), body), payload: body })
  t.match(again.json(), { duplicate: true }, 'the secret still verifies and the delivery id is still known')
  const next = await b.inject({ method: 'POST', url: `/v1/sources/${id}/webhook`, headers: standardHeaders(secret, 'd2', Math.floor(Date.now() / 1000), body), payload: body })
  t.equal(next.statusCode, 202)
  const s = await waitForStats(b, id, (x) => x.deliveries === 3)
  t.match(s, { accepted: 2, duplicates: 1 })

  // a stored instance the server cannot run stops the boot, naming it
  await db.c.pluginInstances.updateOne({ _id: id }, { $set: { 'config.toleranceSeconds': 'soon' } })
  await t.rejects(buildApp(config, { logger: false, database: db }), { code: 'LS_ERR_PLUGIN_INVALID', message: new RegExp(id) })
  await db.c.pluginInstances.updateOne({ _id: id }, { $unset: { 'config.toleranceSeconds': '' }, $set: { type: 'uninstalled_thing' } })
  await t.rejects(buildApp(config, { logger: false, database: db }), { code: 'LS_ERR_PLUGIN_INVALID', message: /not installed/ })
})

t.test('plugins are checked at boot', async (t) => {
  const uri = await testMongoUri(t)
  const dbName = freshDbName()
  const db = await openDatabase(uri, dbName)
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const config = testConfig(uri, dbName)
  const ok = { kind: 'source', manifest: { id: 'ok_source', version: '1.0.0', contract: 1, config: Type.Object({}) }, http: { routes: [{ method: 'POST', url: '/ok', handle: async () => [] }] } }
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['wrong contract', { ...ok, manifest: { ...ok.manifest, contract: 2 } }, 'LS_ERR_PLUGIN_INVALID', /contract 2/],
    ['bad id', { ...ok, manifest: { ...ok.manifest, id: 'Bad-Id' } }, 'LS_ERR_PLUGIN_INVALID', /lower_snake/],
    ['bad version', { ...ok, manifest: { ...ok.manifest, version: 'one' } }, 'LS_ERR_PLUGIN_INVALID', /semver/],
    ['config not TypeBox', { ...ok, manifest: { ...ok.manifest, config: { type: 'object' } } }, 'LS_ERR_PLUGIN_INVALID', /TypeBox/],
    ['secret not in config', { ...ok, manifest: { ...ok.manifest, secrets: ['token'] } }, 'LS_ERR_PLUGIN_INVALID', /token/],
    ['no trigger', { kind: 'source', manifest: ok.manifest }, 'LS_ERR_PLUGIN_INVALID', /http, poll or batch/],
    ['bad route', { ...ok, http: { routes: [{ method: 'GET', url: '/ok', handle: async () => [] }] } }, 'LS_ERR_PLUGIN_INVALID', /POST or PUT/],
    ['reserved route', { ...ok, http: { routes: [{ method: 'POST', url: '/rotate-secret', handle: async () => [] }] } }, 'LS_ERR_PLUGIN_CONFLICT', /host/],
    ['route of the webhook source', { ...ok, http: { routes: [{ method: 'POST', url: '/webhook', handle: async () => [] }] } }, 'LS_ERR_PLUGIN_CONFLICT', /webhook/],
    ['id of the webhook source', { ...ok, manifest: { ...ok.manifest, id: 'webhook' } }, 'LS_ERR_PLUGIN_CONFLICT', /webhook/],
    ['bad poll period', { kind: 'source', manifest: ok.manifest, poll: { every: '10ms', fetch: async () => ({ events: [], cursor: null }) } }, 'LS_ERR_PLUGIN_INVALID', /at least 1s/],
    ['unknown kind', { ...ok, kind: 'sink' }, 'LS_ERR_PLUGIN_INVALID', /kind/],
  ]
  for (const [name, plugin, code, message] of cases) {
    await t.rejects(buildApp(config, { logger: false, database: db, plugins: [plugin] }), { code, message }, name)
  }
  await t.rejects(buildApp(testConfig(uri, dbName, { LEADSCORE_PLUGINS: '@leadscore/no-such-plugin' }), { logger: false, database: db }), { code: 'LS_ERR_PLUGIN_INVALID', message: /cannot be imported/ })
  const fine = await buildApp(config, { logger: false, database: db, plugins: [ok] })
  t.teardown(async () => { await fine.close() })
  await fine.ready()
  t.pass('a valid plugin boots')
})

// A pull source fed by an in-memory remote (a fixture the test controls).
const remote = { pages: [] as EventInput[][], fail: null as null | 'transient' | 'permanent', fetches: 0 }
const feed = defineSourcePlugin({
  kind: 'source',
  manifest: {
    id: 'test_feed', version: '1.0.0', contract: 1, secrets: ['token'],
    config: Type.Object({ every: Type.String({ default: '1h' }), token: Type.String({ minLength: 4 }) }, { additionalProperties: false }),
  },
  poll: {
    every: (c) => c.every,
    async fetch (cursor, ctx) {
      remote.fetches++
      if (ctx.config.token.length < 4) throw new Error('no token')
      if (remote.fail === 'transient') throw new TransientSourceError('the feed is busy', { retryAfterMs: 2000 })
      if (remote.fail === 'permanent') throw new PermanentSourceError('the feed was deleted', { code: 'TEST_FEED_ERR_GONE' })
      const i = cursor === null ? 0 : Number(cursor)
      await ctx.state.set('lastCursor', String(i))
      if (i >= remote.pages.length) return { events: [], cursor }
      return { events: remote.pages[i]!, cursor: String(i + 1), more: i + 1 < remote.pages.length }
    },
  },
})
const page = (n: number, from: number): EventInput[] => Array.from({ length: n }, (_, k) => ({ externalId: `f-${from + k}`, lead: { email: `feed${from + k}@example.com` }, type: 'page_view' }))

t.test('pull sources: scheduled and on demand, cursor after ingest, backoff on transient failures, stop on permanent ones', async (t) => {
  remote.pages = [page(3, 0), page(2, 3)]
  const { app, db } = await buildTestApp(t, {}, { plugins: [feed] })
  const src = await createSource(app, { type: 'test_feed', name: 'feed', config: { every: '1h' } })
  const id = src.id as string
  t.equal(src.polls, true)
  t.match(src.secretValues.token, /^[A-Za-z0-9_-]{43}$/, 'a default secret was generated')
  // the first poll runs right after creation and follows `more` through both pages
  const first = await waitForStats(app, id, (s) => s.lastPoll?.status === 'ok')
  t.match(first, { accepted: 5, lastPoll: { status: 'ok', events: 5 } })
  t.ok(new Date(first.lastPoll.nextAt as string).getTime() > Date.now() + 3_500_000, 'the next poll is a period away')
  t.equal(await db.c.events.countDocuments({ sourceId: id }), 5)
  t.equal((await db.c.sourceState.findOne({ _id: `${id}/~cursor` }))?.value, '2', 'the cursor moved past both pages')
  t.equal((await db.c.sourceState.findOne({ _id: `${id}/lastCursor` }))?.value, '1', 'the plugin\'s own state is namespaced by instance')

  remote.pages.push(page(2, 5))
  const more = await app.inject({ method: 'POST', url: `/v1/sources/${id}/poll`, headers: AUTH })
  t.match(more.json(), { status: 'ok', events: 2, pages: 1 })
  t.equal(await db.c.events.countDocuments({ sourceId: id }), 7)

  remote.fail = 'transient'
  const busy = await app.inject({ method: 'POST', url: `/v1/sources/${id}/poll`, headers: AUTH })
  t.match(busy.json(), { status: 'retrying', error: { code: 'LS_ERR_SOURCE_UNAVAILABLE', message: 'the feed is busy' } })
  const s1 = await waitForStats(app, id, (s) => s.lastPoll?.status === 'retrying')
  t.match(s1.lastError, { code: 'LS_ERR_SOURCE_UNAVAILABLE' })

  remote.fail = 'permanent'
  const gone = await app.inject({ method: 'POST', url: `/v1/sources/${id}/poll`, headers: AUTH })
  t.match(gone.json(), { status: 'failed', error: { code: 'TEST_FEED_ERR_GONE' } })
  const fetches = remote.fetches
  const s2 = await waitForStats(app, id, (s) => s.lastPoll?.status === 'failed')
  t.match(s2, { lastPoll: { status: 'failed', nextAt: null, error: { code: 'TEST_FEED_ERR_GONE' } } })
  const problems = (await app.inject({ url: `/v1/sources/${id}/errors`, headers: AUTH })).json().items as Json[]
  t.match(problems[0], { kind: 'poll', code: 'TEST_FEED_ERR_GONE', message: 'the feed was deleted', requestId: null, index: null }, 'the newest problem is the failed poll')
  t.ok(problems.some((p) => p.kind === 'poll' && p.code === 'LS_ERR_SOURCE_UNAVAILABLE' && p.message === 'the feed is busy'), 'the retried poll is listed too')
  const stored = JSON.parse((await db.c.sourceState.findOne({ _id: `${id}/~poll` }))!.value) as Json
  t.equal(stored.failedRev, 1, 'the failure is remembered for this config revision')

  // a config change re-arms it; an on-demand poll forces a run
  remote.fail = null
  remote.pages.push(page(1, 7))
  await app.inject({ method: 'PATCH', url: `/v1/sources/${id}`, headers: JSON_HEADERS, payload: JSON.stringify({ config: { every: '2h' } }) })
  const back = await app.inject({ method: 'POST', url: `/v1/sources/${id}/poll`, headers: AUTH })
  t.match(back.json(), { status: 'ok', events: 1 })
  t.ok(remote.fetches > fetches)
  t.equal(await db.c.events.countDocuments({ sourceId: id }), 8, 'nothing lost, nothing twice')

  // a second instance has its own cursor
  const other = await createSource(app, { type: 'test_feed', name: 'feed 2', config: { token: 'abcd' } })
  const o = await waitForStats(app, other.id as string, (s) => s.lastPoll?.status === 'ok')
  t.match(o, { accepted: 8 }, 'the second instance read the feed from its start')
  t.equal((await db.c.sourceState.findOne({ _id: `${id}/~cursor` }))?.value, '4')
})
