// Monitoring of a trained model: feature and prediction drift against its training distribution (PSI), performance
// once outcomes are known, outcomes per champion/challenger arm, and score and error rates per group of leads.
import type { Collections } from '../../infra/db.js'
import type { LeadDoc, RulesetSettings } from '../types.js'
import { mapEventType } from '../rulesets/ruleset-service.js'
import { decodeKeys } from '../../lib/keys.js'
import { baselineBin, normalizeValue, rawValues } from './features.js'
import { currentInput, type OutcomeDefinition } from './dataset.js'
import { Predictor } from './predictor.js'
import type { ModelDoc } from './registry.js'
import { aucRoc, atThreshold, binOf, brierScore, calibrationCurve, psi, round6, mean, type CalibrationBin } from './metrics.js'

const DAY = 86_400_000

export type DriftStatus = 'stable' | 'warning' | 'alarm' | 'insufficient-data'

export interface DriftThresholds { warning: number; alarm: number }
export const DEFAULT_DRIFT_THRESHOLDS: DriftThresholds = { warning: 0.1, alarm: 0.25 }
const MIN_DRIFT_SAMPLE = 30

export interface DriftItem { feature: string; psi: number; status: DriftStatus; bins: Array<{ bin: string; baseline: number; current: number }> }

export interface DriftReport {
  modelId: string
  window: { from: string; to: string; leads: number }
  thresholds: DriftThresholds
  status: DriftStatus
  prediction: DriftItem
  features: DriftItem[]
}

function statusOf (v: number, t: DriftThresholds): DriftStatus {
  return v >= t.alarm ? 'alarm' : v >= t.warning ? 'warning' : 'stable'
}

const RANK: Record<DriftStatus, number> = { 'insufficient-data': 0, stable: 1, warning: 2, alarm: 3 }

export function artifactOf (m: ModelDoc): Predictor {
  return new Predictor({ ...m.artifact, featureSet: m.featureSet })
}

/**
 * Drift of the leads active in the window (their features after their latest event, exactly as served) against
 * the model's training rows. PSI per feature source and for the predicted probability.
 */
export async function driftReport (c: Collections, model: ModelDoc, opts: { days: number; now: Date; thresholds: DriftThresholds; predictor?: Predictor }): Promise<DriftReport> {
  const since = new Date(opts.now.getTime() - opts.days * DAY)
  const predictor = opts.predictor ?? artifactOf(model)
  const fs = model.featureSet
  const counts = fs.sources.map((s) => new Array<number>(s.baseline.labels.length).fill(0))
  const predEdges = model.predictionBaseline.edges
  const predCounts = new Array<number>(predEdges.length + 1).fill(0)
  let n = 0
  const cursor = c.leads.find({ lastEventAt: { $gte: since } }, { projection: { attributes: 1, state: 1, scores: 1, lastEventAt: 1 } })
  for await (const lead of cursor) {
    const input = currentInput(lead as LeadDoc, opts.now.getTime())
    const raw = rawValues(fs, input)
    fs.sources.forEach((s, k) => { counts[k]![baselineBin(s, raw[k] ?? null)]!++ })
    predCounts[binOf(predEdges, predictor.probability(input))]!++
    n++
  }
  const item = (feature: string, labels: string[], base: number[], cnt: number[]): DriftItem => {
    const cur = cnt.map((x) => n === 0 ? 0 : x / n)
    const v = n < MIN_DRIFT_SAMPLE ? 0 : psi(base, cur)
    return {
      feature, psi: round6(v), status: n < MIN_DRIFT_SAMPLE ? 'insufficient-data' : statusOf(v, opts.thresholds),
      bins: labels.map((bin, i) => ({ bin, baseline: round6(base[i] ?? 0), current: round6(cur[i] ?? 0) })),
    }
  }
  const predLabels = Array.from({ length: predEdges.length + 1 }, (_, k) => k === 0 ? `<= ${predEdges[0]?.toFixed(3) ?? '1'}` : k === predEdges.length ? `> ${predEdges[k - 1]!.toFixed(3)}` : `(${predEdges[k - 1]!.toFixed(3)}, ${predEdges[k]!.toFixed(3)}]`)
  const prediction = item('prediction', predLabels, model.predictionBaseline.shares, predCounts)
  const features = fs.sources.map((s, k) => item(s.name, s.baseline.labels, s.baseline.shares, counts[k]!)).sort((a, b) => b.psi - a.psi)
  let status: DriftStatus = n < MIN_DRIFT_SAMPLE ? 'insufficient-data' : prediction.status
  for (const f of features) if (RANK[f.status] > RANK[status]) status = f.status
  return { modelId: model._id, window: { from: since.toISOString(), to: opts.now.toISOString(), leads: n }, thresholds: opts.thresholds, status, prediction, features }
}

