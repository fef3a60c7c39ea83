// Console pages at scale. Run from the repository root:
//   npm run bench:scale        (BENCH_LEADS, default 100,000 leads with BENCH_PER_LEAD, default 10, events each)
// For the small and the large size (BENCH_LEADS / 10, then BENCH_LEADS) it stores the leads and their events with the
// driver, with the lead index and the counters the scoring commit would have written (computed by the same
// domain functions), starts the server on that database (workers off, so only reads are timed), and times each
// request the console's leads, lead detail, leaderboard, analytics and overview pages make, over real HTTP:
// p50 and p95 of BENCH_REPEAT (default 20) requests each. It prints both sizes and the ratio large/small of p95.
// Uses MONGODB_URI when set, else an embedded FerretDB (SQLite) in a temporary folder.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '../server/src/app.js'
import { loadConfig } from '../server/src/config.js'
import { openDatabase, type Database } from '../server/src/infra/db.js'
import { startFerretDb, type EmbeddedDb } from '../server/src/infra/ferretdb.js'
import { leadIdOf, eventIdOf } from '../server/src/domain/ids.js'
import { leadKeyOf, ordOf } from '../server/src/domain/events/normalize.js'
import { initialState } from '../server/src/domain/scoring/model.js'
import { summaryOf } from '../server/src/domain/lead-views/summary.js'
import { keysOf } from '../server/src/domain/lead-views/keys.js'
import { addLead, eventIncrements, LEADS_ID, STATUS_ID, type Increments } from '../server/src/domain/lead-views/counters.js'
import type { EventDoc, LeadDoc } from '../server/src/domain/types.js'

const num = (name: string, def: number): number => {
  const v = process.env[name]
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : def
}
const LEADS = num('BENCH_LEADS', 100_000)
const PER_LEAD = num('BENCH_PER_LEAD', 10)
const REPEAT = num('BENCH_REPEAT', 20)
const KEY = 'lsk_bench_admin_key_0123456789abcdef'
const TYPES = ['page_view', 'email_open', 'form_submit', 'demo_request', 'purchase', 'webinar'] as const
const STAGES = [['Cold', 0], ['Nurture', 20], ['MQL', 50], ['SQL', 100]] as const
const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Radia', 'Linus', 'Margaret', 'John']
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Perlman', 'Torvalds', 'Hamilton', 'Backus']
const log = (s: string): void => { process.stderr.write(`# ${s}\n`) }
const DAY = 86_400_000

