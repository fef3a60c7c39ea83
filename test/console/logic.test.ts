// The console's plain-TypeScript logic (the parts without runes or DOM): form validation, query building, live
// protocol helpers, leaderboard movements, trend points and display formatting.
import t from 'tap'
import { emptyEventForm, fieldOfPointer, validateEventForm } from '../../console/src/lib/event-form.js'
import { emptyLeadFilters, hasFilters, toLeadQuery } from '../../console/src/lib/leads-query.js'
import { backoffMs, freshMessages, liveUrl, parseFrame } from '../../console/src/lib/live.js'
import { movementDescription, movementLabel, rankMovements } from '../../console/src/lib/leaderboard.js'
import { trendPoints } from '../../console/src/lib/charts/trend.js'
import { formatDelta, leadLabel, relativeTime } from '../../console/src/lib/format.js'
import { buildUrl } from '../../console/src/lib/api/client.js'
import type { LedgerEntry, LiveMessage } from '../../console/src/lib/api/types.js'

t.test('the event form: required fields, formats, and the request body', async (t) => {
  const empty = validateEventForm(emptyEventForm())
  t.equal(empty.body, null)
  t.match(empty.errors, { email: /email or an external id/, type: /Choose an event type/ })

  const bad = validateEventForm({ ...emptyEventForm(), email: 'not-an-email', type: 'x\u0001', properties: '[1]', occurredAt: 'yesterday' })
  t.match(bad.errors, { email: /valid email/, type: /control/, properties: /JSON object/, occurredAt: /valid date/ })
  t.match(validateEventForm({ ...emptyEventForm(), leadExternalId: 'crm-1', type: 'a', properties: '{' }).errors, { properties: /Not valid JSON/ })

  const ok = validateEventForm({
    ...emptyEventForm(), email: ' ada@example.com ', name: ' Ada ', type: 'page_view', externalId: 'evt-1',
    properties: '{"url": "/pricing"}', occurredAt: '2025-01-02T03:04:05',
  })
  t.same(ok.errors, {})
  t.same(ok.body, {
    lead: { email: 'ada@example.com', name: 'Ada' }, type: 'page_view', externalId: 'evt-1',
    occurredAt: new Date('2025-01-02T03:04:05').toISOString(), properties: { url: '/pricing' },
  })
  t.same(validateEventForm({ ...emptyEventForm(), leadExternalId: 'crm-1', type: 'Demo Booked' }).body, { lead: { externalId: 'crm-1' }, type: 'Demo Booked' }, 'any non-empty type the server accepts')

  t.equal(fieldOfPointer('#/lead/email'), 'email')
  t.equal(fieldOfPointer('#/lead'), 'email')
  t.equal(fieldOfPointer('#/properties/a/b'), 'properties')
  t.equal(fieldOfPointer('#/type'), 'type')
  t.equal(fieldOfPointer('#'), null)
})

t.test('lead filters become a query, or an error for the score range', async (t) => {
  t.same(toLeadQuery(emptyLeadFilters()), { query: {}, error: null })
  t.notOk(hasFilters(emptyLeadFilters()))
  const f = { ...emptyLeadFilters(), q: ' ada ', minScore: '10', maxScore: '90.5', stage: 'MQL', source: 'api' }
  t.ok(hasFilters(f))
  t.same(toLeadQuery(f), { query: { q: 'ada', minScore: 10, maxScore: 90.5, stage: 'MQL', source: 'api' }, error: null })
  t.match(toLeadQuery({ ...emptyLeadFilters(), minScore: '50', maxScore: '10' }), { query: null, error: /above the maximum/ })
  t.match(toLeadQuery({ ...emptyLeadFilters(), minScore: 'abc' }), { query: null, error: /numbers/ })
  t.equal(buildUrl('/v1/leads', { q: 'a b', minScore: 0, stage: '', cursor: null, x: undefined }), '/v1/leads?q=a+b&minScore=0')
})

