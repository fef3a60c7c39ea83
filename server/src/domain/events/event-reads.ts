import type { Filter } from 'mongodb'
import type { Collections } from '../../infra/db.js'
import type { EventDoc, EventStatus, RejectDoc } from '../types.js'
import { decodeCursor, pageOf, type CursorPage } from '../../lib/cursor.js'

/** The stored events and rejects as the API lists them: newest first by id, a page at a time. */
export interface EventReads {
  get (id: string): Promise<EventDoc | null>
  list (q: { status?: EventStatus | undefined; type?: string | undefined; sourceId?: string | undefined; leadId?: string | undefined; limit: number; cursor?: string | undefined }): Promise<CursorPage<EventDoc>>
  rejects (q: { requestId?: string | undefined; sourceId?: string | undefined; limit: number; cursor?: string | undefined }): Promise<CursorPage<RejectDoc>>
}

/** Takes the core itself, or anything with its collections. */
export function createEventReads (deps: { c: Pick<Collections, 'events' | 'ingestRejects'> }): EventReads {
  const { c } = deps
  // ids sort by creation time (lib/ids.ts), so the id alone is the cursor
  const byId = <T>(filter: Filter<T> & { _id?: unknown }, cursor: string | undefined): Filter<T> => {
    const cur = decodeCursor(cursor)
    return cur === null ? filter : { ...filter, _id: { $lt: cur.id } }
  }
  return {
    async get (id) { return await c.events.findOne({ _id: id }) },
    async list ({ status, type, sourceId, leadId, limit, cursor }) {
      const filter: Filter<EventDoc> = {}
      if (status !== undefined) filter.status = status
      if (type !== undefined) filter.type = type
      if (sourceId !== undefined) filter.sourceId = sourceId
      if (leadId !== undefined) filter.leadId = leadId
      const docs = await c.events.find(byId(filter, cursor)).sort({ _id: -1 }).limit(limit + 1).toArray()
      return pageOf(docs, limit, (last) => ({ v: null, id: last._id }))
    },
    async rejects ({ requestId, sourceId, limit, cursor }) {
      const filter: Filter<RejectDoc> = {}
      if (requestId !== undefined) filter.requestId = requestId
      if (sourceId !== undefined) filter.sourceId = sourceId
      const docs = await c.ingestRejects.find(byId(filter, cursor)).sort({ _id: -1 }).limit(limit + 1).toArray()
      return pageOf(docs, limit, (last) => ({ v: null, id: last._id }))
    },
  }
}
