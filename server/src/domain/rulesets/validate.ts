import { limits as dslLimits } from '@leadscore/rules-dsl'
import type { RulesetSettings } from '../types.js'
import { ALLOWED_FACTS, BUILTIN_OPERATORS, CUSTOM_OPERATORS, FACT_VALUE_OPERATORS, PATH_RE } from '../scoring/rule-operators.js'
import { durationMs } from '../scoring/model.js'
import { regexProblem } from './rule-regex.js'

export const RULESET_LIMITS = { rules: 500, conditionsPerRule: 200, depth: 32, storedDepth: 90, bytes: 512 * 1024 } as const

const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype'])
const DIMENSIONS = new Set(['engagement', 'fit', 'intent'])
const ACTIONS = new Set(['add', 'set', 'reset'])

export interface RulesetProblem { pointer: string; detail: string }

/** true when a JSON value nests deeper than `limit` arrays/objects (stored documents are bounded). */
function nestsDeeper (v: unknown, limit: number): boolean {
  if (v === null || typeof v !== 'object') return false
  if (limit === 0) return true
  return (Array.isArray(v) ? v : Object.values(v)).some((x) => nestsDeeper(x, limit - 1))
}

function isObj (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function checkCondition (c: unknown, pointer: string, depth: number, counter: { n: number }, out: RulesetProblem[]): void {
  if (out.length > 50) return
  if (depth > RULESET_LIMITS.depth) { out.push({ pointer, detail: `conditions nest deeper than ${RULESET_LIMITS.depth} levels` }); return }
  if (!isObj(c)) { out.push({ pointer, detail: 'a condition must be an object' }); return }
  const groups = ['all', 'any', 'not'].filter((k) => k in c)
  if (groups.length > 1) { out.push({ pointer, detail: 'a condition has exactly one of all, any, not or fact' }); return }
  if ('condition' in c) { out.push({ pointer, detail: 'shared condition references are not supported' }); return }
  if (groups.length === 1) {
    const g = groups[0]!
    const inner = c[g]
    if (g === 'not') { checkCondition(inner, `${pointer}/not`, depth + 1, counter, out); return }
    if (!Array.isArray(inner)) { out.push({ pointer: `${pointer}/${g}`, detail: `${g} must be an array` }); return }
    inner.forEach((x, i) => checkCondition(x, `${pointer}/${g}/${i}`, depth + 1, counter, out))
    return
  }
  counter.n += 1
  if (typeof c.fact !== 'string' || !ALLOWED_FACTS.has(c.fact)) {
    out.push({ pointer: `${pointer}/fact`, detail: `fact must be one of ${[...ALLOWED_FACTS].join(', ')}` })
  }
  if (c.path !== undefined) {
    if (typeof c.path !== 'string' || !PATH_RE.test(c.path)) {
      out.push({ pointer: `${pointer}/path`, detail: 'path must be a plain dot path such as properties.url (no $, brackets or scripts)' })
    } else if (c.path.split('.').some((s) => FORBIDDEN_SEGMENTS.has(s))) {
      out.push({ pointer: `${pointer}/path`, detail: 'path must not use __proto__, constructor or prototype' })
    }
  }
  if (typeof c.operator !== 'string' || !(BUILTIN_OPERATORS.has(c.operator) || CUSTOM_OPERATORS.has(c.operator))) {
    out.push({ pointer: `${pointer}/operator`, detail: `unknown operator ${JSON.stringify(c.operator)}` })
  }
  if (isObj(c.value) && 'fact' in c.value) {
    // a list read from a fact when the rules run (`in offer.icp.industries`); only our list operators take one
    const v = c.value
    if (typeof c.operator !== 'string' || !FACT_VALUE_OPERATORS.has(c.operator)) {
      out.push({ pointer: `${pointer}/value`, detail: `fact references in values are only supported with ${[...FACT_VALUE_OPERATORS].join(' and ')}` })
    } else if (Object.keys(v).some((k) => k !== 'fact' && k !== 'path') || typeof v.fact !== 'string' || !ALLOWED_FACTS.has(v.fact)) {
      out.push({ pointer: `${pointer}/value`, detail: `a fact reference is { fact, path? } with fact one of ${[...ALLOWED_FACTS].join(', ')}` })
    } else if (v.path !== undefined && (typeof v.path !== 'string' || !PATH_RE.test(v.path) || v.path.split('.').some((x) => FORBIDDEN_SEGMENTS.has(x)))) {
      out.push({ pointer: `${pointer}/value/path`, detail: 'path must be a plain dot path such as icp.industries' })
    }
  }
  if (c.operator === 'matches') {
    const v = c.value
    if (!isObj(v) || typeof v.pattern !== 'string') out.push({ pointer: `${pointer}/value`, detail: 'matches needs { pattern, flags }' })
    else {
      // the checks of a regex literal in the rules language, then RE2 itself: what is stored is what runs
      const problem = regexProblem(v.pattern, v.flags ?? '')
      if (problem !== null) out.push({ pointer: `${pointer}/value/${problem.field}`, detail: problem.detail })
    }
  }
}

/**
 * Validates a ruleset in json-rules-engine form before it is stored: size, nesting depth, condition count, facts,
 * plain dot paths, allowed operators, regexes RE2 runs as written and well-formed score params. Returns every problem found.
 */
export function validateRuleset (input: { rules: unknown; settings?: unknown }): RulesetProblem[] {
  const out: RulesetProblem[] = []
  const size = JSON.stringify(input).length
  if (size > RULESET_LIMITS.bytes) return [{ pointer: '#', detail: `the ruleset is ${size} bytes; the limit is ${RULESET_LIMITS.bytes}` }]
  if (nestsDeeper(input, RULESET_LIMITS.storedDepth)) return [{ pointer: '#', detail: `the ruleset nests deeper than ${RULESET_LIMITS.storedDepth} levels` }]
  if (!Array.isArray(input.rules)) return [{ pointer: '#/rules', detail: 'rules must be an array' }]
  if (input.rules.length > RULESET_LIMITS.rules) return [{ pointer: '#/rules', detail: `at most ${RULESET_LIMITS.rules} rules` }]
  const ids = new Set<string>()
  input.rules.forEach((r: unknown, i: number) => {
    const p = `#/rules/${i}`
    if (!isObj(r)) { out.push({ pointer: p, detail: 'a rule must be an object' }); return }
    if (typeof r.name !== 'string' || r.name.length === 0 || r.name.length > 100) out.push({ pointer: `${p}/name`, detail: 'name must be a string of 1-100 characters' })
    if (r.priority !== undefined && (typeof r.priority !== 'number' || !Number.isInteger(r.priority) || r.priority < 1 || r.priority > 100)) {
      out.push({ pointer: `${p}/priority`, detail: 'priority must be an integer from 1 to 100' })
    }
    const counter = { n: 0 }
    if (!isObj(r.conditions) || !['all', 'any', 'not'].some((k) => k in (r.conditions as object))) {
      out.push({ pointer: `${p}/conditions`, detail: 'conditions must have all, any or not at the top' })
    } else {
      checkCondition(r.conditions, `${p}/conditions`, 1, counter, out)
      if (counter.n > RULESET_LIMITS.conditionsPerRule) out.push({ pointer: `${p}/conditions`, detail: `at most ${RULESET_LIMITS.conditionsPerRule} conditions per rule` })
    }
    const ev = r.event
    if (!isObj(ev) || ev.type !== 'score' || !isObj(ev.params)) { out.push({ pointer: `${p}/event`, detail: 'event must be { type: "score", params: {…} }' }); return }
    const pr = ev.params
    const ruleId = typeof pr.ruleId === 'string' ? pr.ruleId : r.name
    if (typeof ruleId !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,63}$/.test(ruleId)) out.push({ pointer: `${p}/event/params/ruleId`, detail: 'ruleId must be a lower-case slug' })
    else if (ids.has(ruleId)) out.push({ pointer: `${p}/event/params/ruleId`, detail: `duplicate ruleId '${ruleId}'` })
    else ids.add(ruleId)
    const action = pr.action ?? 'add'
    if (typeof action !== 'string' || !ACTIONS.has(action)) out.push({ pointer: `${p}/event/params/action`, detail: 'action must be add, set or reset' })
    if (action !== 'reset') {
      if (typeof pr.points !== 'number' || !Number.isFinite(pr.points) || Math.abs(pr.points) > dslLimits.maxPoints) out.push({ pointer: `${p}/event/params/points`, detail: 'points must be a finite number' })
      if (pr.dimension !== undefined && (typeof pr.dimension !== 'string' || !DIMENSIONS.has(pr.dimension))) out.push({ pointer: `${p}/event/params/dimension`, detail: 'dimension must be engagement, fit or intent' })
    }
    if (pr.reason !== undefined && (typeof pr.reason !== 'string' || pr.reason.length > 500)) out.push({ pointer: `${p}/event/params/reason`, detail: 'reason must be a string of at most 500 characters' })
    if (pr.limit !== undefined) {
      const l = pr.limit
      if (!isObj(l) || typeof l.count !== 'number' || !Number.isInteger(l.count) || l.count < 1) out.push({ pointer: `${p}/event/params/limit`, detail: 'limit.count must be a positive integer' })
      else if (l.per !== undefined && (typeof l.per !== 'string' || durationMs(l.per) === null)) out.push({ pointer: `${p}/event/params/limit/per`, detail: 'limit.per must be a duration such as 30d' })
      else if (l.per !== undefined && l.count > dslLimits.maxWindowedLimit) out.push({ pointer: `${p}/event/params/limit/count`, detail: `a limit per time window counts at most ${dslLimits.maxWindowedLimit} firings` })
    }
    if (pr.multiplier !== undefined) {
      const m = pr.multiplier
      if (!isObj(m) || typeof m.factor !== 'number' || typeof m.after !== 'number' || m.factor < 0 || m.factor > 100 || m.after < 0) out.push({ pointer: `${p}/event/params/multiplier`, detail: 'multiplier needs factor (0-100) and after (>= 0)' })
    }
    if (pr.kind !== undefined && (pr.kind !== 'fit' || action !== 'add')) out.push({ pointer: `${p}/event/params/kind`, detail: "kind must be 'fit', on an add action" })
    if (pr.recency !== undefined) {
      const rc = pr.recency
      const pct = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= dslLimits.maxRecencyPercent
      const tiers = isObj(rc) && Array.isArray(rc.tiers) ? rc.tiers as unknown[] : null
      const ms = tiers?.map((t) => (isObj(t) && typeof t.within === 'string' && pct(t.percent) ? durationMs(t.within) : null)) ?? []
      const ascending = ms.every((m, i) => m !== null && (i === 0 || m > ms[i - 1]!))
      if (tiers === null || tiers.length === 0 || tiers.length > dslLimits.maxRecencyTiers || !ascending || !pct((rc as { otherwise?: unknown }).otherwise)) {
        out.push({ pointer: `${p}/event/params/recency`, detail: `recency needs 1-${dslLimits.maxRecencyTiers} tiers {within, percent} with increasing durations and an otherwise percent (0-${dslLimits.maxRecencyPercent})` })
      }
    }
  })
  if (input.settings !== undefined) out.push(...validateSettings(input.settings))
  return out
}

