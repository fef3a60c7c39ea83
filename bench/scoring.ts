// Scoring benchmark: end-to-end scoring (HTTP ingest in 100-event batches until every event is scored) against a
// raw `insertMany` of the same number of event-sized documents, measured in the same run. Run from the root:
//   npm run bench:scoring
// Starts an embedded FerretDB (SQLite) in a temporary folder, or uses MONGODB_URI. Each scenario gets a fresh
// database. The server runs in this process with its workers on (the load generator is light: a few concurrent
// requests of prepared bodies).
// Environment: BENCH_EVENTS (per scenario, default 20000), BENCH_TIMEOUT_S (per scenario, default 600), BENCH_ONLY
// (comma-separated scenario numbers, from 1, to run only those), BENCH_PRELOAD (leads already stored in scenario 4,
// default 100000, two events each, with their index keys and counters), BENCH_COMMANDS=1 (also print what each
// scenario's database commands cost, by command, collection and, for finds, how the filter names documents). Scenario
// 5 is a shuffled stream with duplicates (time from the last send until all are scored), scenario 6 a re-score of all
// of scenario 1's events against a raw read. LEADSCORE_WORKER_CONCURRENCY, LEADSCORE_SCORING_BATCH and
// LEADSCORE_INGEST_FIRST_MS, when set, tune the server's workers as they would the product's. BENCH_SPLIT=1 holds scoring back while scenarios 1-4 ingest, then
// times scoring alone (the stream's two halves apart: where the end-to-end figure mixes them, this tells which moved).
import { randomBytes } from 'node:crypto'
import { cpus } from 'node:os'
import type { AddressInfo } from 'node:net'
import { buildApp } from '../server/src/app.js'
import { loadConfig } from '../server/src/config.js'
import { openDatabase } from '../server/src/infra/db.js'
import { benchDatabase, commandCosts, recordCommands } from './database.js'
import { loadLeads } from '../test/helpers/large-dataset.js'
import { BATCH, CONCURRENCY, TYPES, rawInsertMany, streamEvent, type StreamShape } from './stream.js'

const num = (name: string, def: number): number => {
  const v = process.env[name]
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : def
}
const EVENTS = num('BENCH_EVENTS', 20_000)
const TIMEOUT_MS = num('BENCH_TIMEOUT_S', 600) * 1000
const KEY = `lsk_bench_${randomBytes(12).toString('hex')}`
const log = (s: string): void => { process.stderr.write(`# ${s}\n`) }

const PRELOAD = num('BENCH_PRELOAD', 100_000)
const SPLIT = process.env.BENCH_SPLIT === '1'

interface Scenario extends StreamShape { name: string; preload?: number }
const SCENARIOS: Scenario[] = [
  { name: `${EVENTS} events over ${EVENTS / 2} leads known only by external id`, leads: EVENTS / 2, identity: 'externalId' },
  { name: `${EVENTS} events over ${EVENTS / 2} leads known by email`, leads: EVENTS / 2, identity: 'email' },
  { name: `${EVENTS} events over 200 leads known by email`, leads: 200, identity: 'email' },
  { name: `scenario 1 with ${PRELOAD} leads already stored`, leads: EVENTS / 2, identity: 'externalId', preload: PRELOAD },
]

/** The worker settings taken from the environment (the product's defaults otherwise). */
function workerTuning (): Record<string, string> {
  const names = ['LEADSCORE_WORKER_CONCURRENCY', 'LEADSCORE_SCORING_BATCH', 'LEADSCORE_INGEST_FIRST_MS'] as const
  return Object.fromEntries(names.flatMap((n) => process.env[n] === undefined ? [] : [[n, process.env[n] as string]]))
}

/** A server with its workers on, over a fresh database (optionally holding `preload` leads already). */
async function serve (uri: string, preload = 0): Promise<{ app: Awaited<ReturnType<typeof buildApp>>; db: Awaited<ReturnType<typeof openDatabase>>; base: string; scored: () => number; close: () => Promise<void> }> {
  const name = `bench_scoring_${randomBytes(4).toString('hex')}`
  const db = await openDatabase(uri, name, { monitorCommands: recordCommands })
  if (preload > 0) {
    const t = performance.now()
    await loadLeads(db, preload, { perLead: 2, progress: (n) => { if (n % 20_000 === 0) log(`  ${n} leads stored`) } })
    log(`  ${preload} leads stored in ${((performance.now() - t) / 1000).toFixed(0)} s`)
  }
  const app = await buildApp(loadConfig({ ...workerTuning(), MONGODB_URI: uri, MONGODB_DB: name, LEADSCORE_BOOTSTRAP_API_KEY: KEY, LEADSCORE_DEMO: '0', LOG_LEVEL: process.env.BENCH_LOG ?? 'silent' }), { database: db, logger: process.env.BENCH_LOG !== undefined, startWorkers: true })
  await app.listen({ port: 0, host: '127.0.0.1' })
  // from here on: the preload's commands are not the scenario's
  const costs = recordCommands ? commandCosts(db.client) : null
  return {
    app, db, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    scored: () => app.core.metrics.eventsScored.values.get('') ?? 0,
    close: async () => {
      if (costs !== null) for (const line of ['database commands:', ...costs.report().split('\n')]) log(line)
      await app.close()
      await db.db.dropDatabase().catch(() => undefined)
      await db.close()
    },
  }
}

