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
        const markerId = `~takeover:${name}:${cur.owner}:${cur.expiresAt.getTime()}`
        try {
          await locks.insertOne({ _id: markerId, owner, expiresAt: cur.expiresAt, acquiredAt: t })
        } catch (err) {
          if (!isDuplicateKey(err)) throw err
          // Someone won this takeover. If it never completed (that claimer failed between its marker and its
          // update), the marker would block the lock for good: after a lease's length, the marker is cleared so
          // the next attempt can take over.
          const m = await locks.findOne({ _id: markerId })
          if (m !== null && t.getTime() - m.acquiredAt.getTime() > ttlMs) await locks.deleteOne({ _id: markerId, owner: m.owner })
          return false
        }
        try {
          return await takeOver(cur)
        } catch (err) {
          await locks.deleteOne({ _id: markerId, owner }).catch(() => undefined)
          throw err
        }
      }
      return await takeOver(cur)

      async function takeOver (c: LockDoc): Promise<boolean> {
        const res = await locks.updateOne({ _id: name, owner: c.owner, expiresAt: c.expiresAt }, { $set: lease })
        if (res.matchedCount === 1) return true
        // a retried update whose first attempt did apply matches nothing the second time: look before giving up
        const after = await locks.findOne({ _id: name })
        return after !== null && after.owner === owner && after.acquiredAt.getTime() === t.getTime()
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