function validateSettings (s: unknown): RulesetProblem[] {
  const out: RulesetProblem[] = []
  if (!isObj(s)) return [{ pointer: '#/settings', detail: 'settings must be an object' }]
  const st = s as RulesetSettings
  for (const k of ['caps', 'floors'] as const) {
    const v = st[k]
    if (v === undefined) continue
    if (!isObj(v)) { out.push({ pointer: `#/settings/${k}`, detail: `${k} must be an object` }); continue }
    for (const [d, n] of Object.entries(v)) {
      if (!['total', 'engagement', 'fit', 'intent'].includes(d) || typeof n !== 'number' || !Number.isFinite(n)) out.push({ pointer: `#/settings/${k}/${d}`, detail: 'must be total, engagement, fit or intent with a number' })
    }
  }
  if (st.caps?.total !== undefined && st.floors?.total !== undefined && st.caps.total < st.floors.total) out.push({ pointer: '#/settings/caps/total', detail: 'the cap is below the floor' })
  if (st.stages !== undefined) {
    if (!Array.isArray(st.stages) || st.stages.some((x) => !isObj(x) || typeof x.name !== 'string' || typeof x.min !== 'number')) out.push({ pointer: '#/settings/stages', detail: 'stages must be [{ name, min, exitBelow? }]' })
  }
  if (st.eventTypes !== undefined && !isObj(st.eventTypes)) out.push({ pointer: '#/settings/eventTypes', detail: 'eventTypes must be { known?, aliases? }' })
  return out
}
