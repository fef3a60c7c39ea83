// Password hashing. scrypt runs on libuv's thread pool, which also serves file reads (the console's static files),
// DNS lookups and zlib: every hash takes a slot of a small process-wide semaphore, so a burst of sign-ins can only
// ever occupy part of the pool and the rest of the server keeps answering.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { Semaphore } from '../../lib/semaphore.js'

// scrypt cost: OWASP's Password Storage Cheat Sheet recommends N=2^17, r=8, p=1 (128 MiB per hash; its time is in
// docs/architecture.md, section 6). Every stored hash names its own N, r and p, so hashes made with an older cost still verify; a
// successful sign-in re-hashes them at this cost (see needsRehash).
export const SCRYPT_N = 2 ** 17
export const SCRYPT_R = 8
export const SCRYPT_P = 1
const KEY_LEN = 32
/** The largest memory a stored hash may ask for (N·r·128 bytes): 1 GiB; stranger parameters do not verify. */
const MAX_HASH_MEM = 1024 * 1024 * 1024

/** Memory scrypt needs for these parameters, with room for its p blocks; node:crypto refuses more than `maxmem`. */
function memoryFor (n: number, r: number, p: number): number {
  return 128 * n * r + 128 * r * p + 1024 * 1024
}

/** Concurrent hashes: half of libuv's pool (4 threads unless UV_THREADPOOL_SIZE says otherwise), 1 to 4. */
export const HASH_SLOTS = Math.min(4, Math.max(1, Math.floor((Number(process.env.UV_THREADPOOL_SIZE) || 4) / 2)))
/** Callers that may wait for a slot with a deadline (sign-ins); more are refused at once. */
const MAX_WAITING = 16
const slots = new Semaphore(HASH_SLOTS, MAX_WAITING)

/** No hashing slot came free in time; the caller should answer "busy, retry shortly". */
export class PasswordHashBusy extends Error {
  constructor () {
    super('too many password hashes are running')
    this.name = 'PasswordHashBusy'
  }
}

/**
 * How long a caller waits for a slot: `waitMs` gives up with {@link PasswordHashBusy} (sign-ins, which anyone can
 * send); without it the caller queues (hashing a password an admin sets, or the first admin's at boot).
 */
export interface HashOptions { waitMs?: number }

async function derive (password: string, salt: Buffer, n: number, r: number, p: number, len: number, opts: HashOptions): Promise<Buffer> {
  const scryptOpts: ScryptOptions = { N: n, r, p, maxmem: memoryFor(n, r, p) }
  const release = await slots.acquire(opts.waitMs)
  if (release === null) throw new PasswordHashBusy()
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      scrypt(password.normalize('NFKC'), salt, len, scryptOpts, (err, key) => { if (err !== null) reject(err); else resolve(key) })
    })
  } finally {
    release()
  }
}

/** `scrypt$N$r$p$<salt>$<hash>` (base64url) of a password with a fresh 16-byte salt. */
export async function hashPassword (password: string, opts: HashOptions = {}): Promise<string> {
  const salt = randomBytes(16)
  const key = await derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_LEN, opts)
  return `scrypt$${SCRYPT_N}$${SCRYPT_R}$${SCRYPT_P}$${salt.toString('base64url')}$${key.toString('base64url')}`
}

const HASH_RE = /^scrypt\$(\d{1,10})\$(\d{1,4})\$(\d{1,4})\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/

/** The cost parameters of a {@link hashPassword} string, or null when it is not one this server can check. */
export function hashParams (stored: string): { n: number; r: number; p: number } | null {
  const m = HASH_RE.exec(stored)
  if (m === null) return null
  const n = Number(m[1]); const r = Number(m[2]); const p = Number(m[3])
  // N a power of two above 1; r and p positive; bounded memory
  if (n < 2 || (n & (n - 1)) !== 0 || r < 1 || p < 1 || p > 16 || 128 * n * r > MAX_HASH_MEM) return null
  return { n, r, p }
}

/** Whether `password` matches a {@link hashPassword} string (made at any cost); the comparison is constant-time. */
export async function verifyPassword (password: string, stored: string, opts: HashOptions = {}): Promise<boolean> {
  const params = hashParams(stored)
  if (params === null) return false
  const m = HASH_RE.exec(stored)!
  const expected = Buffer.from(m[5]!, 'base64url')
  if (expected.length < 16) return false
  const key = await derive(password, Buffer.from(m[4]!, 'base64url'), params.n, params.r, params.p, expected.length, opts)
  return key.length === expected.length && timingSafeEqual(key, expected)
}

/** Whether a stored hash was made with other parameters than today's: the next successful sign-in re-hashes it. */
export function needsRehash (stored: string): boolean {
  const p = hashParams(stored)
  return p === null || p.n !== SCRYPT_N || p.r !== SCRYPT_R || p.p !== SCRYPT_P
}

/** A random password for the generated first admin: 24 URL-safe characters. */
export function generatePassword (): string {
  return randomBytes(18).toString('base64url')
}