t.test('live protocol helpers', async (t) => {
  t.equal(backoffMs(0, () => 0.5), 500)
  t.equal(backoffMs(3, () => 0.5), 4000)
  t.equal(backoffMs(30, () => 0.5), 15_000, 'capped')
  t.equal(backoffMs(0, () => 0), 375, 'jitter down to 75 %')
  t.equal(backoffMs(0, () => 1), 625, 'and up to 125 %')
  t.equal(parseFrame('nope'), null)
  t.equal(parseFrame('{"no":"type"}'), null)
  t.same(parseFrame('{"type":"pong"}'), { type: 'pong' })
  const m = (seq: number): LiveMessage => ({ seq, type: 'lead.scored', topics: ['leaderboard'], data: {}, at: '2025-01-01T00:00:00.000Z' })
  t.same(freshMessages([m(5), m(3), m(4), m(2)], 3).map((x) => x.seq), [4, 5], 'replayed duplicates are dropped, order restored')
  t.equal(liveUrl({ protocol: 'https:', host: 'scores.example.com' }), 'wss://scores.example.com/v1/live')
  t.equal(liveUrl({ protocol: 'http:', host: '127.0.0.1:3000' }), 'ws://127.0.0.1:3000/v1/live')
})

t.test('leaderboard movements', async (t) => {
  const moves = rankMovements(['a', 'b', 'c'], ['c', 'a', 'd'])
  t.same([...moves], [['c', 2], ['a', -1], ['d', 'new']])
  t.same([...rankMovements([], ['a', 'b'])], [], 'the first load marks nobody')
  t.equal(movementLabel(2), '▲2')
  t.equal(movementLabel(-1), '▼1')
  t.equal(movementLabel('new'), 'new')
  t.equal(movementLabel(undefined), '')
  t.equal(movementDescription(1), 'up 1 place')
  t.equal(movementDescription(-3), 'down 3 places')
})

t.test('trend points come from the current (not superseded) ledger, oldest first', async (t) => {
  const parts = (total: number) => ({ total, engagement: total, fit: 0, intent: 0 })
  const entry = (id: string, at: string, before: number, after: number, superseded = false): LedgerEntry => ({
    id, leadId: 'ld_1', kind: 'event', eventId: `ev_${id}`, eventType: 'page_view', seq: Number(id), occurredAt: at,
    before: parts(before), after: parts(after), delta: after - before, reasons: [], stage: 'Cold', rulesetVersion: 1,
    superseded, createdAt: at,
  })
  const points = trendPoints([
    entry('2', '2025-01-02T00:00:00.000Z', 5, 15),
    entry('1', '2025-01-01T00:00:00.000Z', 0, 5),
    entry('3', '2025-01-03T00:00:00.000Z', 15, 99, true),
  ])
  t.same(points.map((p) => p.total), [0, 5, 15])
  t.same(points.map((p) => p.at.toISOString().slice(0, 10)), ['2025-01-01', '2025-01-01', '2025-01-02'])
  t.same(trendPoints([]), [])
})

t.test('formatting', async (t) => {
  t.equal(formatDelta(5), '+5')
  t.equal(formatDelta(-2.5), '\u22122.5')
  t.equal(formatDelta(0), '0')
  const now = Date.parse('2025-01-01T12:00:00.000Z')
  t.equal(relativeTime(null, now), '—')
  t.equal(relativeTime('2025-01-01T11:59:50.000Z', now), 'just now')
  t.equal(relativeTime('2025-01-01T11:55:00.000Z', now), '5 min ago')
  t.equal(relativeTime('2025-01-01T09:00:00.000Z', now), '3 h ago')
  t.equal(relativeTime('2024-12-30T12:00:00.000Z', now), '2 d ago')
  t.equal(leadLabel({ id: 'ld_1', name: null, email: null, externalId: 'crm-9' }), 'crm-9')
})
