// Expiry markers: where a query on an expiry time reads the whole collection (FerretDB), each document that expires
// gets a marker `~exp|<expiresAt ISO>|<document id>` in a collection of its own. What expired by a time is then an
// `_id` range of markers, so a purge costs what expired, not what is stored.
import type { Collection } from 'mongodb'
import { insertIgnoringDuplicates } from './db.js'

const MARKER = '~exp|'
const markerOf = (id: string, expiresAt: Date): { _id: string } => ({ _id: `${MARKER}${expiresAt.toISOString()}|${id}` })
// the document id follows the prefix, the 24 characters of the ISO time and a `|`
const idOfMarker = (marker: string): string => marker.slice(MARKER.length + 25)
/** Markers read (and documents purged) per command. */
const PURGE_PAGE = 1000
/** Set once the documents stored before markers existed were purged by a query (so that query never runs again). */
const LEGACY_DONE = '~legacy-purged'

export interface ExpiryMarkers {
  /** Records that document `id` expires at `expiresAt` (repeating it is harmless; a document may have several). */
  mark(id: string, expiresAt: Date): Promise<void>
  /**
   * Purges what expired before `t`: `remove` gets the ids of each page of markers before `t` and deletes those of
   * its documents that did expire (one given a later life since has a later marker too), returning how many; the
   * page's markers go after it. `legacy` removes, by a query, the documents stored before markers existed: it runs
   * once, at the first purge. Returns how many documents were removed.
   */
  purge(t: Date, remove: (ids: string[]) => Promise<number>, legacy: () => Promise<number>): Promise<number>
}

export function createExpiryMarkers (col: Collection<{ _id: string }>): ExpiryMarkers {
  return {
    async mark (id, expiresAt) {
      await insertIgnoringDuplicates(col, [markerOf(id, expiresAt)])
    },
    async purge (t, remove, legacy) {
      let purged = 0
      if (await col.findOne({ _id: LEGACY_DONE }) === null) {
        purged += await legacy()
        await insertIgnoringDuplicates(col, [{ _id: LEGACY_DONE }])
      }
      for (;;) {
        const page = await col.find({ _id: { $gte: MARKER, $lt: `${MARKER}${t.toISOString()}` } }).sort({ _id: 1 }).limit(PURGE_PAGE).project<{ _id: string }>({ _id: 1 }).toArray()
        if (page.length === 0) return purged
        purged += await remove(page.map((m) => idOfMarker(m._id)))
        await col.deleteMany({ _id: { $in: page.map((m) => m._id) } })
        if (page.length < PURGE_PAGE) return purged
      }
    },
  }
}