/** One lead's first prediction by a model and, when known, its outcome. */
export interface ObservedRow { leadId: string; arm: 'champion' | 'challenger'; at: number; p: number; y: number | null }

/**
 * Every lead's first prediction by one of `modelIds`, labelled with the outcome definition: for event outcomes,
 * whether a conversion followed within the horizon (null while the horizon has not passed); for recorded outcomes,
 * the lead's status or attribute now.
 */
export async function observedOutcomes (c: Collections, modelIds: readonly string[], outcome: OutcomeDefinition, settings: RulesetSettings, now: Date): Promise<Map<string, ObservedRow[]>> {
  const first = new Map<string, { modelId: string; ord: string; row: ObservedRow }>()
  const cursor = c.scoreHistory.find(
    { 'predictive.model.id': { $in: [...modelIds] }, committed: true, superseded: false },
    { projection: { leadId: 1, ord: 1, occurredAt: 1, 'predictive.probability': 1, 'predictive.model': 1 } },
  )
  for await (const h of cursor) {
    const p = h.predictive
    if (p == null) continue
    const key = `${p.model.id}\n${h.leadId}`
    const cur = first.get(key)
    if (cur !== undefined && cur.ord <= h.ord) continue
    first.set(key, { modelId: p.model.id, ord: h.ord, row: { leadId: h.leadId, arm: p.model.arm, at: h.occurredAt.getTime(), p: p.probability, y: null } })
  }
  // a lead whose predictions all followed events the rules do not score has no ledger entry: its lead document
  // holds its (latest) prediction
  for await (const l of c.leads.find({ 'predictive.model.id': { $in: [...modelIds] } }, { projection: { predictive: 1 } })) {
    const p = l.predictive
    if (p == null || first.has(`${p.model.id}\n${l._id}`)) continue
    first.set(`${p.model.id}\n${l._id}`, { modelId: p.model.id, ord: '', row: { leadId: l._id, arm: p.model.arm, at: p.at.getTime(), p: p.probability, y: null } })
  }
  const leadIds = new Set([...first.values()].map((v) => v.row.leadId))
  const conversions = new Map<string, number[]>()
  const leadInfo = new Map<string, { status: string; attributes: Record<string, unknown> }>()
  if (outcome.kind === 'event') {
    for await (const e of c.events.find({}, { projection: { leadId: 1, type: 1, occurredAt: 1 } })) {
      if (!leadIds.has(e.leadId)) continue
      const t = mapEventType(e.type, settings).type
      if (!outcome.eventTypes.includes(t) && !outcome.eventTypes.includes(e.type)) continue
      const list = conversions.get(e.leadId) ?? []
      list.push(e.occurredAt.getTime())
      conversions.set(e.leadId, list)
    }
  } else {
    for await (const l of c.leads.find({}, { projection: { status: 1, attributes: 1 } })) {
      if (leadIds.has(l._id)) leadInfo.set(l._id, { status: l.status, attributes: decodeKeys(l.attributes ?? {}) })
    }
  }
  const out = new Map<string, ObservedRow[]>(modelIds.map((id) => [id, []]))
  for (const { modelId, row } of first.values()) {
    if (outcome.kind === 'event') {
      const h = outcome.horizonDays * DAY
      const times = conversions.get(row.leadId) ?? []
      if (times.some((t) => t <= row.at)) continue // converted before the prediction: not a forecast
      if (times.some((t) => t > row.at && t - row.at <= h)) row.y = 1
      else row.y = now.getTime() - row.at >= h ? 0 : null
    } else {
      const info = leadInfo.get(row.leadId)
      const v = outcome.kind === 'status' ? info?.status : info?.attributes[outcome.name]
      const s = normalizeValue(v, new Set())
      row.y = s !== null && outcome.values.some((x) => String(x).toLowerCase() === String(s).toLowerCase()) ? 1 : 0
    }
    out.get(modelId)!.push(row)
  }
  return out
}

