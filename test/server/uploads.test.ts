// POST /v1/uploads over a real listening server and a raw multipart client: CSV (BOM, CRLF, quoted newlines and
// quotes), JSON arrays and NDJSON, rejects with line numbers, counts that add up, re-upload detection, leads files,
// progress on the live WebSocket and on GET while a file streams, a client that goes away mid-file, limits, and a
// 200,000-row file streamed in bounded memory.
import t from 'tap'
import type { Test } from 'tap'
import { once } from 'node:events'
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import { buildTestApp, waitForScoring, AUTH, ADMIN_KEY, eventStatusCounts } from '../helpers/harness.js'
import { upload, type UploadAnswer, type UploadOptions } from '../helpers/upload-client.js'
import { unpackProperties } from '../../server/src/domain/events/stored-properties.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const sleep = async (ms: number): Promise<void> => await new Promise((r) => setTimeout(r, ms))

async function listen (app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as AddressInfo).port
}

/** GET through inject: the JSON body, with the HTTP status as `http`. */
async function get (app: FastifyInstance, url: string): Promise<Json> {
  const res = await app.inject({ url, headers: AUTH })
  return { http: res.statusCode, ...(res.json() as Json) }
}

type Tap = Test

function counts (t: Tap, r: Json, expected: { rows: number; accepted: number; duplicates?: number; rejected: number }, what: string): void {
  t.match(r, { rows: expected.rows, accepted: expected.accepted, duplicates: expected.duplicates ?? 0, rejected: expected.rejected }, `${what}: counts`)
  t.equal(r.rows, r.accepted + r.duplicates + r.rejected, `${what}: rows = accepted + duplicates + rejected`)
}
function problem (t: Tap, res: UploadAnswer | null, status: number, code: string, what: string): Json {
  t.ok(res !== null, `${what}: answered`)
  t.equal(res?.status, status, `${what}: status ${status} (${res?.text.slice(0, 300)})`)
  t.match(res?.headers['content-type'] ?? '', /^application\/problem\+json/, `${what}: a problem`)
  t.equal(res?.body.code, code, `${what}: ${code}`)
  return res?.body ?? {}
}

/** Lines of a CSV joined with CRLF. */
const crlf = (lines: string[]): string => lines.map((l) => `${l}\r\n`).join('')

