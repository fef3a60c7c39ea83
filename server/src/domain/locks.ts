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
      const lease = { owner, expiresAt: new Date(t.getTime() + ttlMs), acquiredAt: t }
      // A free lock: an insert on the unique _id is atomic on every MongoDB-protocol server.
      try {
        await locks.insertOne({ _id: name, ...lease })
        return true
      } catch (err) {
        if (!isDuplicateKey(err)) throw err
      }
      const cur = await locks.findOne({ _id: name })
      if (cur === null) return false // released a moment ago; the caller comes back later
      if (cur.owner !== owner) {
        if (cur.expiresAt.getTime() >= t.getTime()) return false // held by someone else
        // An expired lease. A conditional update is not an atomic read-modify-write on FerretDB (several claimers
        // all "match" the expired document), so the right to take over this particular lease is won by inserting
        // a marker keyed by it: exactly one claimer succeeds. Markers carry the old expiry, so the sweeper's purge
        // of long-expired lock documents removes them.
        try {
          await locks.insertOne({ _id: `~takeover:${name}:${cur.owner}:${cur.expiresAt.getTime()}`, owner, expiresAt: cur.expiresAt, acquiredAt: t })
        } catch (err) {
          if (isDuplicateKey(err)) return false
          throw err
        }
      }
      const res = await locks.updateOne({ _id: name, owner: cur.owner, expiresAt: cur.expiresAt }, { $set: lease })
      return res.matchedCount === 1
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
