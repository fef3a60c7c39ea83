import type { RuleProperties } from 'json-rules-engine'
import { compileSource, type Diagnostic, type FactCatalog } from '@leadscore/rules-dsl'
import type { Collections } from '../../infra/db.js'
import { isDuplicateKey } from '../../infra/db.js'
import type { RulesetDoc, RulesetSettings } from '../types.js'
import type { LockService } from '../locks.js'
import { createRulesEvaluator, type RulesEvaluator } from '../scoring/rules-engine.js'
import { withPluginFacts } from '../scoring/plugin-vocabulary.js'
import { DEFAULT_SETTINGS, DEFAULT_SOURCE } from './default-ruleset.js'
import { validateRuleset, RULESET_LIMITS, type RulesetProblem } from './validate.js'
import { re2Diagnostics } from './regex-diagnostics.js'
import { LS_ERR_RULESET_BUSY, LS_ERR_RULESET_INVALID, LS_ERR_RULESET_NOT_DRAFT, LS_ERR_RULESET_NOT_FOUND } from '../../errors.js'
import { newId } from '../../lib/ids.js'
import type { OfferSnapshot } from '../offers/offer-facts.js'
import { diffLines, type DiffLine } from '../../lib/diff.js'
import { encodeKeys, decodeKeys } from '../../lib/keys.js'

/** The published ruleset with its engine, as the scoring pipeline uses it. */
export interface ActiveRuleset {
  version: number
  rules: RuleProperties[]
  settings: RulesetSettings
  evaluator: RulesEvaluator
  /**
   * The active offer the rules read as `offer.*`, taken with the ruleset: live scoring, dry runs and backtests that
   * use the same ruleset and offer score alike. Absent only for a service built without offers.
   */
  offer?: OfferSnapshot
}

const RULESET_NAME = 'default'
const PUBLISH_LOCK = 'ruleset:publish'

/** The facts the scoring pipeline hands to rules, in the rules language's catalog format (editor completions too). */
export const FACT_CATALOG: FactCatalog = {
  'event.type': { type: 'string', doc: 'Event type after aliases, e.g. `page_view`.' },
  'event.rawType': { type: 'string', doc: 'The event type as the source sent it.' },
  'event.sourceId': { type: 'string', doc: 'The source the event came from (`api`, a webhook source id, `upload`…).' },
  'event.occurredAt': { type: 'string', doc: 'When the event happened, ISO 8601 (UTC).' },
  'event.id': { type: 'string', doc: 'The stored event id.' },
  'event.properties.*': { type: 'any', doc: 'Free-form event properties, e.g. `event.properties.path`.' },
  'lead.id': { type: 'string' },
  'lead.email': { type: 'string', doc: 'Normalized (lower-case) email.' },
  'lead.externalId': { type: 'string' },
  'lead.name': { type: 'string' },
  'lead.company': { type: 'string' },
  'lead.status': { type: 'string', doc: 'Lead status, e.g. `open`, `converted`.' },
  'lead.sources': { type: 'string[]', doc: 'Every source that sent events about the lead.' },
  'lead.attributes.*': { type: 'any', doc: 'Lead attributes, e.g. `lead.attributes.industry`, `lead.attributes.employees`.' },
  'score.total': { type: 'number', doc: 'Total score before this event.' },
  'score.engagement': { type: 'number' },
  'score.fit': { type: 'number' },
  'score.intent': { type: 'number' },
  'score.stage': { type: 'string', doc: 'Stage before this event.' },
  'offer.id': { type: 'string', doc: 'The active offer (empty when none is active; see docs/offers.md).' },
  'offer.version': { type: 'number', doc: 'Version of the active offer; 0 when none is active.' },
  'offer.name': { type: 'string' },
  'offer.valuePropositions': { type: 'string[]' },
  'offer.useCases': { type: 'string[]' },
  'offer.icp.industries': { type: 'string[]', doc: 'ICP industries: `lead.attributes.industry in offer.icp.industries` (ignores case).' },
  'offer.icp.adjacentIndustries': { type: 'string[]', doc: 'Industries next to the ICP ones (the taxonomy plus the offer\'s additions).' },
  'offer.icp.roles.decisionMakers': { type: 'string[]', doc: 'Role words of decision makers: `lead.attributes.role matches any offer.icp.roles.decisionMakers`.' },
  'offer.icp.roles.influencers': { type: 'string[]', doc: 'Role words of influencers.' },
  'offer.icp.locations': { type: 'string[]' },
}

