// Dry runs and backtests: a ruleset applied to stored or pasted history, in memory, through the same scoring
// pipeline live scoring uses — so a backtest's answer is exactly what publishing and re-scoring would produce.
// Nothing here writes to leads, events or the ledger.
import type { Collections } from '../../infra/db.js'
import type { EventDoc, JobDoc, LeadDoc, Reason, ScoreParts, ScoreState } from '../types.js'
import type { ScoringPipeline } from '../scoring/pipeline.js'
import type { ActiveRuleset } from './ruleset-service.js'
import { gradeFor, initialState, intentLabelFor, partsOf } from '../scoring/model.js'
import { eventIdOf } from '../ids.js'
import { CONVERTED_STATUS, isConversionEvent } from '../lead-views/summary.js'
import { normalizeEvent, type NormalizeLimits } from '../events/normalize.js'
import { encodeKeys } from '../../lib/keys.js'
import { LS_ERR_EVENT_INVALID } from '../../errors.js'

export interface ReplayEntry {
  index: number
  eventId: string | null
  type: string
  occurredAt: string
  status: 'scored' | 'unmapped'
  before: ScoreParts
  after: ScoreParts
  delta: number
  stage: string
  reasons: Reason[]
}

export interface FinalScore extends ScoreParts { stage: string; grade: string; intentLabel: string }

function finalOf (state: ScoreState, rs: ActiveRuleset): FinalScore {
  return { ...partsOf(state), stage: state.stage, grade: gradeFor(state.fit, rs.settings), intentLabel: intentLabelFor(state.intent, rs.settings) }
}

function byOrd (a: EventDoc, b: EventDoc): number {
  return a.ord < b.ord ? -1 : a.ord > b.ord ? 1 : 0
}

/** Scores a lead's events from scratch, in canonical order, with one ruleset. */
export async function replayLead (
  pipeline: ScoringPipeline, lead: LeadDoc, events: readonly EventDoc[], rs: ActiveRuleset, explain: boolean,
): Promise<{ final: FinalScore; entries: ReplayEntry[]; state: ScoreState }> {
  let state = initialState(rs.settings)
  const entries: ReplayEntry[] = []
  const sorted = [...events].sort(byOrd)
  for (let i = 0; i < sorted.length; i++) {
    const ev = sorted[i]!
    const out = await pipeline.scoreEvent(lead, ev, state, rs)
    if (explain) {
      const before = partsOf(state)
      const after = out.mapped ? partsOf(out.state) : before
      entries.push({
        index: i, eventId: ev._id.startsWith('dry-') ? null : ev._id, type: out.type, occurredAt: ev.occurredAt.toISOString(),
        status: out.mapped ? 'scored' : 'unmapped', before, after, delta: after.total - before.total, stage: out.mapped ? out.state.stage : state.stage,
        reasons: out.reasons,
      })
    }
    if (out.mapped) state = out.state
  }
  return { final: finalOf(state, rs), entries, state }
}

/** A lead's stored events, found by walking their ids (seqs are gapless). */
export async function storedEvents (c: Collections, lead: LeadDoc, max = 100_000): Promise<EventDoc[]> {
  const last = Math.max(lead.nextSeq ?? 0, lead.lastSeq ?? 0)
  const out: EventDoc[] = []
  for (let from = 1; from <= last && out.length < max; from += 32) {
    const ids = Array.from({ length: Math.min(32, last - from + 1) }, (_, i) => eventIdOf(lead._id, from + i))
    // one lookup per event by `_id`: FerretDB serves only those from an index (`$in` reads the whole collection)
    const docs = await Promise.all(ids.map(async (id) => await c.events.findOne({ _id: id })))
    for (const d of docs) if (d !== null) out.push(d)
  }
  // events written after the lead's counters were read
  for (let seq = last + 1; ; seq++) {
    const d = await c.events.findOne({ _id: eventIdOf(lead._id, seq) })
    if (d === null) break
    out.push(d)
  }
  return out
}

