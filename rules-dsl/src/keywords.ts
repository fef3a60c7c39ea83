/**
 * Reserved words of the DSL.
 *
 * @module
 */

/**
 * Every keyword of the language. A bare word in this list cannot be used as
 * a fact name, and names that collide with it are printed quoted.
 */
export const keywords: readonly string[] = [
  'rule',
  'priority',
  'when',
  'then',
  'and',
  'or',
  'not',
  'in',
  'contains',
  'startsWith',
  'endsWith',
  'includes',
  'matches',
  'exists',
  'true',
  'false',
  'set',
  'to',
  'reset',
  'once',
  'limit',
  'per',
  'within',
  'weighted',
  'after',
  'cap',
  'floor',
  'decay',
  'every',
  'inactivity',
  'curve',
  'stage',
  'at',
  'exit',
  'below',
  'grade',
  'intent',
  'label',
  'event',
  'type',
  'is',
  'known',
  'events',
]

/** Words that start a top-level statement. */
export const statementKeywords: readonly string[] = [
  'rule',
  'cap',
  'floor',
  'decay',
  'stage',
  'grade',
  'intent',
  'event',
  'known',
]

/** Word operators usable in comparisons (each may be preceded by `not`). */
export const wordOperators: readonly string[] = [
  'in',
  'contains',
  'startsWith',
  'endsWith',
  'includes',
  'matches',
  'exists',
]

/** Words that may not appear as a bare fact name in a condition. */
export const conditionReservedWords: ReadonlySet<string> = new Set([
  'rule',
  'when',
  'then',
  'and',
  'or',
  'not',
  'true',
  'false',
  ...wordOperators,
])

/** The score dimensions. */
export const dimensions: readonly string[] = ['engagement', 'fit', 'intent']

/** Valid `cap` / `floor` targets. */
export const scoreTargets: readonly string[] = ['total', 'engagement', 'fit', 'intent']

/** Path segments that are rejected anywhere in a fact path or used as a key. */
export const forbiddenSegments: readonly string[] = ['__proto__', 'constructor', 'prototype']
