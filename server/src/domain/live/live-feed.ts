import type { Collection } from 'mongodb'
import type { LiveDoc } from '../types.js'
import { isDuplicateKey } from '../../infra/db.js'

/** A message as delivered to WebSocket clients. */
export interface LiveMessage { seq: number; type: string; topics: string[]; data: Record<string, unknown>; at: string }

/**
 * A shared, ordered feed of live messages in the `liveFeed` collection. Every server process appends to it and polls
 * it, so a client connected to any process sees updates produced by every worker, and a reconnecting client can ask
 * for everything after the last seq it saw. Seqs are claimed by the unique `_id`: a writer only takes max+1, so a
 * message never becomes visible after a higher one (readers can advance their cursor without waiting for gaps).
 */
export function createLiveFeed (col: Collection<LiveDoc>, now: () => Date) {
  let hint = 0
  async function top (): Promise<number> {
    const d = await col.find({}).sort({ _id: -1 }).limit(1).project<{ _id: number }>({ _id: 1 }).next()
    return d?._id ?? 0
  }
  return {
    async append (type: string, topics: string[], payload: Record<string, unknown>): Promise<number> {
      let seq = hint + 1
      for (let attempt = 0; attempt < 100; attempt++) {
        try {
          await col.insertOne({ _id: seq, type, topics, payload, at: now() })
          hint = seq
          return seq
        } catch (err) {
          if (!isDuplicateKey(err)) throw err
          seq = (await top()) + 1
        }
      }
      throw new Error('could not append to the live feed')
    },
    /** Messages after `since`, oldest first. */
    async after (since: number, limit: number): Promise<LiveMessage[]> {
      const docs = await col.find({ _id: { $gt: since } }).sort({ _id: 1 }).limit(limit).toArray()
      if (docs.length > 0) hint = Math.max(hint, docs[docs.length - 1]!._id)
      return docs.map((d) => ({ seq: d._id, type: d.type, topics: d.topics, data: d.payload, at: d.at.toISOString() }))
    },
    top,
    /** Oldest seq still stored (0 when empty); a client asking for less than this has missed messages for good. */
    async oldest (): Promise<number> {
      const d = await col.find({}).sort({ _id: 1 }).limit(1).project<{ _id: number }>({ _id: 1 }).next()
      return d?._id ?? 0
    },
    async purgeBefore (t: Date): Promise<number> {
      return (await col.deleteMany({ at: { $lt: t } })).deletedCount
    },
  }
}

export type LiveFeed = ReturnType<typeof createLiveFeed>