/** Pasted events become in-memory event documents, validated exactly like ingest validates them. */
export function pastedEvents (inputs: readonly unknown[], limits: NormalizeLimits, now: Date): EventDoc[] {
  return inputs.map((input, i) => {
    const r = normalizeEvent(input, { sourceId: 'dry-run', receivedAt: now, limits })
    if (!r.ok) throw new LS_ERR_EVENT_INVALID(`events[${i}]: ${r.reason.message}`)
    const e = r.event
    const doc: EventDoc = {
      _id: `dry-${i}`, sourceId: 'dry-run', externalId: e.externalId, idSource: e.idSource, leadId: '', seq: i + 1, type: e.type,
      occurredAt: e.occurredAt, receivedAt: now, ord: e.ord, properties: encodeKeys(e.properties) as Record<string, unknown>, status: 'pending',
    }
    // the attributes each event carries, as ingest keeps them: rules (fit rules above all) see them change event by event
    if (e.lead.attributes !== undefined && Object.keys(e.lead.attributes).length > 0) doc.leadProfile = { attributes: encodeKeys(e.lead.attributes) as Record<string, unknown> }
    return doc
  })
}

/** A lead document for pasted events that name no stored lead: the profile the first events carry. */
export function syntheticLead (inputs: readonly unknown[], now: Date): LeadDoc {
  const first = (inputs.find((x) => typeof x === 'object' && x !== null && 'lead' in x) as { lead?: Record<string, unknown> } | undefined)?.lead ?? {}
  const str = (v: unknown): string | null => typeof v === 'string' ? v : null
  const attributes = typeof first.attributes === 'object' && first.attributes !== null ? encodeKeys(first.attributes as Record<string, unknown>) as Record<string, unknown> : {}
  return {
    _id: 'dry-run', key: 'dry-run', email: str(first.email)?.toLowerCase() ?? null, externalId: str(first.externalId), name: str(first.name), company: str(first.company),
    attributes, status: 'open', stage: '', grade: '', score: 0, scores: { engagement: 0, fit: 0, intent: 0, predictive: null }, sources: ['dry-run'],
    nextSeq: inputs.length, lastSeq: 0, lastOrd: null, rev: 0, state: initialState({}), lastBatch: null, rescoreFrom: null,
    lastEventAt: null, lastScoredAt: null, rulesetVersion: null, createdAt: now, updatedAt: now,
  }
}

export interface BacktestScope { leadIds?: string[] | undefined; from?: Date | undefined; to?: Date | undefined; limit?: number | undefined }

export interface BacktestMover {
  leadId: string; name: string | null; email: string | null; before: number; after: number; delta: number; stageBefore: string; stageAfter: string
}

export interface BacktestResult {
  leads: number
  events: number
  changed: number
  movers: BacktestMover[]
  stages: Array<{ stage: string; before: number; after: number; entered: number; left: number }>
  distribution: Array<{ min: number; max: number; before: number; after: number }>
  lift: Array<{ stage: string; leads: number; converted: number; rate: number; lift: number }>
  baseline: { converted: number; rate: number }
}

export interface BacktestJobDoc extends Omit<JobDoc, 'kind'> {
  kind: 'backtest'
  version: number
  baseVersion: number
  scope: { leadIds: string[] | null; from: Date | null; to: Date | null; limit: number | null }
  actor: string
  result: BacktestResult | null
}

interface LeadOutcome { lead: LeadDoc; before: FinalScore; after: FinalScore; converted: boolean; events: number }

/** Aggregates per-lead before/after outcomes into the backtest report. Pure. */
export function summarize (outcomes: readonly LeadOutcome[], stageOrder: readonly string[]): BacktestResult {
  const movers = outcomes
    .filter((o) => o.before.total !== o.after.total || o.before.stage !== o.after.stage)
    .map((o) => ({
      leadId: o.lead._id, name: o.lead.name ?? null, email: o.lead.email ?? null, before: o.before.total, after: o.after.total,
      delta: o.after.total - o.before.total, stageBefore: o.before.stage, stageAfter: o.after.stage,
    }))
  const changed = movers.length
  movers.sort((a, b) => Math.abs(b.delta) - Math.abs(a.delta) || (a.leadId < b.leadId ? -1 : 1))
  const stageNames = [...stageOrder]
  for (const o of outcomes) for (const s of [o.before.stage, o.after.stage]) if (!stageNames.includes(s)) stageNames.push(s)
  const stages = stageNames.map((stage) => ({
    stage,
    before: outcomes.filter((o) => o.before.stage === stage).length,
    after: outcomes.filter((o) => o.after.stage === stage).length,
    entered: outcomes.filter((o) => o.after.stage === stage && o.before.stage !== stage).length,
    left: outcomes.filter((o) => o.before.stage === stage && o.after.stage !== stage).length,
  }))
  const totals = outcomes.flatMap((o) => [o.before.total, o.after.total])
  const lo = totals.length === 0 ? 0 : Math.min(...totals)
  const hi = totals.length === 0 ? 0 : Math.max(...totals)
  const bins = 10
  const width = Math.max(1, Math.ceil((hi - lo + 1) / bins))
  const distribution = Array.from({ length: bins }, (_, i) => ({ min: lo + i * width, max: lo + (i + 1) * width - 1, before: 0, after: 0 }))
  const binOf = (v: number): number => Math.min(bins - 1, Math.floor((v - lo) / width))
  for (const o of outcomes) { distribution[binOf(o.before.total)]!.before++; distribution[binOf(o.after.total)]!.after++ }
  const converted = outcomes.filter((o) => o.converted).length
  const baseRate = outcomes.length === 0 ? 0 : converted / outcomes.length
  const lift = stageNames.map((stage) => {
    const inStage = outcomes.filter((o) => o.after.stage === stage)
    const conv = inStage.filter((o) => o.converted).length
    const rate = inStage.length === 0 ? 0 : conv / inStage.length
    return { stage, leads: inStage.length, converted: conv, rate: round4(rate), lift: baseRate === 0 ? 0 : round4(rate / baseRate) }
  })
  return {
    leads: outcomes.length, events: outcomes.reduce((n, o) => n + o.events, 0), changed, movers: movers.slice(0, 20), stages, distribution, lift,
    baseline: { converted, rate: round4(baseRate) },
  }
}

