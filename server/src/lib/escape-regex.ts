/** The text as a regular expression that matches it literally (also valid with the `u` flag). */
export function escapeRegex (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
