// The training tournament: a stratified holdout split, k-fold cross-validation of every candidate on the rest,
// the best candidate by mean validation AUC, calibration on its out-of-fold predictions, a refit on all training
// rows, and an honest report on the holdout rows the model never saw.
import type { Example } from './dataset.js'
import { fitFeatureSet, encodeAll, normalizeValue, type FeatureSpec, type FittedFeatureSet } from './features.js'
import { fitLogistic, logisticLogits, rowsOf, type Matrix } from './logistic.js'
import { fitGbm, gbmLogits, type GbmModel } from './gbm.js'
import { fitPlatt, fitIsotonic, calibrate, type Calibration } from './calibration.js'
import { aucRoc, brierScore, logLoss, atThreshold, bestF1Threshold, rocCurve, calibrationCurve, expectedCalibrationError, quantileEdges, binOf, mean, stdDev, round6, type RocPoint, type CalibrationBin } from './metrics.js'
import { createRng, stratifiedSplit, stratifiedFolds } from './rng.js'
import type { ModelArtifact, Algorithm, Grade } from './predictor.js'

export type Candidate =
  | { algorithm: 'logistic'; l2: number }
  | { algorithm: 'gbm'; trees: number; learningRate: number; maxDepth: number; minLeaf: number; subsample: number; colsample: number; l2: number }

export const DEFAULT_CANDIDATES: Candidate[] = [
  { algorithm: 'logistic', l2: 1 },
  { algorithm: 'logistic', l2: 10 },
  { algorithm: 'gbm', trees: 300, learningRate: 0.05, maxDepth: 4, minLeaf: 10, subsample: 0.8, colsample: 0.8, l2: 1 },
]

export interface TrainOptions {
  seed: number
  folds: number
  testFraction: number
  candidates: Candidate[]
  calibration: 'platt' | 'isotonic'
  features: Partial<FeatureSpec>
  excludeAttributes: string[]
  excludeEventTypes: string[]
}

export interface CandidateResult {
  name: string
  candidate: Candidate
  /** Mean validation AUC over the folds. */
  auc: number
  aucSd: number
  foldAucs: number[]
  /** For boosting: the number of trees chosen on the folds' validation loss. */
  trees?: number
}

export interface HoldoutReport {
  examples: number
  positives: number
  auc: number | null
  brier: number
  brierUncalibrated: number
  logLoss: number
  ece: number
  threshold: number
  precision: number
  recall: number
  f1: number
  accuracy: number
  confusion: { tp: number; fp: number; tn: number; fn: number }
  roc: RocPoint[]
  calibration: CalibrationBin[]
}

export interface Importance {
  features: Array<{ feature: string; importance: number }>
  columns: Array<{ column: string; importance: number; coefficient: number | null }>
}

export interface TrainResult {
  artifact: ModelArtifact
  winner: string
  cv: CandidateResult[]
  holdout: HoldoutReport
  importance: Importance
  /** Distribution of the training predictions, for prediction drift. */
  predictionBaseline: { edges: number[]; shares: number[] }
  holdoutRows: Array<{ leadId: string; p: number; y: number; g: Array<string | null> }>
  /** Attributes whose values (at the prediction point) each holdout row keeps in `g`, for bias reports. */
  groupKeys: string[]
  split: { train: number; test: number; folds: number }
}

export class TrainingDataError extends Error {}

const MAX_GROUP_VALUES = 100
const MAX_GROUP_KEYS = 60

export type Progress = (step: string, done: number, total: number) => Promise<void>

const tick = async (): Promise<void> => { await new Promise((r) => setImmediate(r)) }

export function candidateName (c: Candidate): string {
  return c.algorithm === 'logistic' ? `logistic(l2=${c.l2})` : `gbm(trees<=${c.trees}, lr=${c.learningRate}, depth=${c.maxDepth})`
}

async function fitLogits (c: Candidate, X: Matrix, y: Float64Array, trees?: number): Promise<{ predict: (Xv: Matrix) => Float64Array; artifact: Pick<ModelArtifact, 'logistic' | 'gbm'>; importance: number[]; coef: number[] | null }> {
  if (c.algorithm === 'logistic') {
    const m = await fitLogistic(X, y, { l2: c.l2 }, tick)
    return { predict: (Xv) => logisticLogits(m, Xv), artifact: { logistic: m, gbm: null }, importance: m.coef.map(Math.abs), coef: m.coef }
  }
  const r = await fitGbm(X, y, { ...c, trees: trees ?? c.trees, seed: 7 }, undefined, tick)
  return { predict: (Xv) => gbmLogits(r.model, Xv), artifact: { logistic: null, gbm: r.model }, importance: r.gain, coef: null }
}

function pick<T extends ArrayLike<number>> (v: T, idx: readonly number[]): Float64Array {
  return Float64Array.from(idx, (i) => v[i]!)
}

