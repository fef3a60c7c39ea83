/**
 * The formatter.
 *
 * @module
 */

import { parse } from './parse.js'
import { print } from './print.js'

/**
 * Formats DSL text canonically (see {@link print} for the layout rules).
 *
 * Idempotent: `format(format(x)) === format(x)`. Comments are preserved.
 * If the text has syntax errors it is returned unchanged, so formatting
 * never destroys work in progress.
 *
 * @throws TypeError if `text` is not a string.
 */
export function format (text: string): string {
  const { ast, diagnostics } = parse(text)
  if (diagnostics.some((d) => d.severity === 'error')) return text
  return print(ast)
}
