// Upload benchmark: streams a generated CSV through POST /v1/uploads over real HTTP and prints rows/s and the
// server process's peak RSS. Run from the repository root:
//   npm run bench:upload
// Starts an embedded FerretDB (SQLite) in a temporary folder, or uses MONGODB_URI when set. The client runs in the
// same process as the server, so the RSS printed covers both (the generator holds one chunk at a time).
// Environment: BENCH_UPLOAD_ROWS (default 1,000,000), BENCH_UPLOAD_LEADS (leads the rows are spread over; default
// 0 = one new lead per row, the case FerretDB stores without any lookup), BENCH_UPLOAD_BATCH (rows per ingest call,
// default 500), BENCH_UPLOAD_VALID_EVERY (1 = every row valid, the default; n = one row in n valid and the others
// rejected for a bad timestamp), BENCH_UPLOAD_PAD (bytes of padding per row in a column the mapping drops, default
// 0: makes the file large without adding database work), BENCH_UPLOAD_WORKERS=1 to score while uploading (default
// off: this measures the upload path). With node's --expose-gc the live heap (after a full GC, every 2 s) is printed
// too.
// BENCH_UPLOAD_KIND=leads uploads a file of leads instead (default 45,000 rows: name, email, role, company, industry,
// location), with workers on, and also measures when every lead's attributes are applied (each row is a
// `lead_updated` event a scoring run applies): the time to applied over the upload's own time (goal ≤ 1.5×), checked
// on a sample of leads read by `_id`. BENCH_COMMANDS=1 also prints what the database commands cost, by command and
// collection. LEADSCORE_INGEST_FIRST_MS, when set, is the server's (how long a scoring backlog lets ingest go first).
import http from 'node:http'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { buildApp } from '../server/src/app.js'
import { loadConfig } from '../server/src/config.js'
import { openDatabase } from '../server/src/infra/db.js'
import { startFerretDb, type EmbeddedDb } from '../server/src/infra/ferretdb.js'
import { leadIdOf } from '../server/src/domain/ids.js'
import { commandCosts, recordCommands } from './database.js'

