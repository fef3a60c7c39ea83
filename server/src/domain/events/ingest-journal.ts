// The ingest journal: what a storing request intends to store, written before its events and removed once their
// leads are queued for scoring. A process that dies between storing events and queueing their leads leaves its entry
// behind, and the sweeper queues those leads when the entry is old enough (`orphans`). Entries are keyed by time, so
// finding the old ones is one `_id` range read, whatever the number of stored events (the query it replaces, events
// still pending after 30 s, read every event on FerretDB).
import type { Collection } from 'mongodb'
import { idLists } from '../../infra/db.js'
import { newId } from '../../lib/ids.js'
import { sortableNumber } from '../lead-views/keys.js'

/** How long a closed entry waits for others to be removed with (well under the sweeper's 30 s). */
const REMOVE_EVERY_MS = 100

export interface JournalDoc { _id: string; leads: string[]; at: Date }

export function createIngestJournal (deps: { col: Collection<JournalDoc>; now: () => Date }) {
  const { col, now } = deps
  // Closed entries are removed together, at most one removal per REMOVE_EVERY_MS: a removal per request was a tenth
  // of single-event ingest's database time. An entry whose removal fails or never runs (the process stops) is an
  // orphan: the sweeper queues its leads again after 30 s and finds them scored.
  let closing = new Set<string>()
  let timer: NodeJS.Timeout | null = null
  function removeClosed (): void {
    timer = null
    const ids = [...closing]
    closing = new Set()
    void (async () => { for (const part of idLists(ids)) await col.deleteMany({ _id: { $in: part } }) })().catch(() => undefined)
  }
  return {
    /** Records that events of these leads are about to be stored; returns the entry to close once they are queued. */
    async open (leads: readonly string[]): Promise<string> {
      const at = now()
      const _id = `${sortableNumber(at.getTime())}|${newId('ij')}`
      await col.insertOne({ _id, leads: [...leads], at })
      return _id
    },

    /** Marks an entry's leads as queued: the entry is removed with the others closed meanwhile (not awaited). */
    close (id: string): void {
      closing.add(id)
      if (timer === null) {
        timer = setTimeout(removeClosed, REMOVE_EVERY_MS)
        timer.unref()
      }
    },

    /** Entries older than `ageMs` (at most `limit`): their requests ended without queueing their leads. */
    async orphans (ageMs: number, limit = 1000): Promise<JournalDoc[]> {
      const to = `${sortableNumber(now().getTime() - ageMs)}}`
      return await col.find({ _id: { $gte: '', $lt: to } }).sort({ _id: 1 }).limit(limit).toArray()
    },

    async remove (ids: readonly string[]): Promise<void> {
      for (const part of idLists(ids)) await col.deleteMany({ _id: { $in: part } })
    },
  }
}

export type IngestJournal = ReturnType<typeof createIngestJournal>
