import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { Collection } from 'mongodb'
import type { ApiKeyDoc, Role, Scope } from '../types.js'
import { newId, sha256 } from '../../lib/ids.js'
import { LS_ERR_API_KEY_NOT_FOUND } from '../../errors.js'
import { findByIds, isDuplicateKey } from '../../infra/db.js'

export const SCOPES: readonly Scope[] = ['ingest', 'read', 'rules', 'admin']

/**
 * The caller behind a request: an API key, or a console user signed in with a session cookie (then `keyId` is the
 * user's id, `name` their email, and `user` is set).
 */
export interface Principal {
  keyId: string
  name: string
  scopes: Scope[]
  user?: { id: string; email: string; name: string; role: Role; sessionId: string }
}

/** Whether a principal may act with `scope`; admin may do everything. */
export function hasScope (p: Principal, scope: Scope): boolean {
  return p.scopes.includes('admin') || p.scopes.includes(scope)
}

/** Keys look like `lsk_<random>`; only their SHA-256 is stored. */
export function generateKey (): string {
  return `lsk_${randomBytes(24).toString('base64url')}`
}

export function createApiKeyService (col: Collection<ApiKeyDoc>, now: () => Date) {
  const cache = new Map<string, { p: Principal | null; at: number }>()
  const CACHE_MS = 5000
  // told when a key stops being valid here, so open WebSocket connections on it are closed at once
  const revokedListeners = new Set<() => void>()
  const revoked = (): void => { for (const fn of revokedListeners) fn() }
  const service = {
    async create (name: string, scopes: Scope[], plain: string = generateKey()): Promise<{ key: string; doc: ApiKeyDoc }> {
      const hash = sha256(plain)
      const t = now()
      for (let attempt = 0; ; attempt++) {
        const existing = await col.findOne({ hash })
        if (existing !== null) {
          // a revoked key is never re-enabled: revocation is final (a leaked bootstrap key must stay dead)
          if (existing.revokedAt !== null) return { key: plain, doc: existing }
          await col.updateOne({ _id: existing._id }, { $set: { scopes } })
          revoked() // its scopes may have shrunk
          return { key: plain, doc: { ...existing, scopes } }
        }
        const doc: ApiKeyDoc = { _id: newId('key'), name, hash, prefix: plain.slice(0, 8), scopes, createdAt: t, lastUsedAt: null, revokedAt: null }
        try {
          await col.insertOne(doc)
          return { key: plain, doc }
        } catch (err) {
          // two processes booting on one database with the same bootstrap key: the other one stored it first
          if (!isDuplicateKey(err) || attempt > 0) throw err
        }
      }
    },
    /**
     * Creates the bootstrap admin key, or gives an existing one the admin scope again; a key an admin revoked stays
     * revoked (its revokedAt records that) and 'revoked' is returned.
     */
    async ensureBootstrap (plain: string): Promise<'active' | 'revoked'> {
      const { doc } = await service.create('bootstrap admin', ['admin'], plain)
      return doc.revokedAt === null ? 'active' : 'revoked'
    },
    async hasAdmin (): Promise<boolean> {
      return await col.findOne({ scopes: 'admin', revokedAt: null }) !== null
    },
    async list (): Promise<ApiKeyDoc[]> {
      return await col.find({}).sort({ createdAt: -1 }).limit(500).toArray()
    },
    async revoke (id: string): Promise<void> {
      const res = await col.updateOne({ _id: id, revokedAt: null }, { $set: { revokedAt: now() } })
      if (res.matchedCount === 0) throw new LS_ERR_API_KEY_NOT_FOUND(id)
      cache.clear()
      revoked()
    },
    /** Calls `fn` after this process revokes (or re-scopes) a key; returns the function that stops it. */
    onRevoked (fn: () => void): () => void {
      revokedListeners.add(fn)
      return () => { revokedListeners.delete(fn) }
    },
    /** The principals of those of `ids` that are keys not revoked, read now (no cache): open sockets re-check with it. */
    async activePrincipals (ids: readonly string[]): Promise<Map<string, Principal>> {
      const docs = await findByIds(col, ids, { _id: 1, name: 1, scopes: 1, revokedAt: 1 })
      return new Map(docs.filter((d) => d.revokedAt === null).map((d) => [d._id, { keyId: d._id, name: d.name, scopes: d.scopes }]))
    },
    /** Resolves a presented key to its principal, or null. Comparison is on hashes, in constant time. */
    async authenticate (plain: string): Promise<Principal | null> {
      if (plain.length < 10 || plain.length > 200) return null
      const hash = sha256(plain)
      const hit = cache.get(hash)
      if (hit !== undefined && Date.now() - hit.at < CACHE_MS) return hit.p
      const doc = await col.findOne({ hash })
      let p: Principal | null = null
      if (doc !== null && doc.revokedAt === null && timingSafeEqual(Buffer.from(doc.hash), Buffer.from(hash))) {
        p = { keyId: doc._id, name: doc.name, scopes: doc.scopes }
        if (doc.lastUsedAt === null || Date.now() - doc.lastUsedAt.getTime() > 60_000) {
          await col.updateOne({ _id: doc._id }, { $set: { lastUsedAt: now() } })
        }
      }
      if (cache.size > 10_000) cache.clear()
      cache.set(hash, { p, at: Date.now() })
      return p
    },
  }
  return service
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>
