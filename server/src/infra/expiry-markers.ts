// The expiry of documents with an `expiresAt`, purged by the sweeper. Where a query on `expiresAt` reads the whole
// collection (FerretDB), each document gets a marker `~exp|<expiresAt ISO>|<document id>` in a collection of its own:
// what expired by a time is then an `_id` range of markers, so a purge costs what expired, not what is stored.
// Elsewhere (MongoDB, whose index serves the query) nothing else is stored and the purge is that query.
import type { Collection, Filter } from 'mongodb'
import { insertIgnoringDuplicates } from './db.js'

const MARKER = '~exp|'
const markerOf = (id: string, expiresAt: Date): { _id: string } => ({ _id: `${MARKER}${expiresAt.toISOString()}|${id}` })
// the document id follows the prefix, the 24 characters of the ISO time and a `|`
const idOfMarker = (marker: string): string => marker.slice(MARKER.length + 25)
/** Markers read (and documents purged) per command. */
const PURGE_PAGE = 1000
/** Set once the documents stored before markers existed were purged by a query (so that query never runs again). */
const LEGACY_DONE = '~legacy-purged'

export interface Expiry {
  /** Records that document `id` expires at `expiresAt` (nothing without markers; repeating it is harmless). */
  mark(id: string, expiresAt: Date): Promise<void>
  /**
   * Removes the documents that expired before `t` and returns how many. With markers, by pages of markers before `t`,
   * deleting only documents whose current `expiresAt` is before `t` (one given a later life since keeps it: its
   * later marker comes later); the documents stored before markers existed are removed once by the query.
   */
  purge(t: Date): Promise<number>
}

export function createExpiry<T extends { _id: string; expiresAt: Date }> (col: Collection<T>, markers?: Collection<{ _id: string }>): Expiry {
  const expiredBy = (t: Date, ids?: string[]): Filter<T> => ({ ...(ids !== undefined ? { _id: { $in: ids } } : {}), expiresAt: { $lt: t } }) as Filter<T>
  const byQuery = async (t: Date, ids?: string[]): Promise<number> => (await col.deleteMany(expiredBy(t, ids))).deletedCount
  return {
    async mark (id, expiresAt) {
      if (markers !== undefined) await insertIgnoringDuplicates(markers, [markerOf(id, expiresAt)])
    },
    async purge (t) {
      if (markers === undefined) return await byQuery(t)
      let purged = 0
      if (await markers.findOne({ _id: LEGACY_DONE }) === null) {
        purged += await byQuery(t)
        await insertIgnoringDuplicates(markers, [{ _id: LEGACY_DONE }])
      }
      for (;;) {
        const page = await markers.find({ _id: { $gte: MARKER, $lt: `${MARKER}${t.toISOString()}` } }).sort({ _id: 1 }).limit(PURGE_PAGE).project<{ _id: string }>({ _id: 1 }).toArray()
        if (page.length === 0) return purged
        // by `_id` list, with the expiry condition
        purged += await byQuery(t, page.map((m) => idOfMarker(m._id)))
        await markers.deleteMany({ _id: { $in: page.map((m) => m._id) } })
        if (page.length < PURGE_PAGE) return purged
      }
    },
  }
}
