// What rule conditions may read and how our operators behave. Shared by the json-rules-engine evaluator, the compiled
// evaluator and the ruleset validator, so the three cannot drift apart.
import { engineOperators, factValueOperators, leadscoreOperators, ruleFacts } from '@leadscore/rules-dsl'
import { compileRuleRegex, type RuleRegex } from '../rulesets/rule-regex.js'

export const FORBIDDEN_SEGMENTS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])
export const PATH_RE = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/
// the vocabulary is the rules language's: the server runs exactly what the language compiles to
export const ALLOWED_FACTS: ReadonlySet<string> = new Set(ruleFacts)
export const BUILTIN_OPERATORS: ReadonlySet<string> = new Set(engineOperators)
/** Our operators, and the installed scoring plugins' (`<pluginId>.<name>`, added when plugins are mounted). */
export const CUSTOM_OPERATORS: Set<string> = new Set(leadscoreOperators)
/** The operators whose value may be a fact reference (`in offer.icp.industries`): the list is read when rules run. */
export const FACT_VALUE_OPERATORS: ReadonlySet<string> = new Set(factValueOperators)

/** Facts handed to the rules for one event. */
export interface RuleFacts {
  event: Record<string, unknown>
  lead: Record<string, unknown>
  score: Record<string, unknown>
  /** The active offer as rules see it (domain/offers/offer-facts.ts); null or absent when there is none. */
  offer?: Record<string, unknown> | null
  /** Scoring plugins' facts, `{ <pluginId>: { <fact>: value } }`; null or absent when the rules read none. */
  plugin?: Record<string, unknown> | null
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

/** Compiled patterns by flags and pattern, least recently used first; invalid ones are kept as null. */
const regexCache = new Map<string, RuleRegex | null>()
const REGEX_CACHE_SIZE = 1000

/**
 * The RE2 program of a `matches` value `{ pattern, flags }`, or null when the value or pattern is invalid (then the
 * condition never matches, in either evaluator). Only i, m, s and u count: g and y are dropped, as stored rules may
 * carry them; a repeated flag makes the value invalid. Never throws.
 */
export function compileRegex (v: unknown): RuleRegex | null {
  if (v === null || typeof v !== 'object') return null
  const { pattern, flags } = v as { pattern?: unknown; flags?: unknown }
  if (typeof pattern !== 'string') return null
  const kept = typeof flags === 'string' ? flags.replace(/[^imsu]/g, '') : ''
  const key = `${kept}/${pattern}`
  const cached = regexCache.get(key)
  if (cached !== undefined) {
    // most recently used last, so the oldest entry is the first to go
    regexCache.delete(key)
    regexCache.set(key, cached)
    return cached
  }
  let re: RuleRegex | null = null
  if (new Set(kept).size === kept.length) {
    const compiled = compileRuleRegex(pattern, kept)
    if (compiled.ok) re = compiled.regex
  }
  if (regexCache.size >= REGEX_CACHE_SIZE) regexCache.delete(regexCache.keys().next().value as string)
  regexCache.set(key, re)
  return re
}

/** The longest text `matches` looks at. */
export const MATCH_TEXT_LIMIT = 10_000

/** Text as `inText` compares it: Unicode-normalized, lower case, trimmed, inner spaces collapsed. */
function plainText (s: string): string {
  return s.slice(0, MATCH_TEXT_LIMIT).normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim()
}

/** The lower-case words of a text (letters and digits; everything else separates). */
function wordsOf (s: string): string[] {
  return s.slice(0, MATCH_TEXT_LIMIT).normalize('NFKC').toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w !== '')
}

/** true when `words` holds `phrase` as consecutive words. Linear in the text for each entry; no regex from data. */
function hasPhrase (words: readonly string[], phrase: readonly string[]): boolean {
  if (phrase.length === 0) return false
  for (let i = 0; i + phrase.length <= words.length; i++) {
    let j = 0
    while (j < phrase.length && words[i + j] === phrase[j]) j++
    if (j === phrase.length) return true
  }
  return false
}

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
  // `in <list fact>`: "saas " is in ["SaaS"]; a missing or non-list value matches nothing
  inText: (f, v) => {
    if (typeof f !== 'string' || !Array.isArray(v)) return false
    const t = plainText(f)
    return t !== '' && v.some((x) => typeof x === 'string' && plainText(x) === t)
  },
  // `matches any`: "VP of Sales" matches "VP" and "vp of sales"; "VPN Admin" does not match "VP"
  matchesAnyWord: (f, v) => {
    if (typeof f !== 'string' || !Array.isArray(v)) return false
    const words = wordsOf(f)
    return words.length > 0 && v.some((x) => typeof x === 'string' && hasPhrase(words, wordsOf(x)))
  },
}
