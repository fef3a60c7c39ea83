import { Engine, type RuleProperties, type TopLevelCondition } from 'json-rules-engine'
import type { Contribution } from '../../contracts/index.js'
import { compileRuleset, isComputedFact } from './compiled-evaluator.js'
import { customOperators, resolveDotPath, type RuleFacts } from './rule-operators.js'
import { pluginOperators } from './plugin-vocabulary.js'

// json-rules-engine is the reference semantics and the stored format. Paths are resolved by a plain dot-path walker,
// so rule text can never reach JSONPath evaluation; only own properties are read, and prototype keys are refused.
// Rulesets that compile are evaluated by compiled-evaluator.ts, which returns the same contributions far faster.

export { ALLOWED_FACTS, BUILTIN_OPERATORS, CUSTOM_OPERATORS, PATH_RE, customOperators, resolveDotPath, type RuleFacts } from './rule-operators.js'

/** A compiled, immutable evaluator for one ruleset version. Never mutated after creation. */
export interface RulesEvaluator {
  version: number
  /** `compiled` when the rules compiled to closures, `engine` when json-rules-engine runs them. */
  mode: 'compiled' | 'engine'
  /** Why the rules did not compile (`engine` mode only). */
  fallbackReason: string | null
  evaluate(facts: RuleFacts): Promise<Contribution[]>
  /** Synchronous evaluation, for backtests; null in `engine` mode. */
  evaluateSync: ((facts: RuleFacts) => Contribution[]) | null
}

interface ScoreEventParams extends Record<string, unknown> {
  ruleId?: string
  action?: 'add' | 'set' | 'reset'
  dimension?: 'engagement' | 'fit' | 'intent'
  points?: number
  reason?: string
  limit?: { count: number; per?: string }
  multiplier?: { factor: number; after: number }
  within?: string
  recency?: Contribution['recency']
  kind?: 'fit'
}

/** Evaluates rules with json-rules-engine itself: the reference the compiled evaluator is tested against. */
export function createEngineEvaluator (version: number, rules: readonly RuleProperties[], fallbackReason: string | null = null): RulesEvaluator {
  const build = (): Engine => {
    const e = new Engine([], { allowUndefinedFacts: false, pathResolver: resolveDotPath, replaceFactsInEventParams: false })
    for (const [name, fn] of Object.entries(customOperators)) e.addOperator(name, fn)
    for (const [name, fn] of pluginOperators()) e.addOperator(name, fn)
    for (const r of rules) e.addRule(structuredClone(r) as RuleProperties)
    return e
  }
  let engine = build()
  // json-rules-engine keeps a run status on the Engine: a run that finishes while another is in flight makes the
  // other skip its remaining rules. Runs on one engine are therefore queued (evaluation is CPU-bound anyway).
  // A run that rejects keeps evaluating its remaining rules after the rejection and would then mark the next run
  // finished, so the engine is replaced after a failed run.
  const runOnce = async (facts: RuleFacts): Promise<Awaited<ReturnType<Engine['run']>>> => {
    try {
      return await engine.run({ event: facts.event, lead: facts.lead, score: facts.score, offer: facts.offer ?? null, plugin: facts.plugin ?? null })
    } catch (err) {
      engine = build()
      throw err
    }
  }
  let queue: Promise<unknown> = Promise.resolve()
  const runExclusive = async <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn)
    queue = next.catch(() => undefined)
    return await next
  }
  return {
    version,
    mode: 'engine',
    fallbackReason,
    evaluateSync: null,
    async evaluate (facts) {
      const { results } = await runExclusive(async () => await runOnce(facts))
      const out: Array<Contribution & { priority: number }> = []
      for (const r of results) {
        const p = (r.event?.params ?? {}) as ScoreEventParams
        const ruleId = p.ruleId ?? String(r.name)
        const c: Contribution & { priority: number } = { ruleId, action: p.action ?? 'add', priority: r.priority ?? 1 }
        if (p.dimension !== undefined) c.dimension = p.dimension
        if (p.points !== undefined) c.points = p.points
        if (p.reason !== undefined) c.reason = p.reason
        if (p.limit !== undefined) c.limit = p.limit
        if (p.multiplier !== undefined) c.multiplier = p.multiplier
        if (p.within !== undefined) c.within = p.within
        if (p.recency !== undefined) c.recency = p.recency
        if (p.kind !== undefined) c.kind = p.kind
        out.push(c)
      }
      // json-rules-engine runs rules of equal priority concurrently; fix the order so results are deterministic
      out.sort((a, b) => b.priority - a.priority || (a.ruleId < b.ruleId ? -1 : a.ruleId > b.ruleId ? 1 : 0))
      return out.map(({ priority: _p, ...c }) => c)
    },
  }
}

/**
 * The evaluator for a ruleset version: compiled closures when the rules compile exactly, json-rules-engine
 * otherwise. The engine is always built, so rules it refuses fail here, whichever evaluator runs them.
 */
export function createRulesEvaluator (version: number, rules: readonly RuleProperties[]): RulesEvaluator {
  const compiled = compileRuleset(rules)
  const engine = createEngineEvaluator(version, rules, compiled.ok ? null : `${compiled.pointer}: ${compiled.reason}`)
  if (!compiled.ok) return engine
  const { evaluateSync } = compiled.ruleset
  return {
    version,
    mode: 'compiled',
    fallbackReason: null,
    evaluateSync,
    async evaluate (facts) {
      // a fact given as a function is computed by the engine; the pipeline only passes values
      if (isComputedFact(facts.event) || isComputedFact(facts.lead) || isComputedFact(facts.score) || isComputedFact(facts.offer) || isComputedFact(facts.plugin)) return await engine.evaluate(facts)
      return evaluateSync(facts)
    },
  }
}

export type { TopLevelCondition }
