// The feature set: which raw facts about a lead a model reads (its declaration), how they are encoded into numbers
// (fitted on the training rows only), and the encoding applied identically at serving time.
import type { ActivityView } from '../../contracts/index.js'
import { activityFeatures, typeFeatures } from './activity.js'
import { quantileEdges, binOf } from './metrics.js'
import { canonicalJson, sha256 } from '../../lib/ids.js'

/** Version of the extraction code below; a fitted feature set records it, and a model is served only by the same code. */
export const FEATURE_SET_VERSION = 1

/** What a feature set may use. Every part is optional in requests; defaults are {@link DEFAULT_FEATURE_SPEC}. */
export interface FeatureSpec {
  /** Lead attributes to use: `include` null means every attribute seen in training, minus `exclude`. */
  attributes: { include: string[] | null; exclude: string[] }
  /** Most levels a categorical attribute keeps (by frequency); the rest share one "other" column. */
  maxLevels: number
  /** A level needs this many training rows to get its own column. */
  minLevelCount: number
  /** Values that mean "missing" (compared trimmed and case-insensitively), besides null and absent. */
  missingValues: string[]
  /** Event types with count and decayed-count features; null means the most frequent ones in training. */
  eventTypes: string[] | null
  maxEventTypes: number
  /** Event aggregates (count, tenure, gap, frequency, time on site). */
  activity: boolean
  /** The rules' engagement, fit and intent scores at the prediction point. */
  ruleScores: boolean
}

export const DEFAULT_FEATURE_SPEC: FeatureSpec = {
  attributes: { include: null, exclude: [] },
  maxLevels: 20,
  minLevelCount: 5,
  missingValues: ['', 'select', 'null', 'none', 'n/a', 'na', 'nan', 'unknown', 'undefined', '-'],
  eventTypes: null,
  maxEventTypes: 20,
  activity: true,
  ruleScores: true,
}

/** Everything a model reads about one lead at one point in time. */
export interface FeatureInput {
  attributes: Readonly<Record<string, unknown>>
  activity: ActivityView | null
  scores: { engagement: number; fit: number; intent: number }
  /** The prediction point (ms). */
  at: number
}

export type SourceGroup = 'attribute' | 'activity' | 'event' | 'rules'

/** A raw feature before encoding, with its fitted encoding and training distribution. */
export interface FeatureSource {
  name: string
  group: SourceGroup
  type: 'numeric' | 'categorical'
  /** Attribute name, activity key, event type or score dimension. */
  key: string
  /** For event sources: which aggregate. */
  stat?: 'count' | '7d' | '30d'
  // numeric
  transform?: 'log1p' | 'none'
  fill?: number
  min?: number
  max?: number
  // categorical
  levels?: string[]
  /** Training distribution for drift: bin labels and their shares (numeric bins are (edge, edge] ranges). */
  baseline: { edges: number[] | null; labels: string[]; shares: number[] }
}

/** One model input column. */
export interface FeatureColumn {
  name: string
  source: number
  kind: 'value' | 'missing' | 'level' | 'other'
  level?: string
  center: number
  scale: number
  /**
   * Training mean of the encoded value. Indicator columns are scaled but not centred (they stay sparse, which
   * makes the linear fit several times faster; an unpenalized intercept makes centring irrelevant to the fit),
   * so explanations measure a lead against this mean.
   */
  mean: number
}

export interface FittedFeatureSet {
  version: number
  /** Short hash of the encoding: equal hashes mean identical inputs for identical leads. */
  hash: string
  spec: FeatureSpec
  sources: FeatureSource[]
  columns: FeatureColumn[]
  dropped: Array<{ name: string; reason: string }>
}

export interface FitOptions {
  /** Attributes never used (the outcome's own attribute, identifiers). */
  excludeAttributes?: readonly string[]
  /** Event types never used as features (the outcome's event types). */
  excludeEventTypes?: readonly string[]
}

const OTHER = '(other)'
const MISSING = '(missing)'

/** A raw attribute value as a number, a string, or null when missing. */
export function normalizeValue (v: unknown, missing: ReadonlySet<string>): string | number | null {
  if (v === null || v === undefined) return null
  if (typeof v === 'number') return Number.isFinite(v) ? v : null
  if (typeof v === 'boolean') return v ? 'true' : 'false'
  if (typeof v === 'string') {
    const s = v.trim()
    return missing.has(s.toLowerCase()) ? null : s
  }
  if (v instanceof Date) return v.toISOString()
  return JSON.stringify(v)
}

function asNumber (v: string | number | null): number | null {
  if (v === null) return null
  if (typeof v === 'number') return v
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v)) return null
  const n = Number(v)
  return Number.isFinite(n) ? n : null
}

