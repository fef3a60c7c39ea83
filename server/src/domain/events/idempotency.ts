import type { Collection } from 'mongodb'
import type { IdempotencyDoc } from '../types.js'
import { isDuplicateKey } from '../../infra/db.js'
import { createExpiry } from '../../infra/expiry-markers.js'
import { LS_ERR_IDEMPOTENCY_IN_FLIGHT, LS_ERR_IDEMPOTENCY_KEY_REUSED } from '../../errors.js'

/** A stored response to replay, or a claim the caller must complete. */
export type Claim = { kind: 'replay'; statusCode: number; body: string } | { kind: 'claimed'; id: string }

// a claim whose request never finished (crashed process) is taken over after this long
const ABANDONED_MS = 60_000

/**
 * `Idempotency-Key` handling: the first request with a key claims it; a later one with the same key and body gets
 * the stored response; the same key with another body is refused (422); a concurrent one while the first is still
 * running is refused (409). Keys live for `ttlMs` and are purged by the sweeper (no reliance on TTL indexes): by
 * query, or with `expiry` by `_id` ranges of expiry markers.
 */
export function createIdempotencyService (col: Collection<IdempotencyDoc>, now: () => Date, ttlMs: number, opts: { expiry?: Collection<{ _id: string }> } = {}) {
  // where a query on `expiresAt` reads every key (FerretDB), each key has an expiry marker (infra/expiry-markers.ts)
  const expiry = createExpiry(col, opts.expiry)

  return {
    async claim (scope: string, key: string, bodyHash: string): Promise<Claim> {
      const id = `${scope}:${key}`
      const t = now()
      const expiresAt = new Date(t.getTime() + ttlMs)
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          await col.insertOne({ _id: id, bodyHash, state: 'in_flight', statusCode: null, response: null, createdAt: t, expiresAt })
          // after the key (a key already taken has its marker); a marker without its key is purged like any other
          await expiry.mark(id, expiresAt)
          return { kind: 'claimed', id }
        } catch (err) {
          if (!isDuplicateKey(err)) throw err
        }
        const doc = await col.findOne({ _id: id })
        if (doc === null) continue
        const expired = doc.expiresAt.getTime() <= t.getTime()
        const abandoned = doc.state === 'in_flight' && t.getTime() - doc.createdAt.getTime() > ABANDONED_MS
        if (expired || abandoned) {
          // take the key over atomically: only one caller's compare-and-set on the old document can win
          const res = await col.updateOne({ _id: id, createdAt: doc.createdAt, state: doc.state },
            { $set: { bodyHash, state: 'in_flight', statusCode: null, response: null, createdAt: t, expiresAt } })
          if (res.modifiedCount === 1) {
            await expiry.mark(id, expiresAt)
            return { kind: 'claimed', id }
          }
          continue
        }
        if (doc.bodyHash !== bodyHash) throw new LS_ERR_IDEMPOTENCY_KEY_REUSED()
        if (doc.state === 'in_flight') throw new LS_ERR_IDEMPOTENCY_IN_FLIGHT()
        return { kind: 'replay', statusCode: doc.statusCode ?? 200, body: doc.response ?? '' }
      }
      throw new LS_ERR_IDEMPOTENCY_IN_FLIGHT()
    },
    async complete (id: string, statusCode: number, body: string): Promise<void> {
      await col.updateOne({ _id: id }, { $set: { state: 'done', statusCode, response: body } })
    },
    /** Releases a claim whose request failed, so a retry can run. */
    async abandon (id: string): Promise<void> {
      await col.deleteOne({ _id: id, state: 'in_flight' })
    },
    /**
     * Removes the expired keys. With markers, by `_id` ranges (the cost follows what expired, not what is stored);
     * the keys stored before markers existed are removed once by a query, the first time.
     */
    async purgeExpired (): Promise<number> {
      // a key taken over since it expired has a later `expiresAt` (and marker), so it stays
      return await expiry.purge(now())
    },
  }
}

export type IdempotencyService = ReturnType<typeof createIdempotencyService>
