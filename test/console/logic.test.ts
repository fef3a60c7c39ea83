// The console's plain-TypeScript logic (the parts without runes or DOM): form validation, query building, live
// protocol helpers, leaderboard movements, trend points, display formatting, rules-editor diagnostics, version diffs,
// dry-run input, the backtest form, upload helpers, the analytics page's ranges and chart rows, and the Models view's
// training form and formatting.
import t from 'tap'
import { emptyEventForm, fieldOfPointer, validateEventForm } from '../../console/src/lib/event-form.js'
import { emptyLeadFilters, hasFilters, toLeadQuery } from '../../console/src/lib/leads-query.js'
import { backoffMs, freshMessages, liveUrl, parseFrame } from '../../console/src/lib/live.js'
import { movementDescription, movementLabel, rankMovements } from '../../console/src/lib/leaderboard.js'
import { trendPoints } from '../../console/src/lib/charts/trend.js'
import { formatDelta, leadLabel, percent, relativeTime } from '../../console/src/lib/format.js'
import { countProblems, factCatalog, problemSummary, sortProblems, toMarker } from '../../console/src/lib/editor/diagnostics.js'
import { diffStats, foldUnchanged, sideBySide } from '../../console/src/lib/rules/diff.js'
import { EVENTS_EXAMPLE, parseEventsText } from '../../console/src/lib/rules/dry-run.js'
import { defaultComparison, filterVersions, initialVersion, saveTarget } from '../../console/src/lib/rules/versions.js'
import { distributionRows, formatLift, formatRate, parseLeadIds, validateBacktestForm, type BacktestForm } from '../../console/src/lib/rules/backtest.js'
import { formatBytes, formatOfName, isOurUpload, parseMapping, uploadProgressOf } from '../../console/src/lib/upload.js'
import { debounce } from '../../console/src/lib/debounce.js'
import { bucketCount, bucketLabel, eventRows, eventSeries, fitGranularity, fits, formatShare, rangeQuery, sourceLabel, sparseTicks } from '../../console/src/lib/charts/analytics.js'
import { defaultTrainForm, delta, driftTone, jobPercent, metric, outcomeText, rate, validateTrainForm } from '../../console/src/lib/models/models.js'
import { poll } from '../../console/src/lib/poll.js'
import { diagnose } from '@leadscore/rules-dsl'
import { queryString } from '../../console/src/lib/api/client.js'
import type { DiffLine, LedgerEntry, LiveMessage, Ruleset } from '../../console/src/lib/api/types.js'

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
  // a number input bound with bind:value hands over a number, or null once emptied
  const typed = { ...emptyLeadFilters(), minScore: 60 as unknown as string, maxScore: null as unknown as string }
  t.same(toLeadQuery(typed), { query: { minScore: 60 }, error: null }, 'a number from the score input')
  t.ok(hasFilters(typed))
  t.notOk(hasFilters({ ...emptyLeadFilters(), minScore: null as unknown as string }), 'an emptied number input is no filter')
  // the API client's query serializer
  t.equal(queryString({ q: 'a b', minScore: 0, stage: '', cursor: null, x: undefined }), 'q=a+b&minScore=0')
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

t.test('rules diagnostics become editor markers and a problem summary', async (t) => {
  const d = (severity: 'error' | 'warning' | 'info', sl: number, sc: number, el: number, ec: number) =>
    ({ code: 'DSL010', severity, message: 'm', range: { start: { line: sl, column: sc }, end: { line: el, column: ec } } })
  t.same(toMarker(d('error', 2, 3, 2, 7)), { startLineNumber: 2, startColumn: 3, endLineNumber: 2, endColumn: 7, message: 'm', severity: 8, code: 'DSL010', source: 'rules' })
  t.match(toMarker(d('warning', 4, 5, 4, 5)), { startColumn: 5, endColumn: 6, severity: 4 }, 'an empty range is widened to one column')
  t.match(toMarker(d('info', 1, 1, 3, 2)), { endLineNumber: 3, endColumn: 2, severity: 2 }, 'ranges over several lines stay as they are')

  // real diagnostics from the rules library
  const catalog = factCatalog({ 'event.type': { type: 'string' }, 'event.properties.*': { type: 'any' }, 'lead.x': { type: 'strange' } })
  t.same(catalog['lead.x'], { type: 'any' }, 'an unknown fact type is checked as any')
  const ds = diagnose('rule "A" when event.typ == "x" then +1\nrule "B" when event.type == then +1', catalog)
  const counts = countProblems(ds)
  t.ok(counts.error >= 2, `errors found: ${JSON.stringify(ds.map((x) => x.code))}`)
  t.match(ds.find((x) => x.range.start.line === 1)?.message, /event\.type/, 'the unknown fact comes with a suggestion')
  t.same(sortProblems(ds).map((x) => x.range.start.line), ds.map((x) => x.range.start.line).sort((a, b) => a - b))
  t.equal(problemSummary({ error: 2, warning: 1, info: 0 }), '2 errors, 1 warning')
  t.equal(problemSummary({ error: 0, warning: 0, info: 3 }), '3 notes')
  t.equal(problemSummary(countProblems([])), 'No problems')
})