function missingSet (spec: FeatureSpec): Set<string> {
  return new Set(spec.missingValues.map((s) => s.trim().toLowerCase()))
}

/** The raw value of one source for one input: a number or a string (categorical), or null when missing. */
function rawValue (src: FeatureSource, input: FeatureInput, missing: ReadonlySet<string>, act?: Record<string, number | null>): string | number | null {
  switch (src.group) {
    case 'attribute': {
      const v = normalizeValue(input.attributes[src.key], missing)
      return src.type === 'numeric' ? asNumber(v) : v === null ? null : String(v)
    }
    case 'activity': return (act ?? activityFeatures(input.activity, input.at))[src.key] ?? null
    case 'event': {
      const f = typeFeatures(input.activity, src.key, input.at)
      return src.stat === 'count' ? f.count : src.stat === '7d' ? f.d7 : f.d30
    }
    case 'rules': return input.scores[src.key as 'engagement' | 'fit' | 'intent'] ?? 0
  }
}

const transformed = (src: FeatureSource, v: number): number => src.transform === 'log1p' ? Math.sign(v) * Math.log1p(Math.abs(v)) : v

function median (xs: number[]): number {
  if (xs.length === 0) return 0
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

function skewness (xs: number[]): number {
  const n = xs.length
  if (n < 3) return 0
  const m = xs.reduce((a, b) => a + b, 0) / n
  let m2 = 0
  let m3 = 0
  for (const x of xs) { const d = x - m; m2 += d * d; m3 += d * d * d }
  m2 /= n; m3 /= n
  return m2 === 0 ? 0 : m3 / m2 ** 1.5
}

/**
 * Fits the encoding on training inputs: picks attributes and event types, decides numeric or categorical per
 * attribute, caps categorical levels, chooses median fills and log transforms for skewed counts, and standardizes
 * every column. Nothing here looks at labels, so the encoding cannot leak the outcome.
 */
export function fitFeatureSet (inputs: readonly FeatureInput[], specIn: Partial<FeatureSpec> = {}, opts: FitOptions = {}): FittedFeatureSet {
  const spec: FeatureSpec = { ...DEFAULT_FEATURE_SPEC, ...specIn, attributes: { ...DEFAULT_FEATURE_SPEC.attributes, ...(specIn.attributes ?? {}) } }
  const missing = missingSet(spec)
  const dropped: FittedFeatureSet['dropped'] = []
  const sources: FeatureSource[] = []
  const n = inputs.length
  const excludeAttrs = new Set([...spec.attributes.exclude, ...(opts.excludeAttributes ?? [])])

  // attributes
  const keys = new Set<string>()
  if (spec.attributes.include !== null) for (const k of spec.attributes.include) keys.add(k)
  else for (const inp of inputs) for (const k of Object.keys(inp.attributes)) keys.add(k)
  for (const key of [...keys].sort()) {
    const name = `attributes.${key}`
    if (excludeAttrs.has(key)) { dropped.push({ name, reason: 'excluded' }); continue }
    const vals = inputs.map((inp) => normalizeValue(inp.attributes[key], missing))
    const present = vals.filter((v): v is string | number => v !== null)
    if (present.length === 0) { dropped.push({ name, reason: 'always missing' }); continue }
    const numeric = present.filter((v) => asNumber(v) !== null).length
    if (numeric / present.length >= 0.97) {
      sources.push({ name, group: 'attribute', type: 'numeric', key, baseline: { edges: null, labels: [], shares: [] } })
      continue
    }
    const counts = new Map<string, number>()
    for (const v of present) counts.set(String(v), (counts.get(String(v)) ?? 0) + 1)
    if (counts.size > Math.max(50, 0.5 * present.length)) { dropped.push({ name, reason: `identifier-like (${counts.size} distinct values)` }); continue }
    const levels = [...counts.entries()].filter(([, c]) => c >= spec.minLevelCount).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, spec.maxLevels).map(([l]) => l)
    sources.push({ name, group: 'attribute', type: 'categorical', key, levels, baseline: { edges: null, labels: [], shares: [] } })
  }

  // activity and events
  if (spec.activity) {
    for (const key of ['activity.events', 'activity.tenure_days', 'activity.days_since_last', 'activity.gap_days', 'activity.events_per_week', 'activity.time_on_site_s']) {
      sources.push({ name: key, group: 'activity', type: 'numeric', key, baseline: { edges: null, labels: [], shares: [] } })
    }
  }
  const excludedTypes = new Set(opts.excludeEventTypes ?? [])
  let types: string[]
  if (spec.eventTypes !== null) {
    types = spec.eventTypes.filter((t) => !excludedTypes.has(t))
  } else {
    const seen = new Map<string, number>()
    for (const inp of inputs) for (const t of inp.activity?.types ?? []) if (t.n > 0) seen.set(t.t, (seen.get(t.t) ?? 0) + 1)
    types = [...seen.entries()].filter(([t, c]) => c >= spec.minLevelCount && !excludedTypes.has(t))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, spec.maxEventTypes).map(([t]) => t).sort()
  }
  for (const t of types) {
    for (const stat of ['count', '7d', '30d'] as const) {
      sources.push({ name: `events.${t}.${stat}`, group: 'event', type: 'numeric', key: t, stat, baseline: { edges: null, labels: [], shares: [] } })
    }
  }
  if (spec.ruleScores) {
    for (const d of ['engagement', 'fit', 'intent']) sources.push({ name: `rules.${d}`, group: 'rules', type: 'numeric', key: d, baseline: { edges: null, labels: [], shares: [] } })
  }

  // encodings, columns and baselines
  const columns: Array<FeatureColumn & { values: Float64Array }> = []
  const kept: FeatureSource[] = []
  const acts = inputs.map((inp) => activityFeatures(inp.activity, inp.at))
  for (const src of sources) {
    const raw = inputs.map((inp, i) => rawValue(src, inp, missing, acts[i]))
    const si = kept.length
    const before = columns.length
    if (src.type === 'numeric') {
      const present = raw.filter((v): v is number => typeof v === 'number')
      if (present.length === 0) { dropped.push({ name: src.name, reason: 'always missing' }); continue }
      const min = present.reduce((a, b) => Math.min(a, b), Infinity)
      src.transform = min >= 0 && skewness(present) > 1 ? 'log1p' : 'none'
      src.fill = median(present)
      src.min = min
      src.max = present.reduce((a, b) => Math.max(a, b), -Infinity)
      const vals = new Float64Array(n)
      const miss = new Float64Array(n)
      raw.forEach((v, i) => { vals[i] = transformed(src, typeof v === 'number' ? v : src.fill!); miss[i] = typeof v === 'number' ? 0 : 1 })
      columns.push({ name: src.name, source: si, kind: 'value', center: 0, scale: 1, mean: 0, values: vals })
      if (present.length < n) columns.push({ name: `${src.name} is missing`, source: si, kind: 'missing', center: 0, scale: 1, mean: 0, values: miss })
      const edges = quantileEdges(present, 10)
      const shares = new Array<number>(edges.length + 2).fill(0)
      for (const v of raw) shares[typeof v === 'number' ? binOf(edges, v) : edges.length + 1]! += 1 / n
      const labels = [...Array.from({ length: edges.length + 1 }, (_, k) => k === 0 ? `<= ${fmt(edges[0] ?? Infinity)}` : k === edges.length ? `> ${fmt(edges[k - 1]!)}` : `(${fmt(edges[k - 1]!)}, ${fmt(edges[k]!)}]`), MISSING]
      src.baseline = { edges, labels, shares }
    } else {
      const levels = src.levels ?? []
      const idx = new Map(levels.map((l, k) => [l, k]))
      const cols = levels.map(() => new Float64Array(n))
      const other = new Float64Array(n)
      const miss = new Float64Array(n)
      let anyOther = false
      let anyMissing = false
      raw.forEach((v, i) => {
        if (v === null) { miss[i] = 1; anyMissing = true; return }
        const k = idx.get(String(v))
        if (k === undefined) { other[i] = 1; anyOther = true } else cols[k]![i] = 1
      })
      levels.forEach((l, k) => columns.push({ name: `${src.name}=${l}`, source: si, kind: 'level', level: l, center: 0, scale: 1, mean: 0, values: cols[k]! }))
      if (anyOther) columns.push({ name: `${src.name}=${OTHER}`, source: si, kind: 'other', center: 0, scale: 1, mean: 0, values: other })
      if (anyMissing) columns.push({ name: `${src.name} is missing`, source: si, kind: 'missing', center: 0, scale: 1, mean: 0, values: miss })
      const labels = [...levels, OTHER, MISSING]
      const shares = new Array<number>(labels.length).fill(0)
      raw.forEach((v) => { shares[v === null ? labels.length - 1 : idx.get(String(v)) ?? levels.length]! += 1 / n })
      src.baseline = { edges: null, labels, shares }
    }
    // standardize; constant columns carry no information
    for (let c = columns.length - 1; c >= before; c--) {
      const col = columns[c]!
      let m = 0
      for (let i = 0; i < n; i++) m += col.values[i]!
      m /= Math.max(1, n)
      let v = 0
      for (let i = 0; i < n; i++) v += (col.values[i]! - m) ** 2
      const sd = Math.sqrt(v / Math.max(1, n))
      if (sd < 1e-9) { dropped.push({ name: col.name, reason: 'constant in training data' }); columns.splice(c, 1); continue }
      col.scale = sd
      if (col.kind === 'value') col.center = m
      else col.mean = m / sd
    }
    if (columns.length === before) continue
    kept.push(src)
  }
  const outColumns: FeatureColumn[] = columns.map(({ values: _v, ...c }) => c)
  const hash = sha256(canonicalJson({ version: FEATURE_SET_VERSION, spec, sources: kept.map(({ baseline: _b, ...s }) => s), columns: outColumns })).slice(0, 16)
  return { version: FEATURE_SET_VERSION, hash, spec, sources: kept, columns: outColumns, dropped }
}

