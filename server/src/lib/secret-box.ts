// Secrets at rest: outbound webhook signing secrets and source secrets (webhook HMAC secrets, Segment write keys, IMAP
// passwords) are stored sealed with AES-256-GCM under a 32-byte key from LEADSCORE_SECRET_KEY (or, outside
// production, a key file kept in the data folder). A sealed value reads
// `lsenc:v1:<key id>:<iv>:<ciphertext>:<tag>` (base64url); the key id (8 hex characters of the key's SHA-256) tells a
// value sealed under another key from a damaged one. Values stored before encryption (plain text) still open as they
// are, and are sealed at the next boot (see sealStoredSecrets) or write.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { chmodSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

const PREFIX = 'lsenc:v1:'

export interface SecretBox {
  /** The 8-hex-character id of the key (not secret: a hash prefix), for messages and diagnostics. */
  readonly keyId: string
  /** Seals a plain value; sealing a sealed value returns it unchanged. */
  seal (plain: string): string
  /**
   * The plain value of a sealed one; a value stored before encryption is returned as is. Throws when it was sealed
   * under a key this box does not hold.
   */
  open (stored: string): string
  /** The value as it should be stored now: sealed under the current key (unchanged when it already is). */
  reseal (stored: string): string
}

/** Whether a stored value is sealed (rather than plain text from before encryption). */
export function isSealed (stored: string): boolean {
  return stored.startsWith(PREFIX)
}

/** 32 bytes from 64 hex characters or base64/base64url; null when the text is neither. */
export function parseSecretKey (text: string): Buffer | null {
  const s = text.trim()
  if (/^[0-9a-fA-F]{64}$/.test(s)) return Buffer.from(s, 'hex')
  if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(s)) {
    const b = Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
    if (b.length === 32) return b
  }
  return null
}

export function createSecretBox (key: Buffer, previous: readonly Buffer[] = []): SecretBox {
  for (const k of [key, ...previous]) if (k.length !== 32) throw new Error('a secret key must be 32 bytes')
  const idOf = (k: Buffer): string => createHash('sha256').update(k).digest('hex').slice(0, 8)
  const keyId = idOf(key)
  const keys = new Map<string, Buffer>([...previous.map((k) => [idOf(k), k] as const), [keyId, key]])
  const kidOf = (stored: string): string => stored.slice(PREFIX.length).split(':')[0] ?? ''
  const box: SecretBox = {
    keyId,
    seal (plain) {
      if (isSealed(plain)) return plain
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
      return `${PREFIX}${keyId}:${iv.toString('base64url')}:${ct.toString('base64url')}:${cipher.getAuthTag().toString('base64url')}`
    },
    open (stored) {
      if (!isSealed(stored)) return stored
      const [kid, iv, ct, tag] = stored.slice(PREFIX.length).split(':')
      const k = keys.get(kid ?? '')
      if (k === undefined) {
        throw new Error(`a stored secret was sealed with another key (id ${kid ?? '?'}, this server's key is ${keyId}): ` +
          'set LEADSCORE_SECRET_KEY to the key the secrets were stored with (or name it in LEADSCORE_SECRET_KEY_PREVIOUS)')
      }
      const decipher = createDecipheriv('aes-256-gcm', k, Buffer.from(iv ?? '', 'base64url'))
      decipher.setAuthTag(Buffer.from(tag ?? '', 'base64url'))
      return Buffer.concat([decipher.update(Buffer.from(ct ?? '', 'base64url')), decipher.final()]).toString('utf8')
    },
    reseal (stored) {
      if (isSealed(stored) && kidOf(stored) === keyId) {
        box.open(stored)
        return stored
      }
      return box.seal(box.open(stored))
    },
  }
  return box
}

/**
 * The key in `file`, created (32 random bytes, hex, mode 0600) when missing. Written aside and hard-linked in, so
 * processes starting together agree on one key and none reads half a file. Throws when the file holds no valid key.
 */
export function keyFromFile (file: string): Buffer {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  try {
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`
    writeFileSync(tmp, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 })
    try { linkSync(tmp, file) } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err } finally { unlinkSync(tmp) }
  } catch (err) {
    throw new Error(`cannot create the secret key file ${file}: ${(err as Error).message}`, { cause: err })
  }
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600)
  const key = parseSecretKey(readFileSync(file, 'utf8'))
  if (key === null) throw new Error(`the secret key file ${file} does not hold a key (64 hex characters)`)
  return key
}