t.test('version diffs side by side and folded', async (t) => {
  const lines: DiffLine[] = [
    { op: 'same', text: 'a', fromLine: 1, toLine: 1 },
    { op: 'remove', text: 'b', fromLine: 2 },
    { op: 'remove', text: 'c', fromLine: 3 },
    { op: 'add', text: 'B', toLine: 2 },
    { op: 'same', text: 'd', fromLine: 4, toLine: 3 },
    { op: 'add', text: 'e', toLine: 4 },
  ]
  t.same(sideBySide(lines), [
    { left: { line: 1, text: 'a', op: 'same' }, right: { line: 1, text: 'a', op: 'same' } },
    { left: { line: 2, text: 'b', op: 'remove' }, right: { line: 2, text: 'B', op: 'add' } },
    { left: { line: 3, text: 'c', op: 'remove' }, right: null },
    { left: { line: 4, text: 'd', op: 'same' }, right: { line: 3, text: 'd', op: 'same' } },
    { left: null, right: { line: 4, text: 'e', op: 'add' } },
  ])
  t.same(diffStats(lines), { added: 2, removed: 2 })

  const same = (n: number): string[] => Array.from({ length: n }, (_, i) => `s${i}`)
  const items = [...same(10), 'X', ...same(10)]
  const folded = foldUnchanged(items, (x) => x.startsWith('s'), 2)
  t.same(folded.map((f) => f.kind === 'fold' ? `fold ${f.count}@${f.from}` : f.item), ['fold 8@0', 's8', 's9', 'X', 's0', 's1', 'fold 8@13'])
  t.same(foldUnchanged(['s', 'X', 's'], (x) => x === 's', 0).map((f) => f.kind), ['item', 'item', 'item'], 'a single unchanged line is not folded')
  t.same(foldUnchanged(same(3), () => true, 3), [{ kind: 'fold', count: 3, from: 0 }])
  t.equal(foldUnchanged(items, (x) => x.startsWith('s'), Infinity).length, items.length, 'expanded: everything')
})

t.test('dry-run events text', async (t) => {
  t.same(parseEventsText('{"type":"page_view"}'), { events: [{ type: 'page_view', lead: { externalId: 'dry-run' } }], error: null }, 'one object; the lead may be left out')
  const nd = parseEventsText('{"type":"a","lead":{"email":"x@example.com"}}\n{"type":"b"}\n')
  t.same(nd.events?.map((e) => [e.type, e.lead]), [['a', { email: 'x@example.com' }], ['b', { externalId: 'dry-run' }]], 'NDJSON')
  t.equal(parseEventsText(EVENTS_EXAMPLE).events?.length, 2, 'the example parses')
  t.match(parseEventsText(''), { error: /at least one event/ })
  t.match(parseEventsText('[{"type":"a"},{"properties":{}}]'), { error: /Event 2 needs a "type"/ })
  t.match(parseEventsText('[1]'), { error: /Event 1 must be a JSON object/ })
  t.match(parseEventsText('{"type":"a","occurredAt":"soon"}'), { error: /occurredAt/ })
  t.match(parseEventsText('{"type":"a"}\n{oops'), { error: /Line 2 is not valid JSON/ })
  t.match(parseEventsText('{oops'), { error: /Not valid JSON/ })
})

