// An event's status as the API shows it. Scoring writes an event's status only when it is `unmapped` (and, for
// batches committed before it worked this way, `scored`): a scored event keeps the `pending` it was stored with, and
// its status follows from its lead. It is scored once the lead's `lastSeq` covers it and the batch that scored it is
// finished, which the batch's revision claim tells: kept in `locks` until finalize ends (scoring/processor.ts). Until
// then it shows as pending, as when finalize marked it last. Deriving costs two `_id` list reads for any number of
// events (their leads, and the claims of the leads' last batches), where marking cost an update per event.
import type { Collections } from '../../infra/db.js'
import { findByIds } from '../../infra/db.js'
import type { EventDoc, EventStatus, LeadDoc, LockDoc } from '../types.js'

type Scored = Pick<EventDoc, 'leadId' | 'seq' | 'status'>
type LeadSign = Pick<LeadDoc, '_id' | 'lastSeq' | 'lastBatch'>

export interface EventStatusReader {
  /** The events with the status the API shows (copies where it differs from the stored one). */
  resolve<T extends Scored>(events: readonly T[]): Promise<T[]>
  /** A stream of events with their shown status, resolved `chunk` at a time (never all in memory). */
  resolveStream<T extends Scored>(events: AsyncIterable<T>, chunk?: number): AsyncIterable<T>
}

/** What of a lead tells its events' status (not the ledger its last batch may carry). */
const SIGN_FIELDS = { lastSeq: 1, 'lastBatch.token': 1, 'lastBatch.seqFrom': 1, 'lastBatch.seqTo': 1, 'lastBatch.done': 1, 'lastBatch.claim': 1 }

/** Events resolved together by `resolveStream`, unless told otherwise. */
const STREAM_CHUNK = 500

/** Whether the lead's last batch holds the event and is not finished: `held` says its claim is still there. */
function inOpenBatch (e: Scored, lead: LeadSign, held: boolean): boolean {
  const b = lead.lastBatch
  if (b == null || b.done === true || e.seq < b.seqFrom || e.seq > b.seqTo) return false
  // a batch committed before claims were kept marked its events itself: a stored `pending` in it is unfinished
  return b.claim === undefined || held
}

/** The status of one event, given its lead (absent when erased) and whether that lead's last batch is unfinished. */
export function statusOf (e: Scored, lead: LeadSign | undefined, held: boolean): EventStatus {
  if (e.status !== 'pending') return e.status
  if (lead === undefined || e.seq > lead.lastSeq || inOpenBatch(e, lead, held)) return 'pending'
  return 'scored'
}

export function createEventStatus (deps: { c: Pick<Collections, 'leads' | 'locks'> }): EventStatusReader {
  const { c } = deps
  async function * resolveStream<T extends Scored> (events: AsyncIterable<T>, size = STREAM_CHUNK): AsyncIterable<T> {
    const chunk: T[] = []
    for await (const e of events) {
      chunk.push(e)
      if (chunk.length >= size) yield * await reader.resolve(chunk.splice(0))
    }
    yield * await reader.resolve(chunk)
  }
  const reader: EventStatusReader = {
    resolveStream,
    async resolve (events) {
      const open = events.filter((e) => e.status === 'pending')
      if (open.length === 0) return [...events]
      const leads = new Map((await findByIds<LeadDoc, LeadSign>(c.leads, [...new Set(open.map((e) => e.leadId))], SIGN_FIELDS)).map((l) => [l._id, l]))
      // only the claims of last batches that hold one of these events can make a difference
      const claims = new Map<string, string>()
      for (const e of open) {
        const l = leads.get(e.leadId)
        if (l?.lastBatch?.claim !== undefined && e.seq <= l.lastSeq && inOpenBatch(e, l, true)) claims.set(l.lastBatch.claim, l.lastBatch.token)
      }
      const held = new Set((await findByIds<LockDoc, Pick<LockDoc, '_id' | 'owner'>>(c.locks, [...claims.keys()], { owner: 1 }))
        .filter((d) => claims.get(d._id) === d.owner).map((d) => d._id))
      return events.map((e) => {
        if (e.status !== 'pending') return e
        const l = leads.get(e.leadId)
        const status = statusOf(e, l, l?.lastBatch?.claim !== undefined && held.has(l.lastBatch.claim))
        return status === e.status ? e : { ...e, status }
      })
    },
  }
  return reader
}
