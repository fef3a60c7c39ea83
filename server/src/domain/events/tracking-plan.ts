// Tracking plans: per event type, a JSON Schema for `properties` and a mode (off, warn, enforce). The plan is
// versioned as a whole: each save inserts a new version (`_id` `v:<9 digits>`, gapless, an insert on a unique `_id`
// decides races), so every earlier version stays readable. Ingest asks `current()` once per request: the compiled
// plan is cached and its version checked at most once per `checkMs` with a single `_id` lookup of the next version.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import formatsModule from 'ajv-formats'
import type { Collection } from 'mongodb'
import { findByIds, isDuplicateKey } from '../../infra/db.js'
import { compileRuleRegex } from '../rulesets/rule-regex.js'
import { LS_ERR_TRACKING_PLAN_CONFLICT, LS_ERR_TRACKING_PLAN_INVALID, LS_ERR_TRACKING_PLAN_NOT_FOUND } from '../../errors.js'
import { gaplessTop } from '../../lib/gapless-top.js'

export type PlanMode = 'off' | 'warn' | 'enforce'
export const PLAN_MODES: readonly PlanMode[] = ['off', 'warn', 'enforce']

/** One event type's entry as the API shows it. */
export interface PlanTypeInput {
  type: string
  mode: PlanMode
  schema: Record<string, unknown>
  description?: string | undefined
}

/** A stored plan version. Schemas are kept as JSON text: their keys (`$ref`, `$schema`) cannot be stored as fields. */
export interface TrackingPlanDoc {
  _id: string
  version: number
  types: Array<{ type: string; mode: PlanMode; schema: string; description?: string }>
  author: string
  note: string | null
  createdAt: Date
}

export interface TrackingPlan {
  version: number
  author: string | null
  note: string | null
  createdAt: Date | null
  types: PlanTypeInput[]
}

/** A schema violation: what is wrong and where, as a JSON pointer into the event (`#/properties/...`). */
export interface Violation { message: string; pointer: string }

/** The plan as ingest uses it: compiled once per version. */
export interface CompiledPlan {
  version: number
  /** The mode and violations of an event's properties; null when the plan does not check its type. */
  check(type: string, properties: Record<string, unknown>): { mode: 'warn' | 'enforce'; violations: Violation[] } | null
}

/** Bounds of a plan, checked on save. */
export const PLAN_LIMITS = { types: 500, schemaBytes: 32 * 1024, descriptionChars: 500, noteChars: 500, violationsKept: 10 } as const

const PAD = 9
const idOf = (version: number): string => `v:${String(version).padStart(PAD, '0')}`
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/

/** An event type as ingest stores it (NFC, trimmed); null when ingest would refuse it. */
export function planTypeName (raw: string): string | null {
  const t = raw.normalize('NFC').trim()
  return t.length === 0 || t.length > 100 || CONTROL_RE.test(t) ? null : t
}

// ajv-formats is CommonJS: its default export arrives as the module object under NodeNext
const addFormats = ((formatsModule as unknown as { default?: unknown }).default ?? formatsModule) as (ajv: Ajv) => Ajv

// `pattern` and `patternProperties` run on RE2 (linear time), as rule regexes do: an event cannot stall ingest
const re2Engine = Object.assign((pattern: string, flags: string) => {
  const r = compileRuleRegex(pattern, flags.includes('u') ? 'u' : '')
  if (!r.ok) throw new Error(`pattern ${JSON.stringify(pattern)}: ${r.reason}`)
  return r.regex
}, { code: 're2' })

function newAjv (): Ajv {
  // never coerce, default or remove: validation must not change what is stored. Unknown keywords are refused (a
  // typo would otherwise silently check nothing); remote `$ref`s are never fetched (no loadSchema).
  const ajv = new Ajv({
    allErrors: true, strict: true, strictTypes: false, strictTuples: false, strictRequired: false, coerceTypes: false,
    useDefaults: false, removeAdditional: false, logger: false, code: { regExp: re2Engine }, messages: true,
  })
  return addFormats(ajv)
}

