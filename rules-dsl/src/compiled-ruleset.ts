/**
 * The compiled rule-set format: json-rules-engine rules plus rule-set
 * settings. This is the contract with the scoring engine.
 *
 * @module
 */

import type { RuleProperties } from 'json-rules-engine'

/** Score dimensions a rule can change. */
export type Dimension = 'engagement' | 'fit' | 'intent'

/** Targets of `cap` and `floor`: the total score or a single dimension. */
export type ScoreTarget = 'total' | Dimension

/**
 * Operators that can appear in compiled leaf conditions. Besides json-rules-engine's own and the text operators:
 * `inText` (`in <list fact>`) — the fact's text equals an entry of the list, ignoring case and surrounding spaces;
 * `matchesAnyWord` (`matches any …`) — the fact's text contains an entry of the list as whole words, ignoring case
 * ("VP of Sales" matches "VP" and "vp of sales", not "VPN").
 */
export type CompiledOperator =
  | 'equal'
  | 'notEqual'
  | 'lessThan'
  | 'lessThanInclusive'
  | 'greaterThan'
  | 'greaterThanInclusive'
  | 'in'
  | 'notIn'
  | 'contains'
  | 'doesNotContain'
  | 'startsWith'
  | 'endsWith'
  | 'includesText'
  | 'matches'
  | 'exists'
  | 'inText'
  | 'matchesAnyWord'

/**
 * Value of a `matches` condition: a pattern in JavaScript syntax that the
 * checker has screened for RE2, and flags from `i`, `m`, `s`, `u`. The
 * server runs it with RE2 (linear time), not with `RegExp`.
 */
export interface RegexValue {
  pattern: string
  flags: string
}

/**
 * A leaf condition. For `event`, `lead` and `score` facts, `path` is a plain
 * dot path (no `$`, never JSONPath) into the fact value. Plugin facts such as
 * `company_size.employees` use the whole dotted name as `fact` and have no path.
 */
export interface CompiledLeafCondition {
  fact: string
  path?: string
  operator: CompiledOperator
  value: string | number | boolean | Array<string | number | boolean> | RegexValue | FactValue
}

/**
 * A value read from another fact when the rule runs (`in offer.icp.industries`): json-rules-engine's fact
 * reference, with a plain dot path as in leaf conditions.
 */
export interface FactValue {
  fact: string
  path?: string
}

/** `all` / `any` / `not` combinations of conditions. */
export type CompiledCondition =
  | CompiledLeafCondition
  | { all: CompiledCondition[] }
  | { any: CompiledCondition[] }
  | { not: CompiledCondition }

/** The top level of a rule's conditions (never a bare leaf). */
export type CompiledTopLevelCondition =
  | { all: CompiledCondition[] }
  | { any: CompiledCondition[] }
  | { not: CompiledCondition }

/** What the scoring engine does when a rule fires. */
export interface ScoreParams {
  /** Slug of the rule name; unique within the rule set. */
  ruleId: string
  /** `add` points, `set` a dimension to points, or `reset` all dimensions to 0. */
  action: 'add' | 'set' | 'reset'
  /** Present for `add` and `set` (default `engagement`). */
  dimension?: Dimension
  /** Whole number; may be negative for `add`. Present for `add` and `set`. */
  points?: number
  /** The rule's quoted note, else the rule name. */
  reason?: string
  /** `once` → `{count: 1}`; `limit 3 per 30d` → `{count: 3, per: '30d'}`. */
  limit?: { count: number; per?: string }
  /** `x2 after 3`: firings beyond the 3rd score `factor` × points. */
  multiplier?: { factor: number; after: number }
  /** Only score events whose `occurredAt` lies within this duration of the as-of time. */
  within?: string
  /**
   * `weighted 100% within 7d, 50% within 30d, 0%`: the points are multiplied by the percent of the first tier whose
   * duration the event's age (received − occurred) is within, else by `otherwise` (0 = not scored at all).
   */
  recency?: { tiers: Array<{ within: string; percent: number }>; otherwise: number }
  /**
   * `fit` for a `fit rule`: scoring holds its points while the rule matches the lead's current attributes and takes
   * them back when it stops matching. Last, so other rules compile to the same JSON as before.
   */
  kind?: 'fit'
}

/** The json-rules-engine event emitted by every compiled rule. */
export interface ScoreEvent {
  type: 'score'
  params: ScoreParams
}

/** One compiled rule; a valid json-rules-engine `RuleProperties`. */
export interface CompiledRule extends RuleProperties {
  /** Same as `event.params.ruleId`. */
  name: string
  /** 1..100; higher runs first. Always present (default 1). */
  priority: number
  conditions: CompiledTopLevelCondition
  event: ScoreEvent
}

/** Score bounds keyed by target. */
export type ScoreBounds = { [K in ScoreTarget]?: number }

/** A named threshold (stage, grade or intent label). */
export interface Threshold {
  name: string
  min: number
}

/** Rule-set wide settings. Empty sections are omitted. */
export interface RulesetSettings {
  /** Maximum values (`cap`). */
  caps?: ScoreBounds
  /** Minimum values (`floor`). */
  floors?: ScoreBounds
  /** Inactivity decay schedules. */
  decay?: Array<{
    dimension: 'engagement'
    percent: number
    every: string
    after?: string
    curve?: 'linear' | 'exponential'
  }>
  /** Lifecycle stages, ascending by `min`; `exitBelow` adds hysteresis. */
  stages?: Array<Threshold & { exitBelow?: number }>
  /** Grades on the fit dimension, ascending by `min`. */
  grades?: Threshold[]
  /** Labels on the intent dimension, ascending by `min`. */
  intentLabels?: Threshold[]
  /** Declared event types and aliases. */
  eventTypes?: { known?: string[]; aliases?: Record<string, string> }
}

/** The result of {@link compile}. */
export interface CompiledRuleset {
  rules: CompiledRule[]
  settings: RulesetSettings
}
