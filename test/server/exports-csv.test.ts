// RELIABILITY.md case 20: CSV export formula injection (GET /v1/exports/leads), plus the NDJSON export.
import t from 'tap'
import { buildTestApp, postEvents, waitForScoring, AUTH, rebuildViews } from '../helpers/harness.js'
import { assertLedger, assertProblem, rid } from '../helpers/ledger.js'

/** Minimal RFC 4180 parser: quoted fields may hold commas, quotes ("") and CR/LF; records end with CRLF. */
function parseCsv (text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let cell = ''
  let quoted = false
  let i = 0
  while (i < text.length) {
    const ch = text[i]!
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { cell += '"'; i += 2; continue }
      if (ch === '"') { quoted = false; i++; continue }
      cell += ch; i++; continue
    }
    if (ch === '"') { quoted = true; i++; continue }
    if (ch === ',') { row.push(cell); cell = ''; i++; continue }
    if (ch === '\r' && text[i + 1] === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; i += 2; continue }
    cell += ch; i++
  }
  if (cell !== '' || row.length > 0) { row.push(cell); rows.push(row) }
  return rows
}

const HOSTILE = ['=HYPERLINK("http://x","y")', '+1+1', '-2+3', '@SUM(A1)', '\t=1', '\r=1', '=cmd|\' /C calc\'!A0']

t.test('hostile lead names are exported as quoted text cells starting with \'; numbers are left alone', async (t) => {
  const { app, db } = await buildTestApp(t)
  // leads created through the API; names set with PATCH, which keeps leading tabs and CRs exactly
  const ids: string[] = []
  for (const [i, name] of HOSTILE.entries()) {
    const res = await app.inject({ method: 'POST', url: '/v1/leads', headers: AUTH, payload: { email: `csv${i}@example.com` } })
    t.equal(res.statusCode, 201)
    const id = res.json().id as string
    const patch = await app.inject({ method: 'PATCH', url: `/v1/leads/${id}`, headers: AUTH, payload: { name, company: name } })
    t.equal(patch.statusCode, 200)
    t.equal(patch.json().name, name, 'the name is stored exactly')
    ids.push(id)
  }
  // a scored lead (numeric score 50) and one with a negative numeric score
  const rid1 = rid('csv-scored')
  const scored = await postEvents(app, { externalId: 'csv-e1', lead: { email: 'scored@example.com', name: 'Plain Name' }, type: 'demo_request' }, { 'x-request-id': rid1 })
  t.equal(scored.statusCode, 202)
  await assertLedger(t, db, scored, rid1, 1)
  await waitForScoring(db)
  const negId = ids[0]!
  // no default rule can take a score below its floor of 0, so the stored number is set directly for the export
  await db.c.leads.updateOne({ _id: negId }, { $set: { score: -5, 'scores.engagement': -5 } })

  const res = await app.inject({ url: '/v1/exports/leads?format=csv', headers: AUTH })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/csv; charset=utf-8/)
  t.match(res.headers['content-disposition'], /^attachment; filename="leads-[\w-]+\.csv"$/)
  const rows = parseCsv(res.body)
  const header = rows[0]!
  t.match(header, ['id', 'email', 'externalId', 'name', 'company'])
  const leadCount = await db.c.leads.countDocuments({})
  t.equal(leadCount, HOSTILE.length + 1)
  t.equal(rows.length - 1, leadCount, 'nothing lost: one row per lead')
  const col = (n: string): number => header.indexOf(n)
  const byId = new Map(rows.slice(1).map((r) => [r[col('id')]!, r]))
  t.equal(byId.size, leadCount)

  // raw text check: every hostile cell is quoted and starts with '
  for (const name of HOSTILE) {
    const quoted = `"'${name.replace(/"/g, '""')}"`
    t.ok(res.body.includes(quoted), `${JSON.stringify(name)} is written as ${JSON.stringify(quoted)}`)
  }
  for (const [i, id] of ids.entries()) {
    const r = byId.get(id)!
    t.equal(r[col('name')], `'${HOSTILE[i]!}`, `name ${JSON.stringify(HOSTILE[i])} is neutralized`)
    t.equal(r[col('company')], `'${HOSTILE[i]!}`, 'company too')
  }
  // no cell in the whole file starts with a formula trigger
  for (const r of rows.slice(1)) for (const cell of r) t.notOk(/^[=+@\t\r\0]/.test(cell) || /^-(?!\d+(\.\d+)?$)/.test(cell), `cell ${JSON.stringify(cell)} is safe`)

  // numbers are written bare, not quoted and not prefixed
  t.ok(res.body.split('\r\n').some((line) => line.startsWith(`"${negId}",`) && line.includes(',-5,')), 'score -5 is written as a bare number')
  t.equal(byId.get(negId)![col('score')], '-5')
  const scoredRow = rows.slice(1).find((r) => r[col('email')] === 'scored@example.com')!
  t.equal(scoredRow[col('score')], '50')
  t.equal(scoredRow[col('name')], 'Plain Name', 'a plain name is not prefixed')
})