t.test('ruleset versions: what opens first, what saving does, what to compare', async (t) => {
  const v = (version: number, status: Ruleset['status'], basedOn: number | null = null): Ruleset => ({
    version, status, basedOn, name: 'n', source: '', rules: [], settings: {}, author: 'a', note: null, createdAt: '', updatedAt: '', publishedAt: null,
  })
  const list = [v(5, 'draft', 3), v(4, 'draft', 3), v(3, 'published'), v(2, 'archived'), v(1, 'archived')]
  t.equal(initialVersion(list, null, true)?.version, 5, 'an author opens the newest draft')
  t.equal(initialVersion(list, null, false)?.version, 3, 'a viewer opens the published version')
  t.equal(initialVersion(list, 2, true)?.version, 2, 'the version in the address')
  t.equal(initialVersion(list, 99, false)?.version, 3, 'an unknown version in the address is ignored')
  t.equal(initialVersion([], null, true), null)
  t.same(saveTarget(v(5, 'draft')), { kind: 'update', version: 5 })
  t.same(saveTarget(v(3, 'published')), { kind: 'create', basedOn: 3 })
  t.same(saveTarget(null), { kind: 'create', basedOn: null })
  t.same(defaultComparison(list, list[0]!), { from: 3, to: 5 }, 'a draft against the version it is based on')
  t.same(defaultComparison(list, list[3]!), { from: 3, to: 2 }, 'an archived version against the published one')
  t.same(defaultComparison(list, list[2]!), { from: 2, to: 3 }, 'the published version against the one before it')
  t.equal(defaultComparison([v(1, 'published')], v(1, 'published')), null, 'nothing to compare with')
  t.same(filterVersions(list, 'draft').map((x) => x.version), [5, 4])
  t.equal(filterVersions(list, 'all').length, 5)
})

t.test('the backtest form and its results', async (t) => {
  t.same(parseLeadIds('ld_1, ld_2\nld_1  other <x>; <x>'), { ids: ['ld_1', 'ld_2', 'other'], invalid: ['<x>'] }, 'each id once, in order')
  const base: BacktestForm = { version: 4, scope: 'all', leadIds: '', from: '', to: '' }
  t.same(validateBacktestForm(base), { body: {}, version: 4, errors: {} })
  t.match(validateBacktestForm({ ...base, version: null }).errors, { version: /Choose/ })
  t.match(validateBacktestForm({ ...base, scope: 'leads' }).errors, { leadIds: /at least one/ })
  t.same(validateBacktestForm({ ...base, scope: 'leads', leadIds: 'ld_a ld_b' }).body, { leadIds: ['ld_a', 'ld_b'] })
  t.match(validateBacktestForm({ ...base, scope: 'leads', leadIds: 'ld_a, <x>' }).errors, { leadIds: /Not lead ids: <x>/ })
  const ranged = validateBacktestForm({ ...base, from: '2025-01-01T00:00', to: '2025-02-01T00:00' })
  t.same(ranged.body, { from: new Date('2025-01-01T00:00').toISOString(), to: new Date('2025-02-01T00:00').toISOString() })
  t.match(validateBacktestForm({ ...base, from: '2025-02-01T00:00', to: '2025-01-01T00:00' }).errors, { to: /after the start/ })
  t.same(distributionRows([{ min: 0, max: 10, before: 3, after: 1 }, { min: 10, max: 20.5, before: 0, after: 2 }]), [
    { band: '0–10', before: 3, after: 1 }, { band: '10–20.5', before: 0, after: 2 },
  ])
  t.equal(formatLift(1.84), '×1.8')
  t.equal(formatLift(12.4), '×12')
  t.equal(formatLift(0), '—')
  t.equal(formatRate(0.25), '25%')
  t.equal(formatRate(0.034), '3.4%')
})

