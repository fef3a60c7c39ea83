// Predictive-scoring benchmark on a real lead dataset. Run from the repository root:
//   npm run bench:predictive
// Reads ../shared/datasets/Leads.csv (relative to the repository root; override with BENCH_LEADS_CSV) and skips
// with a message when it is absent: the data is never copied into the repository. Drops the columns that leak the
// outcome (Tags, Lead Quality, Last Notable Activity, Lead Profile and the Asymmetrique scores), imports the leads
// through the product's own upload path (POST /v1/uploads, kind=leads) into a fresh database (an embedded FerretDB unless MONGODB_URI is set), trains
// through POST /v1/models/train with the `Converted` column as a recorded outcome, and reports the holdout metrics
// of the tournament's winner and of logistic regression alone, plus the in-process prediction latency.
// Environment: BENCH_LEADS_CSV, BENCH_MAX_ROWS (default: all rows).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { parse } from 'csv-parse/sync'
import type { AddressInfo } from 'node:net'
import { buildApp } from '../server/src/app.js'
import { loadConfig } from '../server/src/config.js'
import { openDatabase } from '../server/src/infra/db.js'
import { startFerretDb, type EmbeddedDb } from '../server/src/infra/ferretdb.js'
import { loadDataset, type OutcomeDefinition } from '../server/src/domain/predictive/dataset.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
// ../shared next to the repository (a worktree one level deeper finds it at ../../shared)
const CSV = process.env.BENCH_LEADS_CSV ?? [resolve(root, '..', 'shared', 'datasets', 'Leads.csv'), resolve(root, '..', '..', 'shared', 'datasets', 'Leads.csv')].find(existsSync) ?? resolve(root, '..', 'shared', 'datasets', 'Leads.csv')
const MAX_ROWS = Number(process.env.BENCH_MAX_ROWS ?? Infinity)
const KEY = `lsk_bench_${randomBytes(12).toString('hex')}`
const AUTH = { authorization: `Bearer ${KEY}` }
/** Columns that are recorded after (or because of) the outcome: using them would leak it. */
const LEAKY = (c: string): boolean => ['Tags', 'Lead Quality', 'Last Notable Activity', 'Lead Profile'].includes(c) || c.startsWith('Asymmetrique')
const ID_COLUMN = 'Prospect ID'
const LABEL = 'Converted'

const log = (s: string): void => { process.stderr.write(`# ${s}\n`) }
const sleep = async (ms: number): Promise<void> => { await new Promise((r) => setTimeout(r, ms)) }