t.test('the export row count equals the lead count of the same query; NDJSON parses line by line', async (t) => {
  const { app, db } = await buildTestApp(t)
  // leads created through the API (no scoring involved), scores set in the database so the filters have data
  for (let i = 0; i < 30; i++) {
    const name = i % 3 === 0 ? `=evil${i}` : `Name, "quoted" ${i}\nline2`
    const res = await app.inject({ method: 'POST', url: '/v1/leads', headers: AUTH, payload: { email: `x${i}@example.com`, name } })
    t.equal(res.statusCode, 201)
    await db.c.leads.updateOne({ _id: res.json().id as string }, { $set: { score: i * 3 } })
  }
  await rebuildViews(app)
  for (const query of ['', '&minScore=10', '&q=evil', '&maxScore=5']) {
    const list = await app.inject({ url: `/v1/leads?limit=500${query}`, headers: AUTH })
    t.equal(list.statusCode, 200)
    const expected = list.json().items.length as number
    const csv = await app.inject({ url: `/v1/exports/leads?format=csv${query}`, headers: AUTH })
    t.equal(csv.statusCode, 200)
    t.equal(parseCsv(csv.body).length - 1, expected, `CSV rows for "${query}" = ${expected}`)
    const nd = await app.inject({ url: `/v1/exports/leads?format=ndjson${query}`, headers: AUTH })
    t.equal(nd.statusCode, 200)
    t.match(nd.headers['content-type'], /^application\/x-ndjson/)
    t.match(nd.headers['content-disposition'], /^attachment; filename="leads-[\w-]+\.ndjson"$/)
    t.ok(nd.body.endsWith('\n') || nd.body === '', 'NDJSON ends with a newline')
    const lines = nd.body.split('\n').filter((l) => l !== '')
    t.equal(lines.length, expected, `NDJSON lines for "${query}" = ${expected}`)
    const parsed = lines.map((l) => JSON.parse(l) as { id: string; name: string | null; score: number })
    for (const p of parsed) t.match(p, { id: String, score: Number })
    if (query === '') {
      t.equal(expected, 30)
      // NDJSON is data, not a spreadsheet: names come out exactly as stored
      t.ok(parsed.some((p) => p.name === '=evil0'), 'NDJSON keeps the raw name')
      t.ok(parsed.some((p) => p.name === 'Name, "quoted" 1\nline2'), 'a name with comma, quotes and newline survives')
      const rows = parseCsv(csv.body)
      const nameCol = rows[0]!.indexOf('name')
      t.ok(rows.some((r) => r[nameCol] === 'Name, "quoted" 1\nline2'), 'CSV quoting keeps the multi-line name in one cell')
    }
  }
  assertProblem(t, await app.inject({ url: '/v1/exports/leads?format=xlsx', headers: AUTH }), 400, 'LS_ERR_VALIDATION', 'unknown format')
})
