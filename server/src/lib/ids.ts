import { randomBytes, createHash } from 'node:crypto'

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'

/** A random, URL-safe id with a type prefix, e.g. `ld_3k9x…`. Ids sort roughly by creation time. */
export function newId (prefix: string): string {
  const time = Date.now().toString(32).padStart(9, '0')
  const bytes = randomBytes(10)
  let rand = ''
  for (const b of bytes) rand += ALPHABET[b & 31]
  return `${prefix}_${time}${rand}`
}

export function sha256 (data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

/** JSON with object keys sorted, so equal values hash equally whatever the key order. */
export function canonicalJson (value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const obj = value as Record<string, unknown>
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`
}