t.test('a CSV with a BOM, CRLF, quoted newlines and quotes: rows stored, bad rows rejected with their lines', async (t) => {
  const { app, db } = await buildTestApp(t)
  const port = await listen(app)
  const file = '\ufeff' + crlf([
    'E-mail,Event,Timestamp,Plan,Note', // line 1
    'ada@example.com,page_view,2024-05-01T10:00:00Z,pro,"line one', // 2
    'line two"', // 3
    'grace@example.com,demo_request,2024-05-01T11:00:00Z,free,"she said ""hi"", twice"', // 4
    'not-an-email,page_view,2024-05-01T12:00:00Z,free,x', // 5: bad identity
    'linus@example.com,page_view', // 6: ragged
    '', // 7: blank, skipped
    'margaret@example.com,,2024-05-01T13:00:00Z,free,x', // 8: no type
    'alan@example.com,purchase,05/01/2024,free,x', // 9: not ISO 8601
    'barbara@example.com,email_open,2024-05-01T14:00:00Z,42,', // 10: numbers become numbers, empty cells set nothing
  ])
  const res = await upload(port, { file, filename: 'events.csv' })
  t.equal(res?.status, 201, String(res?.text.slice(0, 500)))
  const r = res!.body
  counts(t, r, { rows: 7, accepted: 3, rejected: 4 }, 'report')
  t.match(r, { status: 'done', kind: 'events', format: 'csv', filename: 'events.csv', sha256: /^[0-9a-f]{64}$/ })
  t.notOk('duplicateOf' in r, 'a first upload is not a duplicate')
  t.equal(res!.headers.location, `/v1/uploads/${r.id as string}`, 'Location names the upload')
  t.match(r.id, /^up_/)
  t.same(r.rejects.map((x: Json) => [x.line, x.code]), [
    [5, 'LS_ERR_LEAD_IDENTITY_INVALID'], [6, 'LS_ERR_UPLOAD_ROW_INVALID'], [8, 'LS_ERR_EVENT_TYPE_INVALID'], [9, 'LS_ERR_TIMESTAMP_INVALID'],
  ], 'rejects carry the line each row starts on')
  t.match(r.rejects[1].reason, /2 cells; the header has 5/)

  const events = await db.c.events.find({ requestId: r.id }).toArray()
  t.equal(events.length, 3, 'three events stored')
  const byLead = new Map(events.map((e) => [e.leadId, e]))
  const ada = await db.c.leads.findOne({ email: 'ada@example.com' })
  t.ok(ada !== null, 'the first column is read as the email despite the BOM')
  t.same(unpackProperties(byLead.get(ada!._id)?.properties), { Plan: 'pro', Note: 'line one\r\nline two' }, 'a quoted field keeps its CRLF')
  const grace = await db.c.leads.findOne({ email: 'grace@example.com' })
  t.same(unpackProperties(byLead.get(grace!._id)?.properties), { Plan: 'free', Note: 'she said "hi", twice' }, 'doubled quotes are one quote')
  const barbara = await db.c.leads.findOne({ email: 'barbara@example.com' })
  t.same(unpackProperties(byLead.get(barbara!._id)?.properties), { Plan: 42 }, 'a canonical number is stored as a number; an empty cell sets nothing')
  t.equal(byLead.get(ada!._id)?.sourceId, 'upload')
  t.equal(byLead.get(ada!._id)?.occurredAt.toISOString(), '2024-05-01T10:00:00.000Z')

  const job = await get(app, `/v1/uploads/${r.id as string}`)
  t.match(job, { http: 200, id: r.id, status: 'done', kind: 'events', format: 'csv', rows: 7, rowsRead: 7, accepted: 3, rejected: 4, duplicates: 0, error: null, sha256: r.sha256, createdBy: String })
  // written while the rows were being stored: neither write may be lost to the other
  t.match(job, { received: true, resumes: 0 }, 'the record says the whole file arrived')
  t.equal(job.bytes, Buffer.byteLength(file), 'every byte read')
  t.same(job.mapping, { 'E-mail': 'lead.email', Event: 'type', Timestamp: 'occurredAt', Plan: 'properties.Plan', Note: 'properties.Note' }, 'the resolved automatic mapping is recorded')
  t.ok(job.finishedAt !== null)

  const page1 = await get(app, `/v1/uploads/${r.id as string}/rejects?limit=3`)
  t.equal(page1.items.length, 3)
  t.same(page1.items.map((x: Json) => x.line), [5, 6, 8], 'rejects in file order')
  t.match(page1.items[1], { index: 3, code: 'LS_ERR_UPLOAD_ROW_INVALID', raw: /linus@example.com/ })
  const page2 = await get(app, `/v1/uploads/${r.id as string}/rejects?limit=3&cursor=${page1.nextCursor as string}`)
  t.same(page2.items.map((x: Json) => x.line), [9])
  t.equal(page2.nextCursor, null)
  t.equal(await db.c.ingestRejects.countDocuments({ requestId: r.id }), 4, 'every reject is stored')
  const viaRejects = await get(app, `/v1/rejects?requestId=${r.id as string}`)
  t.equal(viaRejects.items.length, 4, 'the rejects are in the shared reject store')

  const list = await get(app, '/v1/uploads')
  t.equal(list.items[0].id, r.id, 'listed')
  t.equal((await get(app, '/v1/uploads/up_nope')).code, 'LS_ERR_UPLOAD_NOT_FOUND')
  t.equal((await get(app, '/v1/uploads/up_nope/rejects')).code, 'LS_ERR_UPLOAD_NOT_FOUND')
  await waitForScoring(db)
  t.equal((await db.c.leads.findOne({ _id: grace!._id }))!.score, 50, 'uploaded events are scored like any other')
})

