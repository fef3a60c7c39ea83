// Pure parts of predictive scoring: metrics against brute-force definitions, the fitters on synthetic data with a
// known answer, calibration, the activity fold, point-in-time examples and the feature encoding.
import t from 'tap'
import fc from 'fast-check'
import { aucRoc, brierScore, logLoss, atThreshold, bestF1Threshold, rocCurve, calibrationCurve, expectedCalibrationError, psi, quantileEdges, binOf } from '../../server/src/domain/predictive/metrics.js'
import { fitLogistic, logisticLogits, sigmoid, type Matrix } from '../../server/src/domain/predictive/logistic.js'
import { fitGbm, gbmLogit, gbmContributions } from '../../server/src/domain/predictive/gbm.js'
import { fitPlatt, fitIsotonic, calibrate } from '../../server/src/domain/predictive/calibration.js'
import { foldActivity, activityFeatures, typeFeatures } from '../../server/src/domain/predictive/activity.js'
import { exampleOf, type TimelineEvent, type TimelineLead } from '../../server/src/domain/predictive/dataset.js'
import { fitFeatureSet, encode, type FeatureInput } from '../../server/src/domain/predictive/features.js'
import { createRng, stratifiedSplit, stratifiedFolds, unitHash } from '../../server/src/domain/predictive/rng.js'
import { Predictor } from '../../server/src/domain/predictive/predictor.js'
import { train } from '../../server/src/domain/predictive/trainer.js'

const DAY = 86_400_000

/** AUC by definition: over all (positive, negative) pairs, 1 when the positive scores higher, ½ on a tie. */
function bruteAuc (s: number[], y: number[]): number | null {
  let num = 0
  let den = 0
  for (let i = 0; i < s.length; i++) {
    for (let j = 0; j < s.length; j++) {
      if (y[i] !== 1 || y[j] !== 0) continue
      den++
      num += s[i]! > s[j]! ? 1 : s[i] === s[j] ? 0.5 : 0
    }
  }
  return den === 0 ? null : num / den
}

const scored = fc.array(fc.record({ s: fc.integer({ min: 0, max: 20 }).map((v) => v / 20), y: fc.integer({ min: 0, max: 1 }) }), { minLength: 1, maxLength: 80 })

t.test('AUC equals the brute-force pair count, ties included', async (t) => {
  fc.assert(fc.property(scored, (rows) => {
    const s = rows.map((r) => r.s)
    const y = rows.map((r) => r.y)
    const a = aucRoc(s, y)
    const b = bruteAuc(s, y)
    return (a === null && b === null) || (a !== null && b !== null && Math.abs(a - b) < 1e-12)
  }), { numRuns: 300 })
  t.equal(aucRoc([0.1, 0.2], [0, 0]), null, 'null without positives')
  t.equal(aucRoc([0.9, 0.1], [1, 0]), 1)
  t.equal(aucRoc([0.5, 0.5], [1, 0]), 0.5)
})

t.test('the ROC curve runs from (0,0) to (1,1), is monotone and its area is the AUC', async (t) => {
  fc.assert(fc.property(scored, (rows) => {
    const s = rows.map((r) => r.s)
    const y = rows.map((r) => r.y)
    const auc = aucRoc(s, y)
    const roc = rocCurve(s, y, 10_000)
    if (auc === null) return roc.length === 0
    const last = roc[roc.length - 1]!
    let area = 0
    for (let i = 1; i < roc.length; i++) {
      if (roc[i]!.fpr < roc[i - 1]!.fpr || roc[i]!.tpr < roc[i - 1]!.tpr) return false
      area += (roc[i]!.fpr - roc[i - 1]!.fpr) * (roc[i]!.tpr + roc[i - 1]!.tpr) / 2
    }
    return roc[0]!.fpr === 0 && roc[0]!.tpr === 0 && last.fpr === 1 && last.tpr === 1 && Math.abs(area - auc) < 1e-5
  }), { numRuns: 200 })
  t.ok(rocCurve(Array.from({ length: 1000 }, (_, i) => i), Array.from({ length: 1000 }, (_, i) => i % 2), 101).length <= 101, 'thinned to maxPoints')
})