/** Runs the tournament on examples. Deterministic for a given seed. */
export async function train (examples: readonly Example[], opts: TrainOptions, progress: Progress = async () => undefined): Promise<TrainResult> {
  const y = Float64Array.from(examples, (e) => e.label)
  const pos = y.reduce((a, b) => a + b, 0)
  const neg = y.length - pos
  if (examples.length < 20 || Math.min(pos, neg) < 4) {
    throw new TrainingDataError(`need at least 20 examples with 4 of each outcome; have ${examples.length} (${pos} converted, ${neg} not)`)
  }
  const rng = createRng(opts.seed)
  const split = stratifiedSplit(y, opts.testFraction, rng)
  const yTrain = pick(y, split.train)
  const minority = Math.min(yTrain.reduce((a, b) => a + b, 0), yTrain.length - yTrain.reduce((a, b) => a + b, 0))
  const k = Math.max(2, Math.min(opts.folds, minority))
  const folds = stratifiedFolds(split.train.map((_, i) => i), yTrain, k, rng)
  const totalSteps = 2 + opts.candidates.length * k + 2
  let step = 0
  await progress('encoding features', step++, totalSteps)

  const fs: FittedFeatureSet = fitFeatureSet(split.train.map((i) => examples[i]!.input), opts.features, { excludeAttributes: opts.excludeAttributes, excludeEventTypes: opts.excludeEventTypes })
  if (fs.columns.length === 0) throw new TrainingDataError('no usable features: every candidate feature was missing or constant')
  const X = encodeAll(fs, examples.map((e) => e.input))
  const Xtrain = rowsOf(X, split.train)
  const Xtest = rowsOf(X, split.test)
  const yTest = pick(y, split.test)
  await progress('cross-validating', step++, totalSteps)

  const results: Array<CandidateResult & { oof: Float64Array }> = []
  for (const cand of opts.candidates) {
    const oof = new Float64Array(split.train.length)
    const foldAucs: number[] = []
    const name = candidateName(cand)
    const evalLosses: number[][] = []
    const foldModels: GbmModel[] = []
    for (let f = 0; f < k; f++) {
      const valIdx = folds[f]!
      const inVal = new Set(valIdx)
      const trIdx = split.train.map((_, i) => i).filter((i) => !inVal.has(i))
      const Xtr = rowsOf(Xtrain, trIdx)
      const Xval = rowsOf(Xtrain, valIdx)
      const ytr = pick(yTrain, trIdx)
      const yval = pick(yTrain, valIdx)
      if (cand.algorithm === 'gbm') {
        const r = await fitGbm(Xtr, ytr, { ...cand, seed: 7 + f, patience: 40 }, { X: Xval, y: yval }, tick)
        evalLosses.push(r.evalLoss)
        foldModels.push(r.model)
      } else {
        const m = await fitLogits(cand, Xtr, ytr)
        const s = m.predict(Xval)
        valIdx.forEach((i, j) => { oof[i] = s[j]! })
        foldAucs.push(aucRoc(s, yval) ?? 0.5)
      }
      await progress(`cross-validating ${name} (fold ${f + 1}/${k})`, step++, totalSteps)
    }
    let trees: number | undefined
    if (cand.algorithm === 'gbm') {
      // the number of trees with the lowest mean validation loss across folds, then each fold's model cut there
      // (a fold that stopped early keeps its last loss)
      let best = 0
      let bestLoss = Infinity
      const longest = Math.max(...evalLosses.map((e) => e.length))
      for (let t = 0; t < longest; t++) {
        const l = mean(evalLosses.map((e) => e[Math.min(t, e.length - 1)] ?? Infinity))
        if (l < bestLoss - 1e-9) { bestLoss = l; best = t }
      }
      trees = best + 1
      for (let f = 0; f < k; f++) {
        const valIdx = folds[f]!
        const cut: GbmModel = { base: foldModels[f]!.base, trees: foldModels[f]!.trees.slice(0, trees) } // a fold that stopped early has fewer
        const s = gbmLogits(cut, rowsOf(Xtrain, valIdx))
        valIdx.forEach((i, j) => { oof[i] = s[j]! })
        foldAucs.push(aucRoc(s, pick(yTrain, valIdx)) ?? 0.5)
      }
    }
    results.push({ name, candidate: cand, auc: round6(mean(foldAucs)), aucSd: round6(stdDev(foldAucs)), foldAucs: foldAucs.map(round6), ...(trees !== undefined ? { trees } : {}), oof })
  }

  // the tournament: best mean validation AUC; on a tie the earlier (simpler) candidate stays
  let winner = results[0]!
  for (const r of results) if (r.auc > winner.auc + 1e-9) winner = r
  const calibration: Calibration = opts.calibration === 'isotonic' ? fitIsotonic(winner.oof, yTrain) : fitPlatt(winner.oof, yTrain)
  const oofProb = Float64Array.from(winner.oof, (s) => calibrate(calibration, s))
  const threshold = bestF1Threshold(oofProb, yTrain)
  await progress(`fitting ${winner.name} on all training rows`, step++, totalSteps)

  const final = await fitLogits(winner.candidate, Xtrain, yTrain, winner.trees)
  const testLogits = final.predict(Xtest)
  const testProb = Float64Array.from(testLogits, (s) => calibrate(calibration, s))
  const testRaw = Float64Array.from(testLogits, (s) => 1 / (1 + Math.exp(-s)))
  const at = atThreshold(testProb, yTest, threshold)
  const calib = calibrationCurve(testProb, yTest, 10)
  const holdout: HoldoutReport = {
    examples: split.test.length,
    positives: yTest.reduce((a, b) => a + b, 0),
    auc: (() => { const a = aucRoc(testProb, yTest); return a === null ? null : round6(a) })(),
    brier: round6(brierScore(testProb, yTest)),
    brierUncalibrated: round6(brierScore(testRaw, yTest)),
    logLoss: round6(logLoss(testProb, yTest)),
    ece: round6(expectedCalibrationError(calib)),
    threshold: round6(threshold),
    precision: round6(at.precision),
    recall: round6(at.recall),
    f1: round6(at.f1),
    accuracy: round6(at.accuracy),
    confusion: { tp: at.tp, fp: at.fp, tn: at.tn, fn: at.fn },
    roc: rocCurve(testProb, yTest, 101),
    calibration: calib,
  }

  // importance: |coefficient| of standardized inputs for the linear model, total split gain for boosting
  const colImp = final.importance
  const totalImp = colImp.reduce((a, b) => a + b, 0) || 1
  const sourceImp = new Array<number>(fs.sources.length).fill(0)
  fs.columns.forEach((c, j) => { sourceImp[c.source]! += colImp[j]! / totalImp })
  const importance: Importance = {
    features: fs.sources.map((s, i) => ({ feature: s.name, importance: round6(sourceImp[i]!) })).sort((a, b) => b.importance - a.importance),
    columns: fs.columns.map((c, j) => ({ column: c.name, importance: round6(colImp[j]! / totalImp), coefficient: final.coef === null ? null : round6(final.coef[j]!) }))
      .sort((a, b) => b.importance - a.importance),
  }

  const sortedProb = [...oofProb].sort((a, b) => a - b)
  const q = (f: number): number => sortedProb[Math.min(sortedProb.length - 1, Math.floor(f * sortedProb.length))]!
  const grades: Array<{ grade: Grade; min: number }> = [{ grade: 'A', min: q(0.85) }, { grade: 'B', min: q(0.6) }, { grade: 'C', min: q(0.3) }, { grade: 'D', min: 0 }]
  const edges = quantileEdges([...oofProb], 10)
  const shares = new Array<number>(edges.length + 1).fill(0)
  for (const p of oofProb) shares[binOf(edges, p)]! += 1 / oofProb.length
  await progress('done', step, totalSteps)

  const artifact: ModelArtifact = {
    algorithm: winner.candidate.algorithm as Algorithm,
    featureSet: fs,
    ...final.artifact,
    calibration,
    threshold,
    grades,
    sourceImportance: sourceImp,
  }
  // attribute values at the prediction point of the holdout rows, for bias reports on any low-cardinality attribute
  // (also ones the model does not use, such as a sensitive attribute left out on purpose)
  const testInputs = split.test.map((i) => examples[i]!.input)
  const missing = new Set((fs.spec.missingValues).map((v) => v.trim().toLowerCase()))
  const keyCounts = new Map<string, Set<string>>()
  for (const inp of testInputs) {
    for (const [k, v] of Object.entries(inp.attributes)) {
      const n = normalizeValue(v, missing)
      if (n === null) continue
      const set = keyCounts.get(k) ?? new Set<string>()
      if (set.size <= MAX_GROUP_VALUES) set.add(String(n))
      keyCounts.set(k, set)
    }
  }
  const groupKeys = [...keyCounts.entries()].filter(([, vals]) => vals.size <= MAX_GROUP_VALUES).map(([k]) => k).sort().slice(0, MAX_GROUP_KEYS)
  const groupsOf = (inp: Example['input']): Array<string | null> => groupKeys.map((k) => { const n = normalizeValue(inp.attributes[k], missing); return n === null ? null : String(n) })

  return {
    artifact,
    winner: winner.name,
    cv: results.map(({ oof: _o, ...r }) => r),
    holdout,
    importance,
    predictionBaseline: { edges, shares },
    holdoutRows: split.test.map((i, j) => ({ leadId: examples[i]!.leadId, p: round6(testProb[j]!), y: y[i]!, g: groupsOf(examples[i]!.input) })),
    groupKeys,
    split: { train: split.train.length, test: split.test.length, folds: k },
  }
}
