import { Engine, type RuleProperties, type TopLevelCondition } from 'json-rules-engine'
import type { Contribution } from '../../contracts/index.js'
import { isUnsafeRegex } from '../rulesets/regex-safety.js'

// json-rules-engine is the reference semantics. Paths are resolved by a plain dot-path walker, so rule text can
// never reach JSONPath evaluation; only own properties are read, and prototype keys are refused.

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype'])
export const PATH_RE = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/
export const ALLOWED_FACTS = new Set(['event', 'lead', 'score'])
export const BUILTIN_OPERATORS = new Set(['equal', 'notEqual', 'lessThan', 'lessThanInclusive', 'greaterThan',
  'greaterThanInclusive', 'in', 'notIn', 'contains', 'doesNotContain'])
export const CUSTOM_OPERATORS = new Set(['startsWith', 'endsWith', 'includesText', 'matches', 'exists'])

/** Reads `a.b.c` from a value, own properties only. */
export function resolveDotPath (value: unknown, path: string): unknown {
  if (path === '' || path === '$') return value
  let cur: unknown = value
  for (const seg of path.split('.')) {
    if (FORBIDDEN.has(seg)) return undefined
    if (cur === null || typeof cur !== 'object') return undefined
    if (!Object.prototype.hasOwnProperty.call(cur, seg)) return undefined
    cur = (cur as Record<string, unknown>)[seg]
  }
  return cur
}

const regexCache = new Map<string, RegExp | null>()
function compileRegex (v: unknown): RegExp | null {
  if (v === null || typeof v !== 'object') return null
  const { pattern, flags } = v as { pattern?: unknown; flags?: unknown }
  if (typeof pattern !== 'string') return null
  const key = `${pattern}/${typeof flags === 'string' ? flags : ''}`
  if (!regexCache.has(key)) {
    let re: RegExp | null = null
    // refused at save; checked again here so a ruleset stored around validation still cannot stall a worker
    if (!isUnsafeRegex(pattern)) {
      try { re = new RegExp(pattern, typeof flags === 'string' ? flags.replace(/[^imsu]/g, '') : '') } catch { re = null }
    }
    if (regexCache.size > 1000) regexCache.clear()
    regexCache.set(key, re)
  }
  return regexCache.get(key) ?? null
}

/** Our operators, shared by the engine and the validator. Each is pure and synchronous. */
export const customOperators: Record<string, (fact: unknown, value: unknown) => boolean> = {
  startsWith: (f, v) => typeof f === 'string' && typeof v === 'string' && f.startsWith(v),
  endsWith: (f, v) => typeof f === 'string' && typeof v === 'string' && f.endsWith(v),
  includesText: (f, v) => typeof f === 'string' && typeof v === 'string' && f.toLowerCase().includes(v.toLowerCase()),
  matches: (f, v) => {
    if (typeof f !== 'string') return false
    const re = compileRegex(v)
    return re !== null && re.test(f.slice(0, 10_000))
  },
  exists: (f, v) => (f !== undefined && f !== null) === (v !== false),
}

/** Facts handed to the engine for one event. */
export interface RuleFacts {
  event: Record<string, unknown>
  lead: Record<string, unknown>
  score: Record<string, unknown>
}

/** A compiled, immutable engine for one ruleset version. Never mutated after creation. */
export interface RulesEvaluator {
  version: number
  evaluate(facts: RuleFacts): Promise<Contribution[]>
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
}

export function createRulesEvaluator (version: number, rules: readonly RuleProperties[]): RulesEvaluator {
  const engine = new Engine([], { allowUndefinedFacts: false, pathResolver: resolveDotPath, replaceFactsInEventParams: false })
  for (const [name, fn] of Object.entries(customOperators)) engine.addOperator(name, fn)
  for (const r of rules) engine.addRule(structuredClone(r) as RuleProperties)
  const priorities = new Map<string, number>()
  for (const r of rules) priorities.set(String(r.name ?? ''), r.priority ?? 1)
  // json-rules-engine keeps a run status on the Engine: a run that finishes while another is in flight makes the
  // other skip its remaining rules. Runs on one engine are therefore queued (evaluation is CPU-bound anyway).
  let queue: Promise<unknown> = Promise.resolve()
  const runExclusive = async <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn)
    queue = next.catch(() => undefined)
    return await next
  }
  return {
    version,
    async evaluate (facts) {
      const { results } = await runExclusive(async () => await engine.run({ event: facts.event, lead: facts.lead, score: facts.score }))
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
        out.push(c)
      }
      // json-rules-engine runs rules of equal priority concurrently; fix the order so results are deterministic
      out.sort((a, b) => b.priority - a.priority || (a.ruleId < b.ruleId ? -1 : a.ruleId > b.ruleId ? 1 : 0))
      return out.map(({ priority: _p, ...c }) => c)
    },
  }
}

export type { TopLevelCondition }