/** Compiles one type's schema; throws LS_ERR_TRACKING_PLAN_INVALID with a pointer into the plan when it cannot. */
function compileSchema (ajv: Ajv, schema: unknown, at: string): ValidateFunction {
  try {
    return ajv.compile(schema as Record<string, unknown>)
  } catch (err) {
    throw invalid(`${at}: ${(err as Error).message.slice(0, 300)}`)
  }
}

function invalid (detail: string): Error {
  return new LS_ERR_TRACKING_PLAN_INVALID(detail)
}

const escapePointer = (s: string): string => s.replaceAll('~', '~0').replaceAll('/', '~1')

/** Ajv errors as violations, pointing into the event (`#/properties` + the Ajv instance path). */
export function violationsOf (errors: readonly ErrorObject[]): Violation[] {
  const out: Violation[] = []
  for (const e of errors) {
    let path = e.instancePath
    const p = e.params as Record<string, unknown>
    // a missing or unexpected property is pointed at itself, not at the object that holds it
    if (e.keyword === 'required' && typeof p.missingProperty === 'string') path += `/${escapePointer(p.missingProperty)}`
    if (e.keyword === 'additionalProperties' && typeof p.additionalProperty === 'string') path += `/${escapePointer(p.additionalProperty)}`
    let message = `${e.message ?? 'is invalid'}`
    if (e.keyword === 'enum' && Array.isArray(p.allowedValues)) message += `: ${p.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`.slice(0, 200)
    if (e.keyword === 'additionalProperties') message = 'is not a property the plan allows'
    const pointer = `#/properties${path}`
    out.push({ message: `${pointer.slice(2)} ${message}`, pointer })
    if (out.length >= PLAN_LIMITS.violationsKept) break
  }
  return out
}

/** Checks and normalizes a plan's types (names, modes, sizes) and compiles every schema; throws on the first problem. */
export function checkPlanTypes (types: readonly PlanTypeInput[]): { stored: TrackingPlanDoc['types']; compiled: Map<string, { mode: PlanMode; validate: ValidateFunction }> } {
  if (types.length > PLAN_LIMITS.types) throw invalid(`a plan declares at most ${PLAN_LIMITS.types} event types; this one has ${types.length}`)
  const ajv = newAjv()
  const seen = new Set<string>()
  const stored: TrackingPlanDoc['types'] = []
  const compiled = new Map<string, { mode: PlanMode; validate: ValidateFunction }>()
  types.forEach((t, i) => {
    const type = planTypeName(t.type)
    if (type === null) throw invalid(`types/${i}/type: an event type has 1-100 characters and no control characters`)
    if (seen.has(type)) throw invalid(`types/${i}/type: '${type}' is declared twice`)
    seen.add(type)
    if (!PLAN_MODES.includes(t.mode)) throw invalid(`types/${i}/mode: one of off, warn, enforce`)
    if (t.schema === null || typeof t.schema !== 'object' || Array.isArray(t.schema)) throw invalid(`types/${i}/schema: a JSON Schema object`)
    const text = JSON.stringify(t.schema)
    if (Buffer.byteLength(text) > PLAN_LIMITS.schemaBytes) throw invalid(`types/${i}/schema: larger than ${PLAN_LIMITS.schemaBytes} bytes`)
    if (t.description !== undefined && t.description.length > PLAN_LIMITS.descriptionChars) throw invalid(`types/${i}/description: longer than ${PLAN_LIMITS.descriptionChars} characters`)
    // every schema compiles, `off` ones too: switching a type on must never meet a broken schema
    const validate = compileSchema(ajv, JSON.parse(text), `types/${i}/schema`)
    compiled.set(type, { mode: t.mode, validate })
    stored.push({ type, mode: t.mode, schema: text, ...(t.description !== undefined && t.description !== '' ? { description: t.description } : {}) })
  })
  return { stored, compiled }
}

/** The violations of `properties` against one schema, compiled for this call (a schema being edited, say). */
export function checkAgainst (schema: Record<string, unknown>, properties: Record<string, unknown>): Violation[] {
  const { compiled } = checkPlanTypes([{ type: 'sample', mode: 'warn', schema }])
  const validate = compiled.get('sample')!.validate
  return validate(properties) ? [] : violationsOf(validate.errors ?? [])
}