/** snake_case form of an event type: "Demo Booked" → "demo_booked". */
export function snakeType (t: string): string {
  return t.normalize('NFKC').trim().toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '_').replace(/^_+|_+$/g, '')
}

/** Resolves a submitted event type through the ruleset's aliases; `known` is false when the ruleset does not handle it. */
export function mapEventType (raw: string, settings: RulesetSettings): { type: string; known: boolean } {
  const aliases = settings.eventTypes?.aliases ?? {}
  const known = settings.eventTypes?.known
  const own = (k: string): string | undefined => Object.prototype.hasOwnProperty.call(aliases, k) ? aliases[k] : undefined
  const snake = snakeType(raw)
  const type = own(raw) ?? own(snake) ?? snake
  return { type, known: known === undefined || known.includes(type) }
}

/** The outcome of compiling DSL source: diagnostics always, rules and settings when there are no errors. */
export interface CompiledSource {
  ok: boolean
  diagnostics: Diagnostic[]
  problems: RulesetProblem[]
  rules?: RuleProperties[]
  settings?: RulesetSettings
}

/** Compiles and validates DSL source with the server's fact catalog and limits. Never throws on user input. */
export async function compileRulesSource (source: string): Promise<CompiledSource> {
  const { ruleset, diagnostics } = compileSource(source, withPluginFacts(FACT_CATALOG))
  if (ruleset === undefined) return { ok: false, diagnostics, problems: [] }
  const re2 = re2Diagnostics(source)
  if (re2.length > 0) return { ok: false, diagnostics: byPosition([...diagnostics, ...re2]), problems: [] }
  const rules = ruleset.rules as unknown as RuleProperties[]
  const settings = ruleset.settings as RulesetSettings
  const problems = validateRuleset({ rules, settings })
  if (problems.length > 0) return { ok: false, diagnostics, problems }
  const timing = await probeEvaluation(rules)
  if (timing !== null) return { ok: false, diagnostics, problems: [timing] }
  return { ok: true, diagnostics, problems, rules, settings }
}

function byPosition (ds: Diagnostic[]): Diagnostic[] {
  return ds.sort((a, b) => a.range.start.line - b.range.start.line || a.range.start.column - b.range.start.column)
}

/**
 * Bounded evaluation time: the rules are run against a few adversarial fact sets (long strings, many properties);
 * a ruleset whose rules take longer than the budget is refused before it can slow every scoring run down.
 */
async function probeEvaluation (rules: RuleProperties[], budgetMs = 250): Promise<RulesetProblem | null> {
  const long = 'x'.repeat(10_000)
  const props: Record<string, unknown> = {}
  for (let i = 0; i < 200; i++) props[`p${i}`] = long
  const facts = {
    event: { id: 'e', type: 'page_view', rawType: 'page_view', sourceId: 'api', occurredAt: new Date(0).toISOString(), properties: { ...props, path: long } },
    lead: { id: 'l', email: `${long}@example.com`, name: long, company: long, attributes: props, status: 'open', sources: ['api'] },
    score: { total: 0, engagement: 0, fit: 0, intent: 0, stage: '' },
  }
  const evaluator = createRulesEvaluator(0, rules)
  const started = performance.now()
  await evaluator.evaluate(facts)
  const ms = performance.now() - started
  return ms > budgetMs ? { pointer: '#/rules', detail: `evaluating the rules took ${Math.round(ms)} ms on a probe event (limit ${budgetMs} ms)` } : null
}