t.test('JSON arrays and NDJSON: records mapped like columns, bad records rejected with their lines', async (t) => {
  const { app, db } = await buildTestApp(t)
  const port = await listen(app)
  const json = `[
  {"email": "j1@example.com", "event": "page_view", "path": "/pricing"},
  {"lead": {"email": "j2@example.com", "name": "Jo"}, "type": "email_open", "properties": {"campaign": "c1"}, "occurredAt": "2024-06-01T00:00:00Z"},
  42,
  {"email": "j3@example.com"},
  {"email": "j4@example.com", "type": "form_submit", "__proto__": {"admin": true}},
  {"email": "j5@example.com", "type": "page_view", "nested": {"a": [1, {"b": "]}"}]}}
]`
  const r1 = await upload(port, { file: json, filename: 'events.json', contentType: 'application/json' })
  t.equal(r1?.status, 201, String(r1?.text.slice(0, 500)))
  counts(t, r1!.body, { rows: 6, accepted: 3, rejected: 3 }, 'json')
  t.equal(r1!.body.format, 'json')
  t.same(r1!.body.rejects.map((x: Json) => [x.line, x.code]), [[4, 'LS_ERR_UPLOAD_ROW_INVALID'], [5, 'LS_ERR_EVENT_TYPE_INVALID'], [6, 'LS_ERR_UPLOAD_ROW_INVALID']])
  t.match(r1!.body.rejects[2].reason, /__proto__/)
  const j2 = await db.c.events.findOne({ requestId: r1!.body.id, type: 'email_open' })
  t.same(unpackProperties(j2?.properties), { campaign: 'c1' }, 'an API-shaped record keeps its meaning')
  // properties are stored packed (no query reads inside them): the request's events are read and looked at here
  const stored = (await db.c.events.find({ requestId: r1!.body.id }).toArray()).map((e) => ({ type: e.type, properties: unpackProperties(e.properties) }))
  t.same(stored.find((e) => e.type === 'page_view' && e.properties.path === '/pricing')?.properties, { path: '/pricing' })
  t.same(stored.find((e) => 'nested' in e.properties)?.properties, { nested: { a: [1, { b: ']}' }] } }, 'brackets inside strings do not end a record')
  t.equal(({} as Json).admin, undefined, 'no prototype pollution')

  const ndjson = [
    '{"email":"n1@example.com","event":"page_view"}', // 1
    '', // 2 blank
    '{"email":"n2@example.com","event":"page_view"', // 3 broken JSON
    '[1,2]', // 4 not an object
    '{"email":"n3@example.com","event":"demo_request","ts":1714557600}', // 5 epoch seconds
    '{"email":"n4@example.com","event":"page_view"}\r', // 6 CRLF
  ].join('\n')
  const r2 = await upload(port, { file: ndjson, filename: 'events.ndjson', contentType: 'application/x-ndjson' })
  t.equal(r2?.status, 201, String(r2?.text.slice(0, 500)))
  counts(t, r2!.body, { rows: 5, accepted: 3, rejected: 2 }, 'ndjson')
  t.same(r2!.body.rejects.map((x: Json) => x.line), [3, 4])
  t.match(r2!.body.rejects[0].reason, /not valid JSON/)
  const n3 = await db.c.events.findOne({ requestId: r2!.body.id, type: 'demo_request' })
  t.equal(n3?.occurredAt.toISOString(), '2024-05-01T10:00:00.000Z', 'epoch seconds are a time')

  // format from the first byte when neither the name nor the type tells
  const r3 = await upload(port, { file: '{"email":"s1@example.com","event":"page_view"}\n', filename: 'blob', contentType: 'application/octet-stream' })
  t.equal(r3?.body.format, 'ndjson')
  // shapes that are not an array of objects
  problem(t, await upload(port, { file: '{"email":"x@example.com","event":"page_view"}\n{"email":"y@example.com","event":"page_view"}', filename: 'x.json' }), 400, 'LS_ERR_UPLOAD_FORMAT', 'NDJSON sent as .json')
  problem(t, await upload(port, { file: '"just a string"', fields: { format: 'json' } }), 400, 'LS_ERR_UPLOAD_FORMAT', 'a scalar')
  const empty = await upload(port, { file: ' [ ] ', fields: { format: 'json' } })
  t.equal(empty?.status, 201, 'an empty array is an empty upload')
  counts(t, empty!.body, { rows: 0, accepted: 0, rejected: 0 }, 'empty array')
  const cut = problem(t, await upload(port, { file: '[{"email":"c1@example.com","event":"page_view"},\n{"email":"c2@exa', fields: { format: 'json' } }), 400, 'LS_ERR_UPLOAD_PARSE', 'a truncated array')
  t.match(cut, { line: 2, rows: 1, accepted: 1, uploadId: /^up_/ }, 'the rows before the break are stored and counted')
  problem(t, await upload(port, { file: '', filename: 'e.csv' }), 400, 'LS_ERR_UPLOAD_FORMAT', 'an empty file')
})

t.test('an explicit mapping, a source label, a semicolon CSV, UTF-16 and re-upload detection', async (t) => {
  const { app, db } = await buildTestApp(t)
  const port = await listen(app)
  const file = crlf(['Kontakt;Aktion;Zeit;Kampagne;Intern', 'm1@example.com;page_view;1714557600000;spring;x', 'm2@example.com;form_submit;2024-05-01 09:30:00Z;fall;y'])
  const mapping = JSON.stringify({ Kontakt: 'lead.email', Aktion: 'type', Zeit: 'occurredAt', Kampagne: 'properties.campaign', Intern: null })
  const r1 = await upload(port, { file, fields: { mapping, sourceId: 'crm_export' } })
  t.equal(r1?.status, 201, String(r1?.text.slice(0, 500)))
  counts(t, r1!.body, { rows: 2, accepted: 2, rejected: 0 }, 'mapped')
  const ev = await db.c.events.findOne({ requestId: r1!.body.id, type: 'page_view' })
  t.match(ev, { sourceId: 'upload:crm_export' })
  t.match(unpackProperties(ev?.properties), { campaign: 'spring' })
  t.equal(ev?.occurredAt.toISOString(), '2024-05-01T10:00:00.000Z', 'epoch milliseconds are a time')
  t.notOk('Intern' in unpackProperties(ev?.properties), 'a column mapped to null is dropped')

  // the same bytes again: every row a duplicate, and the report names the first upload
  const r2 = await upload(port, { file, fields: { mapping, sourceId: 'crm_export' } })
  counts(t, r2!.body, { rows: 2, accepted: 0, duplicates: 2, rejected: 0 }, 're-upload')
  t.equal(r2!.body.duplicateOf, r1!.body.id, 'duplicateOf names the earlier upload')
  t.equal(r2!.body.sha256, r1!.body.sha256)
  t.equal((await get(app, `/v1/uploads/${r2!.body.id as string}`)).duplicateOf, r1!.body.id)
  t.equal(await db.c.events.countDocuments({ sourceId: 'upload:crm_export' }), 2, 'nothing stored twice')
  // the same bytes under another source are other events
  const r3 = await upload(port, { file, fields: { mapping, sourceId: 'other' } })
  counts(t, r3!.body, { rows: 2, accepted: 2, rejected: 0 }, 'another source')
  t.notOk('duplicateOf' in r3!.body)

  // UTF-16LE with a byte order mark is transcoded
  const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('email,event,name\nü1@example.com,page_view,Zoë\n', 'utf16le')])
  const r4 = await upload(port, { file: utf16, filename: 'u16.csv' })
  t.equal(r4?.status, 201, String(r4?.text.slice(0, 300)))
  counts(t, r4!.body, { rows: 1, accepted: 1, rejected: 0 }, 'utf-16')
  t.equal((await db.c.events.findOne({ requestId: r4!.body.id }))?.leadProfile?.name, 'Zoë')
})

