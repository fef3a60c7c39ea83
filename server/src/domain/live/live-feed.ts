import { Binary, type Collection } from 'mongodb'
import type { LiveDoc } from '../types.js'
import { isDuplicateKey } from '../../infra/db.js'
import { pack, unpack } from '../../infra/packed.js'

/** A message as delivered to WebSocket clients. */
export interface LiveMessage { seq: number; type: string; topics: string[]; data: Record<string, unknown>; at: string }

/**
 * A stored message's payload. Payloads are stored packed in one BSON binary value: a scored lead's message carries
 * its score parts and ledger entries, nested values the embedded database would store with a type schema for every
 * field, and a message per scored lead made that an eighth of the time of scoring new leads. Messages stored before
 * hold a plain object, and erasure blanks a message with one.
 */
export function payloadOf (doc: Pick<LiveDoc, 'payload'>): Record<string, unknown> {
  return doc.payload instanceof Binary ? unpack(doc.payload) : doc.payload
}

/** Ids looked up per query when the database answers `_id: { $in }` from its index. */
const WINDOW = 500

/**
 * A shared, ordered feed of live messages in the `liveFeed` collection. Every server process appends to it and polls
 * it, so a client connected to any process sees updates produced by every worker, and a reconnecting client can ask
 * for everything after the last seq it saw. Seqs are claimed by the unique `_id`: a writer only takes max+1, so a
 * message never becomes visible after a higher one (readers can advance their cursor without waiting for gaps), and
 * the seqs have no gaps above the oldest kept message.
 *
 * A process appends one batch at a time: the messages that arrive while a batch is written form the next one, stored
 * with consecutive seqs in one ordered insert (concurrent appends of one process never clash with each other).
 * When the database answers `_id: { $in }` from its index (`idIn`), the newest seq and the messages after a seq are
 * found by looking up windows of ids (seqs are gapless), not by a sorted query that FerretDB answers by reading the
 * whole collection.
 */
