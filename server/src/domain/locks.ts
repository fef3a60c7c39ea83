import type { Collection } from 'mongodb'
import type { LockDoc } from './types.js'
import { randomUUID } from 'node:crypto'
import { duplicateWriteErrors, findByIds, idLists, isDuplicateKey, isTransient } from '../infra/db.js'

/** Named leases in the `locks` collection: exclusive, expiring, renewable, released only by their owner. */
export interface LockService {
  /** Takes the lock if it is free or expired; false when another owner holds it. */
  acquire(name: string, owner: string, ttlMs: number): Promise<boolean>
  /** Extends the lease; false when the lock was lost (expired and taken by someone else). */
  renew(name: string, owner: string, ttlMs: number): Promise<boolean>
  release(name: string, owner: string): Promise<void>
  /**
   * Takes many locks for one owner: a lookup of their `_id`s and one insert of the free ones; the few that exist
   * (held, or expired and to be taken over) go through `acquire`. Returns the names taken.
   */
  acquireMany(names: readonly string[], owner: string, ttlMs: number): Promise<Set<string>>
  /** Extends the leases of many locks of one owner; returns the names still held. */
  renewMany(names: readonly string[], owner: string, ttlMs: number): Promise<Set<string>>
  releaseMany(names: readonly string[], owner: string): Promise<void>
  /**
   * Removes what expired before `before`: takeover markers by when they were taken, and abandoned leases by taking
   * each over and releasing it (a plain delete could remove a lease taken over a moment earlier). Returns how many.
   */
  purgeExpired(before: Date, limit?: number): Promise<number>
  /** Takes the lock and keeps renewing it (every third of `ttlMs`) until released; null when someone else holds it. */
  hold(name: string, owner: string, ttlMs: number, opts?: HoldOptions): Promise<Lease | null>
  /** Keeps renewing a lock this owner already took (in another call, or another process): a lease from now on. */
  keep(name: string, owner: string, ttlMs: number, opts?: HoldOptions): Lease
  /** Runs `fn` holding the lock (renewed while it runs); `{ ran: false }` without running it when the lock is held. */
  withLock<T>(name: string, fn: (lease: Lease) => Promise<T>, opts: { ttlMs: number; owner?: string }): Promise<{ ran: true; value: T } | { ran: false }>
  /**
   * Holds the first free one of `count` numbered locks `<prefix>:0` … `<prefix>:<count-1>` for as long as the
   * process lives (renewed, never released: a stopped process's slot frees when its lease runs out). Its number,
   * or null when every slot is held.
   */
  claimSlot(prefix: string, count: number, owner: string, ttlMs: number): Promise<number | null>
}

export interface HoldOptions {
  /** Called once when a renewal finds the lock no longer this owner's (expired and taken, or purged). */
  onLost?: (name: string) => void
  /** Whether the renewal timer keeps the process alive (default false). */
  ref?: boolean
}

/** A held lock that renews itself. */
export interface Lease {
  readonly name: string
  readonly owner: string
  /** true once a renewal found the lock gone: the holder no longer excludes anyone. */
  readonly lost: boolean
  /** Stops renewing and gives the lock back (at most once; later calls return the same promise). */
  release(): Promise<void>
  /** Stops renewing without giving the lock back (it expires, or another call releases it). */
  stop(): void
}

/**
 * How long a takeover marker protects its winner, at least. The winner's update can be slow to land (a busy
 * database, a paused process): clearing its marker earlier would let a second claimer take over the same lease, and
 * on FerretDB both conditional updates would match, giving the lock two holders. Only a winner that stopped between
 * its marker and its update leaves a marker this old, and then the lock waits this long before it can be taken.
 */
export const TAKEOVER_GUARD_MS = 60_000
const TAKEOVER_PREFIX = '~takeover:'

