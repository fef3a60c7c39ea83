// Each submitted event is checked against the TypeBox schema the API documents (EventInput), so what the OpenAPI
// document shows is what ingest accepts: every event ingest accepts matches the schema, and a shape the schema
// refuses is a stored reject pointing at the field.
import t from 'tap'
import { Value } from '@sinclair/typebox/value'
import { EventInput } from '../../server/src/schemas/common.js'
import { normalizeEvent } from '../../server/src/domain/events/normalize.js'
import { buildTestApp, postEvents } from '../helpers/harness.js'

const ctx = { sourceId: 'api', receivedAt: new Date('2026-01-01T00:00:00Z'), limits: { maxEventBytes: 100_000, maxFutureSkewMs: 300_000 } }
const base = { lead: { email: 'a@example.com' }, type: 'page_view' }

t.test('every event ingest accepts matches the documented schema', async (t) => {
  const accepted = [
    base,
    { ...base, externalId: null }, { ...base, externalId: '' }, { ...base, externalId: 'e-1' },
    { lead: { email: null, externalId: 'x' }, type: 't' }, { lead: { email: 'a@example.com', externalId: null, name: null, company: null }, type: 't' },
    { ...base, occurredAt: '2024-01-01' }, { ...base, occurredAt: '2024-01-01 10:00:00' }, { ...base, occurredAt: '2024-01-01T10:00:00.123456789+0200' },
    { ...base, occurredAt: null }, { ...base, properties: { 'a\nb': 1, '': 2, nested: { deep: [1, { x: null }] } } },
    { lead: { email: 'a@example.com', attributes: { plan: 'pro' } }, type: 'signup', properties: {} },
  ]
  for (const ev of accepted) {
    t.equal(normalizeEvent(ev, ctx).ok, true, `ingest accepts ${JSON.stringify(ev)}`)
    t.equal(Value.Check(EventInput, ev), true, `and the schema describes it: ${JSON.stringify(ev)}`)
  }
})

t.test('a shape the schema refuses is refused with the code and pointer of its field', async (t) => {
  const cases: Array<[unknown, string, string]> = [
    [{ ...base, externalId: 5 }, 'LS_ERR_EVENT_INVALID', '#/externalId'],
    [{ ...base, externalId: 'x'.repeat(129) }, 'LS_ERR_EVENT_INVALID', '#/externalId'],
    [{ ...base, type: 5 }, 'LS_ERR_EVENT_TYPE_INVALID', '#/type'],
    [{ lead: base.lead }, 'LS_ERR_EVENT_TYPE_INVALID', '#/type'],
    [{ type: 't' }, 'LS_ERR_LEAD_IDENTITY_INVALID', '#/lead'],
    [{ lead: { email: 5 }, type: 't' }, 'LS_ERR_LEAD_IDENTITY_INVALID', '#/lead/email'],
    [{ ...base, occurredAt: 'yesterday' }, 'LS_ERR_TIMESTAMP_INVALID', '#/occurredAt'],
    [{ ...base, properties: [] }, 'LS_ERR_EVENT_INVALID', '#/properties'],
    [{ lead: { email: 'a@example.com', name: 5 }, type: 't' }, 'LS_ERR_EVENT_INVALID', '#/lead/name'],
    [{ lead: { email: 'a@example.com', colour: 'red' }, type: 't' }, 'LS_ERR_EVENT_INVALID', '#/lead/colour'],
    [{ ...base, colour: 'red' }, 'LS_ERR_EVENT_INVALID', '#/colour'],
  ]
  for (const [ev, code, pointer] of cases) {
    t.equal(Value.Check(EventInput, ev), false, `the schema refuses ${JSON.stringify(ev).slice(0, 80)}`)
    const r = normalizeEvent(ev, ctx)
    t.match(r, { ok: false, reason: { code, pointer } }, `${code} at ${pointer}`)
  }
  const msg = (ev: unknown): string => { const r = normalizeEvent(ev, ctx); return r.ok ? '' : r.reason.message }
  t.equal(msg({ ...base, occurredAt: 'yesterday' }), 'occurredAt must be an ISO 8601 date-time')
  t.equal(msg({ ...base, colour: 'red' }), "unknown field 'colour'")
  t.equal(msg({ ...base, externalId: 'x'.repeat(129) }), 'externalId is 129 characters; the limit is 128')
  t.equal(msg({ ...base, type: 5 }), 'type: expected string')
})

t.test('over HTTP: the refused event is a stored reject and its siblings are stored', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const r = await postEvents(app, { events: [{ ...base, externalId: 's-1' }, { ...base, externalId: 's-2', lead: { email: 'b@example.com', name: 7 } }, { ...base, externalId: null }] })
  t.match(r.json(), { submitted: 3, accepted: 2, duplicates: 0, rejected: 1 })
  t.match(r.json().results[1], { status: 'rejected', error: { code: 'LS_ERR_EVENT_INVALID', pointer: '#/lead/name' } })
  t.equal(await db.c.ingestRejects.countDocuments({ code: 'LS_ERR_EVENT_INVALID' }), 1)
})