t.test('header, mapping, form and encoding problems are answered as problems; nothing is stored', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_UPLOAD_MAX_COLUMNS: '6' })
  const port = await listen(app)
  const cases: Array<[string, UploadOptions, number, string, RegExp?]> = [
    ['duplicate header', { file: 'email,event,email\na@example.com,page_view,b@example.com\n' }, 400, 'LS_ERR_UPLOAD_HEADER', /appears twice/],
    ['forbidden header', { file: 'email,event,__proto__\na@example.com,page_view,x\n' }, 400, 'LS_ERR_UPLOAD_HEADER'],
    ['no type column', { file: 'email,when\na@example.com,2024-01-01\n' }, 400, 'LS_ERR_UPLOAD_MAPPING', /event type/],
    ['no identity column', { file: 'event,when\npage_view,2024-01-01\n' }, 400, 'LS_ERR_UPLOAD_MAPPING', /identity/],
    ['two columns for one field', { file: 'email,E-Mail,event\na@example.com,b@example.com,page_view\n' }, 400, 'LS_ERR_UPLOAD_MAPPING', /both map to lead.email/],
    ['mapping names a missing column', { file: 'email,event\na@example.com,page_view\n', fields: { mapping: '{"Mail":"lead.email"}' } }, 400, 'LS_ERR_UPLOAD_MAPPING', /does not have/],
    ['mapping to an unknown field', { file: 'email,event\na@example.com,page_view\n', fields: { mapping: '{"email":"lead.score"}' } }, 400, 'LS_ERR_UPLOAD_MAPPING'],
    ['mapping that is not JSON', { file: 'email,event\na@example.com,page_view\n', fields: { mapping: '{nope' } }, 400, 'LS_ERR_UPLOAD_MAPPING'],
    ['type mapped in a leads upload', { file: 'email,event\na@example.com,page_view\n', fields: { kind: 'leads', mapping: '{"event":"type"}' } }, 400, 'LS_ERR_UPLOAD_MAPPING'],
    ['too many columns', { file: 'email,event,a,b,c,d,e\na@example.com,page_view,1,2,3,4,5\n' }, 400, 'LS_ERR_UPLOAD_HEADER', /limit is 6/],
    ['bad kind', { file: 'email,event\n', fields: { kind: 'contacts' } }, 400, 'LS_ERR_VALIDATION'],
    ['bad format', { file: 'email,event\n', fields: { format: 'xlsx' } }, 400, 'LS_ERR_VALIDATION'],
    ['bad source label', { file: 'email,event\n', fields: { sourceId: 'Has Spaces' } }, 400, 'LS_ERR_VALIDATION'],
    ['unknown field', { file: 'email,event\n', fields: { colour: 'red' } }, 400, 'LS_ERR_VALIDATION'],
  ]
  for (const [what, opts, status, code, detail] of cases) {
    const body = problem(t, await upload(port, opts), status, code, what)
    if (detail !== undefined) t.match(body.detail, detail, `${what}: detail`)
  }
  t.equal(await db.c.events.countDocuments({}), 0, 'no event stored')
  t.equal(await db.c.leads.countDocuments({}), 0, 'no lead created')
  const failed = await get(app, '/v1/uploads?status=failed&limit=100')
  t.equal(failed.items.length, cases.length, 'each attempt is a failed upload with its error')
  t.ok(failed.items.every((u: Json) => typeof u.error?.code === 'string'))

  // invalid UTF-8 stops the file at its line (rows before it are kept); never silently replaced
  const bad = Buffer.concat([Buffer.from('email,event,name\nu1@example.com,page_view,ok\nu2@example.com,page_view,'), Buffer.from([0xc3, 0x28]), Buffer.from('\n')])
  const enc = problem(t, await upload(port, { file: bad }), 400, 'LS_ERR_INVALID_ENCODING', 'invalid UTF-8')
  t.match(enc, { line: 3, rows: 1, accepted: 1 })

  // not multipart
  const json = await app.inject({ method: 'POST', url: '/v1/uploads', headers: { ...AUTH, 'content-type': 'application/json' }, payload: '{"a":1}' })
  t.equal(json.statusCode, 415)
  t.equal(json.json().code, 'LS_ERR_UNSUPPORTED_MEDIA_TYPE')
  const csv = await app.inject({ method: 'POST', url: '/v1/uploads', headers: { ...AUTH, 'content-type': 'text/csv' }, payload: 'email,event\n' })
  t.equal(csv.statusCode, 415)
  t.equal(csv.json().code, 'LS_ERR_UNSUPPORTED_MEDIA_TYPE')
  // scopes: a read-only caller cannot upload
  const readKey = (await app.inject({ method: 'POST', url: '/v1/api-keys', headers: AUTH, payload: { name: 'reader', scopes: ['read'] } })).json().key as string
  problem(t, await upload(port, { file: 'email,event\n', headers: { authorization: `Bearer ${readKey}` } }), 403, 'LS_ERR_FORBIDDEN', 'read scope')
})

