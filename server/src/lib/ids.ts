import { randomBytes, createHash } from 'node:crypto'

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'

// Random bytes for ids, drawn from the system's generator a few KB at a time: ingest makes several ids per event, and
// a call per id was 3% of the server's time under single-event ingest.
const POOL_BYTES = 4096
const ID_BYTES = 10
let pool = Buffer.alloc(0)
let used = 0

/** A random, URL-safe id with a type prefix, e.g. `ld_3k9x…`. Ids sort roughly by creation time. */
export function newId (prefix: string): string {
  const time = Date.now().toString(32).padStart(9, '0')
  if (used + ID_BYTES > pool.length) {
    pool = randomBytes(POOL_BYTES)
    used = 0
  }
  let rand = ''
  for (let i = used; i < used + ID_BYTES; i++) rand += ALPHABET[pool[i]! & 31]
  used += ID_BYTES
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
