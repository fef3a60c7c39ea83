// Ingest benchmark. Run from the repository root:
//   npx tsx --conditions=leadscore-source bench/ingest.ts
// Starts an embedded FerretDB (SQLite) in a temporary folder, or uses MONGODB_URI when set, and measures in one run
// (the server under test runs in a child process, as in production, so the load generators here do not share its
// CPU time; the raw driver loops run here, as a server's own driver would):
//   (a) raw driver insertOne loop      (b) HTTP ingest of single events (autocannon)
//   (c) 100-event batches over HTTP vs an insertMany loop of 100 documents
//   (d) end-to-end scoring throughput  (e) event → WebSocket `lead.scored` latency
// Environment: BENCH_SECONDS (per throughput phase, default 6), BENCH_CONNECTIONS (default 16),
// BENCH_E2E_EVENTS (default 2000), BENCH_E2E_LEADS (default 200), BENCH_BATCHES (default 12), BENCH_LATENCY_RATE (/s, default 10),
// BENCH_LATENCY_SECONDS (default 15), BENCH_TAIL=1 (also list the slowest events of (e)), BENCH_PROFILE (a folder: each
// server process writes a V8 CPU profile there when it stops; open it in Chrome's DevTools or read it with a script),
// BENCH_COMMANDS=1 (each server process prints what its database commands cost when it stops).
// Beside each rate of (a), (b) and (c) it prints the CPU an event cost (Linux; the embedded database's share too):
// the client's or server's process and the database's, for the raw loops and for HTTP ingest, which shows which side
// a gap is on (on a shared virtual machine these move between runs too, by a third or so).
import autocannon, { type AutocannonResult } from 'autocannon'
import { WebSocket } from 'ws'
import { randomBytes } from 'node:crypto'
import { cpus } from 'node:os'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Collection } from 'mongodb'
import { buildApp } from '../server/src/app.js'
import { loadConfig } from '../server/src/config.js'
import { openDatabase, type Database } from '../server/src/infra/db.js'
import { benchDatabase, commandCosts, recordCommands } from './database.js'
import { ownCpuSeconds, perUnit, processCpuSeconds } from './cpu.js'

const num = (name: string, def: number): number => {
  const v = process.env[name]
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : def
}
const SECONDS = num('BENCH_SECONDS', 6)
const CONNECTIONS = num('BENCH_CONNECTIONS', 16)
const BATCH = 100
const BATCH_CONNECTIONS = 4
const LEAD_POOL = 1000
const E2E_EVENTS = num('BENCH_E2E_EVENTS', 2000)
const E2E_LEADS = num('BENCH_E2E_LEADS', 200)
const LAT_RATE = num('BENCH_LATENCY_RATE', 10)
const LAT_SECONDS = num('BENCH_LATENCY_SECONDS', 15)
const KEY = `lsk_bench_${randomBytes(12).toString('hex')}`
const RUN = randomBytes(4).toString('hex')
const TYPES = ['page_view', 'email_open', 'form_submit'] as const

const log = (s: string): void => { process.stderr.write(`# ${s}\n`) }
const sleep = async (ms: number): Promise<void> => { await new Promise((r) => setTimeout(r, ms)) }

/** One event as a client sends it. */
function eventInput (id: string, lead: number, prefix = 'lead'): Record<string, unknown> {
  return {
    externalId: id,
    lead: { email: `${prefix}${lead}@bench.example`, name: `Lead ${lead}`, company: 'Bench Inc' },
    type: TYPES[lead % TYPES.length],
    occurredAt: new Date().toISOString(),
    properties: { path: '/pricing', referrer: 'https://search.example/?q=lead+scoring', campaign: 'spring', utm: { source: 'newsletter', medium: 'email' } },
  }
}

/** A document shaped and sized like a stored event. */
function eventDoc (i: number): Record<string, unknown> {
  const t = new Date()
  const lead = i % LEAD_POOL
  return {
    _id: `ev_${RUN}_${i}_${randomBytes(6).toString('hex')}`, sourceId: 'api', externalId: `raw-${RUN}-${i}`, idSource: 'given',
    leadId: `ld_${RUN}_${lead}`, seq: i, type: TYPES[lead % TYPES.length], occurredAt: t, receivedAt: t,
    ord: `${t.toISOString()}|${randomBytes(10).toString('hex')}`,
    properties: { path: '/pricing', referrer: 'https://search.example/?q=lead+scoring', campaign: 'spring', utm: { source: 'newsletter', medium: 'email' } },
    status: 'pending', requestId: `req-${i}`,
  }
}

