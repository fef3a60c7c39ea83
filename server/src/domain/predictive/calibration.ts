// Probability calibration of a model's raw log-odds: Platt scaling (a logistic fit of the outcome on the score)
// or isotonic regression (a monotone step function fitted by pool-adjacent-violators).
import { sigmoid } from './logistic.js'

export type Calibration =
  | { method: 'platt'; a: number; b: number }
  | { method: 'isotonic'; x: number[]; y: number[] }

/**
 * Platt scaling: p = σ(a·s + b), fitted by Newton's method with Platt's smoothed targets
 * ((N₊+1)/(N₊+2) for positives, 1/(N₋+2) for negatives) so that a separable sample does not send a to infinity.
 */
export function fitPlatt (scores: ArrayLike<number>, labels: ArrayLike<number>): Calibration {
  const n = scores.length
  let nPos = 0
  for (let i = 0; i < n; i++) nPos += labels[i]!
  const nNeg = n - nPos
  const tPos = (nPos + 1) / (nPos + 2)
  const tNeg = 1 / (nNeg + 2)
  let a = 1
  let b = 0
  const f = (A: number, B: number): number => {
    let s = 0
    for (let i = 0; i < n; i++) {
      const z = A * scores[i]! + B
      const t = labels[i] === 1 ? tPos : tNeg
      s += (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - t * z
    }
    return s
  }
  let fv = f(a, b)
  for (let iter = 0; iter < 100; iter++) {
    let g1 = 0; let g2 = 0; let h11 = 1e-12; let h22 = 1e-12; let h21 = 0
    for (let i = 0; i < n; i++) {
      const s = scores[i]!
      const p = sigmoid(a * s + b)
      const t = labels[i] === 1 ? tPos : tNeg
      const d = p - t
      const w = Math.max(p * (1 - p), 1e-12)
      g1 += d * s; g2 += d
      h11 += w * s * s; h22 += w; h21 += w * s
    }
    const det = h11 * h22 - h21 * h21
    if (Math.abs(det) < 1e-18) break
    const da = (h22 * g1 - h21 * g2) / det
    const db = (-h21 * g1 + h11 * g2) / det
    let step = 1
    let improved = false
    for (let k = 0; k < 30; k++) {
      const na = a - step * da
      const nb = b - step * db
      const nf = f(na, nb)
      if (nf <= fv + 1e-12) { a = na; b = nb; improved = fv - nf > 1e-10; fv = nf; break }
      step /= 2
    }
    if (!improved || (Math.abs(da) < 1e-9 && Math.abs(db) < 1e-9)) break
  }
  return { method: 'platt', a, b }
}

/** Isotonic regression of the outcome on the score (pool adjacent violators), kept as breakpoints. */
export function fitIsotonic (scores: ArrayLike<number>, labels: ArrayLike<number>): Calibration {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!)
  const blocks: Array<{ sum: number; w: number; lo: number; hi: number }> = []
  for (const i of order) {
    blocks.push({ sum: labels[i]!, w: 1, lo: scores[i]!, hi: scores[i]! })
    while (blocks.length > 1) {
      const last = blocks[blocks.length - 1]!
      const prev = blocks[blocks.length - 2]!
      if (prev.sum / prev.w < last.sum / last.w && prev.hi < last.lo) break
      prev.sum += last.sum; prev.w += last.w; prev.hi = last.hi
      blocks.pop()
    }
  }
  // each block is represented by its centre; predictions interpolate linearly between centres
  const x: number[] = []
  const y: number[] = []
  for (const b of blocks) { x.push((b.lo + b.hi) / 2); y.push(b.sum / b.w) }
  return { method: 'isotonic', x, y }
}

/** Calibrated probability for a raw log-odds score, kept within [0.001, 0.999]. */
export function calibrate (c: Calibration, score: number): number {
  let p: number
  if (c.method === 'platt') {
    p = sigmoid(c.a * score + c.b)
  } else {
    const { x, y } = c
    if (x.length === 0) p = sigmoid(score)
    else if (score <= x[0]!) p = y[0]!
    else if (score >= x[x.length - 1]!) p = y[y.length - 1]!
    else {
      let lo = 0
      let hi = x.length - 1
      while (hi - lo > 1) { const mid = (lo + hi) >>> 1; if (x[mid]! <= score) lo = mid; else hi = mid }
      const t = (score - x[lo]!) / (x[hi]! - x[lo]!)
      p = y[lo]! + t * (y[hi]! - y[lo]!)
    }
  }
  return Math.min(0.999, Math.max(0.001, p))
}
