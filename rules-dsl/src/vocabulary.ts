/**
 * The names compiled rules may use: the facts the scoring pipeline hands them and the operators it runs. The server
 * validates stored rules against these lists, so the language and the server cannot disagree about them.
 *
 * @module
 */

import type { CompiledOperator } from './compiled-ruleset.js'

/**
 * Facts rules read. `plugin` holds the facts scoring plugins contribute, under `plugin.<pluginId>.<fact>`; which
 * of them exist is up to the installed plugins (the catalog a host passes to the checker lists them).
 */
export const ruleFacts = ['event', 'lead', 'score', 'offer', 'plugin'] as const

/** json-rules-engine's own operators. */
export const engineOperators = ['equal', 'notEqual', 'lessThan', 'lessThanInclusive', 'greaterThan', 'greaterThanInclusive',
  'in', 'notIn', 'contains', 'doesNotContain'] as const satisfies readonly CompiledOperator[]

/** Operators Leadscore adds to the engine. */
export const leadscoreOperators = ['startsWith', 'endsWith', 'includesText', 'matches', 'exists', 'inText',
  'matchesAnyWord'] as const satisfies readonly CompiledOperator[]

/** Operators whose value may be a fact reference (`in offer.icp.industries`): the list is read when rules run. */
export const factValueOperators = ['inText', 'matchesAnyWord'] as const satisfies readonly CompiledOperator[]

/**
 * A scoring plugin's operator in stored rules: `<pluginId>.<name>`, both lower_snake (plugin ids are 2-50
 * characters). The DSL has no syntax for them; rules written as JSON may use them.
 */
export const pluginOperatorPattern = /^[a-z][a-z0-9_]{1,49}\.[a-z][a-z0-9_]{0,49}$/

/** A plugin fact's name within its plugin (`kind` in `plugin.email_domain.kind`). */
export const pluginFactNamePattern = /^[a-z][a-z0-9_]{0,49}$/
