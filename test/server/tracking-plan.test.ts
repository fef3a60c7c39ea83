// Tracking plans: per event type a JSON Schema for properties and a mode (off, warn, enforce); versioned, admin-only
// writes, audited; violations counted per type and source at write time. Real FerretDB, real HTTP through inject.
import t from 'tap'
import { buildTestApp, postEvents, testConfig, AUTH } from '../helpers/harness.js'
import { buildApp } from '../../server/src/app.js'

const demoSchema = {
  type: 'object',
  properties: {
    plan: { type: 'string', enum: ['free', 'pro', 'team'] },
    seats: { type: 'integer', minimum: 1 },
    code: { type: 'string', pattern: '^[A-Z]{3}-\\d+$' },
  },
  required: ['plan'],
}

const put = async (app: Awaited<ReturnType<typeof buildTestApp>>['app'], type: string, body: unknown, headers: Record<string, string> = AUTH) =>
  await app.inject({ method: 'PUT', url: `/v1/tracking-plan/types/${encodeURIComponent(type)}`, headers, payload: body as Record<string, unknown> })

const ev = (id: string, properties: Record<string, unknown>, type = 'demo_request') => ({ externalId: id, lead: { email: `${id}@plan.example` }, type, properties })

t.test('off, warn and enforce: what is stored, answered and counted', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  t.same((await app.inject({ url: '/v1/tracking-plan', headers: AUTH })).json(), { version: 0, author: null, note: null, createdAt: null, types: [], properties: [] }, 'no plan before the first save')

  // off: declared but not checked
  t.equal((await put(app, 'demo_request', { mode: 'off', schema: demoSchema })).statusCode, 200)
  let r = await postEvents(app, { events: [ev('off-1', { plan: 'gold' })] })
  t.match(r.json(), { submitted: 1, accepted: 1, rejected: 0 })
  t.notOk(r.json().results[0].warnings, 'mode off: no warnings')

  // warn: stored, flagged on the event and in the answer
  t.equal((await put(app, 'demo_request', { mode: 'warn', schema: demoSchema, note: 'warn first' })).statusCode, 200)
  r = await postEvents(app, { events: [ev('warn-1', { plan: 'gold', seats: 0 }), ev('warn-2', { plan: 'pro', seats: 3 })] })
  t.match(r.json(), { submitted: 2, accepted: 2, duplicates: 0, rejected: 0 })
  const [flagged, clean] = r.json().results
  t.same(flagged.warnings.map((w: { pointer: string }) => w.pointer).sort(), ['#/properties/plan', '#/properties/seats'], 'every violation, pointed at')
  t.equal(flagged.warnings[0].code, 'LS_ERR_PROPERTIES_SCHEMA')
  t.notOk(clean.warnings, 'a matching event has no warnings')
  const stored = await db.c.events.findOne({ _id: flagged.eventId })
  t.match(stored?.planViolations, { planVersion: 2, violations: [{ pointer: '#/properties/plan' }, { pointer: '#/properties/seats' }] }, 'the stored event carries the flag')
  const out = (await app.inject({ url: `/v1/events/${flagged.eventId as string}`, headers: AUTH })).json()
  t.match(out.planViolations, { planVersion: 2 }, 'and the API shows it')
  // a redelivery is a duplicate and not counted again
  r = await postEvents(app, ev('warn-1', { plan: 'gold', seats: 0 }))
  t.match(r.json(), { accepted: 0, duplicates: 1 })

  // enforce: a stored reject with the schema error; siblings are stored; a single event is answered 400
  t.equal((await put(app, 'demo_request', { mode: 'enforce', schema: demoSchema })).statusCode, 200)
  r = await postEvents(app, { events: [ev('enf-1', { seats: 2 }), ev('enf-2', { plan: 'team' }), ev('enf-3', { plan: 'pro', code: 'abc' })] })
  t.match(r.json(), { submitted: 3, accepted: 1, duplicates: 0, rejected: 2 })
  t.match(r.json().results[0], { status: 'rejected', error: { code: 'LS_ERR_PROPERTIES_SCHEMA', pointer: '#/properties/plan' } }, 'a missing property is pointed at itself')
  t.match(r.json().results[2], { status: 'rejected', error: { code: 'LS_ERR_PROPERTIES_SCHEMA', pointer: '#/properties/code' } }, 'a pattern (on RE2)')
  const single = await postEvents(app, ev('enf-4', { plan: 7 }))
  t.equal(single.statusCode, 400)
  t.match(single.json(), { code: 'LS_ERR_PROPERTIES_SCHEMA', submitted: 1, rejected: 1 })
  const rejects = await db.c.ingestRejects.find({ code: 'LS_ERR_PROPERTIES_SCHEMA' }).toArray()
  t.equal(rejects.length, 3, 'each reject is stored with its reason')
  t.ok(rejects.every((j) => /tracking plan version 3/.test(j.reason)), 'the reason names the plan version')
  t.ok(rejects.some((j) => j.raw.includes('enf-1')), 'with the event as received')

  // types the plan does not declare pass unchecked
  r = await postEvents(app, ev('other-1', { anything: true }, 'page_view'))
  t.equal(r.statusCode, 202)

  // other sources are checked and counted apart
  const crm = await app.core.ingest.submit([ev('crm-1', { plan: 'x' }), ev('crm-2', { plan: 'pro' })], { sourceId: 'crm', requestId: 'rq-crm' })
  t.match(crm, { submitted: 2, accepted: 1, rejected: 1 })

  const v = (await app.inject({ url: '/v1/tracking-plan/violations', headers: AUTH })).json()
  t.equal(v.planVersion, 3)
  const api = v.items.find((i: { sourceId: string }) => i.sourceId === 'api')
  const crmCount = v.items.find((i: { sourceId: string }) => i.sourceId === 'crm')
  t.match(api, { type: 'demo_request', warned: 1, rejected: 3, lastPointer: '#/properties/plan', lastPlanVersion: 3 })
  t.match(crmCount, { type: 'demo_request', warned: 0, rejected: 1 })
  t.equal(v.items.length, 2, 'only types with violations, per source')
  // counters are kept in documents keyed by `_id`, one per process slot
  const docs = await db.c.trackingViolations.find({}).toArray()
  t.ok(docs.length >= 1 && docs.every((d) => d._id.startsWith('viol:')))
})

