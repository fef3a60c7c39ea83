import type { Collection } from 'mongodb'
import type { ItemResult } from '../domain/events/ingest.js'
import type { SourceErrorInfo, SourcePollInfo, SourceRecentError, SourceStatsDoc } from '../domain/types.js'

/** How many recent problems each process keeps per source (and a read returns). */
export const RECENT_ERRORS = 50

/** Counters of one source, summed over every server process. */
export interface SourceStats {
  deliveries: number
  rejectedDeliveries: number
  accepted: number
  duplicates: number
  rejected: number
  lastDeliveryAt: Date | null
  lastEventAt: Date | null
  lastError: SourceErrorInfo | null
  lastPoll: SourcePollInfo | null
  /** The most recent problems over every process, newest first (at most {@link RECENT_ERRORS}). */
  recent: SourceRecentError[]
}

export interface StatsDelta {
  deliveries?: number
  rejectedDeliveries?: number
  accepted?: number
  duplicates?: number
  rejected?: number
  at: Date
  lastError?: SourceErrorInfo
  lastPoll?: SourcePollInfo
  /** Problems to add to the recent list. */
  recent?: readonly SourceRecentError[]
}

/** The rejected events of a submission, as recent problems of their source. */
export function rejectedEvents (results: readonly ItemResult[], at: Date, requestId: string): SourceRecentError[] {
  return results.flatMap((r) => r.status === 'rejected' && r.error !== undefined
    ? [{ at, kind: 'event' as const, code: r.error.code, message: r.error.message, requestId, index: r.index }]
    : [])
}

/** A failed poll, as a recent problem of its source. */
export const pollError = (e: SourceErrorInfo): SourceRecentError => ({ at: e.at, kind: 'poll', code: e.code, message: e.message, requestId: null, index: null })

const newestFirst = (a: SourceRecentError, b: SourceRecentError): number => b.at.getTime() - a.at.getTime()

const later = <T extends { at: Date }>(a: T | null, b: T | null): T | null => a === null ? b : b === null ? a : b.at.getTime() >= a.at.getTime() ? b : a
const maxDate = (a: Date | null, b: Date | null): Date | null => a === null ? b : b === null ? a : b.getTime() > a.getTime() ? b : a

/**
 * Per-source delivery counters. Each process keeps its own totals in memory and writes them, whole, to its own
 * document (`<sourceId>|<processId>`): a single writer per document, so nothing is lost to concurrent updates
 * (FerretDB applies concurrent `$inc`s to one document non-atomically). Reads add up every process's document,
 * with this process's live totals in place of its stored ones. Writes are batched (at most one per interval) and
 * flushed on close; a crash loses at most that interval of counts, never events.
 */
