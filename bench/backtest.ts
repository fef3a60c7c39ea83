// Backtest benchmark. Run from the repository root:
//   npx tsx --conditions=leadscore-source bench/backtest.ts
// Stores BENCH_EVENTS events (default 1,000,000) for BENCH_LEADS leads (default 20,000) directly with the driver,
// then measures in one run:
//   (a) the raw read: one cursor over every stored event, nothing else
//   (b) a backtest of a candidate ruleset against the published one over the same events (both rulesets score
//       every event from scratch, through the same pipeline live scoring uses)
// and prints (b)/(a). Uses MONGODB_URI when set, else an embedded FerretDB (SQLite) in a temporary folder.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDatabase } from '../server/src/infra/db.js'
import { startFerretDb, type EmbeddedDb } from '../server/src/infra/ferretdb.js'
import { createRulesetService, compileRulesSource } from '../server/src/domain/rulesets/ruleset-service.js'
import { createScoringPipeline } from '../server/src/domain/scoring/pipeline.js'
import { runBacktest } from '../server/src/domain/rulesets/backtest.js'
import { DEFAULT_SOURCE } from '../server/src/domain/rulesets/default-ruleset.js'
import { leadIdOf, eventIdOf } from '../server/src/domain/ids.js'
import { leadKeyOf, ordOf } from '../server/src/domain/events/normalize.js'
import { initialState } from '../server/src/domain/scoring/model.js'
import type { EventDoc, LeadDoc } from '../server/src/domain/types.js'

const num = (name: string, def: number): number => {
  const v = process.env[name]
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : def
}
const EVENTS = num('BENCH_EVENTS', 1_000_000)
const LEADS = num('BENCH_LEADS', 20_000)
const TYPES = ['page_view', 'email_open', 'form_submit', 'demo_request', 'purchase', 'email_bounced', 'webinar'] as const
const log = (s: string): void => { process.stderr.write(`# ${s}\n`) }

const CANDIDATE = DEFAULT_SOURCE
  .replace('+5 engagement', '+8 engagement x0.5 after 10')
  .replace('+50 engagement', '+50 intent once')
  .replace('rule "Purchase"', `rule "Pricing page"
  when event.type == "page_view" and event.properties.path startsWith "/pricing"
  then +15 intent limit 3 per 30d

rule "Enterprise lead"
  when event.type == "form_submit" and lead.attributes.employees >= 500
  then +30 fit once

rule "Purchase"`)

async function main (): Promise<void> {
  let embedded: EmbeddedDb | null = null
  let dir: string | null = null
  let uri = process.env.MONGODB_URI
  if (uri === undefined) {
    dir = mkdtempSync(join(tmpdir(), 'leadscore-bench-'))
    embedded = await startFerretDb({ dataDir: dir })
    uri = embedded.uri
  }
  const dbName = `ls_bench_${randomBytes(4).toString('hex')}`
  const db = await openDatabase(uri, dbName)
  try {
    const now = () => new Date()
    const rulesets = createRulesetService({ c: db.c, now })
    await rulesets.ensureDefault()
    const compiled = await compileRulesSource(CANDIDATE)
    if (!compiled.ok) throw new Error(`candidate does not compile: ${JSON.stringify(compiled.diagnostics)}`)
    const candidate = await rulesets.createDraft({ source: CANDIDATE }, 'bench')

    log(`storing ${LEADS} leads and ${EVENTS} events (${embedded !== null ? 'embedded FerretDB' : 'MONGODB_URI'})`)
    const t0 = performance.now()
    const base = Date.now() - 365 * 86_400_000
    const perLead = Math.ceil(EVENTS / LEADS)
    const leadDocs: LeadDoc[] = []
    for (let l = 0; l < LEADS; l++) {
      const email = `lead${l}@bench.example`
      const t = new Date(base)
      leadDocs.push({
        _id: leadIdOf(leadKeyOf(email, null)), key: leadKeyOf(email, null), email, externalId: null, name: `Lead ${l}`, company: `Company ${l % 500}`,
        attributes: { employees: (l * 37) % 2000, industry: ['saas', 'retail', 'finance'][l % 3] }, status: l % 17 === 0 ? 'converted' : 'open',
        stage: 'Cold', grade: '', score: 0, scores: { engagement: 0, fit: 0, intent: 0, predictive: null }, sources: ['api'], nextSeq: 0, lastSeq: 0,
        lastOrd: null, rev: 0, state: initialState({}), lastBatch: null, rescoreFrom: null, lastEventAt: null, lastScoredAt: null, rulesetVersion: 1,
        createdAt: t, updatedAt: t,
      })
    }
    for (let i = 0; i < leadDocs.length; i += 1000) await db.c.leads.insertMany(leadDocs.slice(i, i + 1000), { ordered: false })
    let stored = 0
    let batch: EventDoc[] = []
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return
      await db.c.events.insertMany(batch, { ordered: false })
      stored += batch.length
      batch = []
      if (stored % 100_000 < 1000) log(`  ${stored} events stored`)
    }
    for (let l = 0; l < LEADS && stored + batch.length < EVENTS; l++) {
      const lead = leadDocs[l]!
      for (let s = 1; s <= perLead && stored + batch.length < EVENTS; s++) {
        const type = TYPES[(l * 7 + s * 3) % TYPES.length]!
        const occurredAt = new Date(base + s * 3_600_000 * 7 + l * 1000)
        const externalId = `bench-${l}-${s}`
        batch.push({
          _id: eventIdOf(lead._id, s), sourceId: 'api', externalId, idSource: 'given', leadId: lead._id, seq: s, type, occurredAt, receivedAt: occurredAt,
          ord: ordOf(occurredAt, 'api', externalId), properties: { path: s % 4 === 0 ? '/pricing' : '/blog/post', campaign: 'bench' }, status: 'scored',
        })
        if (batch.length >= 1000) await flush()
      }
    }
    await flush()
    log(`stored in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

    // (a) the raw read
    const r0 = performance.now()
    let read = 0
    for await (const e of db.c.events.find({}, { projection: { insertId: 0, requestId: 0 } })) if (e !== null) read++
    const rawSec = (performance.now() - r0) / 1000

    // (b) the backtest
    const pipeline = createScoringPipeline()
    const published = await rulesets.active()
    const cand = await rulesets.byVersion(candidate.version)
    const b0 = performance.now()
    const result = await runBacktest({ c: db.c, pipeline, now, onProgress: async () => undefined }, {}, published, cand)
    const btSec = (performance.now() - b0) / 1000

    const rows = [
      ['stored events', String(stored)],
      ['(a) raw read of all events', `${rawSec.toFixed(1)} s (${Math.round(read / rawSec)} events/s)`],
      ['(b) backtest, 2 rulesets × every event', `${btSec.toFixed(1)} s (${Math.round(result.events / btSec)} events/s, ${result.leads} leads, ${result.changed} changed)`],
      ['(b)/(a) time', `${(btSec / rawSec).toFixed(2)}×`],
    ]
    process.stdout.write('\n| measurement | result |\n|---|---|\n' + rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n') + '\n')
    if (read !== stored || result.events !== stored) throw new Error(`read ${read} and backtested ${result.events} of ${stored} events`)
  } finally {
    await db.db.dropDatabase().catch(() => undefined)
    await db.close()
    if (embedded !== null) await embedded.stop()
    if (dir !== null) rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => { console.error(err); process.exit(1) })