t.test('versions: each save is a new version with author and time; old ones stay readable; writes are admin-only and audited', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const first = await app.inject({ method: 'PUT', url: '/v1/tracking-plan', headers: AUTH, payload: { types: [{ type: 'signup', mode: 'warn', schema: { type: 'object', properties: { plan: { type: 'string' } } } }], note: 'v1' } })
  t.equal(first.statusCode, 200)
  t.match(first.json(), { version: 1, note: 'v1', types: [{ type: 'signup', mode: 'warn' }], properties: [{ name: 'plan', types: ['string'], eventTypes: ['signup'] }] })
  t.ok(typeof first.json().author === 'string' && first.json().createdAt !== null)
  const second = await put(app, 'demo_request', { mode: 'enforce', schema: demoSchema })
  t.match(second.json(), { version: 2 })
  t.same(second.json().types.map((x: { type: string }) => x.type), ['signup', 'demo_request'], 'a per-type save keeps the other types')
  t.same(second.json().properties.map((p: { name: string }) => p.name), ['code', 'plan', 'seats'])
  const del = await app.inject({ method: 'DELETE', url: '/v1/tracking-plan/types/signup', headers: AUTH })
  t.match(del.json(), { version: 3, types: [{ type: 'demo_request' }] })
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/tracking-plan/types/signup', headers: AUTH })).json().code, 'LS_ERR_TRACKING_PLAN_NOT_FOUND')

  const list = (await app.inject({ url: '/v1/tracking-plan/versions', headers: AUTH })).json()
  t.same(list.items.map((x: { version: number }) => x.version), [3, 2, 1], 'newest first')
  t.same((await app.inject({ url: '/v1/tracking-plan/versions?limit=1&before=3', headers: AUTH })).json().items.map((x: { version: number }) => x.version), [2])
  t.match((await app.inject({ url: '/v1/tracking-plan/versions/1', headers: AUTH })).json(), { version: 1, note: 'v1', types: [{ type: 'signup' }] })
  t.equal((await app.inject({ url: '/v1/tracking-plan/versions/9', headers: AUTH })).statusCode, 404)

  // optimistic concurrency for whole-plan saves
  const stale = await app.inject({ method: 'PUT', url: '/v1/tracking-plan', headers: AUTH, payload: { types: [], baseVersion: 2 } })
  t.equal(stale.statusCode, 409)
  t.equal(stale.json().code, 'LS_ERR_TRACKING_PLAN_CONFLICT')

  // a schema Ajv cannot compile (unknown keyword, bad pattern) is refused before anything is saved
  const bad = await put(app, 'x', { mode: 'warn', schema: { type: 'object', properties: { a: { type: 'strin' } } } })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'LS_ERR_TRACKING_PLAN_INVALID')
  const typo = await put(app, 'x', { mode: 'warn', schema: { type: 'object', propertys: {} } })
  t.equal(typo.json().code, 'LS_ERR_TRACKING_PLAN_INVALID', 'an unknown keyword is refused, not ignored')
  const lookahead = await put(app, 'x', { mode: 'warn', schema: { type: 'object', properties: { a: { type: 'string', pattern: '^(?=a)' } } } })
  t.equal(lookahead.json().code, 'LS_ERR_TRACKING_PLAN_INVALID', 'a pattern RE2 cannot run is refused')
  t.equal((await app.inject({ url: '/v1/tracking-plan', headers: AUTH })).json().version, 3, 'nothing was saved')

  // writes need admin; reads need read
  const key = (await app.inject({ method: 'POST', url: '/v1/api-keys', headers: AUTH, payload: { name: 'author', scopes: ['read', 'rules', 'ingest'] } })).json().key as string
  const other = { authorization: `Bearer ${key}` }
  t.equal((await put(app, 'y', { mode: 'warn', schema: { type: 'object' } }, other)).statusCode, 403)
  t.equal((await app.inject({ url: '/v1/tracking-plan', headers: other })).statusCode, 200)

  const audit = await db.c.auditLog.find({ action: /^tracking-plan\./ }).toArray()
  t.same(audit.map((a) => a.action).sort(), ['tracking-plan.replace', 'tracking-plan.type.delete', 'tracking-plan.type.put'])
  t.same(audit.map((a) => a.target).sort(), ['tracking-plan:1', 'tracking-plan:2', 'tracking-plan:3'])
})

