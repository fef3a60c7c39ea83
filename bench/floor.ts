// The floor under the scoring goals: what the least database work of scenario 1 of `bench/scoring.ts` (20,000 events
// over 10,000 new leads known only by external id) costs when the raw driver does it and nothing else, against
// the same raw `insertMany` limit that benchmark measures (bench/stream.ts). Run from the root:
//   npm run bench:floor
// The documents are the product's own: a server scores a small stream of the same shape first, and one stored event,
// lead and ledger entry, and one lead's index keys, are copied (with fresh ids) as many times as the scenario needs.
// Then, one phase after another, 4 commands at a time as the limit runs: the events stored, the new leads stored, the
// events and leads read back by `_id` list, a ledger entry per event, and a compare-and-set per lead (its score, state
// and last batch). No rule runs, no HTTP is parsed, nothing is locked: the phases are what any design that stores
// this data must write and read, so the limit divided by their sum bounds from above what end-to-end scoring can
// reach with these documents. The embedded database runs one write at a time, so its writes cannot overlap; the
// writes alone are the hard bound there. A last phase adds the lead index's keys (docs/architecture.md §4b), which
// the console's pages need at 100,000 leads and which are the largest share of scoring's documents. The last two
// columns price a layout with fewer documents (a lead's ledger entries of one batch in one document, a new lead
// written once, already scored): the writes such a redesign could not avoid, alone and with the same reads. A second
// table prices a re-score of every lead the same way: its least writes (a new ledger entry per event, the replaced entry marked, a compare-and-set per lead)
// against the raw read of the events that bench/scoring.ts holds a re-score to.
// Environment: BENCH_EVENTS (default 20000; the leads are half as many), BENCH_ROUNDS (default 2), MONGODB_URI.
import { randomBytes } from 'node:crypto'
import { cpus } from 'node:os'
import type { AddressInfo } from 'node:net'
import { BSON, type Collection, type Document } from 'mongodb'
import { buildApp } from '../server/src/app.js'
import { loadConfig } from '../server/src/config.js'
import { openDatabase } from '../server/src/infra/db.js'
import { leadIdOfKey } from '../server/src/domain/lead-views/keys.js'
import { benchDatabase, type BenchDatabase } from './database.js'
import { BATCH, CONCURRENCY, rawInsertMany, streamEvent } from './stream.js'

const num = (name: string, def: number): number => {
  const v = process.env[name]
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : def
}
const EVENTS = num('BENCH_EVENTS', 20_000)
const LEADS = Math.max(1, Math.floor(EVENTS / 2))
const ROUNDS = Math.max(1, num('BENCH_ROUNDS', 2))
// as the raw limit of bench/scoring.ts, and as scoring reads and writes: inserts of 100, `_id` lists of 500, lead
// compare-and-sets of 200 (a scoring batch's leads)
const INSERTS = BATCH
const READS = 500
const COMMITS = 200
const SAMPLE_EVENTS = 200
const KEY = `lsk_bench_${randomBytes(12).toString('hex')}`
const log = (s: string): void => { process.stderr.write(`# ${s}\n`) }

interface Sample { event: Document; lead: Document; entry: Document; keys: string[] }