t.test('Brier score, log-loss and threshold metrics', async (t) => {
  t.equal(brierScore([0.5, 0.5], [1, 0]), 0.25)
  t.equal(brierScore([1, 0], [1, 0]), 0)
  t.ok(Math.abs(brierScore([0.8, 0.3, 0.6], [1, 0, 0]) - (0.04 + 0.09 + 0.36) / 3) < 1e-12)
  t.ok(Math.abs(logLoss([0.5], [1]) - Math.log(2)) < 1e-12)
  const m = atThreshold([0.9, 0.8, 0.4, 0.3, 0.2], [1, 0, 1, 0, 0], 0.5)
  t.match(m, { tp: 1, fp: 1, tn: 2, fn: 1, precision: 0.5, recall: 0.5, f1: 0.5, accuracy: 0.6 })
  fc.assert(fc.property(scored, (rows) => {
    const s = rows.map((r) => r.s)
    const y = rows.map((r) => r.y)
    if (!y.includes(1)) return true
    const best = Math.max(...[...new Set(s)].map((th) => atThreshold(s, y, th).f1))
    return Math.abs(atThreshold(s, y, bestF1Threshold(s, y)).f1 - best) < 1e-12
  }), { numRuns: 200 })
})

t.test('the calibration curve bins predictions and observed rates; a calibrated sample has a small ECE', async (t) => {
  const rng = createRng(5)
  const p: number[] = []
  const y: number[] = []
  for (let i = 0; i < 20_000; i++) { const pi = rng(); p.push(pi); y.push(rng() < pi ? 1 : 0) }
  const curve = calibrationCurve(p, y, 10)
  t.equal(curve.length, 10)
  t.equal(curve.reduce((s, b) => s + b.count, 0), 20_000)
  for (const b of curve) t.ok(b.meanPredicted >= b.lower && b.meanPredicted < b.upper && Math.abs(b.observedRate - b.meanPredicted) < 0.04, `bin ${b.lower}: ${b.observedRate} ≈ ${b.meanPredicted}`)
  t.ok(expectedCalibrationError(curve) < 0.02)
  const skewed = calibrationCurve(p.map((v) => v * v), y, 10)
  t.ok(expectedCalibrationError(skewed) > 0.1, 'a miscalibrated sample has a large ECE')
})

t.test('PSI is zero for the same distribution and grows with the shift', async (t) => {
  t.equal(psi([0.25, 0.25, 0.5], [0.25, 0.25, 0.5]), 0)
  const small = psi([0.5, 0.5], [0.55, 0.45])
  const large = psi([0.5, 0.5], [0.9, 0.1])
  t.ok(small > 0 && small < 0.1 && large > 0.25, `${small} < 0.1 < 0.25 < ${large}`)
  t.ok(Math.abs(psi([0.5, 0.5], [0.9, 0.1]) - ((0.4 * Math.log(0.9 / 0.5)) + (-0.4 * Math.log(0.1 / 0.5)))) < 1e-12)
  const edges = quantileEdges(Array.from({ length: 100 }, (_, i) => i), 4)
  t.same(edges, [25, 50, 75])
  t.same([binOf(edges, 0), binOf(edges, 25), binOf(edges, 26), binOf(edges, 99)], [0, 0, 1, 3])
})

function synthetic (n: number, seed: number, f: (x: number[]) => number, p = 3): { X: Matrix; y: Float64Array } {
  const rng = createRng(seed)
  const data = new Float64Array(n * p)
  const y = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const x = Array.from({ length: p }, () => rng() * 4 - 2)
    data.set(x, i * p)
    y[i] = rng() < sigmoid(f(x)) ? 1 : 0
  }
  return { X: { n, p, data }, y }
}