t.test('the plan is read from a cache: another process sees a save within its check interval', async (t) => {
  const { app } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const { createTrackingPlanService } = await import('../../server/src/domain/events/tracking-plan.js')
  // a second service over the same collection stands for another server process
  let ms = 0
  const other = createTrackingPlanService({ plans: app.mongo.c.trackingPlans, now: () => new Date(), checkMs: 1000, clock: () => ms })
  t.equal((await other.current()).version, 0)
  await put(app, 'demo_request', { mode: 'enforce', schema: demoSchema })
  ms = 999
  const cached = await other.current()
  t.equal(cached.version, 0, 'within the interval the cached plan is used')
  ms = 1000
  const fresh = await other.current()
  t.equal(fresh.version, 1, 'after it, the new version')
  t.same(fresh.check('demo_request', { plan: 'pro' }), { mode: 'enforce', violations: [] })
  t.equal(fresh.check('demo_request', { plan: 'gold' })?.violations[0]?.pointer, '#/properties/plan')
  t.equal(fresh.check('page_view', {}), null, 'an undeclared type is not checked')
  t.equal(await other.current(), fresh, 'the same compiled plan while nothing changes')
  ms = 5000
  t.equal(await other.current(), fresh, 'and after a check that finds no newer version')
})

t.test('two processes counting at once lose no count: each writes its own slot document', async (t) => {
  const { app, db, uri, dbName } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const second = await buildApp(testConfig(uri, dbName, { LEADSCORE_WORKER: '0' }), { logger: false, database: db })
  await second.ready()
  t.teardown(async () => { await second.close() })
  await put(app, 'demo_request', { mode: 'warn', schema: demoSchema })
  // 30 single-event requests to each process, all at once, every one flagged
  const sends = Array.from({ length: 60 }, async (_, i) => await postEvents(i % 2 === 0 ? app : second, ev(`par-${i}`, { plan: 'gold' })))
  const answers = await Promise.all(sends)
  t.ok(answers.every((r) => r.json().accepted === 1 && r.json().results[0].warnings.length === 1), 'every event stored with its warning')
  const v = (await second.inject({ url: '/v1/tracking-plan/violations', headers: AUTH })).json()
  t.same(v.items.map((i: { type: string; sourceId: string; warned: number; rejected: number }) => [i.type, i.sourceId, i.warned, i.rejected]), [['demo_request', 'api', 60, 0]])
  t.equal(await db.c.trackingViolations.countDocuments({}), 2, 'one counter document per process')
})

t.test('check: properties against a type of the plan or an unsaved schema, nothing stored or counted', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  await put(app, 'demo_request', { mode: 'enforce', schema: demoSchema })
  const check = async (payload: Record<string, unknown>) => await app.inject({ method: 'POST', url: '/v1/tracking-plan/check', headers: AUTH, payload })
  t.match((await check({ type: 'demo_request', properties: { plan: 'gold' } })).json(), { planVersion: 1, mode: 'enforce', matches: false, violations: [{ pointer: '#/properties/plan' }] })
  t.match((await check({ type: 'demo_request', properties: { plan: 'pro' } })).json(), { planVersion: 1, mode: 'enforce', matches: true, violations: [] })
  t.match((await check({ type: 'page_view', properties: {} })).json(), { planVersion: 1, mode: null, matches: true })
  t.match((await check({ schema: { type: 'object', required: ['x'] }, properties: {} })).json(), { planVersion: null, mode: null, matches: false, violations: [{ pointer: '#/properties/x' }] })
  t.equal((await check({ schema: { type: 'object', propertys: {} }, properties: {} })).json().code, 'LS_ERR_TRACKING_PLAN_INVALID')
  t.equal((await check({ properties: {} })).json().code, 'LS_ERR_VALIDATION', 'a type or a schema')
  t.equal((await app.inject({ url: '/v1/tracking-plan/violations', headers: AUTH })).json().items.length, 0, 'nothing counted')
  t.equal(await db.c.ingestRejects.countDocuments({}), 0, 'nothing stored')
})