export interface OutcomeSummary {
  leads: number
  /** Leads whose outcome is known (the horizon has passed, or they converted). */
  matured: number
  positives: number
  conversionRate: number | null
  meanProbability: number | null
  auc: number | null
  brier: number | null
  precision: number | null
  recall: number | null
  f1: number | null
}

export function summarize (rows: readonly ObservedRow[], threshold: number): OutcomeSummary {
  const known = rows.filter((r) => r.y !== null)
  const p = known.map((r) => r.p)
  const y = known.map((r) => r.y!)
  const pos = y.reduce((a, b) => a + b, 0)
  const at = known.length > 0 ? atThreshold(p, y, threshold) : null
  const auc = aucRoc(p, y)
  return {
    leads: rows.length,
    matured: known.length,
    positives: pos,
    conversionRate: known.length === 0 ? null : round6(pos / known.length),
    meanProbability: rows.length === 0 ? null : round6(mean(rows.map((r) => r.p))),
    auc: auc === null ? null : round6(auc),
    brier: known.length === 0 ? null : round6(brierScore(p, y)),
    precision: at === null ? null : round6(at.precision),
    recall: at === null ? null : round6(at.recall),
    f1: at === null ? null : round6(at.f1),
  }
}

export interface PerformanceReport extends OutcomeSummary {
  modelId: string
  threshold: number
  calibration: CalibrationBin[]
  arms: Array<OutcomeSummary & { arm: 'champion' | 'challenger' }>
}

export function performanceReport (model: ModelDoc, rows: readonly ObservedRow[]): PerformanceReport {
  const known = rows.filter((r) => r.y !== null)
  const arms = (['champion', 'challenger'] as const).map((arm) => ({ arm, ...summarize(rows.filter((r) => r.arm === arm), model.artifact.threshold) })).filter((a) => a.leads > 0)
  return {
    modelId: model._id,
    threshold: round6(model.artifact.threshold),
    ...summarize(rows, model.artifact.threshold),
    calibration: calibrationCurve(known.map((r) => r.p), known.map((r) => r.y!), 10),
    arms,
  }
}

export interface BiasGroup {
  group: string
  leads: number
  share: number
  meanProbability: number
  predictedPositiveRate: number
  actualRate: number
  truePositiveRate: number | null
  falsePositiveRate: number | null
  falseNegativeRate: number | null
  precision: number | null
  auc: number | null
  brier: number
}

export interface BiasReport {
  modelId: string
  attribute: string
  data: 'holdout' | 'live'
  threshold: number
  leads: number
  groups: BiasGroup[]
  /** Lowest over highest predicted-positive rate among groups with at least 30 leads (1 = parity). */
  disparateImpact: number | null
  /** Largest difference in true-positive rate among groups with at least 30 leads (0 = equal opportunity). */
  equalOpportunityGap: number | null
  falsePositiveRateGap: number | null
}

const MAX_GROUPS = 20
const MIN_GROUP = 30

/**
 * Scores and error rates grouped by a lead attribute (or `source`, `status`), on the holdout rows of training or
 * on live predictions with known outcomes. Holdout rows are grouped by the attribute's value at their prediction
 * point when training kept it (attributes with at most 100 distinct values); otherwise by the lead's value now.
 */