const num = (name: string, def: number): number => {
  const v = process.env[name]
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : def
}
const LEADS_FILE = process.env.BENCH_UPLOAD_KIND === 'leads'
const ROWS = num('BENCH_UPLOAD_ROWS', LEADS_FILE ? 45_000 : 1_000_000)
const LEADS = num('BENCH_UPLOAD_LEADS', 0)
const BATCH = num('BENCH_UPLOAD_BATCH', 500)
const VALID_EVERY = Math.max(1, num('BENCH_UPLOAD_VALID_EVERY', 1))
const PAD = 'x'.repeat(num('BENCH_UPLOAD_PAD', 0))
const gc = (globalThis as { gc?: () => void }).gc
const WORKERS = LEADS_FILE || process.env.BENCH_UPLOAD_WORKERS === '1'
const KEY = `lsk_bench_${randomBytes(12).toString('hex')}`
const RUN = randomBytes(3).toString('hex')
const TYPES = ['page_view', 'email_open', 'form_submit', 'demo_request'] as const
const log = (s: string): void => { process.stderr.write(`# ${s}\n`) }
const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`

const ROLES = ['CEO', 'VP Sales', 'Marketing Manager', 'Engineer', 'Analyst', 'CTO'] as const
const INDUSTRIES = ['Software', 'Retail', 'Finance', 'Healthcare', 'Education'] as const
const leadEmail = (j: number): string => `lead${j}-${RUN}@bench.example`

/** A leads CSV (one new lead per row), a chunk of 1,000 rows at a time. */
function * leadsCsv (): Generator<Buffer> {
  yield Buffer.from('name,email,role,company,industry,location\n')
  for (let i = 0; i < ROWS; i += 1000) {
    let s = ''
    for (let j = i; j < Math.min(ROWS, i + 1000); j++) {
      s += `Lead ${j},${leadEmail(j)},${ROLES[j % ROLES.length]},Company ${j % 997},${INDUSTRIES[j % INDUSTRIES.length]},City ${j % 53}\n`
    }
    yield Buffer.from(s)
  }
}

/** The CSV, generated a chunk of 1,000 rows at a time. */
function * csv (): Generator<Buffer> {
  if (LEADS_FILE) { yield * leadsCsv(); return }
  const base = Date.UTC(2024, 0, 1)
  yield Buffer.from(`email,event,timestamp,page,campaign,referrer${PAD.length > 0 ? ',pad' : ''}\n`)
  for (let i = 0; i < ROWS; i += 1000) {
    let s = ''
    for (let j = i; j < Math.min(ROWS, i + 1000); j++) {
      const lead = LEADS > 0 ? j % LEADS : j
      s += `lead${lead}-${RUN}@bench.example,${TYPES[j % TYPES.length]},${j % VALID_EVERY === 0 ? new Date(base + j * 1000).toISOString() : 'yesterday'},/pricing/${j % 97},spring-${j % 7},"https://search.example/?q=lead+scoring&n=${j}"${PAD.length > 0 ? `,${PAD}` : ''}\n`
    }
    yield Buffer.from(s)
  }
}

async function main (): Promise<void> {
  let embedded: EmbeddedDb | null = null
  let dir: string | null = null
  let uri = process.env.MONGODB_URI
  if (uri === undefined) {
    dir = mkdtempSync(join(tmpdir(), 'leadscore-bench-upload-'))
    embedded = await startFerretDb({ dataDir: dir })
    uri = embedded.uri
    log(`database: embedded FerretDB (SQLite) at ${uri}`)
  } else {
    log('database: MONGODB_URI')
  }
  const dbName = `bench_upload_${RUN}`
  const config = loadConfig({
    MONGODB_URI: uri, MONGODB_DB: dbName, LEADSCORE_BOOTSTRAP_API_KEY: KEY, LEADSCORE_DEMO: '0', LOG_LEVEL: 'warn',
    LEADSCORE_WORKER: WORKERS ? '1' : '0', LEADSCORE_UPLOAD_BATCH_ROWS: String(BATCH),
    ...(process.env.LEADSCORE_INGEST_FIRST_MS !== undefined ? { LEADSCORE_INGEST_FIRST_MS: process.env.LEADSCORE_INGEST_FIRST_MS } : {}),
  })
  const db = await openDatabase(uri, dbName, { monitorCommands: recordCommands })
  const costs = recordCommands ? commandCosts(db.client) : null
  const app = await buildApp(config, { database: db, logger: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port

  const rssBefore = process.memoryUsage().rss
  let peakRss = rssBefore
  let peakHeap = process.memoryUsage().heapUsed
  const sampler = setInterval(() => {
    const m = process.memoryUsage()
    peakRss = Math.max(peakRss, m.rss)
    peakHeap = Math.max(peakHeap, m.heapUsed)
  }, 50)
  const liveBefore = gc !== undefined ? (gc(), process.memoryUsage().heapUsed) : 0
  let peakLive = liveBefore
  const liveSampler = gc !== undefined
    ? setInterval(() => { gc(); peakLive = Math.max(peakLive, process.memoryUsage().heapUsed) }, 2000)
    : null
  let lastLog = Date.now()
  const progress = setInterval(() => {
    void db.c.uploads.find({}).sort({ _id: -1 }).limit(1).next().then((u) => {
      if (u !== null && Date.now() - lastLog > 10_000) {
        lastLog = Date.now()
        log(`${u.status}: ${u.rowsRead} rows read, ${u.rows} stored, ${mb(u.bytes)}, RSS ${mb(process.memoryUsage().rss)}`)
      }
    }, () => undefined)
  }, 2000)

  const boundary = `----leadscore${RUN}`
  const started = performance.now()
  let sent = 0
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path: '/v1/uploads',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked' },
    }, (r) => {
      let body = ''
      r.setEncoding('utf8')
      r.on('data', (d: string) => { body += d })
      r.on('end', () => { resolve({ status: r.statusCode ?? 0, body }) })
    })
    req.on('error', reject)
    void (async () => {
      req.write(`--${boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\n${LEADS_FILE ? 'leads' : 'events'}\r\n`)
      if (PAD.length > 0) req.write(`--${boundary}\r\nContent-Disposition: form-data; name="mapping"\r\n\r\n{"pad":null}\r\n`)
      req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.csv"\r\nContent-Type: text/csv\r\n\r\n`)
      for (const chunk of csv()) {
        sent += chunk.length
        if (!req.write(chunk)) await once(req, 'drain')
      }
      req.end(`\r\n--${boundary}--\r\n`)
    })().catch(reject)
  })
  const seconds = (performance.now() - started) / 1000
  clearInterval(sampler)
  clearInterval(progress)
  if (liveSampler !== null) clearInterval(liveSampler)
  const report = JSON.parse(res.body) as Record<string, unknown>
  if (res.status !== 201) log(`unexpected answer ${res.status}: ${res.body.slice(0, 500)}`)
  const rows = Number(report.rows ?? 0)
  const applied = LEADS_FILE ? await untilApplied(port, started) : null
  console.log(JSON.stringify({
    ...(applied !== null ? { appliedSeconds: applied.seconds, appliedOverUpload: Number((applied.seconds / seconds).toFixed(2)), appliedGoal: 1.5, sampleChecked: applied.checked, sampleWrong: applied.wrong } : {}),
    rows, accepted: report.accepted, duplicates: report.duplicates, rejected: report.rejected, bytes: sent, seconds: Number(seconds.toFixed(1)),
    rowsPerSecond: Math.round(rows / seconds), mbPerSecond: Number((sent / 1024 / 1024 / seconds).toFixed(2)),
    rssBeforeMb: Number((rssBefore / 1024 / 1024).toFixed(1)), peakRssMb: Number((peakRss / 1024 / 1024).toFixed(1)),
    peakRssGrowthMb: Number(((peakRss - rssBefore) / 1024 / 1024).toFixed(1)), peakHeapMb: Number((peakHeap / 1024 / 1024).toFixed(1)),
    ...(gc !== undefined ? { liveHeapBeforeMb: Number((liveBefore / 1048576).toFixed(1)), peakLiveHeapMb: Number((peakLive / 1048576).toFixed(1)) } : {}),
    batchRows: BATCH, validEvery: VALID_EVERY, leads: LEADS === 0 ? rows : LEADS, workers: WORKERS, database: embedded !== null ? 'ferretdb-sqlite' : 'MONGODB_URI',
  }, null, 2))
  if (costs !== null) for (const line of ['database commands:', ...costs.report().split('\n')]) log(line)
  await app.close()
  await db.db.dropDatabase().catch(() => undefined)
  await db.close()
  if (embedded !== null) await embedded.stop()
  if (dir !== null) rmSync(dir, { recursive: true, force: true })
}

