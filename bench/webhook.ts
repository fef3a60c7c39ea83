// Webhook source benchmark. Run from the repository root:
//   npm run bench:webhook
// Starts an embedded FerretDB (SQLite) in a temporary folder, or uses MONGODB_URI when set, and measures in one run,
// with the same event payload and the same number of connections:
//   (a) unsigned POST /v1/events (API key)   (b) signed Standard Webhooks deliveries to a webhook source
// and prints (b)/(a): what signature checking, the source's mapping and its counters cost against the plain API.
// Every delivery has a fresh webhook-id and a fresh signature, computed before it is sent (outside the timing of the
// server, inside the client's loop, as a sender would). Environment: BENCH_SECONDS (per phase, default 8),
// BENCH_CONNECTIONS (default 16).
import autocannon, { type AutocannonResult } from 'autocannon'
import { Webhook } from 'standardwebhooks'
import { randomBytes } from 'node:crypto'
import { cpus } from 'node:os'
import type { AddressInfo } from 'node:net'
import { buildApp } from '../server/src/app.js'
import { loadConfig } from '../server/src/config.js'
import { openDatabase, type Database } from '../server/src/infra/db.js'
import { benchDatabase } from './database.js'

const num = (name: string, def: number): number => {
  const v = process.env[name]
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : def
}
const SECONDS = num('BENCH_SECONDS', 8)
const CONNECTIONS = num('BENCH_CONNECTIONS', 16)
const LEADS = 1000
const KEY = `lsk_bench_${randomBytes(12).toString('hex')}`
const RUN = randomBytes(4).toString('hex')
const log = (s: string): void => { process.stderr.write(`# ${s}\n`) }
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

/** The same event, as the API takes it and as a Standard Webhooks sender posts it. */
function apiEvent (i: number): Record<string, unknown> {
  return { externalId: `api-${RUN}-${i}`, type: 'page_view', occurredAt: new Date().toISOString(), lead: { email: `lead${i % LEADS}@bench.example`, name: `Lead ${i % LEADS}` }, properties: { path: '/pricing', campaign: 'spring' } }
}
function webhookBody (i: number): string {
  return JSON.stringify({ type: 'page_view', timestamp: new Date().toISOString(), data: { email: `lead${i % LEADS}@bench.example`, name: `Lead ${i % LEADS}`, path: '/pricing', campaign: 'spring' } })
}

function rate (r: AutocannonResult, what: string): number {
  if (r.non2xx + r.errors > 0) log(`${what}: ${r.non2xx} non-2xx responses, ${r.errors} errors (${JSON.stringify(r.statusCodeStats)})`)
  return r['2xx'] / r.duration
}

async function main (): Promise<void> {
  const began = performance.now()
  const database = await benchDatabase()
  const uri = database.uri
  const dbName = `ls_bench_wh_${RUN}`
  let db: Database | null = null
  const app = await (async () => {
    db = await openDatabase(uri, dbName)
    // scoring off: both phases measure the way in, not the worker that follows
    return await buildApp(loadConfig({ MONGODB_URI: uri, MONGODB_DB: dbName, LEADSCORE_BOOTSTRAP_API_KEY: KEY, LEADSCORE_DEMO: '0', LOG_LEVEL: 'silent' }), { database: db, logger: false, startWorkers: false })
  })()
  try {
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    const created = await fetch(`${base}/v1/sources`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'webhook', name: 'bench' }) })
    if (created.status !== 201) throw new Error(`creating the source answered ${created.status}: ${await created.text()}`)
    const src = await created.json() as { id: string; secretValues: { signingSecret: string } }
    const signer = new Webhook(src.secretValues.signingSecret)
    const path = `/v1/sources/${src.id}/webhook`
    log(`database: ${database.label}; ${cpus().length} CPUs; ${SECONDS} s per phase; ${CONNECTIONS} connections`)

    // warm-up of both paths (JIT, pools, the leads created once)
    for (let i = 0; i < LEADS; i += 50) {
      await fetch(`${base}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ events: Array.from({ length: 50 }, (_, j) => apiEvent(i + j)).map((e) => ({ ...e, externalId: `warm-${String(e.externalId)}` })) }) })
    }
    for (let i = 0; i < 30; i++) {
      const body = webhookBody(i)
      const id = `warm_${RUN}_${i}`
      const res = await fetch(`${base}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': signer.sign(id, new Date(), body) } })
      if (res.status !== 202) throw new Error(`a signed warm-up delivery answered ${res.status}: ${await res.text()}`)
    }

    log('(a) unsigned POST /v1/events')
    let na = 0
    const plain = await autocannon({
      url: base, connections: CONNECTIONS, duration: SECONDS, timeout: 30,
      requests: [{
        method: 'POST', path: '/v1/events', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: JSON.stringify(apiEvent(na++)) }),
      }],
    })
    const plainRate = rate(plain, '(a)')

    log('(b) signed webhook deliveries')
    let nb = 0
    const signed = await autocannon({
      url: base, connections: CONNECTIONS, duration: SECONDS, timeout: 30,
      requests: [{
        method: 'POST', path,
        setupRequest: (req) => {
          const i = nb++
          const body = webhookBody(i)
          const id = `msg_${RUN}_${i}`
          const now = new Date()
          return { ...req, body, headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': signer.sign(id, now, body) } }
        },
      }],
    })
    const signedRate = rate(signed, '(b)')

    // nothing lost: every delivery answered 2xx is a stored event of the source; deliveries still in flight when the
    // phase ended were stored without their answer being counted, so at most every one sent is stored
    const stored = await db!.c.events.countDocuments({ sourceId: src.id })
    const answered = signed['2xx'] + 30
    const sent = nb + 30
    const ratio = signedRate / plainRate
    console.log(`| measurement | result | notes |`)
    console.log(`|---|---|---|`)
    console.log(`| (a) unsigned POST /v1/events | ${fmt(plainRate)} events/s | ${CONNECTIONS} connections; p50 ${plain.latency.p50} ms, p99 ${plain.latency.p99} ms |`)
    console.log(`| (b) signed webhook deliveries | ${fmt(signedRate)} deliveries/s | ${CONNECTIONS} connections; p50 ${signed.latency.p50} ms, p99 ${signed.latency.p99} ms; ${fmt(stored)} stored; ${fmt(answered)} answered 2xx of ${fmt(sent)} sent |`)
    console.log('')
    console.log(`(b)/(a) signed deliveries vs unsigned API posts: ${ratio.toFixed(2)}x`)
    console.log(`database: ${database.label}; ${cpus().length} CPUs; total run ${((performance.now() - began) / 1000).toFixed(0)} s`)
    if (stored < answered || stored > sent) throw new Error(`${answered} deliveries were answered 2xx and ${sent} sent, but ${stored} events are stored`)
  } finally {
    await app.close().catch(() => undefined)
    if (db !== null) { await (db as Database).db.dropDatabase().catch(() => undefined); await (db as Database).close() }
    await database.stop()
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