function round4 (v: number): number { return Math.round(v * 10_000) / 10_000 }

/** Whether a lead converted: its status says so, or it has a conversion event (the analytics' definition). */
export function convertedLead (lead: LeadDoc, events: readonly EventDoc[], rs: ActiveRuleset): boolean {
  if (lead.status === CONVERTED_STATUS) return true
  return events.some((e) => isConversionEvent(e.type, rs.settings))
}

export interface BacktestDeps {
  c: Collections
  pipeline: ScoringPipeline
  now: () => Date
  onProgress: (done: number, total: number) => Promise<void>
}

/**
 * Runs a backtest: every lead in scope is scored from scratch by the published ruleset (before) and the candidate
 * (after) over the same events. Events are read in one pass over the collection (grouped by lead in memory) unless
 * the scope names leads, whose events are read by id.
 */
export async function runBacktest (deps: BacktestDeps, scope: BacktestScope, before: ActiveRuleset, after: ActiveRuleset): Promise<BacktestResult> {
  const { c, pipeline } = deps
  const inRange = (e: EventDoc): boolean => (scope.from === undefined || e.occurredAt >= scope.from) && (scope.to === undefined || e.occurredAt <= scope.to)
  const leads: LeadDoc[] = []
  const byLead = new Map<string, EventDoc[]>()
  if (scope.leadIds !== undefined && scope.leadIds.length > 0) {
    for (const id of scope.leadIds) {
      const lead = await c.leads.findOne({ _id: id })
      if (lead === null) continue
      leads.push(lead)
      byLead.set(id, (await storedEvents(c, lead)).filter(inRange))
    }
  } else {
    const cursor = c.leads.find({}, { projection: { state: 0, lastBatch: 0 } }).sort({ _id: 1 })
    for await (const lead of cursor) {
      leads.push(lead as LeadDoc)
      if (scope.limit !== undefined && leads.length >= scope.limit) break
    }
    const wanted = new Set(leads.map((l) => l._id))
    for await (const e of c.events.find({}, { projection: { insertId: 0, requestId: 0 } })) {
      const ev = e as EventDoc
      if (!wanted.has(ev.leadId) || !inRange(ev)) continue
      let list = byLead.get(ev.leadId)
      if (list === undefined) { list = []; byLead.set(ev.leadId, list) }
      list.push(ev)
    }
  }
  const outcomes: LeadOutcome[] = []
  let done = 0
  let lastReport = Date.now()
  for (const lead of leads) {
    const events = byLead.get(lead._id) ?? []
    const b = await replayLead(pipeline, lead, events, before, false)
    const a = await replayLead(pipeline, lead, events, after, false)
    outcomes.push({ lead, before: b.final, after: a.final, converted: convertedLead(lead, events, after), events: events.length })
    done++
    if (Date.now() - lastReport > 250) { lastReport = Date.now(); await deps.onProgress(done, leads.length) }
  }
  const order = [...(after.settings.stages ?? []), ...(before.settings.stages ?? [])].sort((x, y) => x.min - y.min).map((s) => s.name)
  return summarize(outcomes, [...new Set(order)])
}