export function createSourceStats (col: Collection<SourceStatsDoc>, processId: string, now: () => Date, flushEveryMs = 250) {
  const mine = new Map<string, SourceStatsDoc>()
  const dirty = new Set<string>()
  let timer: NodeJS.Timeout | null = null
  let flushing: Promise<void> = Promise.resolve()

  const blank = (sourceId: string): SourceStatsDoc => ({
    _id: `${sourceId}|${processId}`, sourceId, process: processId, deliveries: 0, rejectedDeliveries: 0, accepted: 0, duplicates: 0, rejected: 0,
    lastDeliveryAt: null, lastEventAt: null, lastError: null, lastPoll: null, recent: [], updatedAt: now(),
  })

  async function load (sourceId: string): Promise<SourceStatsDoc> {
    let d = mine.get(sourceId)
    if (d === undefined) {
      // this process's document survives a restart only under the same process id; start from it when present
      d = (await col.findOne({ _id: `${sourceId}|${processId}` })) ?? blank(sourceId)
      const raced = mine.get(sourceId)
      if (raced !== undefined) return raced
      mine.set(sourceId, d)
    }
    return d
  }

  async function flush (): Promise<void> {
    const ids = [...dirty]
    dirty.clear()
    for (const id of ids) {
      const d = mine.get(id)
      if (d === undefined) continue
      d.updatedAt = now()
      try {
        await col.replaceOne({ _id: d._id }, d, { upsert: true })
      } catch (err) {
        dirty.add(id)
        throw err
      }
    }
  }

  function schedule (): void {
    if (timer !== null) return
    timer = setTimeout(() => {
      timer = null
      flushing = flushing.then(flush).catch(() => { schedule() })
    }, flushEveryMs)
    timer.unref()
  }

  return {
    /** Adds to a source's counters. */
    async record (sourceId: string, delta: StatsDelta): Promise<void> {
      const d = await load(sourceId)
      d.deliveries += delta.deliveries ?? 0
      d.rejectedDeliveries += delta.rejectedDeliveries ?? 0
      d.accepted += delta.accepted ?? 0
      d.duplicates += delta.duplicates ?? 0
      d.rejected += delta.rejected ?? 0
      if ((delta.deliveries ?? 0) > 0) d.lastDeliveryAt = maxDate(d.lastDeliveryAt, delta.at)
      if ((delta.accepted ?? 0) > 0) d.lastEventAt = maxDate(d.lastEventAt, delta.at)
      if (delta.lastError !== undefined) d.lastError = later(d.lastError, delta.lastError)
      if (delta.lastPoll !== undefined) d.lastPoll = later(d.lastPoll, delta.lastPoll)
      if (delta.recent !== undefined && delta.recent.length > 0) {
        d.recent = [...delta.recent.slice(-RECENT_ERRORS), ...(d.recent ?? [])].sort(newestFirst).slice(0, RECENT_ERRORS)
      }
      dirty.add(sourceId)
      schedule()
    },

    /** The totals of a source over every process. */
    async get (sourceId: string): Promise<SourceStats> {
      const docs = await col.find({ sourceId }).toArray()
      const own = mine.get(sourceId)
      const all = own === undefined ? docs : [...docs.filter((d) => d._id !== own._id), own]
      const s: SourceStats = { deliveries: 0, rejectedDeliveries: 0, accepted: 0, duplicates: 0, rejected: 0, lastDeliveryAt: null, lastEventAt: null, lastError: null, lastPoll: null, recent: [] }
      for (const d of all) {
        s.deliveries += d.deliveries
        s.rejectedDeliveries += d.rejectedDeliveries
        s.accepted += d.accepted
        s.duplicates += d.duplicates
        s.rejected += d.rejected
        s.lastDeliveryAt = maxDate(s.lastDeliveryAt, d.lastDeliveryAt ?? null)
        s.lastEventAt = maxDate(s.lastEventAt, d.lastEventAt ?? null)
        s.lastError = later(s.lastError, d.lastError ?? null)
        s.lastPoll = later(s.lastPoll, d.lastPoll ?? null)
        if (d.recent != null) s.recent.push(...d.recent)
      }
      s.recent = s.recent.sort(newestFirst).slice(0, RECENT_ERRORS)
      return s
    },

    /** Rewrites the messages this process holds (an erased lead's identity); marked for the next write. */
    redact (rewrite: (s: string) => string): void {
      for (const [id, d] of mine) {
        const before = JSON.stringify([d.recent, d.lastError, d.lastPoll])
        d.recent = (d.recent ?? []).map((r) => ({ ...r, message: rewrite(r.message) }))
        if (d.lastError !== null) d.lastError = { ...d.lastError, message: rewrite(d.lastError.message) }
        if (d.lastPoll !== null && d.lastPoll.error !== null) d.lastPoll = { ...d.lastPoll, error: { ...d.lastPoll.error, message: rewrite(d.lastPoll.error.message) } }
        if (JSON.stringify([d.recent, d.lastError, d.lastPoll]) !== before) { dirty.add(id); schedule() }
      }
    },

    /** Forgets a deleted source (its documents are removed by the instance service). */
    forget (sourceId: string): void {
      mine.delete(sourceId)
      dirty.delete(sourceId)
    },

    /** Writes every pending change now. */
    async flush (): Promise<void> {
      if (timer !== null) { clearTimeout(timer); timer = null }
      await flushing.catch(() => undefined)
      await flush()
    },
  }
}

export type SourceStatsService = ReturnType<typeof createSourceStats>