/** Scores a small stream of the scenario's shape with the product, and keeps one of each document it stores. */
async function sample (database: BenchDatabase): Promise<Sample> {
  const name = `bench_floor_sample_${randomBytes(4).toString('hex')}`
  const db = await openDatabase(database.uri, name)
  const app = await buildApp(loadConfig({ MONGODB_URI: database.uri, MONGODB_DB: name, LEADSCORE_BOOTSTRAP_API_KEY: KEY, LEADSCORE_DEMO: '0', LOG_LEVEL: 'silent' }), { database: db, logger: false, startWorkers: true })
  try {
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    // the event bench/scoring.ts sends (scenario 1), two per lead
    const events = Array.from({ length: SAMPLE_EVENTS }, (_, i) => streamEvent('floor', i, { leads: SAMPLE_EVENTS / 2, identity: 'externalId' }))
    const res = await fetch(`${base}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ events }) })
    if (res.status !== 202) throw new Error(`ingest answered ${res.status}: ${await res.text()}`)
    const scored = (): number => app.core.metrics.eventsScored.values.get('') ?? 0
    const t0 = performance.now()
    while (scored() < SAMPLE_EVENTS) {
      if (performance.now() - t0 > 60_000) throw new Error(`only ${scored()} of ${SAMPLE_EVENTS} sample events scored in 60 s`)
      await new Promise((r) => setTimeout(r, 50))
    }
    const lead = await db.c.leads.findOne({ rev: { $gt: 0 } })
    const event = await db.c.events.findOne({ leadId: lead?._id })
    const entry = await db.c.scoreHistory.findOne({ leadId: lead?._id })
    if (lead === null || event === null || entry === null) throw new Error('the sample stream stored no scored lead')
    const keys = (await db.c.leadIndex.find({}).toArray()).map((d) => d._id).filter((k) => leadIdOfKey(k) === lead._id)
    return { event, lead, entry, keys }
  } finally {
    await app.close()
    await db.db.dropDatabase().catch(() => undefined)
    await db.close()
  }
}

/** Runs `f` over `items` in parts of `size`, CONCURRENCY parts at a time; the wall time in seconds. */
async function timed<T> (items: readonly T[], size: number, f: (part: T[]) => Promise<unknown>): Promise<number> {
  let next = 0
  const t0 = performance.now()
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < items.length) {
      const part = items.slice(next, next + size)
      next += size
      await f(part)
    }
  }))
  return (performance.now() - t0) / 1000
}

interface Phase { name: string; docs: number; seconds: number; write: boolean }

/** Runs one phase and adds its time to `into`. */
async function measure (into: Phase[], name: string, docs: number, write: boolean, run: () => Promise<number>): Promise<void> {
  into.push({ name, docs, write, seconds: await run() })
}

async function round (database: BenchDatabase, s: Sample): Promise<{ raw: number; phases: Phase[]; packed: Phase[]; rawRead: number; rescore: Phase[] }> {
  const db = await openDatabase(database.uri, `bench_floor_${randomBytes(4).toString('hex')}`)
  try {
    // the product's collections, with the indexes it creates on them (events are unique by source and external id)
    const col = (n: keyof typeof db.c): Collection<Document> => db.c[n] as unknown as Collection<Document>
    const eventId = (i: number): string => `${i % LEADS}:${Math.floor(i / LEADS) + 1}`
    const leadId = (i: number): string => `ld${i}`
    const insert = (c: Collection<Document>) => async (part: Document[]) => await c.insertMany(part, { ordered: false })
    const read = (c: Collection<Document>) => async (part: string[]) => await c.find({ _id: { $in: part } } as never).toArray()
    // the limit, as bench/scoring.ts measures it for its first stream
    const raw = EVENTS / await rawInsertMany(database.uri, EVENTS, { leads: LEADS, identity: 'externalId' })
    const phases: Phase[] = []
    // a new lead as ingest stores it: its identity and profile, no score yet
    const { state: _state, lastBatch: _batch, ...bare } = s.lead
    const set: Document = {}
    for (const k of ['state', 'score', 'scores', 'stage', 'grade', 'intentLabel', 'lastSeq', 'lastOrd', 'lastBatch', 'rescoreFrom', 'lastScoredAt', 'rulesetVersion', 'updatedAt', 'lastEventAt', 'nextSeq', 'sources']) {
      if (k in s.lead) set[k] = s.lead[k]
    }
    await measure(phases, 'events stored', EVENTS, true, async () => await timed(Array.from({ length: EVENTS }, (_, i) => ({ ...s.event, _id: eventId(i), externalId: `floor-${i}` })), INSERTS, insert(col('events'))))
    await measure(phases, 'new leads stored', LEADS, true, async () => await timed(Array.from({ length: LEADS }, (_, i) => ({ ...bare, _id: leadId(i), rev: 0 })), INSERTS, insert(col('leads'))))
    await measure(phases, 'leads read by _id list', LEADS, false, async () => await timed(Array.from({ length: LEADS }, (_, i) => leadId(i)), READS, read(col('leads'))))
    await measure(phases, 'events read by _id list', EVENTS, false, async () => await timed(Array.from({ length: EVENTS }, (_, i) => eventId(i)), READS, read(col('events'))))
    await measure(phases, 'a ledger entry per event', EVENTS, true, async () => await timed(Array.from({ length: EVENTS }, (_, i) => ({ ...s.entry, _id: `le${i}` })), INSERTS, insert(col('scoreHistory'))))
    await measure(phases, 'a compare-and-set per lead', LEADS, true, async () => await timed(Array.from({ length: LEADS }, (_, i) => i), COMMITS, async (part) => {
      await col('leads').bulkWrite(part.map((i) => ({ updateOne: { filter: { _id: leadId(i), rev: 0 }, update: { $set: set, $inc: { rev: 1 } } } })) as never, { ordered: false })
    }))
    // the sample lead's keys for each lead, made unique by a suffix (a few characters longer than the product's keys)
    const keys = Array.from({ length: LEADS }, (_, i) => s.keys.map((k) => ({ _id: `${k}~${i}` }))).flat()
    await measure(phases, `the lead index (${s.keys.length} keys per lead)`, keys.length, true, async () => await timed(keys, INSERTS * 5, insert(col('leadIndex'))))
    // a layout with fewer documents, for comparison: each lead's ledger entries of a batch in one document, and a new
    // lead written once, already scored (events as above)
    const packed: Phase[] = []
    const perLead = Math.max(1, Math.round(EVENTS / LEADS))
    await measure(packed, `ledger entries packed, ${perLead} per document`, LEADS, true, async () => await timed(Array.from({ length: LEADS }, (_, i) => ({ _id: `lp${i}`, entries: Array.from({ length: perLead }, () => s.entry) })), INSERTS, insert(db.db.collection('packedLedger'))))
    await measure(packed, 'new leads stored once, scored', LEADS, true, async () => await timed(Array.from({ length: LEADS }, (_, i) => ({ ...s.lead, _id: `lx${i}` })), INSERTS, insert(db.db.collection('scoredLeads'))))
    // a re-score of every lead, against the raw read of its events (the limit bench/scoring.ts holds a re-score to):
    // the least it writes is a new ledger entry per event, the entry it replaces marked superseded, a compare-and-set
    // per lead
    const t0 = performance.now()
    const got = (await col('events').find({}).toArray()).length
    const rawRead = (performance.now() - t0) / 1000
    if (got !== EVENTS) throw new Error(`read ${got} of ${EVENTS} events`)
    const rescore: Phase[] = []
    await measure(rescore, 'a new ledger entry per event', EVENTS, true, async () => await timed(Array.from({ length: EVENTS }, (_, i) => ({ ...s.entry, _id: `lr${i}` })), INSERTS, insert(col('scoreHistory'))))
    const replaced = { superseded: true, supersededBy: 'rescore', supersededReason: 'rescored' }
    await measure(rescore, 'the replaced entries marked', EVENTS, true, async () => await timed(Array.from({ length: EVENTS }, (_, i) => `le${i}`), READS, async (part) => {
      await col('scoreHistory').bulkWrite(part.map((_id) => ({ updateOne: { filter: { _id }, update: { $set: replaced } } })) as never, { ordered: false })
    }))
    await measure(rescore, 'a compare-and-set per lead', LEADS, true, async () => await timed(Array.from({ length: LEADS }, (_, i) => i), COMMITS, async (part) => {
      await col('leads').bulkWrite(part.map((i) => ({ updateOne: { filter: { _id: leadId(i), rev: 1 }, update: { $set: set, $inc: { rev: 1 } } } })) as never, { ordered: false })
    }))
    return { raw, phases, packed, rawRead, rescore }
  } finally {
    await db.db.dropDatabase().catch(() => undefined)
    await db.close()
  }
}

const database = await benchDatabase()
try {
  const got = await sample(database)
  log(`documents (BSON bytes): event ${BSON.calculateObjectSize(got.event)}, lead ${BSON.calculateObjectSize(got.lead)}, ledger entry ${BSON.calculateObjectSize(got.entry)}; ${got.keys.length} index keys per lead`)
  const rows: string[][] = []
  const rescoreRows: string[][] = []
  for (let r = 1; r <= ROUNDS; r++) {
    const { raw, phases, packed, rawRead, rescore } = await round(database, got)
    const core = phases.slice(0, -1)
    const sum = (ps: Phase[]): number => ps.reduce((n, p) => n + p.seconds, 0)
    const writes = sum(core.filter((p) => p.write))
    const all = sum(core)
    const withIndex = sum(phases)
    const fewer = sum(phases.filter((p) => p.name === 'events stored')) + sum(packed)
    // the layout's events and leads are read back as in the first one
    const fewerRead = fewer + sum(core.filter((p) => !p.write))
    const rescoreWrites = sum(rescore)
    for (const p of [...phases, ...packed, ...rescore]) log(`round ${r}: ${p.name}: ${p.docs} documents in ${p.seconds.toFixed(2)} s`)
    rows.push([String(r), `${(EVENTS / raw).toFixed(0)} events/s`, `${writes.toFixed(2)} s, ${(raw / writes).toFixed(3)}x`, `${all.toFixed(2)} s, ${(raw / all).toFixed(3)}x`, `${withIndex.toFixed(2)} s, ${(raw / withIndex).toFixed(3)}x`, `${fewer.toFixed(2)} s, ${(raw / fewer).toFixed(3)}x`, `${fewerRead.toFixed(2)} s, ${(raw / fewerRead).toFixed(3)}x`])
    rescoreRows.push([String(r), `${rawRead.toFixed(2)} s`, `${rescoreWrites.toFixed(2)} s, ${(rawRead / rescoreWrites).toFixed(3)}x`])
  }
  console.log(`| round | raw insertMany (the limit) | writes alone | writes and reads | and the lead index | fewer documents: writes alone | fewer documents: writes and reads |`)
  console.log('|---|---:|---:|---:|---:|---:|---:|')
  for (const r of rows) console.log(`| ${r.join(' | ')} |`)
  console.log(`\n${EVENTS} events over ${LEADS} leads; each figure is the limit's time divided by the phases' summed time: the most end-to-end scoring could reach`)
  console.log(`\n| round | raw read of the ${EVENTS} events (the limit) | a re-score's writes alone |`)
  console.log('|---|---:|---:|')
  for (const r of rescoreRows) console.log(`| ${r.join(' | ')} |`)
  console.log(`\na re-score of every lead: a new ledger entry per event, the replaced one marked, a compare-and-set per lead; the figure is the most a re-score could reach against the raw read`)
  console.log(`database: ${database.label}; ${cpus().length} CPUs; goals of bench/scoring.ts: streams >= 0.25x, re-score >= 0.5x`)
} finally {
  await database.stop()
}
