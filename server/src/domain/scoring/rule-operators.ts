// What rule conditions may read and how our operators behave. Shared by the json-rules-engine evaluator, the compiled
// evaluator and the ruleset validator, so the three cannot drift apart.
import { isUnsafeRegex } from '../rulesets/regex-safety.js'

export const FORBIDDEN_SEGMENTS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])
export const PATH_RE = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/
export const ALLOWED_FACTS = new Set(['event', 'lead', 'score'])
export const BUILTIN_OPERATORS = new Set(['equal', 'notEqual', 'lessThan', 'lessThanInclusive', 'greaterThan',
  'greaterThanInclusive', 'in', 'notIn', 'contains', 'doesNotContain'])
export const CUSTOM_OPERATORS = new Set(['startsWith', 'endsWith', 'includesText', 'matches', 'exists'])

/** Facts handed to the rules for one event. */
export interface RuleFacts {
  event: Record<string, unknown>
  lead: Record<string, unknown>
  score: Record<string, unknown>
}

/** Reads `a.b.c` from a value, own properties only. Paths are never JSONPath, so rule text cannot run as a query. */
export function resolveDotPath (value: unknown, path: string): unknown {
  if (path === '' || path === '$') return value
  let cur: unknown = value
  for (const seg of path.split('.')) {
    if (FORBIDDEN_SEGMENTS.has(seg)) return undefined
    if (cur === null || typeof cur !== 'object') return undefined
    if (!Object.prototype.hasOwnProperty.call(cur, seg)) return undefined
    cur = (cur as Record<string, unknown>)[seg]
  }
  return cur
}

const regexCache = new Map<string, RegExp | null>()

/** The regular expression of a `matches` value `{ pattern, flags }`, or null when the value or pattern is invalid. */
export function compileRegex (v: unknown): RegExp | null {
  if (v === null || typeof v !== 'object') return null
  const { pattern, flags } = v as { pattern?: unknown; flags?: unknown }
  if (typeof pattern !== 'string') return null
  const key = `${pattern}/${typeof flags === 'string' ? flags : ''}`
  if (!regexCache.has(key)) {
    let re: RegExp | null = null
    // refused at save; checked again here so a ruleset stored around validation still cannot stall a worker
    if (!isUnsafeRegex(pattern)) {
      // only i, m, s and u: g and y would make test() stateful
      try { re = new RegExp(pattern, typeof flags === 'string' ? flags.replace(/[^imsu]/g, '') : '') } catch { re = null }
    }
    if (regexCache.size > 1000) regexCache.clear()
    regexCache.set(key, re)
  }
  return regexCache.get(key) ?? null
}

/** The longest text `matches` looks at. */
export const MATCH_TEXT_LIMIT = 10_000

/** Our operators, shared by the engine and the validator. Each is pure and synchronous. */
export const customOperators: Record<string, (fact: unknown, value: unknown) => boolean> = {
  startsWith: (f, v) => typeof f === 'string' && typeof v === 'string' && f.startsWith(v),
  endsWith: (f, v) => typeof f === 'string' && typeof v === 'string' && f.endsWith(v),
  includesText: (f, v) => typeof f === 'string' && typeof v === 'string' && f.toLowerCase().includes(v.toLowerCase()),
  matches: (f, v) => {
    if (typeof f !== 'string') return false
    const re = compileRegex(v)
    return re !== null && re.test(f.slice(0, MATCH_TEXT_LIMIT))
  },
  exists: (f, v) => (f !== undefined && f !== null) === (v !== false),
}
