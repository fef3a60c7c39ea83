/**
 * Hard limits enforced by the parser and the checker. They keep editor
 * feedback fast and protect the scoring engine from pathological rule sets.
 *
 * @module
 */

/** Limits applied to every rule set. */
export const limits = {
  /** Maximum number of rules in one rule set. */
  maxRules: 500,
  /** Maximum nesting of parentheses and `not` inside one condition. */
  maxNesting: 32,
  /** Maximum number of comparisons in one rule's condition. */
  maxConditions: 200,
  /** Maximum number of diagnostics returned by a single call. */
  maxDiagnostics: 500,
  /** Maximum length of a regular expression pattern, in characters. */
  maxPatternLength: 500,
  /** Largest absolute number of points a rule may add, subtract or set. */
  maxPoints: 1_000_000,
  /** Largest absolute value for caps, floors and thresholds. */
  maxThreshold: 1_000_000_000,
  /** Smallest repeat multiplier factor. */
  minMultiplier: 0.01,
  /** Largest repeat multiplier factor. */
  maxMultiplier: 100,
  /**
   * Largest count of a windowed limit (`limit N per 30d`): scoring keeps the times of a rule's last N firings to
   * apply it. A limit without a window only needs a counter and has no maximum.
   */
  maxWindowedLimit: 1_000,
  /** Most `P% within D` tiers after `weighted`. */
  maxRecencyTiers: 8,
  /** Largest recency weight, in percent (a tier may boost fresh events up to twice the points). */
  maxRecencyPercent: 200,
  /** Largest amount in a duration such as `30d`. */
  maxDurationAmount: 100_000,
} as const
