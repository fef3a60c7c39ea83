// Password hashing. scrypt runs on libuv's thread pool, which also serves file reads (the console's static files),
// DNS lookups and zlib: every hash takes a slot of a small process-wide semaphore, so a burst of sign-ins can only
// ever occupy part of the pool and the rest of the server keeps answering.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { Semaphore } from '../../lib/semaphore.js'

// scrypt cost: N=2^15, r=8 uses 32 MiB and takes tens of milliseconds, which is what OWASP suggests for scrypt.
const SCRYPT_N = 32768
const SCRYPT_R = 8
const SCRYPT_P = 1
const KEY_LEN = 32
const MAX_MEM = 64 * 1024 * 1024

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
  const scryptOpts: ScryptOptions = { N: n, r, p, maxmem: MAX_MEM }
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

/** Whether `password` matches a {@link hashPassword} string; the comparison is constant-time. */
export async function verifyPassword (password: string, stored: string, opts: HashOptions = {}): Promise<boolean> {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(stored)
  if (m === null) return false
  const expected = Buffer.from(m[5]!, 'base64url')
  const key = await derive(password, Buffer.from(m[4]!, 'base64url'), Number(m[1]), Number(m[2]), Number(m[3]), expected.length, opts)
  return key.length === expected.length && timingSafeEqual(key, expected)
}

/** A random password for the generated first admin: 24 URL-safe characters. */
export function generatePassword (): string {
  return randomBytes(18).toString('base64url')
}