function fmt (x: number): string {
  return Number.isInteger(x) ? String(x) : x.toPrecision(4)
}

/** A lead's encoded input vector, and per source how well it is covered by the training data (1, 0.5 or 0). */
export interface Encoded { x: Float64Array; known: Float64Array; raw: Array<string | number | null> }

/** Encodes one input with a fitted feature set: exactly the transformation used in training. */
export function encode (fs: FittedFeatureSet, input: FeatureInput, missing?: ReadonlySet<string>): Encoded {
  const miss = missing ?? missingSet(fs.spec)
  const act = activityFeatures(input.activity, input.at)
  const raw = fs.sources.map((s) => rawValue(s, input, miss, act))
  const known = new Float64Array(fs.sources.length)
  fs.sources.forEach((s, k) => {
    const v = raw[k]
    if (v === null || v === undefined) known[k] = 0
    else if (s.type === 'numeric') known[k] = (v as number) < s.min! || (v as number) > s.max! ? 0.5 : 1
    else known[k] = (s.levels ?? []).includes(String(v)) ? 1 : 0.5
  })
  const x = new Float64Array(fs.columns.length)
  fs.columns.forEach((c, j) => {
    const s = fs.sources[c.source]!
    const v = raw[c.source]
    let val: number
    switch (c.kind) {
      case 'value': {
        const num = typeof v === 'number' ? Math.min(s.max!, Math.max(s.min!, v)) : s.fill!
        val = transformed(s, num)
        break
      }
      case 'missing': val = v === null || v === undefined ? 1 : 0; break
      case 'level': val = v !== null && v !== undefined && String(v) === c.level ? 1 : 0; break
      case 'other': val = v !== null && v !== undefined && !(s.levels ?? []).includes(String(v)) ? 1 : 0; break
    }
    x[j] = (val - c.center) / c.scale
  })
  return { x, known, raw }
}