t.test('limits: a file over the size limit is 413 and never truncated silently; an unclosed quote stops at its line', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_UPLOAD_MAX_BYTES: '20000', LEADSCORE_UPLOAD_MAX_ROW_BYTES: '2048', LEADSCORE_UPLOAD_BATCH_ROWS: '50', LEADSCORE_UPLOAD_IDLE_TIMEOUT_MS: '1000' })
  const port = await listen(app)
  const rows = (from: number, n: number): string => Array.from({ length: n }, (_, i) => `big${from + i}@example.com,page_view,2024-05-01T10:00:00Z\n`).join('')
  // chunked, so the size is only known while reading: rows before the limit are stored, the answer says so
  async function * chunks (): AsyncGenerator<string> {
    yield 'email,event,time\n'
    for (let i = 0; i < 20; i++) yield rows(i * 50, 50)
  }
  const over = problem(t, await upload(port, { file: chunks() }), 413, 'LS_ERR_UPLOAD_TOO_LARGE', 'a chunked file over the limit')
  t.ok(over.rows > 0 && over.rows < 1000, `some rows were stored before the limit (${over.rows as number})`)
  t.equal(over.rows, over.accepted + over.duplicates + over.rejected)
  const job = await get(app, `/v1/uploads/${over.uploadId as string}`)
  t.match(job, { status: 'failed', error: { code: 'LS_ERR_UPLOAD_TOO_LARGE' } })
  t.ok(job.bytes <= 20000, 'no byte past the limit was read')
  t.equal(await db.c.events.countDocuments({ requestId: over.uploadId }), over.accepted, 'exactly the counted rows are stored')
  // with a Content-Length over the limit, before reading anything
  const early = problem(t, await upload(port, { file: 'x'.repeat(1_100_000) }), 413, 'LS_ERR_UPLOAD_TOO_LARGE', 'Content-Length over the limit')
  t.equal(early.uploadId, undefined, 'refused before an upload was started')

  // an unclosed quote: the rows before it are kept, the rest is refused with the line where the broken row starts
  const quote = 'email,event,note\n' + rows(5000, 30).replace(/,2024-05-01T10:00:00Z/g, ',ok') + 'q@example.com,page_view,"never closed\n' + rows(6000, 100).replace(/,2024-05-01T10:00:00Z/g, ',x')
  const stop = problem(t, await upload(port, { file: quote }), 400, 'LS_ERR_UPLOAD_PARSE', 'an unclosed quote')
  t.match(stop, { line: 32, rows: 30, accepted: 30 })
  t.match(stop.detail, /from line 32/)
  t.match((await get(app, `/v1/uploads/${stop.uploadId as string}`)).error, { code: 'LS_ERR_UPLOAD_PARSE', line: 32 })

  // a client that stops sending is cut off; what it sent is kept
  let paused = false
  async function * stalls (): AsyncGenerator<string> {
    yield 'email,event,time\n' + rows(7000, 10)
    yield rows(7010, 10)
  }
  const idle = problem(t, await upload(port, { file: stalls(), afterChunk: async () => { if (!paused) { paused = true; await sleep(3000) } } }), 408, 'LS_ERR_TIMEOUT', 'a stalled client')
  t.ok(idle.rows >= 9 && idle.rows <= 10 && idle.accepted === idle.rows, `the rows sent before the stall are stored (${idle.rows as number})`)
  t.match((await get(app, `/v1/uploads/${idle.uploadId as string}`)).error, { code: 'LS_ERR_TIMEOUT' })

  // a JSON record over the row limit is one reject, and reading goes on
  const big = `[{"email":"r1@example.com","event":"page_view","pad":"${'x'.repeat(3000)}"},{"email":"r2@example.com","event":"page_view"}]`
  const r = await upload(port, { file: big, fields: { format: 'json' } })
  t.equal(r?.status, 201)
  counts(t, r!.body, { rows: 2, accepted: 1, rejected: 1 }, 'oversized record')
  t.equal(r!.body.rejects[0].code, 'LS_ERR_UPLOAD_ROW_TOO_LARGE')
})