/** Runs `connections` concurrent loops of `op` for `seconds`; returns documents per second and how many were written. */
async function driverLoop (seconds: number, connections: number, docsPerOp: number, op: (i: number) => Promise<void>): Promise<{ rate: number; docs: number }> {
  let next = 0
  let done = 0
  const start = performance.now()
  const deadline = start + seconds * 1000
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < deadline) {
      await op(next++)
      done++
    }
  }))
  return { rate: (done * docsPerOp) / ((performance.now() - start) / 1000), docs: done * docsPerOp }
}

/** CPU readings of the process doing a phase's work (this one or the server's) and of the database. */
interface CpuMark { work: number | null; db: number | null }

/** What an event cost in CPU between two marks: the working process's share, the database's, and their sum. */
function cpuPerEvent (a: CpuMark, b: CpuMark, events: number): { text: string; total: number | null } {
  const total = a.work === null || b.work === null || a.db === null || b.db === null || events <= 0 ? null : ((b.work - a.work) + (b.db - a.db)) * 1e6 / events
  return { text: `${perUnit(a.work, b.work, events)} + database ${perUnit(a.db, b.db, events)}`, total }
}

function httpRate (r: AutocannonResult, eventsPerRequest: number, what: string): number {
  const bad = r.non2xx + r.errors
  if (bad > 0) log(`${what}: ${r.non2xx} non-2xx responses, ${r.errors} errors (${JSON.stringify(r.statusCodeStats)})`)
  return (r['2xx'] * eventsPerRequest) / r.duration
}