t.test('logistic regression recovers known coefficients and intercept, and its gradient vanishes at the fit', async (t) => {
  const { X, y } = synthetic(20_000, 1, (x) => -1 + 1.5 * x[0]! - 2 * x[1]!)
  const m = await fitLogistic(X, y, { l2: 1e-6 })
  t.ok(Math.abs(m.intercept + 1) < 0.1 && Math.abs(m.coef[0]! - 1.5) < 0.1 && Math.abs(m.coef[1]! + 2) < 0.1 && Math.abs(m.coef[2]!) < 0.1, `fit ${m.intercept.toFixed(3)}, ${m.coef.map((c) => c.toFixed(3)).join(', ')}`)
  const z = logisticLogits(m, X)
  const grad = [0, 0, 0]
  let g0 = 0
  for (let i = 0; i < X.n; i++) { const r = sigmoid(z[i]!) - y[i]!; g0 += r; for (let j = 0; j < 3; j++) grad[j]! += r * X.data[i * 3 + j]! }
  t.ok(Math.abs(g0) < 1e-3 && grad.every((g, j) => Math.abs(g + 1e-6 * m.coef[j]!) < 1e-3), 'the penalized gradient is zero')
  const strong = await fitLogistic(X, y, { l2: 5000 })
  t.ok(Math.abs(strong.coef[0]!) < Math.abs(m.coef[0]!) && Math.abs(strong.coef[1]!) < Math.abs(m.coef[1]!), 'the L2 penalty shrinks coefficients')
  // separable data stays finite thanks to the penalty
  const sep: Matrix = { n: 4, p: 1, data: Float64Array.from([-2, -1, 1, 2]) }
  const ms = await fitLogistic(sep, [0, 0, 1, 1], { l2: 1 })
  t.ok(Number.isFinite(ms.coef[0]!) && ms.coef[0]! > 0)
})

t.test('gradient boosting learns an interaction, and its explanations add up to the log-odds', async (t) => {
  const xor = (x: number[]): number => (x[0]! > 0) !== (x[1]! > 0) ? 3 : -3
  const tr = synthetic(3000, 2, xor)
  const te = synthetic(2000, 3, xor)
  const opts = { trees: 100, learningRate: 0.1, maxDepth: 3, minLeaf: 10, subsample: 0.8, colsample: 1, l2: 1, seed: 1 }
  const { model, evalLoss } = await fitGbm(tr.X, tr.y, opts, { X: te.X, y: te.y })
  const s = Array.from({ length: te.X.n }, (_, i) => gbmLogit(model, te.X.data.subarray(i * 3, i * 3 + 3)))
  const auc = aucRoc(s, te.y)!
  t.ok(auc > 0.9, `boosting AUC on XOR ${auc.toFixed(3)}`)
  const lr = await fitLogistic(tr.X, tr.y, { l2: 1 })
  t.ok(aucRoc(logisticLogits(lr, te.X), te.y)! < 0.6, 'a linear model cannot')
  t.ok(evalLoss[evalLoss.length - 1]! < evalLoss[0]!, 'validation loss falls')
  for (let i = 0; i < 20; i++) {
    const x = te.X.data.subarray(i * 3, i * 3 + 3)
    const { bias, contrib } = gbmContributions(model, x, 3)
    t.ok(Math.abs(bias + contrib.reduce((a, b) => a + b, 0) - gbmLogit(model, x)) < 1e-9)
  }
  const again = await fitGbm(tr.X, tr.y, opts)
  t.same(again.model, model, 'the same seed gives the same model')
})

t.test('calibration: Platt fixes a scaled score, isotonic is monotone', async (t) => {
  const rng = createRng(9)
  const s: number[] = []
  const y: number[] = []
  for (let i = 0; i < 20_000; i++) { const z = rng() * 8 - 4; s.push(z * 3 + 1); y.push(rng() < sigmoid(z) ? 1 : 0) }
  const platt = fitPlatt(s, y)
  t.ok(platt.method === 'platt' && Math.abs(platt.a - 1 / 3) < 0.03 && Math.abs(platt.b + 1 / 3) < 0.1, `a=${platt.method === 'platt' ? platt.a : ''}`)
  const before = brierScore(s.map(sigmoid), y)
  const after = brierScore(s.map((v) => calibrate(platt, v)), y)
  t.ok(after < before, `Brier ${before.toFixed(4)} → ${after.toFixed(4)}`)
  const iso = fitIsotonic(s, y)
  let prev = -Infinity
  for (let v = -13; v <= 13; v += 0.1) { const p = calibrate(iso, v); t.ok(p >= prev - 1e-12, 'non-decreasing'); prev = p }
  t.ok(brierScore(s.map((v) => calibrate(iso, v)), y) < before)
})

