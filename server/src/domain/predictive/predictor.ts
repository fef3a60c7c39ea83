// A trained model as stored (the artifact) and as served (the predictor): encode, score, calibrate, grade and
// explain one lead. Pure and synchronous; a predictor is built once per model version and reused.
import type { FeatureInput, FittedFeatureSet } from './features.js'
import { encode } from './features.js'
import type { LogisticModel } from './logistic.js'
import { logisticLogit } from './logistic.js'
import type { GbmModel } from './gbm.js'
import { gbmContributions, gbmLogit } from './gbm.js'
import type { Calibration } from './calibration.js'
import { calibrate } from './calibration.js'

export type Algorithm = 'logistic' | 'gbm'
export type Grade = 'A' | 'B' | 'C' | 'D'

export interface ModelArtifact {
  algorithm: Algorithm
  featureSet: FittedFeatureSet
  logistic: LogisticModel | null
  gbm: GbmModel | null
  calibration: Calibration
  /** Probability at or above which a lead is predicted to convert (chosen for F1 on out-of-fold predictions). */
  threshold: number
  /** Lowest probability of each grade, best first (from the training distribution: top 15 % A, next 25 % B, next 30 % C). */
  grades: Array<{ grade: Grade; min: number }>
  /** Importance share of each feature source (same order as featureSet.sources), summing to 1. */
  sourceImportance: number[]
}

/** One explained factor: a feature's push on the log-odds, relative to an average training lead. */
export interface Factor { feature: string; value: string | number | null; contribution: number }

export interface Prediction {
  probability: number
  /** round(100 × probability). */
  score: number
  grade: Grade
  /**
   * How much of what the model relies on was known for this lead (0–1): the importance-weighted share of features
   * that were present and within the training data's range or levels.
   */
  confidence: number
  /** Raw (uncalibrated) log-odds. */
  logit: number
  factors: { positive: Factor[]; negative: Factor[] }
}

const TOP_FACTORS = 3

function display (v: string | number | null): string | number | null {
  return typeof v === 'number' ? Math.round(v * 1000) / 1000 : v
}

export class Predictor {
  readonly artifact: ModelArtifact
  private readonly missing: Set<string>

  constructor (artifact: ModelArtifact) {
    if ((artifact.algorithm === 'logistic' && artifact.logistic === null) || (artifact.algorithm === 'gbm' && artifact.gbm === null)) {
      throw new TypeError(`model artifact has no ${artifact.algorithm} parameters`)
    }
    this.artifact = artifact
    this.missing = new Set(artifact.featureSet.spec.missingValues.map((s) => s.trim().toLowerCase()))
  }

  /** The calibrated probability only (no explanation): for batch evaluation. */
  probability (input: FeatureInput): number {
    const { x } = encode(this.artifact.featureSet, input, this.missing)
    return calibrate(this.artifact.calibration, this.logitOf(x))
  }

  private logitOf (x: Float64Array): number {
    const a = this.artifact
    return a.algorithm === 'logistic' ? logisticLogit(a.logistic!, x) : gbmLogit(a.gbm!, x)
  }

  predict (input: FeatureInput): Prediction {
    const a = this.artifact
    const fs = a.featureSet
    const { x, known, raw } = encode(fs, input, this.missing)
    const perSource = new Float64Array(fs.sources.length)
    let logit: number
    if (a.algorithm === 'logistic') {
      const m = a.logistic!
      logit = m.intercept
      for (let j = 0; j < x.length; j++) {
        const col = fs.columns[j]!
        logit += m.coef[j]! * x[j]!
        perSource[col.source]! += m.coef[j]! * (x[j]! - col.mean)
      }
    } else {
      const { bias, contrib } = gbmContributions(a.gbm!, x, x.length)
      logit = bias
      for (let j = 0; j < x.length; j++) { logit += contrib[j]!; perSource[fs.columns[j]!.source]! += contrib[j]! }
    }
    const probability = calibrate(a.calibration, logit)
    let grade: Grade = 'D'
    for (const g of a.grades) if (probability >= g.min) { grade = g.grade; break }
    let conf = 0
    let wsum = 0
    for (let k = 0; k < known.length; k++) { const w = a.sourceImportance[k] ?? 0; conf += w * known[k]!; wsum += w }
    const confidence = wsum > 0 ? conf / wsum : 0
    const factors: Factor[] = []
    for (let k = 0; k < perSource.length; k++) {
      if (Math.abs(perSource[k]!) < 1e-9) continue
      factors.push({ feature: fs.sources[k]!.name, value: display(raw[k] ?? null), contribution: Math.round(perSource[k]! * 10000) / 10000 })
    }
    const positive = factors.filter((f) => f.contribution > 0).sort((p, q) => q.contribution - p.contribution).slice(0, TOP_FACTORS)
    const negative = factors.filter((f) => f.contribution < 0).sort((p, q) => p.contribution - q.contribution).slice(0, TOP_FACTORS)
    return {
      probability: Math.round(probability * 1e6) / 1e6,
      score: Math.round(probability * 100),
      grade,
      confidence: Math.round(confidence * 1000) / 1000,
      logit,
      factors: { positive, negative },
    }
  }
}