/** Starts the server under test in a child process (this file in BENCH_SERVE mode); resolves with its base URL. */
async function serve (uri: string, name: string, workers: boolean): Promise<{ base: string; cpu: () => number | null; stop: () => Promise<void> }> {
  // BENCH_PROFILE=<folder>: each server process writes a V8 CPU profile there when it stops
  const profile = process.env.BENCH_PROFILE !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', '--conditions=leadscore-source', fileURLToPath(import.meta.url)], {
    env: { ...process.env, BENCH_SERVE: JSON.stringify({ uri, name, workers, key: KEY }) }, stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = once(child, 'exit')
  const lines = createInterface({ input: child.stdout! })
  const base = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve)
    child.once('exit', (code) => { reject(new Error(`the server process exited (${String(code)})`)) })
  })
  return {
    base,
    cpu: () => child.pid === undefined ? null : processCpuSeconds(child.pid),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

/** BENCH_SERVE mode: the server under test, printing its base URL once it listens. */
async function serveMain (spec: { uri: string; name: string; workers: boolean; key: string }): Promise<void> {
  const db = await openDatabase(spec.uri, spec.name, { monitorCommands: recordCommands })
  const costs = recordCommands ? commandCosts(db.client) : null
  const app = await buildApp(loadConfig({ MONGODB_URI: spec.uri, MONGODB_DB: spec.name, LEADSCORE_BOOTSTRAP_API_KEY: spec.key, LEADSCORE_DEMO: '0', LOG_LEVEL: 'silent' }), { database: db, logger: false, startWorkers: spec.workers })
  process.stdout.write(`${await listen(app)}\n`)
  process.once('SIGTERM', () => {
    void (async () => {
      await app.close().catch(() => undefined)
      await db.close().catch(() => undefined)
      if (costs !== null) process.stderr.write(`database commands of the server (${spec.workers ? 'workers on' : 'ingest only'}):\n${costs.report()}\n`)
      process.exit(0)
    })()
  })
}

async function listen (app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

async function post (base: string, body: unknown): Promise<{ status: number; json: { results: Array<{ status: string; leadId?: string }> } }> {
  const res = await fetch(`${base}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(600_000) })
  return { status: res.status, json: await res.json() as { results: Array<{ status: string; leadId?: string }> } }
}

function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

const fmt = (n: number): string => Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a'

async function main (): Promise<void> {
  const began = performance.now()
  const database = await benchDatabase()
  const uri = database.uri
  const dbName = `ls_bench_${RUN}`
  const dbs: Database[] = []
  const servers: Array<{ stop: () => Promise<void> }> = []
  const rows: Array<[string, string, string]> = []
  try {
    log(`database: ${database.label}; ${cpus().length} CPUs; ${SECONDS} s per phase; ${CONNECTIONS} connections`)

    // ---- ingest server, workers off ---------------------------------------------------------------------
    const db = await openDatabase(uri, dbName)
    dbs.push(db)
    const server = await serve(uri, dbName, false)
    servers.push(server)
    const base = server.base
    const scratch = db.db.collection('bench_raw') as unknown as Collection<Record<string, unknown>>
    await scratch.insertOne(eventDoc(-1)) // create the collection outside the timed loop

    // warm-up (JIT, connection pools, caches)
    for (let i = 0; i < 50; i++) await post(base, eventInput(`warm-${RUN}-${i}`, i))
    for (let i = 0; i < 50; i++) await scratch.insertOne(eventDoc(-10 - i))

    const own = (): CpuMark => ({ work: ownCpuSeconds(), db: database.cpuSeconds() })
    const served = (): CpuMark => ({ work: server.cpu(), db: database.cpuSeconds() })
    log('(a) raw insertOne loop')
    const a0 = own()
    const a = await driverLoop(SECONDS, CONNECTIONS, 1, async (i) => { await scratch.insertOne(eventDoc(i)) })
    const rawSingle = a.rate
    const cpuA = cpuPerEvent(a0, own(), a.docs)

    log('(b) HTTP single events (autocannon)')
    let nb = 0
    const b0 = served()
    const single = await autocannon({
      url: base, connections: CONNECTIONS, duration: SECONDS, timeout: 30,
      requests: [{
        method: 'POST', path: '/v1/events', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        setupRequest: (req) => { const i = nb++; return { ...req, body: JSON.stringify(eventInput(`b-${RUN}-${i}`, i % LEAD_POOL)) } },
      }],
    })
    const httpSingle = httpRate(single, 1, '(b)')
    const cpuB = cpuPerEvent(b0, served(), single['2xx'])
    log(`(a) ${fmt(rawSingle)} events/s; (b) ${fmt(httpSingle)} events/s`)
    log(`(a) CPU per event: driver ${cpuA.text}; (b) server ${cpuB.text}`)

    log('(c) 100-event batches: HTTP, then insertMany')
    // a fixed number of batches per connection, timed (one batch can outlast a whole timed phase on a slow database)
    let nc = 0
    const batchLat: number[] = []
    const perConn = Math.max(1, Math.ceil(num('BENCH_BATCHES', 12) / BATCH_CONNECTIONS))
    const c0 = served()
    const tc = performance.now()
    await Promise.all(Array.from({ length: BATCH_CONNECTIONS }, async () => {
      for (let k = 0; k < perConn; k++) {
        const bi = nc++
        const events = Array.from({ length: BATCH }, (_, j) => eventInput(`c-${RUN}-${bi}-${j}`, (bi * BATCH + j) % LEAD_POOL))
        const s0 = performance.now()
        const r = await post(base, { events })
        if (r.status !== 202) throw new Error(`batch ingest answered ${r.status}`)
        batchLat.push(performance.now() - s0)
      }
    }))
    const httpBatch = (nc * BATCH) / ((performance.now() - tc) / 1000)
    const cpuC = cpuPerEvent(c0, served(), nc * BATCH)
    const r0 = own()
    batchLat.sort((x, y) => x - y)
    const rawC = await driverLoop(SECONDS, BATCH_CONNECTIONS, BATCH, async (i) => {
      await scratch.insertMany(Array.from({ length: BATCH }, (_, j) => eventDoc(10_000_000 + i * BATCH + j)), { ordered: false })
    })
    const rawBatch = rawC.rate
    const cpuRawC = cpuPerEvent(r0, own(), rawC.docs)
    log(`(c) HTTP ${fmt(httpBatch)} events/s; insertMany ${fmt(rawBatch)} events/s`)
    log(`(c) CPU per event: server ${cpuC.text}; insertMany: driver ${cpuRawC.text}`)
    await server.stop()
    servers.pop()

    // ---- end-to-end server, workers on (fresh database) ------------------------------------------------
    const dbName2 = `${dbName}_e2e`
    const db2 = await openDatabase(uri, dbName2)
    dbs.push(db2)
    const server2 = await serve(uri, dbName2, true)
    servers.push(server2)
    const base2 = server2.base

    log(`(d) end-to-end: ${E2E_EVENTS} events across ${E2E_LEADS} leads, until GET /v1/stats shows pending 0`)
    const t0 = performance.now()
    const perLead = Math.ceil(E2E_EVENTS / E2E_LEADS)
    const all = Array.from({ length: E2E_EVENTS }, (_, i) => eventInput(`d-${RUN}-${i}`, i % E2E_LEADS, 'e2e'))
    const chunks: unknown[][] = []
    for (let i = 0; i < all.length; i += BATCH) chunks.push(all.slice(i, i + BATCH))
    let ci = 0
    await Promise.all(Array.from({ length: BATCH_CONNECTIONS }, async () => {
      while (ci < chunks.length) {
        const r = await post(base2, { events: chunks[ci++] })
        if (r.status !== 202) throw new Error(`ingest answered ${r.status}`)
      }
    }))
    const ingested = performance.now() - t0
    log(`(d) ingested in ${(ingested / 1000).toFixed(1)} s`)
    let pending = -1
    let lastLog = performance.now()
    const e2eDeadline = t0 + 100_000
    while (performance.now() < e2eDeadline) {
      const s = await (await fetch(`${base2}/v1/stats`, { headers: { authorization: `Bearer ${KEY}` }, signal: AbortSignal.timeout(30_000) })).json() as { events: { pending: number; total: number } }
      pending = s.events.pending
      if (pending === 0 && s.events.total >= E2E_EVENTS) break
      if (performance.now() - lastLog > 5000) { log(`(d) ${pending} events pending after ${((performance.now() - t0) / 1000).toFixed(0)} s`); lastLog = performance.now() }
      // GET /v1/stats counts pending events with a query FerretDB answers by reading every event: asking once a
      // second keeps the measurement from slowing what it measures
      await sleep(1000)
    }
    const e2eMs = performance.now() - t0
    const scoredPerSec = ((E2E_EVENTS - Math.max(0, pending)) / e2eMs) * 1000
    log(`(d) ${fmt(scoredPerSec)} events scored/s`)
    if (pending !== 0) log(`(d) timed out with ${pending} events pending`)

    // latency is measured on an idle pipeline: first let the end-to-end backlog drain (bounded)
    const drainUntil = performance.now() + 300_000
    while (pending !== 0 && performance.now() < drainUntil) {
      await sleep(1000)
      pending = ((await (await fetch(`${base2}/v1/stats`, { headers: { authorization: `Bearer ${KEY}` }, signal: AbortSignal.timeout(30_000) })).json()) as { events: { pending: number } }).events.pending
    }
    log(`(e) event → WebSocket latency: ${LAT_RATE}/s for ${LAT_SECONDS} s, one new lead per event${pending !== 0 ? ` (${pending} events still pending from (d))` : ''}`)
    const ws = new WebSocket(`${base2.replace('http', 'ws')}/v1/live?topics=leaderboard&access_token=${KEY}`)
    const arrived = new Map<string, number>()
    const sentAt = new Map<string, number>()
    const answered = new Map<string, number>()
    await new Promise<void>((resolve, reject) => {
      ws.once('error', reject)
      ws.on('message', (data) => {
        const now = performance.now()
        const frame = JSON.parse(data.toString()) as { type: string; messages?: Array<{ type: string; data: { leadId?: string } }> }
        if (frame.type === 'subscribed') resolve()
        if (frame.type !== 'batch') return
        for (const m of frame.messages ?? []) {
          if (m.type === 'lead.scored' && typeof m.data.leadId === 'string' && !arrived.has(m.data.leadId)) arrived.set(m.data.leadId, now)
        }
      })
    })
    const total = LAT_RATE * LAT_SECONDS
    const latStart = performance.now()
    const sends: Array<Promise<void>> = []
    for (let i = 0; i < total; i++) {
      const due = latStart + (i * 1000) / LAT_RATE
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      const start = performance.now()
      sends.push(post(base2, eventInput(`e-${RUN}-${i}`, i, `lat${RUN}-`)).then((r) => {
        const leadId = r.json.results[0]?.leadId
        if (r.status === 202 && leadId !== undefined) { sentAt.set(leadId, start); answered.set(leadId, performance.now() - start) }
      }))
    }
    await Promise.all(sends)
    const waitUntil = performance.now() + 10_000
    while (performance.now() < waitUntil && [...sentAt.keys()].some((id) => !arrived.has(id))) await sleep(50)
    ws.close()
    const lat = [...sentAt].filter(([id]) => arrived.has(id)).map(([id, t]) => arrived.get(id)! - t).sort((x, y) => x - y)
    const missing = sentAt.size - lat.length
    // the slowest events: when they were sent (s into the phase), their latency and their HTTP answer's (ms): a stall of
    // the pipeline shows as a run of events sent together, the answer's time says whether ingest or what follows held it
    if (process.env.BENCH_TAIL === '1') {
      const tail = [...sentAt].filter(([id]) => arrived.has(id)).map(([id, t]) => ({ off: t - latStart, ms: arrived.get(id)! - t, http: answered.get(id)! })).sort((x, y) => y.ms - x.ms).slice(0, 20)
      log(`(e) slowest: ${tail.map((x) => `${(x.off / 1000).toFixed(2)} s: ${x.ms.toFixed(0)} (answer ${x.http.toFixed(0)})`).join(', ')}`)
    }

    // ---- report -----------------------------------------------------------------------------------------
    rows.push(['(a) raw insertOne loop (driver)', `${fmt(rawSingle)} events/s`, `${CONNECTIONS} concurrent; CPU per event: driver ${cpuA.text}`])
    rows.push(['(b) HTTP ingest, single events', `${fmt(httpSingle)} events/s`, `${CONNECTIONS} connections; p50 ${single.latency.p50} ms, p99 ${single.latency.p99} ms; CPU per event: server ${cpuB.text}`])
    rows.push(['(c) HTTP ingest, 100-event batches', `${fmt(httpBatch)} events/s`, `${BATCH_CONNECTIONS} concurrent; ${nc} batches; p50 ${percentile(batchLat, 50).toFixed(0)} ms per batch; CPU per event: server ${cpuC.text}`])
    rows.push(['(c) raw insertMany of 100 (driver)', `${fmt(rawBatch)} events/s`, `${BATCH_CONNECTIONS} concurrent; CPU per event: driver ${cpuRawC.text}`])
    rows.push(['(d) end-to-end scoring', `${fmt(scoredPerSec)} events/s`, `${E2E_EVENTS} events / ${E2E_LEADS} leads (${perLead} each): ingested in ${(ingested / 1000).toFixed(1)} s, all scored in ${(e2eMs / 1000).toFixed(1)} s`])
    rows.push(['(e) event → WebSocket lead.scored', `p50 ${percentile(lat, 50).toFixed(0)} ms, p99 ${percentile(lat, 99).toFixed(0)} ms`, `${lat.length} events at ${LAT_RATE}/s${missing > 0 ? `, ${missing} never arrived` : ''}`])
    const w = [Math.max(...rows.map((r) => r[0].length)), Math.max(...rows.map((r) => r[1].length))]
    const line = (r: [string, string, string]): string => `| ${r[0].padEnd(w[0]!)} | ${r[1].padStart(w[1]!)} | ${r[2]} |`
    console.log(line(['measurement', 'result', 'notes']))
    console.log(`|${'-'.repeat(w[0]! + 2)}|${'-'.repeat(w[1]! + 2)}|---|`)
    for (const r of rows) console.log(line(r))
    const r1 = httpSingle / rawSingle
    const r2 = httpBatch / rawBatch
    console.log('')
    console.log(`(b)/(a) single-event ingest vs raw insertOne: ${r1.toFixed(2)}x  (target >= 0.5x: ${r1 >= 0.5 ? 'met' : 'NOT met'})`)
    console.log(`(c)/raw batch ingest vs raw insertMany:       ${r2.toFixed(2)}x  (target >= 0.5x: ${r2 >= 0.5 ? 'met' : 'NOT met'})`)
    // the same comparisons in CPU: the raw loop's CPU per event (driver and database) over ingest's (server and database)
    const cpuRatio = (raw: number | null, ours: number | null): string => raw === null || ours === null || ours <= 0 ? 'n/a' : `${(raw / ours).toFixed(2)}x`
    console.log(`in CPU per event: (a)/(b) ${cpuRatio(cpuA.total, cpuB.total)}, raw insertMany/(c) ${cpuRatio(cpuRawC.total, cpuC.total)} (the raw loop's CPU per event over ingest's, database included)`)
    console.log(`database: ${database.label}; ${cpus().length} CPUs; total run ${((performance.now() - began) / 1000).toFixed(0)} s`)
  } finally {
    for (const sv of servers) await sv.stop().catch(() => undefined)
    for (const d of dbs) { await d.db.dropDatabase().catch(() => undefined); await d.close() }
    await database.stop()
  }
}

const serving = process.env.BENCH_SERVE
if (serving !== undefined) {
  serveMain(JSON.parse(serving) as { uri: string; name: string; workers: boolean; key: string }).catch((err: unknown) => {
    process.stderr.write(`bench server failed: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  })
} else {
  main().then(() => process.exit(0), (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  })
}
