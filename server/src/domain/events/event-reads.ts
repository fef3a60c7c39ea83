import type { Filter } from 'mongodb'
import type { Collections } from '../../infra/db.js'
import type { EventDoc, EventStatus, RejectDoc } from '../types.js'
import { decodeCursor, encodeCursor, pageOf, type CursorPage } from '../../lib/cursor.js'
import { createEventStatus } from './event-status.js'

/** The stored events and rejects as the API lists them: newest first by id, a page at a time. */
export interface EventReads {
  get (id: string): Promise<EventDoc | null>
  list (q: { status?: EventStatus | undefined; type?: string | undefined; sourceId?: string | undefined; leadId?: string | undefined; limit: number; cursor?: string | undefined }): Promise<CursorPage<EventDoc>>
  rejects (q: { requestId?: string | undefined; sourceId?: string | undefined; limit: number; cursor?: string | undefined }): Promise<CursorPage<RejectDoc>>
}

/** Most stored events one list request filtered by a derived status reads before it returns a (possibly short) page. */
export const STATUS_SCAN_LIMIT = 5000

/** Takes the core itself, or anything with its collections. */
export function createEventReads (deps: { c: Pick<Collections, 'events' | 'ingestRejects' | 'leads' | 'locks'> }): EventReads {
  const { c } = deps
  const statuses = createEventStatus(deps)
  // ids sort by creation time (lib/ids.ts), so the id alone is the cursor
  const byId = <T>(filter: Filter<T> & { _id?: unknown }, cursor: string | undefined): Filter<T> => {
    const cur = decodeCursor(cursor)
    return cur === null ? filter : { ...filter, _id: { $lt: cur.id } }
  }
  return {
    async get (id) {
      const e = await c.events.findOne({ _id: id })
      return e === null ? null : (await statuses.resolve([e]))[0]!
    },
    async list ({ status, type, sourceId, leadId, limit, cursor }) {
      const filter: Filter<EventDoc> = {}
      if (type !== undefined) filter.type = type
      if (sourceId !== undefined) filter.sourceId = sourceId
      if (leadId !== undefined) filter.leadId = leadId
      // `unmapped` is stored as such; a scored event may still be stored `pending` (see event-status.ts)
      if (status === 'unmapped') filter.status = status
      if (status === undefined || status === 'unmapped') {
        const docs = await c.events.find(byId(filter, cursor)).sort({ _id: -1 }).limit(limit + 1).toArray()
        return pageOf(await statuses.resolve(docs), limit, (last) => ({ v: null, id: last._id }))
      }
      // pending or scored: the stored candidates in order, kept when their status is the one asked for, a chunk at a
      // time; past the scan limit a short page comes back with a cursor after the last event read
      filter.status = status === 'pending' ? 'pending' : { $in: ['pending', 'scored'] }
      const chunk = Math.min(1000, limit + 1)
      const found = c.events.find(byId(filter, cursor)).sort({ _id: -1 }).batchSize(chunk)
      const kept: EventDoc[] = []
      let read = 0
      let lastRead: string | null = null
      try {
        for await (const e of statuses.resolveStream(found, chunk)) {
          read++
          lastRead = e._id
          if (e.status === status) kept.push(e)
          if (kept.length > limit || read >= STATUS_SCAN_LIMIT) break
        }
      } finally {
        await found.close()
      }
      // a full page, or the end of the candidates; else the scan limit cut it short
      if (kept.length > limit || read < STATUS_SCAN_LIMIT) return pageOf(kept, limit, (last) => ({ v: null, id: last._id }))
      return { items: kept, nextCursor: lastRead === null ? null : encodeCursor({ v: null, id: lastRead }) }
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