export function createLiveFeed (col: Collection<LiveDoc>, now: () => Date, opts: { idIn?: boolean } = {}) {
  const idIn = opts.idIn === true
  /** The highest seq this process knows to be taken (0: unknown). */
  let hint = 0
  const window = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i)

  /** The highest (-1) or lowest (1) seq stored, by a sorted read (0 when empty). */
  async function scanEdge (dir: 1 | -1): Promise<number> {
    const d = await col.find({}).sort({ _id: dir }).limit(1).project<{ _id: number }>({ _id: 1 }).next()
    return d?._id ?? 0
  }

  async function top (): Promise<number> {
    if (!idIn || hint === 0) {
      hint = Math.max(hint, await scanEdge(-1))
      return hint
    }
    // gapless above the hint: look up windows of ids until one is not full
    let known = hint
    for (let i = 0; i < 8; i++) {
      const found = await col.find({ _id: { $in: window(known + 1, WINDOW) } }).project<{ _id: number }>({ _id: 1 }).toArray()
      if (found.length === 0) break
      known = Math.max(...found.map((d) => d._id))
      if (found.length < WINDOW) break
      if (i === 7) known = await scanEdge(-1) // far behind: one full read instead of many windows
    }
    hint = Math.max(hint, known)
    return hint
  }

  /** When the message with this seq was stored, or null when it is not (a lookup by `_id`). */
  async function storedAt (seq: number): Promise<Date | null> {
    return (await col.findOne({ _id: seq }, { projection: { at: 1 } }))?.at ?? null
  }

  /** The messages from seq `first` on, at most `n` of them, oldest first (a window of ids). */
  async function windowFrom (first: number, n: number): Promise<LiveDoc[]> {
    return (await col.find({ _id: { $in: window(first, n) } }).toArray()).sort((a, b) => a._id - b._id)
  }

  /**
   * Oldest seq still stored (0 when empty). Seqs are gapless from it to the top (purges take the oldest first), so
   * where `_id` lists are answered from the index it is found by halving [1, top] with lookups by `_id`: about 25 of
   * them for 30 million messages, where a sorted read went through the whole feed on FerretDB.
   */
  async function oldest (): Promise<number> {
    if (!idIn) return await scanEdge(1)
    const hi = await top()
    if (hi === 0 || await storedAt(hi) === null) return await scanEdge(1)
    let lo = 1
    let first = hi
    while (lo < first) {
      const mid = Math.floor((lo + first) / 2)
      if (await storedAt(mid) !== null) first = mid
      else lo = mid + 1
    }
    return first
  }

  /**
   * Removes the messages stored before `t`, oldest first, at most `max` of them (a purge runs again at the next
   * sweep). Where `_id` lists are answered from the index, the first message to keep is found by halving the seqs
   * between the oldest and the top with lookups by `_id` (the times follow the seqs), and the older ones are removed
   * by `_id` lists; elsewhere by a query on the time, which the `at` index serves.
   */
  async function purgeBefore (t: Date, max = 200_000): Promise<number> {
    if (!idIn) return (await col.deleteMany({ at: { $lt: t } })).deletedCount
    const first = await oldest()
    if (first === 0) return 0
    // the first seq stored at or after t (or one past the top): everything before it goes
    let lo = first
    let keep = (await top()) + 1
    while (lo < keep) {
      const mid = Math.floor((lo + keep) / 2)
      const at = await storedAt(mid)
      if (at === null || at >= t) keep = mid
      else lo = mid + 1
    }
    const until = Math.min(keep, first + max)
    let removed = 0
    for (let from = first; from < until; from += 1000) {
      removed += (await col.deleteMany({ _id: { $in: window(from, Math.min(1000, until - from)) } })).deletedCount
    }
    return removed
  }

  type Pending = { type: string; topics: string[]; payload: Record<string, unknown>; done: (r: number | Error) => void }
  const queue: Pending[] = []
  /** Told when this process stored messages, so its own readers need not wait for their next poll. */
  const storedListeners: Array<() => void> = []
  let writing = false

  async function write (batch: Pending[]): Promise<void> {
    let seq = hint > 0 ? hint + 1 : (await top()) + 1
    let stored = 0
    for (let attempt = 0; attempt < 100 && stored < batch.length; attempt++) {
      const rest = batch.slice(stored)
      const at = now()
      const docs = rest.map((m, i) => ({ _id: seq + i, type: m.type, topics: m.topics, payload: pack(m.payload), at }))
      try {
        await col.insertMany(docs, { ordered: true })
        stored += docs.length
        hint = seq + docs.length - 1
        rest.forEach((m, i) => { m.done(seq + i) })
        for (const l of storedListeners) l()
        return
      } catch (err) {
        if (!isDuplicateKey(err)) throw err
        // another process took a seq: the ones before the clash are stored (ordered), the rest go after the top
        const inserted = (err as { insertedCount?: number; result?: { insertedCount?: number } }).insertedCount ?? (err as { result?: { insertedCount?: number } }).result?.insertedCount ?? 0
        for (let i = 0; i < inserted; i++) rest[i]!.done(seq + i)
        stored += inserted
        if (inserted > 0) hint = Math.max(hint, seq + inserted - 1)
        seq = (await top()) + 1
      }
    }
    if (stored < batch.length) throw new Error('could not append to the live feed')
  }

  function drain (): void {
    if (writing || queue.length === 0) return
    writing = true
    const batch = queue.splice(0, 500)
    write(batch)
      .catch((err: unknown) => {
        hint = 0 // where the feed ends is unknown now: read it again
        for (const m of batch) m.done(err instanceof Error ? err : new Error(String(err)))
      })
      .finally(() => { writing = false; drain() })
  }

  return {
    /** Appends a message; resolves with its seq once it is stored. */
    async append (type: string, topics: string[], payload: Record<string, unknown>): Promise<number> {
      const r = await new Promise<number | Error>((resolve) => {
        queue.push({ type, topics, payload, done: resolve })
        drain()
      })
      if (r instanceof Error) throw r
      return r
    },
    /** Messages after `since`, oldest first. */
    async after (since: number, limit: number): Promise<LiveMessage[]> {
      let docs: LiveDoc[]
      if (idIn && since > 0) {
        // what this process knew to be stored before the lookup: a message stored while the lookup runs may be missed
        // by it, and that alone must not look like a purge (it did under a steady stream, and the read below then went
        // through the whole feed at every poll, holding live messages back by up to a second)
        const known = hint
        docs = await windowFrom(since + 1, Math.min(limit, WINDOW))
        // nothing in the window although later messages were stored before it was read: the seq asked for was purged,
        // and the feed now starts further on
        if (docs.length === 0 && since < known) {
          const first = await oldest()
          if (first > since + 1) docs = await windowFrom(first, Math.min(limit, WINDOW))
        }
      } else {
        docs = await col.find({ _id: { $gt: since } }).sort({ _id: 1 }).limit(limit).toArray()
      }
      if (docs.length > 0) hint = Math.max(hint, docs[docs.length - 1]!._id)
      return docs.map((d) => ({ seq: d._id, type: d.type, topics: d.topics, data: payloadOf(d), at: d.at.toISOString() }))
    },
    top,
    /** Calls `listener` after each batch of messages this process stores. */
    onStored (listener: () => void): void { storedListeners.push(listener) },
    /** Oldest seq still stored (0 when empty); a client asking for less than this has missed messages for good. */
    oldest,
    purgeBefore,
  }
}

export type LiveFeed = ReturnType<typeof createLiveFeed>