t.test('upload helpers', async (t) => {
  t.equal(formatBytes(0), '0 B')
  t.equal(formatBytes(1536), '1.5 KB')
  t.equal(formatBytes(5 * 1024 * 1024), '5.0 MB')
  t.equal(formatBytes(300 * 1024 * 1024), '300 MB')
  t.equal(formatOfName('leads.CSV'), 'csv')
  t.equal(formatOfName('a.jsonl'), 'ndjson')
  t.equal(formatOfName('a.json'), 'json')
  t.equal(formatOfName('export'), null)
  t.equal(percent(50, 200), 25)
  t.equal(percent(5, 0), 0)
  t.equal(percent(300, 200), 100)
  t.same(parseMapping(''), { mapping: {}, error: null })
  t.same(parseMapping('E-mail address = lead.email\n\nActivity=type\nNotes ='), { mapping: { 'E-mail address': 'lead.email', Activity: 'type', Notes: null }, error: null })
  t.same(parseMapping('{"Mail":"lead.email","x":null}'), { mapping: { Mail: 'lead.email', x: null }, error: null })
  t.match(parseMapping('email'), { error: /Line 1/ })
  t.match(parseMapping('a = type\na = lead.name'), { error: /mapped twice/ })
  t.match(parseMapping('{"email":1}'), { error: /column → field/ })

  const msg = { jobId: 'up_1', uploadId: 'up_1', kind: 'upload', state: 'running', uploadKind: 'events', format: 'csv', filename: 'a.csv', bytes: 10, expectedBytes: 400, rowsRead: 3, rows: 3, accepted: 3, duplicates: 0, rejected: 0 }
  t.equal(uploadProgressOf(msg)?.rowsRead, 3)
  t.equal(uploadProgressOf({ jobId: 'j', kind: 'rescore-all', done: 1, total: 2 }), null, 'another job')
  t.equal(uploadProgressOf({ ...msg, rowsRead: '3' }), null, 'a malformed message')
  const p = uploadProgressOf(msg)!
  t.ok(isOurUpload(p, { id: null, filename: 'a.csv', requestBytes: 400 }), 'same file name and request size')
  t.notOk(isOurUpload(p, { id: null, filename: 'a.csv', requestBytes: 401 }), 'another request')
  t.notOk(isOurUpload(p, { id: null, filename: 'b.csv', requestBytes: 400 }), 'another file')
  t.ok(isOurUpload(p, { id: null, filename: 'a.csv', requestBytes: 0 }), 'before the first progress event, by name')
  t.ok(isOurUpload(p, { id: 'up_1', filename: 'x', requestBytes: 1 }), 'once known, by id')
  t.notOk(isOurUpload(p, { id: 'up_2', filename: 'a.csv', requestBytes: 400 }))
})

t.test('debounce and poll', async (t) => {
  const calls: number[] = []
  const d = debounce((n: number) => { calls.push(n) }, 20)
  d(1); d(2); d(3)
  await new Promise((r) => setTimeout(r, 60))
  t.same(calls, [3], 'only the last call runs')
  d(4); d.cancel()
  d(5); d.flush()
  await new Promise((r) => setTimeout(r, 40))
  t.same(calls, [3, 5], 'cancel drops, flush runs now')

  let n = 0
  const errors: unknown[] = []
  await new Promise<void>((resolve) => {
    poll(async () => {
      n++
      if (n === 2) throw new Error('flaky')
      if (n === 4) { resolve(); return true }
      return false
    }, 5, (err) => { errors.push(err) })
  })
  await new Promise((r) => setTimeout(r, 30))
  t.equal(n, 4, 'stops once finished')
  t.equal(errors.length, 1, 'a failed call is retried')
})

