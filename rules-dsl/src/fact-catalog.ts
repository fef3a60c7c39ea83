/**
 * Fact catalogs: which facts rules may refer to, and their types.
 *
 * @module
 */

/** Value types a fact can have. `any` disables type checks for the fact. */
export type FactType = 'number' | 'string' | 'boolean' | 'string[]' | 'date' | 'any'

/** Description of one fact (or, for keys ending in `.*`, a family of facts). */
export interface FactDescriptor {
  type: FactType
  /** Markdown documentation shown in editor completions. */
  doc?: string
}

/**
 * The facts available to rules, keyed by dotted path.
 *
 * A key ending in `.*` (such as `event.properties.*`) matches every deeper
 * path under that prefix (`event.properties.path`, `event.properties.a.b`),
 * but not the prefix itself. Exact keys win over wildcards and longer
 * wildcards win over shorter ones.
 *
 * @example
 * ```ts
 * const catalog: FactCatalog = {
 *   'event.type': { type: 'string' },
 *   'event.properties.*': { type: 'any' },
 *   'lead.attributes.industry': { type: 'string', doc: 'Industry from enrichment' },
 * }
 * ```
 */
export interface FactCatalog {
  [fact: string]: FactDescriptor
}

const hasOwn = (obj: object, key: string): boolean => Object.prototype.hasOwnProperty.call(obj, key)

/**
 * Finds the catalog entry describing `path`, honouring `.*` wildcard keys.
 * Only own properties of the catalog are consulted.
 *
 * @returns the matching descriptor, or `undefined` if the fact is unknown.
 */
export function lookupFact (catalog: FactCatalog, path: string): FactDescriptor | undefined {
  if (hasOwn(catalog, path)) return catalog[path]
  let end = path.lastIndexOf('.')
  while (end > 0) {
    const key = `${path.slice(0, end)}.*`
    if (hasOwn(catalog, key)) return catalog[key]
    end = path.lastIndexOf('.', end - 1)
  }
  return undefined
}