function compilePlan (doc: TrackingPlanDoc | null): CompiledPlan {
  if (doc === null || doc.types.length === 0) return { version: doc?.version ?? 0, check: () => null }
  const { compiled } = checkPlanTypes(doc.types.map((t) => ({ ...t, schema: JSON.parse(t.schema) as Record<string, unknown> })))
  return {
    version: doc.version,
    check (type, properties) {
      const entry = compiled.get(type)
      if (entry === undefined || entry.mode === 'off') return null
      if (entry.validate(properties)) return { mode: entry.mode, violations: [] }
      return { mode: entry.mode, violations: violationsOf(entry.validate.errors ?? []) }
    },
  }
}

function planOut (doc: TrackingPlanDoc | null): TrackingPlan {
  if (doc === null) return { version: 0, author: null, note: null, createdAt: null, types: [] }
  return {
    version: doc.version, author: doc.author, note: doc.note, createdAt: doc.createdAt,
    types: doc.types.map((t) => ({ type: t.type, mode: t.mode, schema: JSON.parse(t.schema) as Record<string, unknown>, ...(t.description !== undefined ? { description: t.description } : {}) })),
  }
}

/** Property names a plan declares (top-level `properties` of each schema), for editor completions. */
export function planProperties (plan: TrackingPlan): Array<{ name: string; types: string[]; eventTypes: string[] }> {
  const byName = new Map<string, { types: Set<string>; eventTypes: Set<string> }>()
  for (const t of plan.types) {
    const props = t.schema.properties
    if (props === null || typeof props !== 'object' || Array.isArray(props)) continue
    for (const [name, s] of Object.entries(props as Record<string, unknown>)) {
      let e = byName.get(name)
      if (e === undefined) byName.set(name, e = { types: new Set(), eventTypes: new Set() })
      e.eventTypes.add(t.type)
      const jt = s !== null && typeof s === 'object' ? (s as { type?: unknown }).type : undefined
      for (const one of Array.isArray(jt) ? jt : [jt]) if (typeof one === 'string') e.types.add(one)
    }
  }
  return [...byName].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([name, e]) => ({ name, types: [...e.types].sort(), eventTypes: [...e.eventTypes].sort() }))
}

export interface TrackingPlanDeps {
  plans: Collection<TrackingPlanDoc>
  now: () => Date
  /** How long a cached plan is used before its version is checked again (other processes' saves). Default 1 s. */
  checkMs?: number
  /** Milliseconds for that interval (default Date.now). */
  clock?: () => number
}

