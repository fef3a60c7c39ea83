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
      const kept: EventDoc[] = []
      let read = 0
      let lastRead: string | null = null
      const it = c.events.find(byId(filter, cursor)).sort({ _id: -1 }).batchSize(Math.min(1000, limit + 1))
      try {
        while (kept.length <= limit && read < STATUS_SCAN_LIMIT) {
          const chunk: EventDoc[] = []
          while (chunk.length < Math.min(1000, limit + 1)) {
            const d = await it.next()
            if (d === null) break
            chunk.push(d)
          }
          if (chunk.length === 0) return pageOf(kept, limit, (last) => ({ v: null, id: last._id }))
          read += chunk.length
          lastRead = chunk[chunk.length - 1]!._id
          for (const e of await statuses.resolve(chunk)) if (e.status === status && kept.length <= limit) kept.push(e)
        }
      } finally {
        await it.close()
      }
      if (kept.length > limit) return pageOf(kept, limit, (last) => ({ v: null, id: last._id }))
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
