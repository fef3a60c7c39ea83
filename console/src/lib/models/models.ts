// Display helpers and the training form of the Models view (pure; tested by test/console/logic.test.ts).
import type { ModelJob, OutcomeDefinition, TrainBody } from '../api/types.js'

/** A metric with `digits` decimals, or "—" when it is unknown. */
export function metric (n: number | null | undefined, digits = 3): string {
  return n == null || !Number.isFinite(n) ? '—' : n.toFixed(digits)
}

/** A 0–1 rate as a percentage ("12.5 %"), or "—". */
export function rate (n: number | null | undefined, digits = 1): string {
  return n == null || !Number.isFinite(n) ? '—' : `${(n * 100).toFixed(digits)}\u00a0%`
}

/** A signed difference with a real minus sign, or "—". */
export function delta (n: number | null | undefined, digits = 3): string {
  if (n == null || !Number.isFinite(n)) return '—'
  if (n === 0) return (0).toFixed(digits)
  return n > 0 ? `+${n.toFixed(digits)}` : `\u2212${(-n).toFixed(digits)}`
}

/** Whether a larger value of the metric is better (Brier, log loss and calibration error are losses). */
export function higherIsBetter (name: string): boolean {
  return !['brier', 'logLoss', 'ece', 'brierUncalibrated'].includes(name)
}

export const METRIC_LABELS: Record<string, string> = {
  auc: 'AUC', precision: 'Precision', recall: 'Recall', f1: 'F1', brier: 'Brier', logLoss: 'Log loss', ece: 'Calibration error (ECE)',
  accuracy: 'Accuracy', examples: 'Holdout rows',
}

/** "purchase within 30 days", "status is converted", "attribute Converted is 1". */
export function outcomeText (o: OutcomeDefinition): string {
  if (o.kind === 'event') return `${o.eventTypes.join(' or ')} within ${o.horizonDays} day${o.horizonDays === 1 ? '' : 's'}`
  if (o.kind === 'status') return `status is ${o.values.join(' or ')}`
  return `${o.name} is ${o.values.map(String).join(' or ')}`
}

/** "gbm" → "Gradient-boosted trees", "logistic" → "Logistic regression". */
export function algorithmLabel (a: string): string {
  return a === 'gbm' ? 'Gradient-boosted trees' : a === 'logistic' ? 'Logistic regression' : a
}

/** A candidate's short name as the tournament reports it ("logistic λ=1", "gbm"). */
export function candidateLabel (c: Record<string, unknown>): string {
  if (c.algorithm === 'logistic') return `Logistic regression (λ = ${String(c.l2)})`
  if (c.algorithm === 'gbm') return `Gradient-boosted trees (up to ${String(c.trees)} trees, depth ${String(c.maxDepth)})`
  return String(c.algorithm)
}

export type DriftStatus = 'stable' | 'warning' | 'alarm' | 'insufficient-data'
/** The badge class of a drift status. */
export function driftTone (status: string): 'success' | 'warning' | 'danger' | '' {
  return status === 'stable' ? 'success' : status === 'warning' ? 'warning' : status === 'alarm' ? 'danger' : ''
}

export function jobFinished (j: ModelJob | null): boolean {
  return j !== null && (j.state === 'done' || j.state === 'failed')
}

/** The job's progress in percent (0–100), from its steps. */
export function jobPercent (j: ModelJob | null): number {
  if (j === null) return 0
  if (j.state === 'done') return 100
  return j.total > 0 ? Math.max(0, Math.min(100, Math.round((100 * j.done) / j.total))) : 0
}

export interface TrainForm {
  name: string
  outcomeKind: 'event' | 'status' | 'attribute'
  eventTypes: string
  horizonDays: string
  statusValues: string
  attributeName: string
  attributeValues: string
  /** `datetime-local` values (local time), '' for the default */
  asOf: string
  from: string
  include: string
  exclude: string
  activity: boolean
  ruleScores: boolean
  /** indexes into the server's default candidates */
  candidates: number[]
  folds: string
  testFraction: string
  seed: string
  calibration: 'platt' | 'isotonic'
}

export type TrainFormErrors = Partial<Record<keyof TrainForm, string>>

