// Evaluation metrics for binary classifiers. Pure functions over parallel arrays of scores and 0/1 labels.

export interface Confusion { tp: number; fp: number; tn: number; fn: number }
export interface ThresholdMetrics extends Confusion { threshold: number; precision: number; recall: number; f1: number; accuracy: number }
export interface RocPoint { fpr: number; tpr: number; threshold: number }
export interface CalibrationBin { lower: number; upper: number; meanPredicted: number; observedRate: number; count: number }

/**
 * Area under the ROC curve: the probability that a random positive scores above a random negative, ties counting
 * one half (the Mann–Whitney U statistic over average ranks). null when a class is absent.
 */
export function aucRoc (scores: ArrayLike<number>, labels: ArrayLike<number>): number | null {
  const n = scores.length
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!)
  let nPos = 0
  let rankSumPos = 0
  let i = 0
  while (i < n) {
    let j = i
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++
    const avgRank = (i + j) / 2 + 1 // 1-based average rank of the tied run
    for (let k = i; k <= j; k++) if (labels[order[k]!] === 1) { nPos++; rankSumPos += avgRank }
    i = j + 1
  }
  const nNeg = n - nPos
  if (nPos === 0 || nNeg === 0) return null
  return (rankSumPos - nPos * (nPos + 1) / 2) / (nPos * nNeg)
}

/** Mean squared error of probabilities against outcomes (lower is better; 0.25 for a constant 0.5). */
export function brierScore (probs: ArrayLike<number>, labels: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < probs.length; i++) s += (probs[i]! - labels[i]!) ** 2
  return probs.length === 0 ? 0 : s / probs.length
}

/** Mean negative log-likelihood (probabilities clipped to [1e-15, 1 - 1e-15]). */
export function logLoss (probs: ArrayLike<number>, labels: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < probs.length; i++) {
    const p = Math.min(1 - 1e-15, Math.max(1e-15, probs[i]!))
    s -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p)
  }
  return probs.length === 0 ? 0 : s / probs.length
}

/** Confusion counts and the usual rates when `score >= threshold` predicts a positive. */
export function atThreshold (scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): ThresholdMetrics {
  const c: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 }
  for (let i = 0; i < scores.length; i++) {
    const pred = scores[i]! >= threshold
    if (labels[i] === 1) { if (pred) c.tp++; else c.fn++ } else if (pred) c.fp++; else c.tn++
  }
  const precision = c.tp + c.fp === 0 ? 0 : c.tp / (c.tp + c.fp)
  const recall = c.tp + c.fn === 0 ? 0 : c.tp / (c.tp + c.fn)
  const f1 = precision + recall === 0 ? 0 : 2 * precision * recall / (precision + recall)
  const total = c.tp + c.fp + c.tn + c.fn
  return { threshold, ...c, precision, recall, f1, accuracy: total === 0 ? 0 : (c.tp + c.tn) / total }
}

/** The threshold (one of the scores) that maximizes F1; one pass over the sorted scores. */
export function bestF1Threshold (scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!)
  let totalPos = 0
  for (let i = 0; i < n; i++) if (labels[i] === 1) totalPos++
  if (totalPos === 0 || n === 0) return 0.5
  let tp = 0
  let fp = 0
  let best = -1
  let bestT = 0.5
  let i = 0
  while (i < n) {
    const s = scores[order[i]!]!
    while (i < n && scores[order[i]!] === s) { if (labels[order[i]!] === 1) tp++; else fp++; i++ }
    const f1 = 2 * tp / (tp + fp + totalPos)
    if (f1 > best) { best = f1; bestT = s }
  }
  return bestT
}