/** Stores `leads` leads with their events, index keys and counters, as scoring would have left them. */
async function load (db: Database, leads: number): Promise<{ sampleLead: string; events: number }> {
  const base = Date.now() - 180 * DAY
  const counters = new Map<string, Increments>()
  const leadInc: Increments = {}
  let keys: Array<{ _id: string }> = []
  let leadDocs: LeadDoc[] = []
  let events: EventDoc[] = []
  let stored = 0
  const flush = async (force: boolean): Promise<void> => {
    if (leadDocs.length >= 1000 || (force && leadDocs.length > 0)) { await db.c.leads.insertMany(leadDocs, { ordered: false }); leadDocs = [] }
    if (events.length >= 2000 || (force && events.length > 0)) { await db.c.events.insertMany(events, { ordered: false }); stored += events.length; events = [] }
    if (keys.length >= 5000 || (force && keys.length > 0)) { await db.c.leadIndex.insertMany(keys, { ordered: false }); keys = [] }
  }
  let sampleLead = ''
  for (let l = 0; l < leads; l++) {
    const email = `lead${l}@company${l % 997}.example`
    const id = leadIdOf(leadKeyOf(email, null))
    if (l === Math.floor(leads / 2)) sampleLead = id
    const score = (l * 7919) % 160 - 10
    const stage = [...STAGES].reverse().find(([, min]) => score >= min)?.[0] ?? 'Cold'
    const created = new Date(base + (l % 150) * DAY + l)
    const evs: EventDoc[] = []
    for (let s = 1; s <= PER_LEAD; s++) {
      const occurredAt = new Date(created.getTime() + s * 3 * 3_600_000)
      const type = TYPES[(l + s * 5) % TYPES.length]!
      const externalId = `b-${l}-${s}`
      evs.push({
        _id: eventIdOf(id, s), sourceId: l % 3 === 0 ? 'crm' : 'api', externalId, idSource: 'given', leadId: id, seq: s, type, occurredAt,
        receivedAt: occurredAt, ord: ordOf(occurredAt, 'api', externalId), properties: { path: '/pricing' }, status: 'scored',
      })
    }
    const doc: LeadDoc = {
      _id: id, key: leadKeyOf(email, null), email, externalId: null, name: `${FIRST[l % FIRST.length]!} ${LAST[(l * 5) % LAST.length]!} ${l}`,
      company: `Company ${l % 997}`, attributes: {}, status: l % 29 === 0 ? 'converted' : 'open', stage, grade: ['A', 'B', 'C', ''][l % 4]!, score,
      scores: { engagement: score, fit: 0, intent: 0, predictive: null }, sources: l % 3 === 0 ? ['crm'] : ['api'], nextSeq: PER_LEAD, lastSeq: PER_LEAD,
      lastOrd: evs[evs.length - 1]!.ord, rev: 1, state: initialState({}), lastBatch: null, rescoreFrom: null, lastEventAt: evs[evs.length - 1]!.occurredAt,
      lastScoredAt: created, rulesetVersion: 1, createdAt: created, updatedAt: created, convertedByEvent: evs.some((e) => e.type === 'purchase'),
    }
    const summary = summaryOf(doc)
    addLead(leadInc, summary, 1)
    keys.push(...keysOf(summary).map((_id) => ({ _id })))
    eventIncrements(evs, 1, counters)
    leadDocs.push(doc)
    events.push(...evs)
    await flush(false)
  }
  await flush(true)
  counters.set(LEADS_ID, leadInc)
  counters.set(STATUS_ID, { stored, scored: stored })
  const ops = [...counters].map(([id, inc]) => ({ updateOne: { filter: { _id: `${id}:s0` }, update: { $inc: inc }, upsert: true } }))
  for (let i = 0; i < ops.length; i += 200) await db.c.aggregates.bulkWrite(ops.slice(i, i + 200) as never, { ordered: false })
  await db.c.aggregates.insertOne({ _id: 'meta', builtAt: new Date(), leads, events: stored })
  return { sampleLead, events: stored }
}

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
    const { sampleLead } = await load(db, leads)
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
  let embedded: EmbeddedDb | null = null
  let dir: string | null = null
  let uri = process.env.MONGODB_URI
  if (uri === undefined) {
    dir = mkdtempSync(join(tmpdir(), 'leadscore-bench-'))
    embedded = await startFerretDb({ dataDir: dir })
    uri = embedded.uri
  }
  try {
    const small = Math.max(1, Math.floor(LEADS / 10))
    const a = await measure(uri, small)
    const b = await measure(uri, LEADS)
    const ms = (x: number): string => `${x.toFixed(1)} ms`
    const rows = [...b].map(([name, big]) => {
      const s = a.get(name)!
      return `| ${name} | ${ms(s.p50)} / ${ms(s.p95)} | ${ms(big.p50)} / ${ms(big.p95)} | ${(big.p95 / s.p95).toFixed(2)}× |`
    })
    process.stdout.write(`\n| request (p50 / p95 of ${REPEAT}) | ${small} leads | ${LEADS} leads | p95 ratio |\n|---|---|---|---|\n${rows.join('\n')}\n`)
    const worst = Math.max(...[...b.values()].map((r) => r.p95))
    process.stdout.write(`\nworst p95 at ${LEADS} leads: ${ms(worst)} (${embedded !== null ? 'embedded FerretDB' : 'MONGODB_URI'})\n`)
  } finally {
    if (embedded !== null) await embedded.stop()
    if (dir !== null) rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => { console.error(err); process.exit(1) })