async function api (base: string, method: string, path: string, body?: unknown): Promise<Json> {
  const res = await fetch(base + path, { method, headers: { ...AUTH, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
  const json = await res.json() as Json
  if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(json)}`)
  return json
}

/**
 * Imports the leads through the product's upload path: the CSV (without the leaking columns) as a leads upload,
 * `POST /v1/uploads` with kind=leads. Each row becomes a `lead_updated` event carrying the row as lead attributes;
 * `Prospect ID` is the lead's external id. The dataset has no email, and a lead known only by an external id is
 * looked up by a query that FerretDB answers with a collection scan per row (quadratic over 9,240 rows), so each row
 * also gets a synthetic address `<Prospect ID>@leads.invalid` as its identity.
 */
async function importLeads (base: string, header: string[], rows: string[][]): Promise<void> {
  const cell = (v: string): string => /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v
  const idIdx = header.indexOf(ID_COLUMN)
  const csv = [[...header, 'Email'], ...rows.map((r) => [...r, `${r[idIdx]!}@leads.invalid`])].map((r) => r.map(cell).join(',')).join('\n') + '\n'
  const form = new FormData()
  form.append('kind', 'leads')
  form.append('format', 'csv')
  form.append('mapping', JSON.stringify({ [ID_COLUMN]: 'lead.externalId', Email: 'lead.email' }))
  form.append('file', new Blob([csv], { type: 'text/csv' }), 'leads.csv')
  const res = await fetch(`${base}/v1/uploads`, { method: 'POST', headers: AUTH, body: form })
  const json = await res.json() as Json
  if (res.status !== 201) throw new Error(`POST /v1/uploads answered ${res.status}: ${JSON.stringify(json).slice(0, 500)}`)
  if (json.accepted + json.duplicates !== rows.length) throw new Error(`the upload rejected rows: ${JSON.stringify(json).slice(0, 500)}`)
  log(`uploaded ${rows.length} rows through POST /v1/uploads (${json.accepted as number} accepted)`)
}

async function trainAndWait (base: string, body: Json): Promise<Json> {
  const job = await api(base, 'POST', '/v1/models/train', body)
  let last = ''
  for (;;) {
    const j = await api(base, 'GET', `/v1/models/jobs/${job.id as string}`)
    const line = `${j.percent as number}% ${j.phase as string}`
    if (line !== last) { log(`training: ${line}`); last = line }
    if (j.state === 'failed') throw new Error(`training failed: ${j.errorCode as string} ${j.error as string}`)
    if (j.state === 'done') return await api(base, 'GET', `/v1/models/${j.modelId as string}`)
    await sleep(500)
  }
}

function report (name: string, m: Json): Json {
  const h = m.metrics
  return { model: name, version: m.version, algorithm: m.algorithm, winner: m.winner, cvAuc: m.cv.map((c: Json) => `${c.name as string}: ${(c.auc as number).toFixed(4)}`).join('; '), holdoutAuc: h.auc, precision: h.precision, recall: h.recall, f1: h.f1, brier: h.brier, threshold: h.threshold, holdout: `${h.examples as number} rows, ${h.positives as number} converted`, trainingSeconds: m.trainingMs / 1000 }
}

async function main (): Promise<void> {
  if (!existsSync(CSV)) {
    console.log(`bench:predictive skipped: ${CSV} is absent (set BENCH_LEADS_CSV to a copy of the Leads dataset)`)
    return
  }
  const all = parse(readFileSync(CSV), { relax_column_count: true }) as string[][]
  const fullHeader = all[0]!
  const keep = fullHeader.map((h, i) => ({ h: h.trim(), i })).filter(({ h }) => h !== '' && !LEAKY(h))
  const header = keep.map((k) => k.h)
  const rows = all.slice(1, Number.isFinite(MAX_ROWS) ? 1 + MAX_ROWS : undefined).map((r) => keep.map((k) => r[k.i] ?? ''))
  log(`${rows.length} leads; columns dropped as leaking the outcome: ${fullHeader.filter((h) => h !== '' && LEAKY(h)).join(', ')}`)

  let ferret: EmbeddedDb | null = null
  let dir: string | null = null
  let uri = process.env.MONGODB_URI
  if (uri === undefined) {
    dir = mkdtempSync(join(tmpdir(), 'leadscore-bench-'))
    ferret = await startFerretDb({ dataDir: dir, bin: process.env.LEADSCORE_FERRETDB_BIN })
    uri = ferret.uri
  }
  const dbName = `ls_bench_${randomBytes(4).toString('hex')}`
  const db = await openDatabase(uri, dbName)
  // Training reads the stored events (each carries its lead's row), not the scores, so the scoring workers stay off:
  // scoring 9,240 leads on an embedded FerretDB is not what this benchmark measures.
  const app = await buildApp(loadConfig({ MONGODB_URI: uri, MONGODB_DB: dbName, LEADSCORE_BOOTSTRAP_API_KEY: KEY, LEADSCORE_DEMO: '0', LOG_LEVEL: 'silent' }), { database: db, logger: false, startWorkers: false })
  try {
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    let t0 = performance.now()
    await importLeads(base, header, rows)
    log(`import: ${((performance.now() - t0) / 1000).toFixed(1)} s`)

    const outcome = { kind: 'attribute', name: LABEL, values: ['1'] }
    const features = { attributes: { exclude: ['Lead Number'] } }
    t0 = performance.now()
    const best = await trainAndWait(base, { name: 'leads-tournament', outcome, features, seed: 1 })
    const lr = await trainAndWait(base, { name: 'leads-logistic', outcome, features, seed: 1, candidates: [{ algorithm: 'logistic', l2: 1 }, { algorithm: 'logistic', l2: 10 }] })
    log(`training: ${((performance.now() - t0) / 1000).toFixed(1)} s`)

    // serving latency: the winner deployed and loaded as the scoring worker loads it, then each lead's features
    // (as of its import) through the predictor, explanation included
    await api(base, 'POST', `/v1/models/${best.id as string}/deploy`, { role: 'champion' })
    await app.core.predictive.runtime.ensureFresh(true)
    const { examples } = await loadDataset(db.c, { outcome: outcome as OutcomeDefinition, asOf: Date.now(), settings: (await app.core.rulesets.active()).settings, maxLeads: 1_000_000 })
    const predictAll = (record: number[] | null): void => {
      for (const ex of examples) {
        const sel = app.core.predictive.runtime.select(ex.leadId)!
        const s = performance.now()
        sel.model.predictor.predict(ex.input)
        record?.push(performance.now() - s)
      }
    }
    predictAll(null) // warm-up: the first calls also compile the code
    const times: number[] = []
    for (let round = 0; round < 3; round++) predictAll(times)
    times.sort((a, b) => a - b)
    const q = (f: number): number => Math.round(times[Math.min(times.length - 1, Math.floor(f * times.length))]! * 1000) / 1000

    console.log(JSON.stringify({
      dataset: CSV, leads: rows.length, published: 'logistic regression without the leaking columns: AUC about 0.88',
      results: [report('tournament', best), report('logistic regression only', lr)],
      topFeatures: (best.importance.features as Json[]).slice(0, 8).map((f) => `${f.feature as string} ${(f.importance as number).toFixed(3)}`),
      predictionLatencyMs: { samples: times.length, p50: q(0.5), p99: q(0.99), max: q(1) },
    }, null, 2))
  } finally {
    await app.close()
    await db.db.dropDatabase().catch(() => undefined)
    await db.close()
    if (ferret !== null) await ferret.stop()
    if (dir !== null) rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => { console.error(err); process.exitCode = 1 })