function invalid (problems: RulesetProblem[], diagnostics: Diagnostic[] = []): Error {
  const errs = diagnostics.filter((d) => d.severity === 'error')
  const summary = errs.length > 0
    ? errs.slice(0, 5).map((d) => `${d.range.start.line}:${d.range.start.column} ${d.code} ${d.message}`).join('; ')
    : problems.slice(0, 5).map((p) => `${p.pointer}: ${p.detail}`).join('; ')
  const err = new LS_ERR_RULESET_INVALID(summary)
  const errors = [
    ...errs.map((d) => ({ pointer: `#/source@${d.range.start.line}:${d.range.start.column}`, detail: `${d.code} ${d.message}` })),
    ...problems.map((p) => ({ pointer: p.pointer, detail: p.detail })),
  ]
  ;(err as unknown as { errors: unknown }).errors = errors
  if (diagnostics.length > 0) (err as unknown as { problemExtras: unknown }).problemExtras = { diagnostics }
  return err
}

/** What changed between two versions: source lines, rules by id, settings by key. */
export interface RulesetDiff {
  from: number
  to: number
  lines: DiffLine[]
  rules: { added: string[]; removed: string[]; changed: string[] }
  settings: { changed: string[] }
}

export interface RulesetService {
  ensureDefault(): Promise<void>
  active(): Promise<ActiveRuleset>
  byVersion(version: number): Promise<ActiveRuleset>
  /** An engine for rules that are not stored (dry runs of unsaved source); without an offer until `withOffer`. */
  fromCompiled(rules: RuleProperties[], settings: RulesetSettings): ActiveRuleset
  /** The ruleset with the active offer, as `active()` and `byVersion()` return it. */
  withOffer(rs: ActiveRuleset): Promise<ActiveRuleset>
  list(): Promise<RulesetDoc[]>
  get(version: number): Promise<RulesetDoc>
  replace(input: { rules: unknown; settings?: unknown; note?: string | undefined }, actor: string): Promise<RulesetDoc>
  createDraft(input: { source: string; note?: string | undefined; basedOn?: number | undefined }, actor: string): Promise<RulesetDoc>
  updateDraft(version: number, input: { source: string; note?: string | undefined }, actor: string): Promise<RulesetDoc>
  publish(version: number, actor: string): Promise<RulesetDoc>
  rollback(version: number, actor: string): Promise<RulesetDoc>
  diff(from: number, to: number): Promise<RulesetDiff>
}