export function createLockService (locks: Collection<LockDoc>, now: () => Date): LockService {
  const service: LockService = {
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
        const markerId = `${TAKEOVER_PREFIX}${name}:${cur.owner}:${cur.expiresAt.getTime()}`
        try {
          // the marker's expiry is when it was taken: purgeExpired keeps it for an hour after that
          await locks.insertOne({ _id: markerId, owner, expiresAt: t, acquiredAt: t })
        } catch (err) {
          if (!isDuplicateKey(err)) throw err
          // Someone won this takeover. If it never completed (that claimer stopped between its marker and its
          // update), the marker would block the lock for good: once it is older than the guard (and than two leases),
          // it is cleared so the next attempt can take over.
          const m = await locks.findOne({ _id: markerId })
          if (m !== null && t.getTime() - m.acquiredAt.getTime() > Math.max(TAKEOVER_GUARD_MS, 2 * ttlMs)) await locks.deleteOne({ _id: markerId, owner: m.owner })
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
    async acquireMany (names, owner, ttlMs) {
      const taken = new Set<string>()
      if (names.length === 0) return taken
      const existing = new Set((await findByIds<LockDoc, { _id: string }>(locks, names, { _id: 1 })).map((d) => d._id))
      const t = now()
      const free = names.filter((n) => !existing.has(n))
      if (free.length > 0) {
        const docs = free.map((n) => ({ _id: n, owner, expiresAt: new Date(t.getTime() + ttlMs), acquiredAt: t }))
        try {
          await locks.insertMany(docs, { ordered: false })
          for (const n of free) taken.add(n)
        } catch (err) {
          const refused = duplicateWriteErrors(err)
          if (refused === null && !isTransient(err)) throw err
          // a lock taken meanwhile by someone else, or an insert that may have partly landed: look at each one
          free.forEach((n, i) => { if (refused !== null && !refused.has(i)) taken.add(n); else existing.add(n) })
        }
      }
      for (const n of names) if (existing.has(n) && await service.acquire(n, owner, ttlMs)) taken.add(n)
      return taken
    },
    async renewMany (names, owner, ttlMs) {
      if (names.length === 0) return new Set()
      const expiresAt = new Date(now().getTime() + ttlMs)
      for (const part of idLists(names)) await locks.updateMany({ _id: { $in: part }, owner }, { $set: { expiresAt } })
      // what matched is not said per document: read which of them this owner still holds
      return new Set((await findByIds<LockDoc, { _id: string; owner: string }>(locks, names, { owner: 1 })).filter((d) => d.owner === owner).map((d) => d._id))
    },
    async releaseMany (names, owner) {
      for (const part of idLists(names)) await locks.deleteMany({ _id: { $in: part }, owner })
    },
    async purgeExpired (before, limit = 1000) {
      // takeover markers are records of decisions long made: deleting them races with nothing. Revision claims
      // (`commit:`) are the scoring processor's, which purges them itself (a claim is kept until its batch is finished)
      const records = await locks.deleteMany({ _id: { $regex: /^~takeover:/ }, expiresAt: { $lt: before } })
      let n = records.deletedCount
      const old = await locks.find({ expiresAt: { $lt: before } }).project<{ _id: string }>({ _id: 1 }).limit(limit).toArray()
      const token = `purge:${randomUUID()}`
      for (const d of old) {
        if (d._id.startsWith(TAKEOVER_PREFIX) || d._id.startsWith('commit:')) continue
        if (await service.acquire(d._id, token, 60_000)) { await service.release(d._id, token); n++ }
      }
      return n
    },
    async hold (name, owner, ttlMs, opts) {
      if (!await service.acquire(name, owner, ttlMs)) return null
      return service.keep(name, owner, ttlMs, opts)
    },
    keep (name, owner, ttlMs, opts = {}) {
      let lost = false
      let released: Promise<void> | null = null
      const timer = setInterval(() => {
        service.renew(name, owner, ttlMs).then((ok) => {
          if (ok || lost || released !== null) return
          lost = true
          clearInterval(timer)
          opts.onLost?.(name)
        }, () => undefined) // a failed renewal is retried at the next tick; the lease outlives two of them
      }, Math.max(100, Math.floor(ttlMs / 3)))
      if (opts.ref !== true) timer.unref()
      return {
        name, owner,
        get lost () { return lost },
        release: async () => {
          clearInterval(timer)
          released ??= service.release(name, owner)
          await released
        },
        stop: () => { clearInterval(timer) },
      }
    },
    async withLock (name, fn, opts) {
      const lease = await service.hold(name, opts.owner ?? `${name}:${randomUUID()}`, opts.ttlMs)
      if (lease === null) return { ran: false }
      try {
        return { ran: true, value: await fn(lease) }
      } finally {
        await lease.release()
      }
    },
    async claimSlot (prefix, count, owner, ttlMs) {
      for (let k = 0; k < count; k++) if (await service.hold(`${prefix}:${k}`, owner, ttlMs) !== null) return k
      return null
    },
  }
  return service
}