t.test('analytics: ranges within the bucket cap, chart rows and UTC labels', async (t) => {
  t.equal(bucketCount('30d', 'hour'), 721)
  t.ok(fits('30d', 'hour'))
  t.notOk(fits('90d', 'hour'), '2,161 hours are more than the server answers')
  t.equal(fitGranularity('90d', 'hour'), 'day', 'the next coarser granularity that fits')
  t.equal(fitGranularity('90d', 'week'), 'week')
  t.equal(fitGranularity('7d', 'hour'), 'hour')
  t.same(rangeQuery('7d', 'day', 6, Date.parse('2024-03-08T12:00:00Z')), { granularity: 'day', from: '2024-03-01T12:00:00.000Z', to: '2024-03-08T12:00:00.000Z', top: 6 })

  const r = {
    granularity: 'day' as const, from: '2024-03-04T00:00:00.000Z', to: '2024-03-06T00:00:00.000Z', total: 6,
    buckets: ['2024-03-04T00:00:00.000Z', '2024-03-05T00:00:00.000Z'],
    series: [{ type: 'page_view', total: 3, counts: [1, 2] }, { type: 'constructor', total: 1, counts: [0, 1] }],
    other: { types: 2, total: 2, counts: [2, 0] },
  }
  const series = eventSeries(r)
  t.same(series.map((s) => [s.key, s.label, s.total]), [['s0', 'page_view', 3], ['s1', 'constructor', 1], ['other', 'Other types (2)', 2]], 'keys never clash with type names')
  t.same(eventRows(r), [
    { label: 'Mar 4', start: '2024-03-04T00:00:00.000Z', total: 3, s0: 1, s1: 0, other: 2 },
    { label: 'Mar 5', start: '2024-03-05T00:00:00.000Z', total: 3, s0: 2, s1: 1, other: 0 },
  ])
  t.equal(eventSeries({ ...r, other: { types: 0, total: 0, counts: [0, 0] } }).length, 2, 'no "other" series when nothing was summed')
  t.equal(bucketLabel('2024-03-05T23:00:00.000Z', 'hour'), 'Mar 5, 23:00', 'labels are UTC, whatever the browser\'s zone')
  t.equal(bucketLabel('2024-03-04T00:00:00.000Z', 'week'), 'Week of Mar 4')
  t.same(sparseTicks(['a', 'b', 'c', 'd', 'e'], 2), ['a', 'd'])
  t.same(sparseTicks(['a', 'b'], 8), ['a', 'b'])
  t.equal(sourceLabel({ sourceId: 'src_1', name: 'CRM' }), 'CRM')
  t.equal(sourceLabel({ sourceId: 'legacy', name: null }), 'legacy')
  t.equal(formatShare(0.4444), '44.4%')
  t.equal(formatShare(1), '100%')
  t.equal(formatShare(0), '0%')
})

t.test('the Models view: training form and formatting', async (t) => {
  const candidates = [{ algorithm: 'logistic', l2: 1 }, { algorithm: 'gbm', trees: 300 }]
  const ok = validateTrainForm({ ...defaultTrainForm(2), eventTypes: 'purchase, signed ,purchase', horizonDays: '14', candidates: [0], folds: '3', exclude: 'internal_id' }, candidates)
  t.same(ok.errors, {})
  t.same(ok.body, {
    outcome: { kind: 'event', eventTypes: ['purchase', 'signed'], horizonDays: 14 },
    features: { attributes: { exclude: ['internal_id'] }, activity: true, ruleScores: true },
    candidates: [{ algorithm: 'logistic', l2: 1 }], folds: 3, testFraction: 0.2, seed: 1, calibration: 'platt',
  })
  const bad = validateTrainForm({ ...defaultTrainForm(2), eventTypes: ' , ', horizonDays: '0', candidates: [], folds: '11', testFraction: '0.9', seed: '-1', asOf: 'soon' }, candidates)
  t.equal(bad.body, null)
  t.match(bad.errors, { eventTypes: /at least one/, horizonDays: /1 to 3650/, candidates: /at least one/, folds: /2 to 10/, testFraction: /0.05/, seed: /whole/, asOf: /Not a date/ })
  const attr = validateTrainForm({ ...defaultTrainForm(1), outcomeKind: 'attribute', attributeName: 'Converted', attributeValues: '1', asOf: '2025-06-01T00:00', from: '2025-01-01T00:00' }, candidates)
  t.match(attr.body, { outcome: { kind: 'attribute', name: 'Converted', values: ['1'] }, asOf: new Date('2025-06-01T00:00').toISOString(), from: new Date('2025-01-01T00:00').toISOString() })
  t.match(validateTrainForm({ ...defaultTrainForm(1), asOf: '2025-01-01T00:00', from: '2025-06-01T00:00' }, candidates).errors, { from: /before the cutoff/ })

  t.equal(outcomeText({ kind: 'event', eventTypes: ['purchase', 'renewal'], horizonDays: 30 }), 'purchase or renewal within 30 days')
  t.equal(outcomeText({ kind: 'status', values: ['converted'] }), 'status is converted')
  t.equal(metric(null), '—')
  t.equal(metric(0.81234), '0.812')
  t.equal(rate(0.125), '12.5\u00a0%')
  t.equal(delta(-0.02), '\u22120.020')
  t.equal(delta(0.02), '+0.020')
  t.equal(driftTone('alarm'), 'danger')
  t.equal(driftTone('insufficient-data'), '')
  t.equal(jobPercent(null), 0)
  t.equal(jobPercent({ state: 'running', done: 3, total: 12 } as never), 25)
  t.equal(jobPercent({ state: 'done', done: 0, total: 0 } as never), 100)
})
