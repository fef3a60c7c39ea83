import type { Collection } from 'mongodb'
import type { LockDoc } from './types.js'
import { isDuplicateKey } from '../infra/db.js'

/** Named leases in the `locks` collection: exclusive, expiring, renewable, released only by their owner. */
export interface LockService {
  /** Takes the lock if it is free or expired; false when another owner holds it. */
  acquire(name: string, owner: string, ttlMs: number): Promise<boolean>
  /** Extends the lease; false when the lock was lost (expired and taken by someone else). */
  renew(name: string, owner: string, ttlMs: number): Promise<boolean>
  release(name: string, owner: string): Promise<void>
}

export function createLockService (locks: Collection<LockDoc>, now: () => Date): LockService {
  return {
    async acquire (name, owner, ttlMs) {
      const t = now()
      try {
        const res = await locks.updateOne(
          { _id: name, $or: [{ expiresAt: { $lt: t } }, { owner }] },
          { $set: { owner, expiresAt: new Date(t.getTime() + ttlMs), acquiredAt: t } },
          { upsert: true },
        )
        return res.matchedCount === 1 || res.upsertedCount === 1
      } catch (err) {
        // The filter did not match an existing (held) lock, so the upsert collided with it: someone else holds it.
        if (isDuplicateKey(err)) return false
        throw err
      }
    },
    async renew (name, owner, ttlMs) {
      const res = await locks.updateOne({ _id: name, owner }, { $set: { expiresAt: new Date(now().getTime() + ttlMs) } })
      return res.matchedCount === 1
    },
    async release (name, owner) {
      await locks.deleteOne({ _id: name, owner })
    },
  }
}