async function post (base: string, path: string, body: string): Promise<Response> {
  return await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body })
}

/** Sends the bodies to /v1/events, `clients` at a time. */
async function send (base: string, bodies: readonly string[], clients: number): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < bodies.length) {
      const res = await post(base, '/v1/events', bodies[next++]!)
      if (res.status !== 202) throw new Error(`ingest answered ${res.status}: ${await res.text()}`)
      await res.arrayBuffer()
    }
  }))
}

async function until (done: () => boolean | Promise<boolean>, startedAt: number, progress?: () => string): Promise<void> {
  let lastLog = performance.now()
  while (!await done() && performance.now() - startedAt < TIMEOUT_MS) {
    await new Promise((r) => setTimeout(r, 20))
    if (progress !== undefined && performance.now() - lastLog > 10_000) { log(`  ${progress()} after ${((performance.now() - startedAt) / 1000).toFixed(0)} s`); lastLog = performance.now() }
  }
}

async function endToEnd (uri: string, s: Scenario): Promise<{ perSec: number; scored: number; ingestMs: number; totalMs: number; scoringMs?: number }> {
  const srv = await serve(uri, s.preload)
  try {
    const run = randomBytes(4).toString('hex')
    const bodies: string[] = []
    for (let i = 0; i < EVENTS; i += BATCH) bodies.push(JSON.stringify({ events: Array.from({ length: Math.min(BATCH, EVENTS - i) }, (_, k) => streamEvent(run, i + k, s)) }))
    const t0 = performance.now()
    // split: the batches that start while ingest runs wait for it to end (scoring in this process is paused)
    if (SPLIT) await srv.app.core.pauseScoring(async () => { await send(srv.base, bodies, CONCURRENCY) })
    else await send(srv.base, bodies, CONCURRENCY)
    const ingestMs = performance.now() - t0
    await until(() => srv.scored() >= EVENTS, t0, () => `${srv.scored()} of ${EVENTS} scored`)
    const totalMs = performance.now() - t0
    return { perSec: srv.scored() / (totalMs / 1000), scored: srv.scored(), ingestMs, totalMs, ...(SPLIT ? { scoringMs: totalMs - ingestMs } : {}) }
  } finally {
    await srv.close()
  }
}

/**
 * A shuffled stream: 1,000 events over 30 leads in random order (so most arrive late in event time and replay), one
 * in five sent twice, one event per request from 8 clients. Measures how long after the last answer every event is
 * scored (the goal: 5 s).
 */
async function shuffledSettle (uri: string): Promise<{ settleMs: number; sendMs: number; scored: number }> {
  const srv = await serve(uri)
  try {
    const run = randomBytes(4).toString('hex')
    const unique = Array.from({ length: 1000 }, (_, i) => JSON.stringify({
      externalId: `${run}-${i}`, lead: { email: `shuffled${i % 30}@bench.example` }, type: TYPES[i % TYPES.length],
      occurredAt: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
    }))
    const bodies = [...unique, ...unique.filter((_, i) => i % 5 === 0)]
    for (let i = bodies.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [bodies[i], bodies[j]] = [bodies[j]!, bodies[i]!]
    }
    const t0 = performance.now()
    await send(srv.base, bodies, 8)
    const sent = performance.now()
    await until(() => srv.scored() >= unique.length, t0, () => `${srv.scored()} of ${unique.length} scored`)
    return { settleMs: performance.now() - sent, sendMs: sent - t0, scored: srv.scored() }
  } finally {
    await srv.close()
  }
}