export async function biasReport (c: Collections, model: ModelDoc, rows: ReadonlyArray<{ leadId: string; p: number; y: number; g?: Array<string | null> }>, attribute: string, data: 'holdout' | 'live', groupKeys: readonly string[] = []): Promise<BiasReport> {
  const missing = new Set(model.featureSet.spec.missingValues.map((s) => s.trim().toLowerCase()))
  const groupOf = new Map<string, string>()
  const kept = attribute === 'source' || attribute === 'status' ? -1 : groupKeys.indexOf(attribute)
  if (kept >= 0) {
    for (const r of rows) { const v = r.g?.[kept] ?? null; groupOf.set(r.leadId, v === null ? '(missing)' : v) }
  }
  const wanted = new Set(kept >= 0 ? [] : rows.map((r) => r.leadId))
  if (wanted.size > 0) for await (const l of c.leads.find({}, { projection: { status: 1, sources: 1, attributes: 1 } })) {
    if (!wanted.has(l._id)) continue
    let v: unknown
    if (attribute === 'source') v = l.sources?.[0]
    else if (attribute === 'status') v = l.status
    else v = decodeKeys(l.attributes ?? {})[attribute]
    const s = normalizeValue(v, missing)
    groupOf.set(l._id, s === null ? '(missing)' : String(s))
  }
  const threshold = model.artifact.threshold
  const byGroup = new Map<string, Array<{ p: number; y: number }>>()
  for (const r of rows) {
    const g = groupOf.get(r.leadId) ?? '(missing)'
    const list = byGroup.get(g) ?? []
    list.push(r)
    byGroup.set(g, list)
  }
  // the largest groups by name; the rest pooled as "(other)"
  const sorted = [...byGroup.entries()].sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))
  const largest = sorted.filter(([g]) => g !== '(missing)').slice(0, MAX_GROUPS)
  const keptNames = new Set(largest.map(([g]) => g))
  const other = sorted.filter(([g]) => g !== '(missing)' && !keptNames.has(g)).flatMap(([, r]) => r)
  const groups: Array<[string, Array<{ p: number; y: number }>]> = [...largest]
  if (other.length > 0) groups.push(['(other)', other])
  const miss = byGroup.get('(missing)')
  if (miss !== undefined) groups.push(['(missing)', miss])
  const out: BiasGroup[] = groups.map(([group, rs]) => {
    const p = rs.map((r) => r.p)
    const y = rs.map((r) => r.y)
    const m = atThreshold(p, y, threshold)
    const P = m.tp + m.fn
    const N = m.fp + m.tn
    const auc = rs.length >= 10 ? aucRoc(p, y) : null
    return {
      group, leads: rs.length, share: round6(rs.length / Math.max(1, rows.length)), meanProbability: round6(mean(p)),
      predictedPositiveRate: round6((m.tp + m.fp) / rs.length), actualRate: round6(P / rs.length),
      truePositiveRate: P === 0 ? null : round6(m.tp / P), falsePositiveRate: N === 0 ? null : round6(m.fp / N),
      falseNegativeRate: P === 0 ? null : round6(m.fn / P), precision: m.tp + m.fp === 0 ? null : round6(m.tp / (m.tp + m.fp)),
      auc: auc === null ? null : round6(auc), brier: round6(brierScore(p, y)),
    }
  })
  const big = out.filter((g) => g.leads >= MIN_GROUP)
  const ppr = big.map((g) => g.predictedPositiveRate)
  const tpr = big.map((g) => g.truePositiveRate).filter((v): v is number => v !== null)
  const fpr = big.map((g) => g.falsePositiveRate).filter((v): v is number => v !== null)
  const gap = (xs: number[]): number | null => xs.length < 2 ? null : round6(Math.max(...xs) - Math.min(...xs))
  return {
    modelId: model._id, attribute, data, threshold: round6(threshold), leads: rows.length, groups: out,
    disparateImpact: ppr.length < 2 || Math.max(...ppr) === 0 ? null : round6(Math.min(...ppr) / Math.max(...ppr)),
    equalOpportunityGap: gap(tpr),
    falsePositiveRateGap: gap(fpr),
  }
}