t.test('a leads file creates and updates leads and their attributes through the scoring worker', async (t) => {
  const { app, db } = await buildTestApp(t)
  const port = await listen(app)
  // a fit rule on the leads' own rows: it must see the attributes the row carries
  const active = (await app.inject({ url: '/v1/rulesets/active', headers: AUTH })).json() as Json
  const fit = {
    name: 'ceo-fit', priority: 1,
    conditions: { all: [{ fact: 'event', path: 'type', operator: 'equal', value: 'lead_updated' }, { fact: 'lead', path: 'attributes.role', operator: 'equal', value: 'CEO' }] },
    event: { type: 'score', params: { ruleId: 'ceo-fit', action: 'add', dimension: 'fit', points: 30, reason: 'CEO', limit: { count: 1 } } },
  }
  const put = await app.inject({ method: 'PUT', url: '/v1/rulesets/active', headers: AUTH, payload: { rules: [...(active.rules as Json[]), fit], note: 'fit on role' } })
  t.equal(put.statusCode, 201, put.body.slice(0, 300))

  const file = crlf([
    'name,email,role,company,industry,location,source,external id',
    'Ada Lovelace,ada@leads.example,CEO,Northwind,Retail,US,paid_search,crm-1',
    'Grace Hopper,grace@leads.example,Engineer,Contoso,Software,US,organic,crm-2',
    'No Identity,,Analyst,Fabrikam,Manufacturing,DE,referral,',
  ])
  const r1 = await upload(port, { file, fields: { kind: 'leads' }, filename: 'leads.csv' })
  t.equal(r1?.status, 201, String(r1?.text.slice(0, 500)))
  counts(t, r1!.body, { rows: 3, accepted: 2, rejected: 0 + 1 }, 'leads')
  t.equal(r1!.body.kind, 'leads')
  t.same((await get(app, `/v1/uploads/${r1!.body.id as string}`)).mapping, {
    name: 'lead.name', email: 'lead.email', role: 'lead.attributes.role', company: 'lead.company', industry: 'lead.attributes.industry',
    location: 'lead.attributes.location', source: 'lead.attributes.source', 'external id': 'lead.externalId',
  })
  t.equal(r1!.body.rejects[0].line, 4)
  await waitForScoring(db)
  const ada = await db.c.leads.findOne({ email: 'ada@leads.example' })
  t.match(ada, { name: 'Ada Lovelace', company: 'Northwind', externalId: 'crm-1', attributes: { role: 'CEO', industry: 'Retail', location: 'US', source: 'paid_search' } })
  t.equal(ada?.scores.fit, 30, 'the fit rule saw the attributes of the row it scored')
  t.match(await db.c.leads.findOne({ email: 'grace@leads.example' }), { name: 'Grace Hopper', attributes: { role: 'Engineer' }, scores: { fit: 0 } })
  t.same(await db.c.events.distinct('type', { requestId: r1!.body.id }), ['lead_updated'], 'every row is a lead_updated event')
  t.equal((await eventStatusCounts(db, { requestId: r1!.body.id })).scored, 2, 'scored, not unmapped')
  const lead = (await app.inject({ url: `/v1/leads/${ada!._id}`, headers: AUTH })).json() as Json
  t.same(lead.attributes, { role: 'CEO', industry: 'Retail', location: 'US', source: 'paid_search' })
  t.same(lead.sources, ['upload'])

  // a second file updates what changed; an unchanged row is a duplicate; empty cells clear nothing
  const r2 = await upload(port, {
    file: crlf(['name,email,role,company,industry,location,source,external id', 'Grace Hopper,grace@leads.example,CEO,Contoso,,US,organic,crm-2', 'Ada Lovelace,ada@leads.example,CEO,Northwind,Retail,US,paid_search,crm-1']),
    fields: { kind: 'leads' },
  })
  counts(t, r2!.body, { rows: 2, accepted: 1, duplicates: 1, rejected: 0 }, 'update')
  await waitForScoring(db)
  const grace = await db.c.leads.findOne({ email: 'grace@leads.example' })
  t.match(grace, { attributes: { role: 'CEO', industry: 'Software' }, scores: { fit: 30 } }, 'the changed attribute is applied and re-scored; the empty cell kept its value')
  t.equal((await db.c.leads.findOne({ email: 'ada@leads.example' }))?.scores.fit, 30, 'once')
})

