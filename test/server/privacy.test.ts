// GDPR erasure (everywhere a lead is stored), the suppression list, and the export of one lead (docs/privacy.md).
import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'
import { suppressionIdOf } from '../../server/src/domain/privacy/suppression.js'
import { payloadOf } from '../../server/src/domain/live/live-feed.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

async function api (app: FastifyInstance, method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown): Promise<LightMyRequestResponse> {
  return await app.inject({ method, url, headers: payload === undefined ? AUTH : { ...AUTH, 'content-type': 'application/json' }, ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }) })
}

const ADA = 'ada.erased@example.com'
const BOB = 'bob.stays@example.com'

t.test('erasing a lead removes it everywhere it lives and redacts it where it is mixed with others', { timeout: 120_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const ada = (await postEvents(app, { externalId: 'a1', lead: { email: 'Ada.Erased@Example.com', externalId: 'crm-ada', name: 'Ada' }, type: 'page_view' })).json().results[0].leadId as string
  const bob = (await postEvents(app, { externalId: 'b1', lead: { email: BOB }, type: 'page_view' })).json().results[0].leadId as string
  // a batch of both leads with an idempotency key: its stored response names both
  const batch = await postEvents(app, { events: [{ externalId: 'a2', lead: { email: ADA }, type: 'demo_request' }, { externalId: 'b2', lead: { email: BOB }, type: 'demo_request' }] }, { 'idempotency-key': 'mixed-batch' })
  t.equal(batch.statusCode, 202)
  // a rejected event of Ada's (its own reject), and a rejected delivery that mixes both leads
  await postEvents(app, { externalId: 'a3', lead: { email: ADA }, type: 'page_view', occurredAt: 'not a date', properties: { note: 'ada private' } })
  await db.c.ingestRejects.insertOne({ _id: 'rj_mixed', sourceId: 'webhook:x', requestId: 'req-x', index: 0, code: 'LS_ERR_SOURCE_INPUT', reason: `bad delivery for ${ADA}`, raw: JSON.stringify({ rows: [{ email: ADA }, { email: BOB }] }), rawTruncated: false, receivedAt: new Date() })
  // a source error sample, an upload error, model holdout rows, an audit note
  await db.c.sourceStats.insertOne({ _id: 'webhook:x|p1', sourceId: 'webhook:x', process: 'p1', deliveries: 1, rejectedDeliveries: 1, accepted: 0, duplicates: 0, rejected: 1, lastDeliveryAt: new Date(), lastEventAt: null, lastError: { at: new Date(), code: 'LS_ERR_SOURCE_INPUT', message: `no mapping for ${ADA}` }, lastPoll: null, recent: [{ at: new Date(), kind: 'delivery', code: 'LS_ERR_SOURCE_INPUT', message: `no mapping for ${ADA}`, requestId: 'req-x', index: null }], updatedAt: new Date() })
  // and one held in this process's memory (not yet written)
  const at = new Date()
  await app.sources.stats.record('webhook:y', { deliveries: 1, rejectedDeliveries: 1, at, lastError: { at, code: 'LS_ERR_SOURCE_INPUT', message: `refused ${ADA}` }, recent: [{ at, kind: 'delivery', code: 'LS_ERR_SOURCE_INPUT', message: `refused ${ADA}`, requestId: 'req-y', index: null }] })
  await db.c.uploads.insertOne({ _id: 'up_x', status: 'failed', kind: 'events', format: 'csv', filename: 'x.csv', contentType: 'text/csv', sourceId: 'upload', mapping: null, expectedBytes: null, bytes: 1, rowsRead: 1, rows: 1, accepted: 0, duplicates: 0, rejected: 1, sha256: null, fingerprint: null, duplicateOf: null, error: { code: 'LS_ERR_UPLOAD_PARSE', message: `row for ${ADA} is broken` }, actor: 'admin', requestId: 'r', startedAt: new Date(), updatedAt: new Date(), finishedAt: new Date() })
  const mover = (leadId: string, email: string) => ({ leadId, name: null, email, before: 0, after: 10, delta: 10, stageBefore: 'Cold', stageAfter: 'Warm' })
  await db.c.jobs.insertOne({ _id: 'bt_x', kind: 'backtest', state: 'done', version: 2, baseVersion: 1, scope: { leadIds: [ada, bob], from: null, to: null, limit: null }, result: { leads: 2, events: 4, changed: 2, movers: [mover(ada, ADA), mover(bob, BOB)], stages: [], distribution: [], lift: [], baseline: { converted: 0, rate: 0 } } } as never)
  await db.c.modelEvaluations.insertOne({ _id: 'md_x', groupKeys: [], rows: [{ leadId: ada, p: 0.4, y: 1, g: [] }, { leadId: bob, p: 0.2, y: 0, g: [] }] })
  t.equal((await api(app, 'POST', `/v1/leads/${ada}/adjustments`, { points: 5, note: `called ${ADA}` })).statusCode, 202)
  await waitForScoring(db)
  t.ok(await db.c.liveFeed.countDocuments({ topics: `lead:${ada}` }) > 0, 'the live feed has messages about Ada')
  t.ok((await db.c.liveFeed.find({ topics: `lead:${ada}` }).toArray()).some((d) => payloadOf(d).leadId === ada), 'and their payloads name her lead')

  // the export holds everything about Ada, and is audited
  const exp = await api(app, 'GET', `/v1/leads/${ada}/export`)
  t.equal(exp.statusCode, 200)
  t.match(exp.headers['content-disposition'], /attachment; filename="lead-ld_/)
  const x = exp.json() as Json
  t.match(x.lead, { id: ada, email: ADA, externalId: 'crm-ada' })
  t.equal(x.events.length, 3, 'events (two events and the adjustment)')
  t.ok(x.ledger.length >= 3, 'ledger entries')
  t.same(x.aliases.map((a: Json) => a.externalId), ['crm-ada'])
  t.same(x.rejects.map((r: Json) => r.code).sort(), ['LS_ERR_SOURCE_INPUT', 'LS_ERR_TIMESTAMP_INVALID'], 'rejects naming Ada')
  t.same(x.modelHoldouts, [{ modelId: 'md_x', rows: [{ p: 0.4, y: 1 }] }])
  t.ok(x.audit.some((a: Json) => a.action === 'lead.adjust'), 'audit entries about Ada')
  t.match(x.backtests, [{ jobId: 'bt_x', version: 2, mover: { leadId: ada, email: ADA } }], 'its rows in backtest reports')
  t.ok(await db.c.auditLog.findOne({ action: 'lead.export', target: ada }), 'the export is audited')

  t.equal((await api(app, 'DELETE', `/v1/leads/${ada}`)).statusCode, 204)
  const text = (v: unknown): string => JSON.stringify(v).toLowerCase()
  const leaks = (v: unknown): boolean => text(v).includes(ADA) || text(v).includes('crm-ada') || text(v).includes(ada)
  t.equal(await db.c.leads.findOne({ _id: ada }), null, 'the lead')
  t.equal(await db.c.events.countDocuments({ leadId: ada }), 0, 'its events')
  t.equal(await db.c.scoreHistory.countDocuments({ leadId: ada }), 0, 'its ledger')
  t.equal(await db.c.leadAliases.findOne({ _id: 'ext:crm-ada' }), null, 'its alias')
  const rejects = await db.c.ingestRejects.find({}).toArray()
  t.notOk(rejects.some((r) => r.code === 'LS_ERR_TIMESTAMP_INVALID'), 'its own reject is deleted')
  const mixed = rejects.find((r) => r._id === 'rj_mixed')!
  t.notOk(leaks(mixed), 'the mixed reject no longer names Ada')
  t.ok(mixed.raw.includes(BOB), 'but keeps Bob')
  const idem = await db.c.idempotencyKeys.find({}).toArray()
  t.equal(idem.length, 1)
  t.notOk(leaks(idem[0]), 'the stored response no longer names Ada')
  t.ok(idem[0]!.response!.includes(bob), 'but keeps Bob')
  const replay = await postEvents(app, { events: [{ externalId: 'a2', lead: { email: ADA }, type: 'demo_request' }, { externalId: 'b2', lead: { email: BOB }, type: 'demo_request' }] }, { 'idempotency-key': 'mixed-batch' })
  t.equal(replay.statusCode, 202, 'a retry of the request still gets its (redacted) answer')
  // payloads are stored packed: read as the feed reads them (a check of the stored bytes would find no name at all)
  const messages = async (): Promise<unknown[]> => (await db.c.liveFeed.find({ topics: { $ne: [] } }).toArray()).map((d) => ({ ...d, payload: payloadOf(d) }))
  t.notOk(leaks(await messages()), 'no live message names Ada')
  t.equal(await db.c.liveFeed.countDocuments({ topics: `lead:${ada}` }), 0)
  t.notOk(leaks(await db.c.sourceStats.find({}).toArray()), 'source error samples')
  const held = await app.sources.stats.get('webhook:y')
  t.equal(held.recent.length, 1)
  t.notOk(leaks(held), 'the samples this process holds in memory')
  await app.sources.stats.flush()
  t.notOk(leaks(await db.c.sourceStats.find({ sourceId: 'webhook:y' }).toArray()), 'and writes')
  t.notOk(leaks(await db.c.uploads.find({}).toArray()), 'upload errors')
  t.same((await db.c.modelEvaluations.findOne({ _id: 'md_x' }))!.rows.map((r) => r.leadId), [bob], 'model holdout rows')
  const bt = (await db.c.jobs.findOne({ _id: 'bt_x' })) as unknown as Json
  t.same([bt.scope.leadIds, bt.result.movers.map((m: Json) => m.leadId), bt.result.changed], [[bob], [bob], 2], 'backtest rows (the totals stay)')
  const audit = await db.c.auditLog.find({}).toArray()
  t.notOk(leaks(audit.map((a) => a.details).filter((d) => (d as Json).leadId !== ada)), 'audit details')
  const del = audit.find((a) => a.action === 'lead.delete')!
  t.match(del, { target: ada, details: { suppress: true, events: 3, rejects: { deleted: 1, redacted: 1 }, modelHoldoutRows: 1 } }, 'the erasure is audited with counts')
  t.equal(await db.c.leads.findOne({ _id: bob }).then((l) => l?.email), BOB, 'Bob is untouched')
})

t.test('a suppressed identity is refused until an admin lifts it', { timeout: 120_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const ada = (await postEvents(app, { externalId: 'a1', lead: { email: ADA, externalId: 'crm-ada' }, type: 'page_view' })).json().results[0].leadId as string
  await waitForScoring(db)
  t.equal((await api(app, 'DELETE', `/v1/leads/${ada}`)).statusCode, 204)

  const list = (await api(app, 'GET', '/v1/suppressions')).json() as Json
  t.same(list.items.map((e: Json) => e.kind).sort(), ['email', 'externalId'])
  t.ok(list.items.every((e: Json) => /^sp_[0-9a-f]{64}$/.test(e.id) && e.leadId === ada && e.by !== ''), 'hashes, with who and when')
  t.notOk(JSON.stringify(await db.c.suppressions.find({}).toArray()).includes('ada'), 'the list keeps no identity in clear')

  // a redelivery, by email or by external id only, is a stored reject without the identity
  const again = await postEvents(app, { events: [{ externalId: 'a2', lead: { email: 'ADA.erased@example.com' }, type: 'page_view', properties: { secret: ADA } }, { externalId: 'a3', lead: { externalId: 'crm-ada' }, type: 'page_view' }, { externalId: 'c1', lead: { email: 'cy@example.com' }, type: 'page_view' }] })
  t.match(again.json(), { accepted: 1, rejected: 2, results: [{ status: 'rejected', error: { code: 'LS_ERR_LEAD_SUPPRESSED' } }, { status: 'rejected', error: { code: 'LS_ERR_LEAD_SUPPRESSED' } }, { status: 'accepted' }] })
  const stored = await db.c.ingestRejects.find({ code: 'LS_ERR_LEAD_SUPPRESSED' }).toArray()
  t.equal(stored.length, 2, 'stored as rejects')
  t.notOk(JSON.stringify(stored).toLowerCase().includes('ada'), 'the rejects do not store the identity')
  t.equal(await db.c.leads.findOne({ _id: ada }), null, 'the lead is not created again')
  const single = await postEvents(app, { externalId: 'a4', lead: { email: ADA }, type: 'page_view' })
  t.equal(single.json().code, 'LS_ERR_LEAD_SUPPRESSED', 'a single event gets the problem')
  const created = await api(app, 'POST', '/v1/leads', { email: ADA })
  t.equal(created.statusCode, 409)
  t.equal(created.json().code, 'LS_ERR_LEAD_SUPPRESSED', 'POST /v1/leads is refused too')

  // lifting: by email (hashed by the server), then by hash
  t.equal((await api(app, 'POST', '/v1/suppressions/lift', { email: 'nobody@example.com' })).json().code, 'LS_ERR_SUPPRESSION_NOT_FOUND')
  const lifted = await api(app, 'POST', '/v1/suppressions/lift', { email: ' Ada.Erased@example.com' })
  t.equal(lifted.statusCode, 200)
  t.equal(lifted.json().id, suppressionIdOf(`email:${ADA}`))
  t.equal((await api(app, 'DELETE', `/v1/suppressions/${suppressionIdOf('ext:crm-ada')}`)).statusCode, 204)
  t.equal((await api(app, 'GET', '/v1/suppressions')).json().items.length, 0)
  t.equal((await db.c.auditLog.find({ action: 'suppression.lift' }).toArray()).length, 2, 'lifts are audited')
  t.equal((await postEvents(app, { externalId: 'a5', lead: { email: ADA }, type: 'page_view' })).json().results[0].leadId, ada, 'the identity is accepted again')
})

t.test('erasing with suppress=false lets a redelivery create the lead again', { timeout: 60_000 }, async (t) => {
  const { app } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const ada = (await postEvents(app, { externalId: 'a1', lead: { email: ADA }, type: 'page_view' })).json().results[0].leadId as string
  t.equal((await api(app, 'DELETE', `/v1/leads/${ada}?suppress=false`)).statusCode, 204)
  t.equal((await api(app, 'GET', '/v1/suppressions')).json().items.length, 0)
  t.equal((await postEvents(app, { externalId: 'a2', lead: { email: ADA }, type: 'page_view' })).json().results[0].status, 'accepted')
  t.equal((await api(app, 'GET', `/v1/leads/${ada}/export`)).json().events.length, 1, 'a new history')
})

t.test('export and erase of an unknown lead answer 404; both need the admin scope', async (t) => {
  const { app } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  t.equal((await api(app, 'GET', '/v1/leads/ld_nope/export')).json().code, 'LS_ERR_LEAD_NOT_FOUND')
  t.equal((await api(app, 'DELETE', '/v1/leads/ld_nope')).json().code, 'LS_ERR_LEAD_NOT_FOUND')
  t.equal((await app.inject({ url: '/v1/suppressions' })).statusCode, 401)
})

t.test('a short external id is redacted only where it stands whole', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const lead = (await postEvents(app, { externalId: 'e1', lead: { externalId: '42' }, type: 'page_view' })).json().results[0].leadId as string
  await db.c.ingestRejects.insertOne({ _id: 'rj_short', sourceId: 'webhook:x', requestId: 'req-y', index: 0, code: 'LS_ERR_SOURCE_INPUT', reason: 'error 42 in row 4200', raw: JSON.stringify({ n: 42, ref: '42', other: '4242' }), rawTruncated: false, receivedAt: new Date() })
  t.equal((await api(app, 'DELETE', `/v1/leads/${lead}`)).statusCode, 204)
  const r = (await db.c.ingestRejects.findOne({ _id: 'rj_short' }))!
  t.same(JSON.parse(r.raw), { n: 42, ref: '[erased]', other: '4242' }, 'the id as a whole JSON string only')
  t.equal(r.reason, 'error 42 in row 4200', 'plain text is left alone for ids this short')
})