/** Encodes many inputs into one row-major matrix. */
export function encodeAll (fs: FittedFeatureSet, inputs: readonly FeatureInput[]): { n: number; p: number; data: Float64Array } {
  const p = fs.columns.length
  const data = new Float64Array(inputs.length * p)
  const miss = missingSet(fs.spec)
  inputs.forEach((inp, i) => data.set(encode(fs, inp, miss).x, i * p))
  return { n: inputs.length, p, data }
}

/** Bin index of a raw source value in its drift baseline. */
export function baselineBin (src: FeatureSource, v: string | number | null): number {
  const { edges, labels } = src.baseline
  if (v === null || v === undefined) return labels.length - 1
  if (edges !== null) return binOf(edges, typeof v === 'number' ? v : Number(v))
  const k = (src.levels ?? []).indexOf(String(v))
  return k >= 0 ? k : labels.length - 2
}

/** Raw source values of an input (for drift and bias reports). */
export function rawValues (fs: FittedFeatureSet, input: FeatureInput): Array<string | number | null> {
  return encode(fs, input).raw
}

/** A description of the default feature groups, for the API. */
export const FEATURE_GROUPS = [
  { group: 'attribute', description: 'Lead attributes as of the prediction point. Numeric values are median-filled (with a missing indicator), log-transformed when skewed, clipped to the training range and standardized; other values are one-hot encoded with at most maxLevels levels (rarer ones share an "(other)" column, missing values their own). Values listed in missingValues (such as "Select") count as missing. Identifier-like attributes are dropped.' },
  { group: 'activity', description: 'activity.events (count), tenure_days (since the first event), days_since_last, gap_days (between the last two events), events_per_week, time_on_site_s (summed from the event properties timeOnSite, time_on_site, timeOnSiteSeconds, durationSeconds, duration_seconds or duration).' },
  { group: 'event', description: 'Per event type: count, and counts decayed with 7- and 30-day time constants (events.<type>.count, .7d, .30d). The outcome event types are never features.' },
  { group: 'rules', description: 'The rules\' engagement, fit and intent scores after the event at the prediction point.' },
] as const