t.test('splits and folds are stratified and reproducible; the arm hash is uniform', async (t) => {
  const y = Array.from({ length: 1000 }, (_, i) => i % 4 === 0 ? 1 : 0)
  const a = stratifiedSplit(y, 0.2, createRng(1))
  t.same(a, stratifiedSplit(y, 0.2, createRng(1)))
  t.equal(a.test.length, 200)
  t.equal(a.test.filter((i) => y[i] === 1).length, 50)
  const folds = stratifiedFolds(a.train, y, 5, createRng(2))
  t.same(folds.flat().sort((p, q) => p - q), a.train)
  for (const f of folds) t.equal(f.filter((i) => y[i] === 1).length, 40)
  const share = Array.from({ length: 10_000 }, (_, i) => unitHash(`ld_${i.toString(16)}`) < 0.1).filter(Boolean).length
  t.ok(share > 900 && share < 1100, `10 % of ids in the challenger arm (${share})`)
})

t.test('the activity fold counts, decays and sums time on site', async (t) => {
  let a = foldActivity(null, 'page_view', 0, { duration: 30 })
  a = foldActivity(a, 'page_view', 7 * DAY, { timeOnSite: '15' })
  a = foldActivity(a, 'demo_request', 8 * DAY, {})
  t.match(a, { n: 3, first: 0, last: 8 * DAY, gap: DAY, tos: 45 })
  const pv = typeFeatures(a, 'page_view', 14 * DAY)
  t.equal(pv.count, 2)
  t.ok(Math.abs(pv.d7 - (Math.exp(-1) + 1) * Math.exp(-1)) < 1e-12, 'a 7-day time constant')
  t.same(typeFeatures(a, 'purchase', 14 * DAY), { count: 0, d7: 0, d30: 0 })
  t.match(activityFeatures(a, 14 * DAY), { 'activity.events': 3, 'activity.tenure_days': 14, 'activity.days_since_last': 6, 'activity.gap_days': 1, 'activity.time_on_site_s': 45 })
})

function timeline (spec: Array<[string, number, Record<string, unknown>?]>): TimelineEvent[] {
  return spec.map(([type, day, attrs], i) => ({
    id: `e${i}`, ord: `${String(day * DAY).padStart(16, '0')}:${i}`, seq: i + 1, type, rawType: type, at: day * DAY, properties: {},
    profileAttributes: attrs ?? null, manual: false,
  }))
}

t.test('an example is taken at a point in time: later events change neither its features nor its label', async (t) => {
  const lead: TimelineLead = { id: 'l1', status: 'open', attributes: { industry: 'fintech' }, sources: ['api'] }
  const outcome = { kind: 'event' as const, eventTypes: ['purchase'], horizonDays: 30 }
  const base = timeline([['page_view', 0, { country: 'DE' }], ['demo_request', 5], ['purchase', 20]])
  const ex = exampleOf(lead, base, [], { outcome, asOf: 100 * DAY })
  t.not(typeof ex, 'string')
  if (typeof ex === 'string') return
  t.match(ex, { eventId: 'e1', at: 5 * DAY, label: 1 })
  t.same(ex.input.attributes, { industry: 'fintech', country: 'DE' })
  t.equal(ex.input.activity?.n, 2, 'the purchase is after the prediction point')
  // more events after the conversion, attribute changes after it, and events after the cutoff
  const later = [...base, ...timeline([['demo_request', 25, { country: 'US' }], ['page_view', 120]]).map((e, i) => ({ ...e, id: `x${i}`, ord: `${String(e.at).padStart(16, '0')}:x${i}` }))]
  t.same(exampleOf(lead, later, [], { outcome, asOf: 100 * DAY }), ex)
  // a conversion beyond the horizon is a negative; the cutoff censors points too close to it
  t.match(exampleOf(lead, timeline([['page_view', 0], ['purchase', 40]]), [], { outcome, asOf: 100 * DAY }), { label: 0 })
  t.equal(exampleOf(lead, timeline([['page_view', 80]]), [], { outcome, asOf: 100 * DAY }), 'censored')
  t.equal(exampleOf(lead, timeline([['purchase', 1]]), [], { outcome, asOf: 100 * DAY }), 'converted-before-window')
  // a recorded outcome: the attribute is the label and never a feature
  const rec = exampleOf({ ...lead, attributes: {} }, timeline([['lead_imported', 1, { Converted: 1, visits: 3 }]]), [], { outcome: { kind: 'attribute', name: 'Converted', values: [1] }, asOf: 100 * DAY })
  t.match(rec, { label: 1, input: { attributes: { visits: 3 } } })
  t.notOk(typeof rec !== 'string' && 'Converted' in rec.input.attributes)
})