/** The ROC curve from (0,0) to (1,1), one point per distinct score, thinned to at most `maxPoints`. */
export function rocCurve (scores: ArrayLike<number>, labels: ArrayLike<number>, maxPoints = 101): RocPoint[] {
  const n = scores.length
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!)
  let P = 0
  for (let i = 0; i < n; i++) if (labels[i] === 1) P++
  const N = n - P
  if (P === 0 || N === 0) return []
  const pts: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: Infinity }]
  let tp = 0
  let fp = 0
  let i = 0
  while (i < n) {
    const s = scores[order[i]!]!
    while (i < n && scores[order[i]!] === s) { if (labels[order[i]!] === 1) tp++; else fp++; i++ }
    pts.push({ fpr: fp / N, tpr: tp / P, threshold: s })
  }
  const thin = thinPoints(pts, maxPoints)
  // Infinity is not JSON: the first point's threshold is reported as just above the highest score
  thin[0] = { fpr: 0, tpr: 0, threshold: 1 }
  return thin.map((p) => ({ fpr: round6(p.fpr), tpr: round6(p.tpr), threshold: round6(p.threshold) }))
}

function thinPoints<T> (pts: T[], max: number): T[] {
  if (pts.length <= max) return pts
  const out: T[] = []
  for (let k = 0; k < max; k++) out.push(pts[Math.round(k * (pts.length - 1) / (max - 1))]!)
  return out
}

/** Reliability diagram: `bins` equal-width probability bins with their mean prediction and observed rate. */
export function calibrationCurve (probs: ArrayLike<number>, labels: ArrayLike<number>, bins = 10): CalibrationBin[] {
  const sum = new Array<number>(bins).fill(0)
  const pos = new Array<number>(bins).fill(0)
  const cnt = new Array<number>(bins).fill(0)
  for (let i = 0; i < probs.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(probs[i]! * bins)))
    sum[b]! += probs[i]!
    cnt[b]!++
    if (labels[i] === 1) pos[b]!++
  }
  const out: CalibrationBin[] = []
  for (let b = 0; b < bins; b++) {
    if (cnt[b] === 0) continue
    out.push({ lower: b / bins, upper: (b + 1) / bins, meanPredicted: round6(sum[b]! / cnt[b]!), observedRate: round6(pos[b]! / cnt[b]!), count: cnt[b]! })
  }
  return out
}

/** Expected calibration error: the count-weighted mean gap between predicted and observed rates over the bins. */
export function expectedCalibrationError (curve: readonly CalibrationBin[]): number {
  const n = curve.reduce((s, b) => s + b.count, 0)
  return n === 0 ? 0 : curve.reduce((s, b) => s + b.count * Math.abs(b.meanPredicted - b.observedRate), 0) / n
}

/** Cut points at the given quantiles of the values (distinct, ascending). */
export function quantileEdges (values: readonly number[], parts: number): number[] {
  const sorted = [...values].sort((a, b) => a - b)
  if (sorted.length === 0) return []
  const edges: number[] = []
  for (let k = 1; k < parts; k++) {
    const v = sorted[Math.min(sorted.length - 1, Math.floor(k * sorted.length / parts))]!
    if (edges.length === 0 || v > edges[edges.length - 1]!) edges.push(v)
  }
  return edges
}

/** Index of the bin a value falls into, given ascending edges: bin k holds edges[k-1] < v <= edges[k]. */
export function binOf (edges: readonly number[], v: number): number {
  let lo = 0
  let hi = edges.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (v > edges[mid]!) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * Population stability index between a baseline and a current distribution (proportions over the same bins):
 * Σ (cur − base) · ln(cur / base), with empty bins floored at 1e-4. Below 0.1 is stable, 0.1–0.25 a moderate
 * shift, above 0.25 a major one.
 */
export function psi (baseline: readonly number[], current: readonly number[]): number {
  const eps = 1e-4
  let s = 0
  for (let i = 0; i < baseline.length; i++) {
    const b = Math.max(eps, baseline[i]!)
    const c = Math.max(eps, current[i] ?? 0)
    s += (c - b) * Math.log(c / b)
  }
  return s
}

export function round6 (x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : x
}

export function mean (xs: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < xs.length; i++) s += xs[i]!
  return xs.length === 0 ? 0 : s / xs.length
}

export function stdDev (xs: readonly number[]): number {
  if (xs.length < 2) return 0
  const m = mean(xs)
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1))
}