export function createRulesetService (deps: { c: Collections; now: () => Date; locks?: LockService; cacheMs?: number; offers?: { snapshot(): Promise<OfferSnapshot> } }): RulesetService {
  const { c, now } = deps
  const cacheMs = deps.cacheMs ?? 1000
  const byVersionCache = new Map<number, ActiveRuleset>()
  let activeVersion: { version: number; checkedAt: number } | null = null

  function build (doc: RulesetDoc): ActiveRuleset {
    const cached = byVersionCache.get(doc.version)
    if (cached !== undefined) return cached
    const rs: ActiveRuleset = { version: doc.version, rules: doc.rules, settings: doc.settings, evaluator: createRulesEvaluator(doc.version, doc.rules) }
    // drafts change until published: only published and archived versions are immutable and safe to cache
    if (doc.status !== 'draft') byVersionCache.set(doc.version, rs)
    return rs
  }

  // rules and settings may hold keys a stored document cannot (an alias for the event type "page.viewed", a value
  // object with "$" keys, NUL): they are stored with encoded keys and decoded on the way out
  const DEPTH = RULESET_LIMITS.storedDepth + 1
  const decoded = (doc: RulesetDoc): RulesetDoc => ({ ...doc, rules: decodeKeys(doc.rules, DEPTH), settings: decodeKeys(doc.settings, DEPTH) })

  async function get (version: number): Promise<RulesetDoc> {
    const doc = await c.rulesets.findOne({ _id: `${RULESET_NAME}:${version}` })
    if (doc === null) throw new LS_ERR_RULESET_NOT_FOUND(String(version))
    return decoded(doc)
  }

  /** Inserts a new version with the next free number (an insert on a unique _id decides races). */
  async function insertVersion (fields: Omit<RulesetDoc, '_id' | 'version' | 'name'>): Promise<RulesetDoc> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const last = await c.rulesets.find({ name: RULESET_NAME }).sort({ version: -1 }).limit(1).next()
      const version = (last?.version ?? 0) + 1 + attempt
      const doc: RulesetDoc = { _id: `${RULESET_NAME}:${version}`, name: RULESET_NAME, version, ...fields }
      try {
        await c.rulesets.insertOne({ ...doc, rules: encodeKeys(doc.rules, DEPTH), settings: encodeKeys(doc.settings, DEPTH) })
        return doc
      } catch (err) {
        if (!isDuplicateKey(err)) throw err
      }
    }
    throw new LS_ERR_RULESET_BUSY()
  }

  /** Makes `version` the only published one. Serialized by a lock so two publishes never leave zero or two. */
  async function makePublished (version: number, t: Date): Promise<void> {
    const token = newId('lk')
    if (deps.locks !== undefined) {
      let ok = false
      for (let i = 0; i < 40 && !ok; i++) {
        ok = await deps.locks.acquire(PUBLISH_LOCK, token, 10_000)
        if (!ok) await new Promise((r) => setTimeout(r, 50))
      }
      if (!ok) throw new LS_ERR_RULESET_BUSY()
    }
    try {
      await c.rulesets.updateOne({ _id: `${RULESET_NAME}:${version}` }, { $set: { status: 'published', publishedAt: t, updatedAt: t } })
      await c.rulesets.updateMany({ name: RULESET_NAME, status: 'published', version: { $ne: version } }, { $set: { status: 'archived', updatedAt: t } })
      // the active version is the highest published one: make sure no older publish outlives this one
      await c.rulesets.updateMany({ name: RULESET_NAME, status: 'published', version: { $ne: version } }, { $set: { status: 'archived', updatedAt: t } })
    } finally {
      if (deps.locks !== undefined) await deps.locks.release(PUBLISH_LOCK, token)
    }
    activeVersion = null
  }

  /**
   * Refuses to publish rules that today's checks refuse, such as a draft saved before regexes ran on RE2 with a
   * lookahead: diagnostics come from its source when it has one.
   */
  async function assertPublishable (doc: RulesetDoc): Promise<void> {
    const problems = validateRuleset({ rules: doc.rules, settings: doc.settings })
    if (problems.length === 0) return
    const diagnostics = doc.source !== null ? (await compileRulesSource(doc.source)).diagnostics : []
    throw invalid(problems, diagnostics)
  }

  async function compileOrThrow (source: string): Promise<{ rules: RuleProperties[]; settings: RulesetSettings }> {
    const r = await compileRulesSource(source)
    if (!r.ok || r.rules === undefined || r.settings === undefined) throw invalid(r.problems, r.diagnostics)
    return { rules: r.rules, settings: r.settings }
  }

  const withOffer = async (rs: ActiveRuleset): Promise<ActiveRuleset> => deps.offers === undefined ? rs : { ...rs, offer: await deps.offers.snapshot() }

  return {
    withOffer,
    async ensureDefault () {
      if (await c.rulesets.findOne({ name: RULESET_NAME }) !== null) return
      const t = now()
      const { rules, settings } = await compileOrThrow(DEFAULT_SOURCE)
      try {
        await c.rulesets.insertOne({
          _id: `${RULESET_NAME}:1`, name: RULESET_NAME, version: 1, status: 'published', source: DEFAULT_SOURCE, rules: encodeKeys(rules, DEPTH),
          settings: encodeKeys(settings, DEPTH), author: 'system', note: 'default ruleset', createdAt: t, publishedAt: t, basedOn: null, updatedAt: t,
        })
      } catch (err) {
        if (!isDuplicateKey(err)) throw err // another process seeded it first
      }
    },
    async active () {
      const t = Date.now()
      if (activeVersion === null || t - activeVersion.checkedAt > cacheMs) {
        const doc = await c.rulesets.find({ name: RULESET_NAME, status: 'published' }).sort({ version: -1 }).limit(1).project<{ version: number }>({ version: 1 }).next()
        if (doc === null) throw new LS_ERR_RULESET_NOT_FOUND('published')
        activeVersion = { version: doc.version, checkedAt: t }
      }
      return await this.byVersion(activeVersion.version)
    },
    async byVersion (version) {
      return await withOffer(byVersionCache.get(version) ?? build(await get(version)))
    },
    fromCompiled (rules, settings) {
      return { version: 0, rules, settings, evaluator: createRulesEvaluator(0, rules) }
    },
    async list () {
      return (await c.rulesets.find({ name: RULESET_NAME }).sort({ version: -1 }).limit(500).toArray()).map(decoded)
    },
    get,
    async replace (input, actor) {
      const problems = validateRuleset(input)
      if (problems.length > 0) throw invalid(problems)
      const rules = input.rules as RuleProperties[]
      const settings = (input.settings ?? DEFAULT_SETTINGS) as RulesetSettings
      createRulesEvaluator(0, rules) // fail here, not in a worker, if the engine refuses the rules
      const t = now()
      const doc = await insertVersion({ status: 'draft', source: null, rules, settings, author: actor, note: input.note ?? null, createdAt: t, publishedAt: null, basedOn: null, updatedAt: t })
      await makePublished(doc.version, t)
      return await get(doc.version)
    },
    async createDraft (input, actor) {
      const { rules, settings } = await compileOrThrow(input.source)
      if (input.basedOn !== undefined) await get(input.basedOn)
      const t = now()
      return await insertVersion({
        status: 'draft', source: input.source, rules, settings, author: actor, note: input.note ?? null, createdAt: t, publishedAt: null,
        basedOn: input.basedOn ?? null, updatedAt: t,
      })
    },
    async updateDraft (version, input, actor) {
      const doc = await get(version)
      if (doc.status !== 'draft') throw new LS_ERR_RULESET_NOT_DRAFT(String(version), doc.status)
      const { rules, settings } = await compileOrThrow(input.source)
      const t = now()
      const set: Partial<RulesetDoc> = { source: input.source, rules: encodeKeys(rules, DEPTH), settings: encodeKeys(settings, DEPTH), author: actor, updatedAt: t }
      if (input.note !== undefined) set.note = input.note
      await c.rulesets.updateOne({ _id: doc._id, status: 'draft' }, { $set: set })
      return await get(version)
    },
    async publish (version, _actor) {
      const doc = await get(version)
      if (doc.status !== 'draft') throw new LS_ERR_RULESET_NOT_DRAFT(String(version), doc.status)
      await assertPublishable(doc)
      const current = await this.active().catch(() => null)
      if (current !== null && current.version > version) {
        // an old draft published after a newer version: publish it as a new version so the newest published wins
        const t = now()
        const copy = await insertVersion({ status: 'draft', source: doc.source, rules: doc.rules, settings: doc.settings, author: doc.author, note: doc.note, createdAt: t, publishedAt: null, basedOn: doc.version, updatedAt: t })
        await makePublished(copy.version, t)
        await c.rulesets.updateOne({ _id: doc._id, status: 'draft' }, { $set: { status: 'archived', updatedAt: t } })
        return await get(copy.version)
      }
      await makePublished(version, now())
      return await get(version)
    },
    async rollback (version, actor) {
      const doc = await get(version)
      await assertPublishable(doc)
      const t = now()
      const copy = await insertVersion({
        status: 'draft', source: doc.source, rules: doc.rules, settings: doc.settings, author: actor,
        note: `rollback to version ${version}`, createdAt: t, publishedAt: null, basedOn: version, updatedAt: t,
      })
      await makePublished(copy.version, t)
      return await get(copy.version)
    },
    async diff (from, to) {
      const [a, b] = await Promise.all([get(from), get(to)])
      const text = (d: RulesetDoc): string => d.source ?? JSON.stringify({ rules: d.rules, settings: d.settings }, null, 2)
      const byId = (d: RulesetDoc): Map<string, string> => new Map(d.rules.map((r) => [String(r.name), JSON.stringify(r)]))
      const ra = byId(a)
      const rb = byId(b)
      const added = [...rb.keys()].filter((k) => !ra.has(k))
      const removed = [...ra.keys()].filter((k) => !rb.has(k))
      const changed = [...rb.keys()].filter((k) => ra.has(k) && ra.get(k) !== rb.get(k))
      const keys = new Set([...Object.keys(a.settings ?? {}), ...Object.keys(b.settings ?? {})])
      const settingsChanged = [...keys].filter((k) => JSON.stringify(a.settings?.[k]) !== JSON.stringify(b.settings?.[k])).sort()
      return { from, to, lines: diffLines(text(a), text(b)), rules: { added, removed, changed }, settings: { changed: settingsChanged } }
    },
  }
}