export function defaultTrainForm (candidates: number): TrainForm {
  return {
    name: '', outcomeKind: 'event', eventTypes: 'purchase', horizonDays: '30', statusValues: 'converted', attributeName: '', attributeValues: '',
    asOf: '', from: '', include: '', exclude: '', activity: true, ruleScores: true,
    candidates: Array.from({ length: candidates }, (_, i) => i), folds: '5', testFraction: '0.2', seed: '1', calibration: 'platt',
  }
}

const list = (s: string): string[] => [...new Set(s.split(/[,\n]/).map((x) => x.trim()).filter((x) => x !== ''))]

function integer (s: string, min: number, max: number): number | null {
  const t = s.trim()
  if (!/^\d+$/.test(t)) return null
  const n = Number(t)
  return n >= min && n <= max ? n : null
}

/** A `datetime-local` value as an ISO instant, or null when it is not a date. */
export function localToIso (v: string): string | null {
  const t = Date.parse(v)
  return Number.isNaN(t) ? null : new Date(t).toISOString()
}

/**
 * Checks the form and builds the request body (only what differs from the server's defaults is left out when empty).
 * `candidates` are the server's default candidates; the form picks some of them.
 */
export function validateTrainForm (f: TrainForm, candidates: ReadonlyArray<Record<string, unknown>>): { body: TrainBody | null; errors: TrainFormErrors } {
  const errors: TrainFormErrors = {}
  let outcome: TrainBody['outcome']
  if (f.outcomeKind === 'event') {
    const types = list(f.eventTypes)
    const h = integer(f.horizonDays, 1, 3650)
    if (types.length === 0) errors.eventTypes = 'Name at least one conversion event type'
    else if (types.length > 20) errors.eventTypes = 'At most 20 event types'
    if (h === null) errors.horizonDays = 'A whole number of days from 1 to 3650'
    outcome = { kind: 'event', eventTypes: types, horizonDays: h ?? 30 }
  } else if (f.outcomeKind === 'status') {
    const values = list(f.statusValues)
    if (values.length === 0) errors.statusValues = 'Name at least one status'
    outcome = { kind: 'status', values }
  } else {
    const values = list(f.attributeValues)
    if (f.attributeName.trim() === '') errors.attributeName = 'Name the attribute'
    if (values.length === 0) errors.attributeValues = 'Name at least one value'
    outcome = { kind: 'attribute', name: f.attributeName.trim(), values }
  }
  const asOf = f.asOf.trim() === '' ? undefined : localToIso(f.asOf)
  const from = f.from.trim() === '' ? undefined : localToIso(f.from)
  if (asOf === null) errors.asOf = 'Not a date and time'
  if (from === null) errors.from = 'Not a date and time'
  if (typeof asOf === 'string' && typeof from === 'string' && from >= asOf) errors.from = 'Must be before the cutoff'
  const folds = integer(f.folds, 2, 10)
  if (folds === null) errors.folds = 'From 2 to 10'
  const tf = Number(f.testFraction)
  if (f.testFraction.trim() === '' || !(tf >= 0.05 && tf <= 0.5)) errors.testFraction = 'From 0.05 to 0.5'
  const seed = integer(f.seed, 0, 2 ** 31 - 1)
  if (seed === null) errors.seed = 'A whole number (0 or more)'
  const picked = f.candidates.map((i) => candidates[i]).filter((c): c is Record<string, unknown> => c !== undefined)
  if (picked.length === 0) errors.candidates = 'Pick at least one algorithm'
  const include = list(f.include)
  const exclude = list(f.exclude)
  if (Object.keys(errors).length > 0) return { body: null, errors }
  const body: TrainBody = {
    outcome,
    features: {
      ...(include.length > 0 || exclude.length > 0 ? { attributes: { ...(include.length > 0 ? { include } : {}), exclude } } : {}),
      activity: f.activity,
      ruleScores: f.ruleScores,
    },
    candidates: picked as TrainBody['candidates'],
    folds: folds!, testFraction: tf, seed: seed!, calibration: f.calibration,
    ...(f.name.trim() !== '' ? { name: f.name.trim() } : {}),
    ...(asOf !== undefined && asOf !== null ? { asOf } : {}),
    ...(from !== undefined && from !== null ? { from } : {}),
  }
  return { body, errors }
}
