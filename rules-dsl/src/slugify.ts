/**
 * Rule ids.
 *
 * @module
 */

/** Maximum length of a rule id. */
const MAX_SLUG_LENGTH = 80

/**
 * Derives a rule id from a rule name: accents are removed, letters are
 * lower-cased, every run of other characters becomes one `-`, and leading
 * or trailing dashes are dropped. Ids are cut to 80 characters.
 *
 * @example
 * ```ts
 * slugify('Pricing page')   // 'pricing-page'
 * slugify('Démo  booked!')  // 'demo-booked'
 * ```
 * @returns the id, or `''` when the name has no letters or digits.
 */
export function slugify (name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
  return slug.length > MAX_SLUG_LENGTH ? slug.slice(0, MAX_SLUG_LENGTH).replace(/-+$/, '') : slug
}
