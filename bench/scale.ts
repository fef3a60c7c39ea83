// Console pages at scale. Run from the repository root:
//   npm run bench:scale        (BENCH_LEADS, default 100,000 leads with BENCH_PER_LEAD, default 10, events each)
// For the small and the large size (BENCH_LEADS / 10, then BENCH_LEADS) it stores the leads and their events with the
// driver, with the lead index and the counters the scoring commit would have written (test/helpers/large-dataset.ts),
// starts the server on that database (workers off, so only reads are timed), and times each request the console's
// leads, lead detail, leaderboard, analytics and overview pages make, over real HTTP: p50 and p95 of BENCH_REPEAT
// (default 20) requests each. It prints both sizes and the ratio large/small of p95.
// Uses MONGODB_URI when set, else an embedded FerretDB (SQLite) in a temporary folder.
import { randomBytes } from 'node:crypto'
import { buildApp } from '../server/src/app.js'
import { loadConfig } from '../server/src/config.js'
import { openDatabase } from '../server/src/infra/db.js'
import { benchDatabase } from './database.js'
import { loadLeads } from '../test/helpers/large-dataset.js'

const num = (name: string, def: number): number => {
  const v = process.env[name]
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : def
}
const LEADS = num('BENCH_LEADS', 100_000)
const PER_LEAD = num('BENCH_PER_LEAD', 10)
const REPEAT = num('BENCH_REPEAT', 20)
const KEY = 'lsk_bench_admin_key_0123456789abcdef'
const log = (s: string): void => { process.stderr.write(`# ${s}\n`) }

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!

async function timeRequests (base: string, sampleLead: string): Promise<Map<string, { p50: number; p95: number }>> {
  const headers = { authorization: `Bearer ${KEY}` }
  const getJson = async (path: string): Promise<Record<string, unknown>> => {
    const res = await fetch(`${base}${path}`, { headers })
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`)
    return await res.json() as Record<string, unknown>
  }
  const page2 = (await getJson('/v1/leads?limit=50')).nextCursor as string
  const requests: Array<[string, string]> = [
    ['leads: by score', '/v1/leads?limit=50'],
    ['leads: next page', `/v1/leads?limit=50&cursor=${page2}`],
    ['leads: by last activity', '/v1/leads?limit=50&sort=last_event_desc'],
    ['leads: newest', '/v1/leads?limit=50&sort=created_desc'],
    ['leads: by name', '/v1/leads?limit=50&sort=name_asc'],
    ['leads: stage MQL, score ≥ 60', '/v1/leads?limit=50&stage=MQL&minScore=60'],
    ['leads: source crm', '/v1/leads?limit=50&source=crm'],
    ['leads: search "hopper"', '/v1/leads?limit=50&q=hopper'],
    ['lead detail', `/v1/leads/${sampleLead}`],
    ['lead detail: events', `/v1/leads/${sampleLead}/events?limit=50`],
    ['lead detail: ledger', `/v1/leads/${sampleLead}/history?limit=50`],
    ['lead detail: score trend', `/v1/leads/${sampleLead}/history?order=asc&limit=1000`],
    ['leads: ruleset stages', '/v1/rulesets/active'],
    ['leaderboard', '/v1/leaderboard?limit=10'],
    ['analytics: score distribution', '/v1/analytics/score-distribution'],
    ['analytics: stages', '/v1/analytics/stages'],
    ['analytics: conversion by score', '/v1/analytics/conversion-by-score'],
    ['analytics: events over time (30 days)', '/v1/analytics/events-over-time?granularity=day'],
    ['analytics: events over time (48 hours)', '/v1/analytics/events-over-time?granularity=hour'],
    ['analytics: sources', '/v1/analytics/sources'],
    ['overview: stats', '/v1/stats'],
  ]
  const out = new Map<string, { p50: number; p95: number }>()
  for (const [name, path] of requests) {
    await getJson(path)
    const times: number[] = []
    for (let i = 0; i < REPEAT; i++) {
      const t0 = performance.now()
      await getJson(path)
      times.push(performance.now() - t0)
    }
    out.set(name, { p50: pct(times, 0.5), p95: pct(times, 0.95) })
  }
  return out
}

async function measure (uri: string, leads: number): Promise<Map<string, { p50: number; p95: number }>> {
  const dbName = `ls_bench_${randomBytes(4).toString('hex')}`
  const db = await openDatabase(uri, dbName)
  try {
    log(`storing ${leads} leads and ${leads * PER_LEAD} events`)
    const t0 = performance.now()
    const { sampleLead } = await loadLeads(db, leads, { perLead: PER_LEAD })
    log(`stored in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    const config = loadConfig({ MONGODB_URI: uri, MONGODB_DB: dbName, LEADSCORE_BOOTSTRAP_API_KEY: KEY, LEADSCORE_DEMO: '0', LOG_LEVEL: 'silent', LEADSCORE_WORKER: 'false' })
    const app = await buildApp(config, { logger: false, database: db, startWorkers: false })
    const address = await app.listen({ host: '127.0.0.1', port: 0 })
    try {
      return await timeRequests(address, sampleLead)
    } finally {
      await app.close()
    }
  } finally {
    await db.db.dropDatabase().catch(() => undefined)
    await db.close()
  }
}

async function main (): Promise<void> {
  const database = await benchDatabase()
  try {
    const small = Math.max(1, Math.floor(LEADS / 10))
    const a = await measure(database.uri, small)
    const b = await measure(database.uri, LEADS)
    const ms = (x: number): string => `${x.toFixed(1)} ms`
    const rows = [...b].map(([name, big]) => {
      const s = a.get(name)!
      return `| ${name} | ${ms(s.p50)} / ${ms(s.p95)} | ${ms(big.p50)} / ${ms(big.p95)} | ${(big.p95 / s.p95).toFixed(2)}× |`
    })
    process.stdout.write(`\n| request (p50 / p95 of ${REPEAT}) | ${small} leads | ${LEADS} leads | p95 ratio |\n|---|---|---|---|\n${rows.join('\n')}\n`)
    const worst = Math.max(...[...b.values()].map((r) => r.p95))
    process.stdout.write(`\nworst p95 at ${LEADS} leads: ${ms(worst)} (${database.label})\n`)
  } finally {
    await database.stop()
  }
}

main().catch((err: unknown) => { console.error(err); process.exit(1) })
