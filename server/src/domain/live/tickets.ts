import { randomBytes } from 'node:crypto'
import type { Collection } from 'mongodb'
import { sha256 } from '../../lib/ids.js'
import { isDuplicateKey, retryTransient } from '../../infra/db.js'
import type { LiveCredential } from './credentials.js'

/** How long a ticket may wait for its WebSocket upgrade. */
export const TICKET_TTL_MS = 30_000
// tickets and their use markers are purged this long after they expire (room for clocks that differ between processes)
const PURGE_AFTER_MS = 60_000
const TICKET_RE = /^lst_[A-Za-z0-9_-]{20,100}$/

/**
 * `t:<hash>` is an issued ticket and the credential it stands for; `u:<hash>` marks it used. Only the SHA-256 of a
 * ticket is stored.
 */
export interface LiveTicketDoc { _id: string; credential?: LiveCredential; expiresAt: Date }

/**
 * Single-use tickets for the WebSocket URL, where a browser cannot send headers: a client authenticated by header or
 * cookie trades its credential for a ticket that opens one connection within {@link TICKET_TTL_MS}, so no API key
 * lands in a URL (and in the logs of every proxy on the way). Tickets are stored in the database, so any process may
 * take the upgrade. Using one inserts its `u:` marker on the unique `_id`: of concurrent uses, exactly one wins, on
 * MongoDB and on FerretDB alike (whose conditional deletes are not compare-and-set).
 */
export function createLiveTicketService (col: Collection<LiveTicketDoc>, now: () => Date) {
  return {
    async issue (credential: LiveCredential): Promise<{ ticket: string; expiresAt: Date }> {
      const t = now().getTime()
      const ticket = `lst_${randomBytes(32).toString('base64url')}`
      const expiresAt = new Date(t + TICKET_TTL_MS)
      await retryTransient(async () => await col.insertOne({ _id: `t:${sha256(ticket)}`, credential, expiresAt }))
      // purged by query here, as FerretDB has no TTL index; the collection holds only the last minute's tickets
      await retryTransient(async () => await col.deleteMany({ expiresAt: { $lt: new Date(t - PURGE_AFTER_MS) } }))
      return { ticket, expiresAt }
    },

    /** The credential a ticket stands for, once: null when it is unknown, expired or already used. */
    async redeem (ticket: string): Promise<LiveCredential | null> {
      if (!TICKET_RE.test(ticket)) return null
      const hash = sha256(ticket)
      const doc = await retryTransient(async () => await col.findOne({ _id: `t:${hash}` }))
      if (doc?.credential === undefined || doc.expiresAt.getTime() <= now().getTime()) return null
      try {
        await retryTransient(async () => await col.insertOne({ _id: `u:${hash}`, expiresAt: doc.expiresAt }))
      } catch (err) {
        if (isDuplicateKey(err)) return null
        throw err
      }
      await col.deleteOne({ _id: `t:${hash}` }).catch(() => undefined)
      return doc.credential
    },
  }
}

export type LiveTicketService = ReturnType<typeof createLiveTicketService>