t.test('feature sets: missing values, level caps, identifiers, and identical encoding for identical inputs', async (t) => {
  const rng = createRng(4)
  const inputs: FeatureInput[] = Array.from({ length: 300 }, (_, i) => ({
    attributes: {
      city: rng() < 0.3 ? 'Select' : `city${Math.floor(rng() * 30)}`,
      visits: rng() < 0.1 ? null : String(Math.floor(rng() ** 3 * 100)),
      uid: `u-${i}`,
      flag: 'Yes',
    },
    activity: null, scores: { engagement: 0, fit: 0, intent: 0 }, at: 0,
  }))
  const fs = fitFeatureSet(inputs, { maxLevels: 5, activity: false, ruleScores: false })
  const city = fs.sources.find((s) => s.name === 'attributes.city')!
  t.equal(city.levels!.length, 5, 'levels capped')
  t.notOk(city.levels!.includes('Select'))
  t.ok(fs.columns.some((c) => c.name === 'attributes.city=(other)') && fs.columns.some((c) => c.name === 'attributes.city is missing'))
  const visits = fs.sources.find((s) => s.name === 'attributes.visits')!
  t.match(visits, { type: 'numeric', transform: 'log1p' }, 'a skewed count is log-transformed')
  t.ok(fs.dropped.some((d) => d.name === 'attributes.uid' && /identifier-like/.test(d.reason)), 'an identifier is dropped')
  t.ok(fs.dropped.some((d) => d.name === 'attributes.flag=Yes' && d.reason === 'constant in training data'), 'a constant is dropped')
  t.notOk(fs.sources.some((s) => s.name === 'attributes.flag' || s.name === 'attributes.uid'))
  t.same(fitFeatureSet(inputs, { maxLevels: 5, activity: false, ruleScores: false }), fs, 'fitting is deterministic')
  const x = encode(fs, inputs[0]!).x
  t.same(encode(fs, JSON.parse(JSON.stringify(inputs[0])) as FeatureInput).x, x)
  const unseen = encode(fs, { ...inputs[0]!, attributes: { city: 'Atlantis', visits: '100000' } })
  t.equal(unseen.known[fs.sources.indexOf(city)], 0.5, 'an unseen level is partly known')
  t.ok(Array.from(unseen.x).every(Number.isFinite))
})

t.test('the tournament trains, calibrates and explains on a small known problem', async (t) => {
  const rng = createRng(11)
  const examples = Array.from({ length: 400 }, (_, i) => {
    const hot = rng() < 0.4
    const size = Math.floor(rng() * 1000)
    const y: 0 | 1 = rng() < (hot ? 0.7 : 0.1) ? 1 : 0
    return { leadId: `l${i}`, eventId: `e${i}`, at: 0, label: y, input: { attributes: { segment: hot ? 'hot' : 'cold', size }, activity: null, scores: { engagement: 0, fit: 0, intent: 0 }, at: 0 } }
  })
  const r = await train(examples, { seed: 1, folds: 4, testFraction: 0.25, candidates: [{ algorithm: 'logistic', l2: 1 }, { algorithm: 'gbm', trees: 50, learningRate: 0.1, maxDepth: 2, minLeaf: 10, subsample: 1, colsample: 1, l2: 1 }], calibration: 'platt', features: {}, excludeAttributes: [], excludeEventTypes: [] })
  t.ok(r.holdout.auc! > 0.7, `AUC ${r.holdout.auc}`)
  t.equal(r.importance.features[0]!.feature, 'attributes.segment')
  t.equal(r.holdoutRows.length, 100)
  t.equal(r.cv.length, 2)
  const p = new Predictor(r.artifact)
  const hot = p.predict(examples.find((e) => e.input.attributes.segment === 'hot')!.input)
  const cold = p.predict(examples.find((e) => e.input.attributes.segment === 'cold')!.input)
  t.ok(hot.probability > cold.probability)
  t.equal(hot.factors.positive[0]?.feature, 'attributes.segment')
  t.equal(cold.factors.negative[0]?.feature, 'attributes.segment')
  t.equal(hot.score, Math.round(hot.probability * 100))
  t.equal(hot.confidence, 1, 'every feature known')
})
