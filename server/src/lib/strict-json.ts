// Strict JSON for request bodies: refused before parsing when it nests too deeply (a linear scan of the bytes),
// refused on invalid UTF-8, prototype keys and unpaired surrogates. Shared by the HTTP layer and source plugins.
import sjson from 'secure-json-parse'
import { LS_ERR_BODY_TOO_DEEP, LS_ERR_FORBIDDEN_KEY, LS_ERR_INVALID_ENCODING, LS_ERR_MALFORMED_JSON } from '../errors.js'

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })
// A \uD800-\uDFFF escape in the text may decode to a lone surrogate, which the database driver would store as U+FFFD.
const SURROGATE_ESCAPE_RE = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}/
// in a u-mode pattern, a surrogate range matches only unpaired surrogates
const LONE_SURROGATE_RE = /[\uD800-\uDFFF]/u

/** true when a string or object key anywhere in a parsed JSON value holds an unpaired surrogate (iterative: no depth limit). */
function hasLoneSurrogate (root: unknown): boolean {
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const v = stack.pop()
    if (typeof v === 'string') {
      if (LONE_SURROGATE_RE.test(v)) return true
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x)
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (LONE_SURROGATE_RE.test(k)) return true
        stack.push(x)
      }
    }
  }
  return false
}

/** Deepest nesting of arrays and objects a JSON body may have: above the per-event (32) and ruleset checks, so those still answer per item. */
export const MAX_JSON_DEPTH = 256

const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * true when JSON bytes nest arrays/objects deeper than `max`. One linear pass, run before parsing: a megabyte of
 * `[[[[` otherwise costs the parser (and every recursive walk after it) far more than the check. Brackets inside
 * strings do not count; UTF-8 continuation bytes are >= 0x80, so scanning bytes is safe.
 */
export function jsonTooDeep (raw: Uint8Array, max = MAX_JSON_DEPTH): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]
    if (inString) {
      if (b === BACKSLASH) i++ // the escaped byte can neither end the string nor open a level
      else if (b === QUOTE) inString = false
    } else if (b === QUOTE) {
      inString = true
    } else if (b === 0x5b || b === 0x7b) { // [ {
      if (++depth > max) return true
    } else if (b === 0x5d || b === 0x7d) { // ] }
      depth--
    }
  }
  return false
}

/**
 * Nesting deeper than {@link MAX_JSON_DEPTH} refused (before any parsing), strict UTF-8 (never silently U+FFFD, including lone surrogates written as \u escapes), and JSON with
 * __proto__/constructor refused. Exported for non-HTTP callers.
 */
export function parseJsonStrict (raw: Buffer): unknown {
  if (jsonTooDeep(raw)) throw new LS_ERR_BODY_TOO_DEEP(MAX_JSON_DEPTH)
  let text: string
  try { text = decoder.decode(raw) } catch { throw new LS_ERR_INVALID_ENCODING() }
  if (text.trim() === '') throw new LS_ERR_MALFORMED_JSON('the body is empty')
  let value: unknown
  try {
    value = sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' })
  } catch (err) {
    const msg = (err as Error).message
    if (/prototype|constructor/i.test(msg)) throw new LS_ERR_FORBIDDEN_KEY(/constructor/i.test(msg) ? 'constructor' : '__proto__')
    throw new LS_ERR_MALFORMED_JSON(msg)
  }
  if (SURROGATE_ESCAPE_RE.test(text) && hasLoneSurrogate(value)) throw new LS_ERR_INVALID_ENCODING()
  return value
}

// string formats used by the schemas (TypeBox knows none by itself)

/** UTF-8 text of a body; invalid UTF-8 is refused. */
export function decodeUtf8 (raw: Buffer): string {
  try { return decoder.decode(raw) } catch { throw new LS_ERR_INVALID_ENCODING() }
}
