import type { RuleProperties } from 'json-rules-engine'
import type { Collections } from '../../infra/db.js'
import { isDuplicateKey } from '../../infra/db.js'
import type { RulesetDoc, RulesetSettings } from '../types.js'
import { createRulesEvaluator, type RulesEvaluator } from '../scoring/rules-engine.js'
import { DEFAULT_RULES, DEFAULT_SETTINGS } from './default-ruleset.js'
import { validateRuleset } from './validate.js'
import { LS_ERR_RULESET_INVALID, LS_ERR_RULESET_NOT_FOUND } from '../../errors.js'

/** The published ruleset with its engine, as the scoring pipeline uses it. */
export interface ActiveRuleset {
  version: number
  rules: RuleProperties[]
  settings: RulesetSettings
  evaluator: RulesEvaluator
}

const RULESET_NAME = 'default'

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

export interface RulesetService {
  ensureDefault(): Promise<void>
  active(): Promise<ActiveRuleset>
  byVersion(version: number): Promise<ActiveRuleset>
  list(): Promise<RulesetDoc[]>
  get(version: number): Promise<RulesetDoc>
  replace(input: { rules: unknown; settings?: unknown; note?: string | undefined }, actor: string): Promise<RulesetDoc>
}

export function createRulesetService (deps: { c: Collections; now: () => Date; cacheMs?: number }): RulesetService {
  const { c, now } = deps
  const cacheMs = deps.cacheMs ?? 1000
  const byVersionCache = new Map<number, ActiveRuleset>()
  let activeVersion: { version: number; checkedAt: number } | null = null

  function build (doc: RulesetDoc): ActiveRuleset {
    const cached = byVersionCache.get(doc.version)
    if (cached !== undefined) return cached
    const rs: ActiveRuleset = { version: doc.version, rules: doc.rules, settings: doc.settings, evaluator: createRulesEvaluator(doc.version, doc.rules) }
    byVersionCache.set(doc.version, rs)
    return rs
  }

  async function get (version: number): Promise<RulesetDoc> {
    const doc = await c.rulesets.findOne({ name: RULESET_NAME, version })
    if (doc === null) throw new LS_ERR_RULESET_NOT_FOUND(String(version))
    return doc
  }

  return {
    async ensureDefault () {
      if (await c.rulesets.findOne({ name: RULESET_NAME }) !== null) return
      const t = now()
      try {
        await c.rulesets.insertOne({
          _id: `${RULESET_NAME}:1`, name: RULESET_NAME, version: 1, status: 'published', source: null, rules: DEFAULT_RULES,
          settings: DEFAULT_SETTINGS, author: 'system', note: 'default ruleset', createdAt: t, publishedAt: t,
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
      return byVersionCache.get(version) ?? build(await get(version))
    },
    async list () {
      return await c.rulesets.find({ name: RULESET_NAME }).sort({ version: -1 }).limit(200).toArray()
    },
    get,
    async replace (input, actor) {
      const problems = validateRuleset(input)
      if (problems.length > 0) {
        const err = new LS_ERR_RULESET_INVALID(problems.slice(0, 5).map((p) => `${p.pointer}: ${p.detail}`).join('; '))
        ;(err as unknown as { errors: unknown }).errors = problems.map((p) => ({ pointer: p.pointer, detail: p.detail }))
        throw err
      }
      const rules = input.rules as RuleProperties[]
      const settings = (input.settings ?? DEFAULT_SETTINGS) as RulesetSettings
      createRulesEvaluator(0, rules) // fail here, not in a worker, if the engine refuses the rules
      for (let attempt = 0; attempt < 5; attempt++) {
        const last = await c.rulesets.find({ name: RULESET_NAME }).sort({ version: -1 }).limit(1).next()
        const version = (last?.version ?? 0) + 1
        const t = now()
        const doc: RulesetDoc = {
          _id: `${RULESET_NAME}:${version}`, name: RULESET_NAME, version, status: 'published', source: null, rules, settings,
          author: actor, note: input.note ?? null, createdAt: t, publishedAt: t,
        }
        try {
          await c.rulesets.insertOne(doc)
        } catch (err) {
          if (isDuplicateKey(err)) continue
          throw err
        }
        await c.rulesets.updateMany({ name: RULESET_NAME, status: 'published', version: { $ne: version } }, { $set: { status: 'archived' } })
        activeVersion = null
        return doc
      }
      throw new Error('could not allocate a ruleset version')
    },
  }
}