t.test('progress on the live WebSocket and via GET while a file streams; a client that goes away fails the upload with exact counts', async (t) => {
  // scoring off: not needed here, and it would compete with the uploads for the embedded database
  const { app, db } = await buildTestApp(t, { LEADSCORE_UPLOAD_BATCH_ROWS: '100', LEADSCORE_WORKER: '0' })
  const port = await listen(app)
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/live?topics=uploads`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  const messages: Json[] = []
  ws.on('message', (data: Buffer) => {
    const f = JSON.parse(data.toString('utf8')) as Json
    if (f.type === 'batch') messages.push(...(f.messages as Json[]))
  })
  await once(ws, 'open')
  t.teardown(() => { ws.close() })
  await sleep(300)

  const header = 'email,event,time\n'
  const row = (i: number): string => `slow${i}@example.com,page_view,2024-05-01T10:00:${String(i % 60).padStart(2, '0')}Z\n`
  async function * slow (n: number): AsyncGenerator<string> {
    yield header
    for (let i = 0; i < n; i += 50) yield Array.from({ length: Math.min(50, n - i) }, (_, j) => row(i + j)).join('')
  }
  const seen: Json[] = []
  let uploadId: string | null = null
  const pending = upload(port, {
    file: slow(1000),
    afterChunk: async () => {
      await sleep(60)
      const running = await get(app, '/v1/uploads?status=running')
      if (running.items.length > 0) {
        uploadId = running.items[0].id as string
        seen.push(await get(app, `/v1/uploads/${uploadId}`))
      }
    },
  })
  const res = await pending
  t.equal(res?.status, 201, String(res?.text.slice(0, 300)))
  counts(t, res!.body, { rows: 1000, accepted: 1000, rejected: 0 }, 'slow upload')
  t.equal(uploadId, res!.body.id, 'the running upload was listed while it streamed')
  const during = seen.filter((s) => s.status === 'running')
  t.ok(during.length >= 3, `GET saw it running (${during.length} times)`)
  t.ok(during.some((s) => s.rowsRead > 0 && s.rowsRead < 1000 && s.bytes > 0), 'GET showed partial progress')
  t.ok(during.every((s) => s.rows === s.accepted + s.duplicates + s.rejected), 'the counts add up at every point')

  const deadline = Date.now() + 10_000
  while (!messages.some((m) => m.data.uploadId === res!.body.id && m.data.state === 'done') && Date.now() < deadline) await sleep(100)
  const mine = messages.filter((m) => m.type === 'job.progress' && m.data.uploadId === res!.body.id)
  const running = mine.filter((m) => m.data.state === 'running')
  t.ok(running.length >= 2, `progress messages while running (${running.length})`)
  t.ok(running.some((m) => m.data.rowsRead > 0 && m.data.rowsRead < 1000), 'with partial counts')
  t.same(mine[mine.length - 1]?.data, { jobId: res!.body.id, uploadId: res!.body.id, kind: 'upload', state: 'done', uploadKind: 'events', format: 'csv', filename: 'data.csv', bytes: res!.body.bytes, expectedBytes: null, rowsRead: 1000, rows: 1000, accepted: 1000, duplicates: 0, rejected: 0 }, 'the last message is the final state')
  t.ok(mine.every((m) => m.topics.includes('uploads') && m.topics.includes(`upload:${res!.body.id as string}`)))
  for (let i = 1; i < running.length; i++) {
    t.ok(Date.parse(running[i]!.at as string) - Date.parse(running[i - 1]!.at as string) >= 200, 'progress at most every ~250 ms')
  }

  // the client goes away half way: what was read completely is stored and counted, the upload is failed
  const total = 1200
  const full = header + Array.from({ length: total }, (_, i) => row(10_000 + i)).join('')
  function * pieces (): Generator<string> { for (let i = 0; i < full.length; i += 4096) yield full.slice(i, i + 4096) }
  const gone = await upload(port, {
    file: pieces(),
    abortAfterBytes: Math.floor(full.length / 2),
    afterChunk: async () => { await sleep(5) },
    // go away once the server is reading the file (not while it is still starting the upload)
    beforeAbort: async () => {
      for (const end = Date.now() + 30_000; Date.now() < end; await sleep(50)) {
        const running = await get(app, '/v1/uploads?status=running')
        if (running.items.some((u: Json) => u.bytes > 0)) return
      }
    },
  })
  t.equal(gone, null, 'the client saw no answer')
  let failed: Json | null = null
  // the rows already received are still stored before the upload is marked failed
  for (const end = Date.now() + 90_000; Date.now() < end;) {
    const list = await get(app, '/v1/uploads?status=failed')
    if (list.items.length > 0) { failed = list.items[0] as Json; break }
    await sleep(100)
  }
  t.match(failed, { status: 'failed', error: { code: 'LS_ERR_UPLOAD_ABORTED' } })
  t.ok(failed!.rows > 0 && failed!.rows < total, `part of the file was stored (${failed?.rows as number} rows)`)
  t.equal(failed!.rows, failed!.accepted + failed!.duplicates + failed!.rejected)
  t.equal(failed!.rowsRead, failed!.rows, 'every row read was stored')
  t.equal(await db.c.events.countDocuments({ requestId: failed!.id }), failed!.accepted, 'stored exactly what was counted')
  // the retry of the whole file stores the rest; what the first attempt stored is recognised
  const retry = await upload(port, { file: full })
  counts(t, retry!.body, { rows: total, accepted: total - failed!.accepted, duplicates: failed!.accepted, rejected: 0 }, 'retry')
  t.equal(await db.c.events.countDocuments({ sourceId: 'upload', 'properties.x': { $exists: false }, leadId: { $in: (await db.c.leads.find({ email: { $regex: /^slow1\d{4}@/ } }).project({ _id: 1 }).toArray()).map((l) => l._id as string) } }), total, 'each row stored once')
})

t.test('a 200,000-row CSV streams through in bounded memory', { timeout: 600_000 }, async (t) => {
  // scoring off: this measures the upload path (and keeps the embedded database's work to storing the rows)
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const port = await listen(app)
  const ROWS = 200_000
  const VALID_EVERY = 20 // 10,000 rows stored as events of new leads, the others rejected one by one for their timestamp
  // about 700 bytes a row, in a column the mapping drops: a 130 MB file whose rows stay small once read
  const pad = 'p'.repeat(600)
  let fileBytes = 0
  function * file (): Generator<string> {
    const h = 'email,event,time,page,note\n'
    fileBytes += h.length
    yield h
    for (let i = 0; i < ROWS; i += 1000) {
      let s = ''
      for (let j = i; j < i + 1000; j++) {
        s += `m${j}@bulk.example,page_view,${j % VALID_EVERY === 0 ? `2024-05-01T10:00:${String(j % 60).padStart(2, '0')}Z` : 'yesterday'},/p/${j % 101},"${pad} ${j}"\n`
      }
      fileBytes += Buffer.byteLength(s)
      yield s
    }
  }
  // a full GC before each heap sample, so the heap measured is what is alive (not garbage V8 has yet to collect);
  // RSS is sampled in between too
  v8.setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  const before = process.memoryUsage()
  let peakRss = before.rss
  let peakHeap = before.heapUsed
  const rssSampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss) }, 25)
  const heapSampler = setInterval(() => {
    gc()
    const m = process.memoryUsage()
    peakHeap = Math.max(peakHeap, m.heapUsed)
    peakRss = Math.max(peakRss, m.rss)
  }, 1000)
  const started = Date.now()
  const res = await upload(port, { file: file(), fields: { mapping: JSON.stringify({ note: null }) } })
  clearInterval(rssSampler)
  clearInterval(heapSampler)
  const seconds = (Date.now() - started) / 1000
  t.equal(res?.status, 201, String(res?.text.slice(0, 300)))
  counts(t, res!.body, { rows: ROWS, accepted: ROWS / VALID_EVERY, rejected: ROWS - ROWS / VALID_EVERY }, '200k rows')
  t.equal(res!.body.bytes, fileBytes, 'every byte read')
  t.equal(res!.body.rejects.length, 100, 'the report lists the first 100 rejects')
  t.same(res!.body.rejects.slice(0, 3).map((r: Json) => r.line), [3, 4, 5])
  t.equal(await db.c.events.countDocuments({ requestId: res!.body.id }), ROWS / VALID_EVERY)
  const rssGrowth = peakRss - before.rss
  const heapGrowth = peakHeap - before.heapUsed
  t.comment(`${ROWS} rows, ${(fileBytes / 1048576).toFixed(1)} MB in ${seconds.toFixed(1)} s (${Math.round(ROWS / seconds)} rows/s); peak RSS growth ${(rssGrowth / 1048576).toFixed(1)} MB, peak live heap growth ${(heapGrowth / 1048576).toFixed(1)} MB`)
  t.ok(fileBytes > 120 * 1048576, 'the file is larger than 120 MB')
  t.ok(rssGrowth < fileBytes / 4, `RSS grew by less than a quarter of the file size (${(rssGrowth / 1048576).toFixed(1)} MB)`)
  t.ok(heapGrowth < fileBytes / 10, `the live heap grew by less than a tenth of the file size (${(heapGrowth / 1048576).toFixed(1)} MB)`)
})
