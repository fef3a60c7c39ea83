// L2-regularized logistic regression fitted by Newton's method (iteratively reweighted least squares).
//
// Written here rather than taken from `ml-logistic-regression` 2.0: that package fits no intercept (its
// probabilities are centred on 0.5 whatever the base rate), has no regularization, runs a fixed number of
// full-batch gradient steps with an unscaled learning rate (50,000 matrix products by default: seconds for a few
// thousand rows, with no convergence test), and its two-class path trains each one-vs-all classifier on inverted
// labels. Newton's method on this convex objective converges in a handful of iterations to the exact optimum, so
// the same data always gives the same coefficients.

/** A dense row-major matrix of n rows and p columns. */
export interface Matrix { n: number; p: number; data: Float64Array }

export interface LogisticModel { intercept: number; coef: number[] }

export interface LogisticOptions {
  /** L2 penalty λ on the coefficients (not the intercept): minimizes Σ logloss + λ/2 · ‖w‖². */
  l2: number
  maxIter?: number
  tol?: number
}

export function sigmoid (z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z))
  const e = Math.exp(z)
  return e / (1 + e)
}

/** log(1 + e^z) without overflow. */
function softplus (z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))
}

export function rowsOf (m: Matrix, rows: readonly number[]): Matrix {
  const out = new Float64Array(rows.length * m.p)
  rows.forEach((r, i) => out.set(m.data.subarray(r * m.p, (r + 1) * m.p), i * m.p))
  return { n: rows.length, p: m.p, data: out }
}

function objective (X: Matrix, y: ArrayLike<number>, w: Float64Array, b: number, l2: number): number {
  let s = 0
  const { n, p, data } = X
  for (let i = 0; i < n; i++) {
    let z = b
    const o = i * p
    for (let j = 0; j < p; j++) z += data[o + j]! * w[j]!
    s += softplus(z) - y[i]! * z
  }
  let r = 0
  for (let j = 0; j < p; j++) r += w[j]! * w[j]!
  return s + 0.5 * l2 * r
}

/** Solves A x = b for a symmetric positive definite A (size m, row-major) by Cholesky; A is overwritten. */
function choleskySolve (A: Float64Array, b: Float64Array, m: number): Float64Array {
  for (let j = 0; j < m; j++) {
    let d = A[j * m + j]!
    for (let k = 0; k < j; k++) d -= A[j * m + k]! ** 2
    if (d <= 1e-12) d = 1e-12 // numerically singular direction: keep the step finite
    const ljj = Math.sqrt(d)
    A[j * m + j] = ljj
    for (let i = j + 1; i < m; i++) {
      let s = A[i * m + j]!
      for (let k = 0; k < j; k++) s -= A[i * m + k]! * A[j * m + k]!
      A[i * m + j] = s / ljj
    }
  }
  const x = new Float64Array(b)
  for (let i = 0; i < m; i++) { // forward: L z = b
    let s = x[i]!
    for (let k = 0; k < i; k++) s -= A[i * m + k]! * x[k]!
    x[i] = s / A[i * m + i]!
  }
  for (let i = m - 1; i >= 0; i--) { // backward: Lᵀ x = z
    let s = x[i]!
    for (let k = i + 1; k < m; k++) s -= A[k * m + i]! * x[k]!
    x[i] = s / A[i * m + i]!
  }
  return x
}

/**
 * Fits the model. Each Newton step solves (XᵀWX + λI) Δ = −∇ in the augmented space [w, b] and is halved until the
 * penalized log-likelihood improves. `onIteration` lets a long fit yield to the event loop.
 */
export async function fitLogistic (X: Matrix, y: ArrayLike<number>, opts: LogisticOptions, onIteration?: () => Promise<void>): Promise<LogisticModel> {
  const { n, p, data } = X
  const m = p + 1 // last slot: intercept
  const w = new Float64Array(p)
  let pos = 0
  for (let i = 0; i < n; i++) pos += y[i]!
  const rate = Math.min(1 - 1e-6, Math.max(1e-6, pos / Math.max(1, n)))
  let b = Math.log(rate / (1 - rate))
  let f = objective(X, y, w, b, opts.l2)
  const maxIter = opts.maxIter ?? 30
  const tol = opts.tol ?? 1e-8
  const H = new Float64Array(m * m)
  const g = new Float64Array(m)
  const row = new Float64Array(m)
  const nz = new Int32Array(m)
  for (let iter = 0; iter < maxIter; iter++) {
    H.fill(0)
    g.fill(0)
    for (let i = 0; i < n; i++) {
      const o = i * p
      let z = b
      let nnz = 0
      for (let j = 0; j < p; j++) {
        const v = data[o + j]!
        if (v !== 0) { nz[nnz] = j; row[nnz] = v; nnz++; z += v * w[j]! }
      }
      nz[nnz] = p
      row[nnz] = 1
      nnz++
      const mu = sigmoid(z)
      const r = mu - y[i]!
      const s = Math.max(mu * (1 - mu), 1e-10)
      // only the row's non-zero entries touch the gradient and the (lower-triangular) Hessian
      for (let a = 0; a < nnz; a++) {
        const j = nz[a]!
        const xj = row[a]!
        g[j]! += r * xj
        const sx = s * xj
        const base = j * m
        for (let c = 0; c <= a; c++) H[base + nz[c]!]! += sx * row[c]!
      }
    }
    for (let j = 0; j < p; j++) { g[j]! += opts.l2 * w[j]!; H[j * m + j]! += opts.l2 }
    for (let j = 0; j < m; j++) for (let k = 0; k < j; k++) H[k * m + j] = H[j * m + k]!
    const step = choleskySolve(H, g, m)
    let t = 1
    let accepted = false
    const w2 = new Float64Array(p)
    let b2 = b
    let f2 = f
    for (let half = 0; half < 30; half++) {
      for (let j = 0; j < p; j++) w2[j] = w[j]! - t * step[j]!
      b2 = b - t * step[p]!
      f2 = objective(X, y, w2, b2, opts.l2)
      if (f2 <= f + 1e-12 * Math.abs(f)) { accepted = true; break }
      t /= 2
    }
    if (!accepted) break
    let maxDelta = 0
    for (let j = 0; j < p; j++) maxDelta = Math.max(maxDelta, Math.abs(w2[j]! - w[j]!))
    maxDelta = Math.max(maxDelta, Math.abs(b2 - b))
    w.set(w2)
    b = b2
    const improvement = f - f2
    f = f2
    if (onIteration !== undefined) await onIteration()
    if (maxDelta < 1e-6 || improvement < tol * Math.max(1, Math.abs(f))) break
  }
  return { intercept: b, coef: Array.from(w) }
}

/** The linear score (log-odds) of one row. */
export function logisticLogit (m: LogisticModel, x: ArrayLike<number>): number {
  let z = m.intercept
  for (let j = 0; j < m.coef.length; j++) z += m.coef[j]! * x[j]!
  return z
}

/** Log-odds for every row of a matrix. */
export function logisticLogits (m: LogisticModel, X: Matrix): Float64Array {
  const out = new Float64Array(X.n)
  for (let i = 0; i < X.n; i++) out[i] = logisticLogit(m, X.data.subarray(i * X.p, (i + 1) * X.p))
  return out
}
