/**
 * Message helper.
 *
 * @module
 * @internal
 */

/** Shortens long user text (names, paths, values) for diagnostic messages. */
export function clipText (text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max)}…` : text
}
