// Stored documents may not use `.` or a leading `$` in field names, but event properties and lead attributes are
// free-form. Keys are percent-encoded on the way in and decoded on the way out, so every key round-trips.

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype'])

/**
 * Whether a value nests objects and arrays more than `limit` levels deep. Stops as soon as it knows, so a hostile
 * value costs at most `limit` levels of walking per branch.
 */
export function nestsDeeperThan (value: unknown, limit: number, depth = 0): boolean {
  if (value === null || typeof value !== 'object' || value instanceof Date) return false
  if (depth >= limit) return true
  const children = Array.isArray(value) ? value : Object.values(value)
  for (const v of children) if (nestsDeeperThan(v, limit, depth + 1)) return true
  return false
}

/** Returns the first forbidden key (`__proto__`, `constructor`, `prototype`) found in a value, or null. */
export function findForbiddenKey (value: unknown, depth = 0): string | null {
  if (depth > 64 || value === null || typeof value !== 'object') return null
  if (Array.isArray(value)) {
    for (const v of value) { const f = findForbiddenKey(v, depth + 1); if (f !== null) return f }
    return null
  }
  for (const k of Object.keys(value)) {
    if (FORBIDDEN.has(k)) return k
    const f = findForbiddenKey((value as Record<string, unknown>)[k], depth + 1)
    if (f !== null) return f
  }
  return null
}

/**
 * The JSON pointer of the first number in a value that is not finite (JSON.parse reads `1e400` as Infinity), or null.
 * Such a number would be stored as written by one server and refused by another, and served back as `null`.
 */
export function findNonFinite (value: unknown, pointer = '', depth = 0): string | null {
  if (typeof value === 'number') return Number.isFinite(value) ? null : pointer
  if (depth > 64 || value === null || typeof value !== 'object') return null
  const entries: Array<[string, unknown]> = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value)
  for (const [k, v] of entries) {
    const found = findNonFinite(v, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, depth + 1)
    if (found !== null) return found
  }
  return null
}

// the empty key is stored as a lone "%" (never produced otherwise: "%" itself is encoded), so that it also works as
// the last segment of an update path ("attributes.%"); an empty key stored before this rule still reads back as ""
function encodeKey (k: string): string {
  if (k === '') return '%'
  return k.replace(/[%.$\0]/g, (c) => c === '%' ? '%25' : c === '.' ? '%2E' : c === '$' ? '%24' : '%00')
    // FerretDB refuses an update path whose element starts or ends with white space (`attributes. x `): such
    // characters at either end are written `%x` and four hex digits
    .replace(EDGE_SPACE, (run) => [...run].map((c) => `%x${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''))
}

// white space as Go's unicode.IsSpace sees it (JavaScript's \s, and U+0085), at the start or the end of a key
const EDGE_SPACE = /^[\s\u0085]+|[\s\u0085]+$/g

function decodeKey (k: string): string {
  if (k === '%') return ''
  return k.includes('%') ? k.replace(/%(25|2E|24|00)|%x([0-9a-f]{4})/g, (_, h: string | undefined, u: string | undefined) => String.fromCharCode(parseInt(h ?? u!, 16))) : k
}

// An array directly inside an array is stored as { "%a": [...] }: the embedded database (FerretDB) refuses nested
// arrays, and no encoded key is "%a", so the wrapper cannot be confused with data.
const NESTED = '%a'

function mapKeys (value: unknown, fn: (k: string) => string, depth: number, maxDepth: number, encode: boolean): unknown {
  if (value === null || typeof value !== 'object') return value
  if (value instanceof Date) return value
  if (depth > maxDepth) throw new RangeError('value nests too deeply')
  if (Array.isArray(value)) {
    return value.map((v) => {
      const x = mapKeys(v, fn, depth + 1, maxDepth, encode)
      return encode && Array.isArray(x) ? { [NESTED]: x } : x
    })
  }
  if (!encode && Object.keys(value).length === 1 && Array.isArray((value as Record<string, unknown>)[NESTED])) {
    return mapKeys((value as Record<string, unknown>)[NESTED], fn, depth, maxDepth, encode)
  }
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[fn(k)] = mapKeys(v, fn, depth + 1, maxDepth, encode)
  return out
}

/** Encodes every key of a (nested) object for storage, and wraps arrays nested in arrays. */
export function encodeKeys<T> (value: T, maxDepth = 64): T { return mapKeys(value, encodeKey, 0, maxDepth, true) as T }
/** Reverses {@link encodeKeys}. */
export function decodeKeys<T> (value: T, maxDepth = 64): T { return mapKeys(value, decodeKey, 0, maxDepth, false) as T }
/** Encodes one key (for `$set: { 'attributes.<key>': … }`). */
export { encodeKey, decodeKey }
