import type { Collection, Filter } from 'mongodb'
import type { AuditDoc } from './types.js'
import { newId } from '../lib/ids.js'
import { decodeCursor, pageOf, type CursorPage } from '../lib/cursor.js'
import { LS_ERR_INVALID_CURSOR } from '../errors.js'

/** Who did what: the one writer and reader of the audit log. */
export interface AuditService {
  /** Records one action. `details` are stored as given: callers put no secret in them. */
  record (actor: string, action: string, target: string, details?: Record<string, unknown>): Promise<void>
  /** Entries newest first, a page at a time (the cursor of the previous page, or none for the first). */
  list (opts: { limit: number; cursor?: string | undefined }): Promise<CursorPage<AuditDoc>>
  /** Every entry about one target (a lead's export gathers them). */
  about (target: string): Promise<AuditDoc[]>
  /**
   * Rewrites the details of the entries `edit` changes (it answers null to leave an entry as it is) and says how many
   * changed; the entries themselves stay. Reads the whole log: erasure is rare and the log keeps no index by content.
   */
  rewriteDetails (edit: (details: Record<string, unknown>) => Record<string, unknown> | null): Promise<number>
}

/** Takes the core itself, or anything with its audit collection and clock. */
export function createAuditService (deps: { c: { auditLog: Collection<AuditDoc> }; now: () => Date }): AuditService {
  const col = deps.c.auditLog
  return {
    async record (actor, action, target, details = {}) {
      await col.insertOne({ _id: newId('au'), at: deps.now(), actor, action, target, details })
    },
    async list ({ limit, cursor }) {
      const cur = decodeCursor(cursor)
      if (cur !== null && typeof cur.v !== 'number') throw new LS_ERR_INVALID_CURSOR()
      // entries recorded in the same millisecond are told apart by id, so a page boundary never skips one
      const at = cur === null ? null : new Date(cur.v as number)
      const filter: Filter<AuditDoc> = at === null || cur === null ? {} : { $or: [{ at: { $lt: at } }, { at, _id: { $lt: cur.id } }] }
      const docs = await col.find(filter).sort({ at: -1, _id: -1 }).limit(limit + 1).toArray()
      return pageOf(docs, limit, (last) => ({ v: last.at.getTime(), id: last._id }))
    },
    async about (target) {
      return await col.find({ target }).toArray()
    },
    async rewriteDetails (edit) {
      let n = 0
      for await (const a of col.find({}, { projection: { _id: 1, details: 1 } })) {
        const details = edit(a.details ?? {})
        if (details === null) continue
        await col.updateOne({ _id: a._id }, { $set: { details } })
        n++
      }
      return n
    },
  }
}