/**
 * Waits until nothing is left to score (`GET /v1/stats`), then reads a sample of the uploaded leads by `_id` and
 * checks that each carries its row's attributes. The seconds are counted from the start of the upload.
 */
async function untilApplied (port: number, started: number): Promise<{ seconds: number; checked: number; wrong: number }> {
  const pending = async (): Promise<number> => {
    const r = await fetch(`http://127.0.0.1:${port}/v1/stats`, { headers: { authorization: `Bearer ${KEY}` } })
    return ((await r.json()) as { events: { pending: number } }).events.pending
  }
  let lastLog = Date.now()
  for (let left = await pending(); left > 0; left = await pending()) {
    if (Date.now() - lastLog > 10_000) { lastLog = Date.now(); log(`${left} events still to apply`) }
    // every half second: a faster poll would itself load the database it measures
    await new Promise((r) => setTimeout(r, 500))
  }
  const seconds = Number(((performance.now() - started) / 1000).toFixed(1))
  const headers = { authorization: `Bearer ${KEY}` }
  let checked = 0
  let wrong = 0
  for (let j = 0; j < ROWS; j += Math.max(1, Math.floor(ROWS / 500))) {
    const r = await fetch(`http://127.0.0.1:${port}/v1/leads/${leadIdOf(`email:${leadEmail(j)}`)}`, { headers })
    const lead = r.status === 200 ? (await r.json()) as { attributes?: Record<string, unknown> } : null
    checked++
    if (lead?.attributes?.role !== ROLES[j % ROLES.length] || lead?.attributes?.industry !== INDUSTRIES[j % INDUSTRIES.length]) wrong++
  }
  return { seconds, checked, wrong }
}

main().catch((err: unknown) => { console.error(err); process.exit(1) })