export function createTrackingPlanService (deps: TrackingPlanDeps) {
  const { plans, now } = deps
  const checkMs = deps.checkMs ?? 1000
  const clock = deps.clock ?? Date.now
  let cached: { plan: CompiledPlan; checkedAt: number } | null = null
  let refreshing: Promise<CompiledPlan> | null = null
  // the highest version this process has seen: where the search for the top starts
  let hint = 0

  const exists = async (version: number): Promise<boolean> => version <= 0 || await plans.findOne({ _id: idOf(version) }, { projection: { _id: 1 } }) !== null

  /** The highest stored version: versions are gapless, so gallop then bisect over `_id` lookups from the hint. */
  async function topVersion (): Promise<number> {
    hint = await gaplessTop(exists, hint)
    return hint
  }

  async function load (version: number): Promise<TrackingPlanDoc | null> {
    return version <= 0 ? null : await plans.findOne({ _id: idOf(version) })
  }

  /** The plan ingest checks events against (cached; see the top of this file). */
  async function current (): Promise<CompiledPlan> {
    const t = clock()
    if (cached !== null && t - cached.checkedAt < checkMs) return cached.plan
    refreshing ??= (async () => {
      try {
        const known = cached?.plan.version ?? -1
        // the usual case: nobody saved since, one `_id` lookup of the next version says so
        if (known >= 0 && !await exists(known + 1)) {
          cached = { plan: cached!.plan, checkedAt: clock() }
          return cached.plan
        }
        const top = await topVersion()
        const plan = top === known && cached !== null ? cached.plan : compilePlan(await load(top))
        cached = { plan, checkedAt: clock() }
        return plan
      } finally {
        refreshing = null
      }
    })()
    return await refreshing
  }

  async function latest (): Promise<TrackingPlanDoc | null> {
    return await load(await topVersion())
  }

  /**
   * Saves a new version made by `change` from the latest one. A concurrent save takes the version first: `change` is
   * applied again to the new latest (so edits of different types both land), unless `baseVersion` pins the version
   * the caller edited, which is then a conflict.
   */
  async function save (change: (types: PlanTypeInput[]) => PlanTypeInput[], actor: string, note: string | null, baseVersion?: number): Promise<TrackingPlan> {
    if (note !== null && note.length > PLAN_LIMITS.noteChars) throw invalid(`note: longer than ${PLAN_LIMITS.noteChars} characters`)
    for (let attempt = 0; attempt < 8; attempt++) {
      const prev = await latest()
      const prevVersion = prev?.version ?? 0
      if (baseVersion !== undefined && baseVersion !== prevVersion) throw new LS_ERR_TRACKING_PLAN_CONFLICT(String(baseVersion), String(prevVersion))
      const { stored } = checkPlanTypes(change(planOut(prev).types))
      const doc: TrackingPlanDoc = { _id: idOf(prevVersion + 1), version: prevVersion + 1, types: stored, author: actor, note, createdAt: now() }
      try {
        await plans.insertOne(doc)
      } catch (err) {
        if (!isDuplicateKey(err)) throw err
        continue
      }
      hint = doc.version
      // this process checks its own next events against the new version at once
      cached = null
      return planOut(doc)
    }
    throw new LS_ERR_TRACKING_PLAN_CONFLICT(String(baseVersion ?? 'latest'), 'newer')
  }

  return {
    current,
    /** The latest version (version 0 and no types when nothing was saved yet). */
    async get (): Promise<TrackingPlan> { return planOut(await latest()) },
    /** One stored version. */
    async version (version: number): Promise<TrackingPlan> {
      const doc = await load(version)
      if (doc === null) throw new LS_ERR_TRACKING_PLAN_NOT_FOUND(`version ${version}`)
      return planOut(doc)
    },
    /** Summaries of the latest versions, newest first (read by `_id`: versions are gapless). */
    async versions (limit: number, before?: number): Promise<Array<{ version: number; author: string; note: string | null; createdAt: Date; types: number }>> {
      const top = await topVersion()
      const from = Math.min(top, (before ?? top + 1) - 1)
      const ids: string[] = []
      for (let v = from; v >= 1 && ids.length < limit; v--) ids.push(idOf(v))
      const docs = await findByIds<TrackingPlanDoc>(plans, ids)
      return docs.sort((a, b) => b.version - a.version).map((d) => ({ version: d.version, author: d.author, note: d.note, createdAt: d.createdAt, types: d.types.length }))
    },
    /** Replaces the whole plan. */
    async replace (types: PlanTypeInput[], actor: string, note: string | null, baseVersion?: number): Promise<TrackingPlan> {
      return await save(() => types, actor, note, baseVersion)
    },
    /** Declares or changes one type, keeping the others as the latest version has them. */
    async putType (entry: PlanTypeInput, actor: string, note: string | null): Promise<TrackingPlan> {
      const name = planTypeName(entry.type)
      return await save((types) => {
        const i = types.findIndex((t) => t.type === name)
        const next = [...types]
        if (i >= 0) next[i] = entry
        else next.push(entry)
        return next
      }, actor, note)
    },
    /** Removes one type from the plan (its events are no longer checked). */
    async deleteType (type: string, actor: string, note: string | null): Promise<TrackingPlan> {
      const name = planTypeName(type)
      return await save((types) => {
        if (!types.some((t) => t.type === name)) throw new LS_ERR_TRACKING_PLAN_NOT_FOUND(`event type '${type}'`)
        return types.filter((t) => t.type !== name)
      }, actor, note)
    },
  }
}

export type TrackingPlanService = ReturnType<typeof createTrackingPlanService>