/** Re-score all (POST /v1/rescore) of the scenario-1 stream once scored, against a raw read of the same events. */
async function rescoreAll (uri: string): Promise<{ rescoreMs: number; rawReadMs: number; events: number }> {
  const srv = await serve(uri)
  try {
    const run = randomBytes(4).toString('hex')
    const bodies: string[] = []
    for (let i = 0; i < EVENTS; i += BATCH) bodies.push(JSON.stringify({ events: Array.from({ length: Math.min(BATCH, EVENTS - i) }, (_, k) => streamEvent(run, i + k, SCENARIOS[0]!)) }))
    const t0 = performance.now()
    await send(srv.base, bodies, CONCURRENCY)
    await until(() => srv.scored() >= EVENTS, t0, () => `${srv.scored()} of ${EVENTS} scored`)
    const tr = performance.now()
    const rawEvents = (await srv.db.c.events.find({}).toArray()).length
    const rawReadMs = performance.now() - tr
    const t1 = performance.now()
    const job = await (await post(srv.base, '/v1/rescore', '{}')).json() as { id: string }
    let state = ''
    // asked four times a second: at every 20 ms tick the job reads were a tenth of the database's work
    let askedAt = 0
    await until(async () => {
      if (performance.now() - askedAt < 250) return false
      askedAt = performance.now()
      state = ((await (await fetch(`${srv.base}/v1/jobs/${job.id}`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as { state: string }).state
      return state === 'done' || state === 'failed'
    }, t1)
    if (state !== 'done') throw new Error(`re-score ended ${state}`)
    return { rescoreMs: performance.now() - t1, rawReadMs, events: rawEvents }
  } finally {
    await srv.close()
  }
}

/** With BENCH_SPLIT, what scoring alone took, after an ingest that scored nothing. */
const split = (r: { scoringMs?: number | undefined }): string => r.scoringMs === undefined ? '' : `; split: scoring alone ${(r.scoringMs / 1000).toFixed(1)} s, ${(EVENTS / (r.scoringMs / 1000)).toFixed(0)} events/s`

const database = await benchDatabase()
const started = performance.now()
const rows: string[][] = []
try {
  log(`raw insertMany of ${EVENTS} documents (batches of ${BATCH}, ${CONCURRENCY} at a time)`)
  const raw = await rawInsertMany(database.uri, EVENTS, SCENARIOS[0]!)
  log(`  ${raw.toFixed(0)} documents/s`)
  rows.push(['raw insertMany (the limit)', `${raw.toFixed(0)} events/s`, '1.00x', ''])
  let firstPerSec: number | null = null
  const only = (process.env.BENCH_ONLY ?? '').split(',').filter((x) => x !== '').map(Number)
  const wanted = (n: number): boolean => only.length === 0 || only.includes(n)
  for (const [i, s] of SCENARIOS.entries()) {
    if (!wanted(i + 1)) continue
    log(`end-to-end: ${s.name}`)
    const r = await endToEnd(database.uri, s)
    log(`  ${r.perSec.toFixed(0)} events/s (${r.scored} scored; ingested in ${(r.ingestMs / 1000).toFixed(1)} s, scored in ${(r.totalMs / 1000).toFixed(1)} s)`)
    // the cost must not grow with the data: scenario 4 is compared with scenario 1 (same stream, empty database)
    const growth = s.preload !== undefined && firstPerSec !== null ? `; ${(firstPerSec / r.perSec).toFixed(2)}x the time of scenario 1 (goal <= 1.3x)` : ''
    if (i === 0) firstPerSec = r.perSec
    rows.push([s.name, `${r.perSec.toFixed(0)} events/s`, `${(r.perSec / raw).toFixed(3)}x`, `${r.scored === EVENTS ? 'all' : `${r.scored} of ${EVENTS}`} scored in ${(r.totalMs / 1000).toFixed(1)} s (ingest ${(r.ingestMs / 1000).toFixed(1)} s)${split(r)}${growth}`])
  }
  if (wanted(5)) {
    log('shuffled stream: 1000 events over 30 leads, 20% sent twice, 8 clients')
    const r = await shuffledSettle(database.uri)
    log(`  settled ${(r.settleMs / 1000).toFixed(1)} s after the last send (sending took ${(r.sendMs / 1000).toFixed(1)} s)`)
    rows.push(['shuffled stream, 1000 events over 30 leads, 20% duplicates, 8 clients', `settled ${(r.settleMs / 1000).toFixed(1)} s after the last send`, '', `goal <= 5 s; ${r.scored} scored; sending took ${(r.sendMs / 1000).toFixed(1)} s`])
  }
  if (wanted(6)) {
    log(`re-score all after scenario 1's stream (${EVENTS} events)`)
    const r = await rescoreAll(database.uri)
    const ratio = r.rawReadMs / r.rescoreMs
    log(`  ${(r.rescoreMs / 1000).toFixed(1)} s; a raw read of the ${r.events} events took ${(r.rawReadMs / 1000).toFixed(2)} s`)
    rows.push([`re-score all, ${r.events} events`, `${(r.events / (r.rescoreMs / 1000)).toFixed(0)} events/s`, `${ratio.toFixed(3)}x a raw read`, `${(r.rescoreMs / 1000).toFixed(1)} s; raw read ${(r.rawReadMs / 1000).toFixed(2)} s; goal >= 0.5x`])
  }
} finally {
  await database.stop()
}
console.log('| scenario | end-to-end | vs raw insertMany | notes |')
console.log('|---|---:|---:|---|')
for (const r of rows) console.log(`| ${r.join(' | ')} |`)
console.log(`\ndatabase: ${database.label}; ${cpus().length} CPUs; target >= 0.25x; total run ${((performance.now() - started) / 1000).toFixed(0)} s`)
