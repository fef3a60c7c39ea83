import type { Filter } from 'mongodb'
import type { Collections } from '../../infra/db.js'
import type { EventDoc, LeadDoc } from '../types.js'
import { eventRangeOf } from '../ids.js'
import { decodeStringCursor, pageOf, type CursorPage } from '../../lib/cursor.js'
import { storedEvents } from '../rulesets/backtest.js'
import { createEventStatus } from '../events/event-status.js'

/**
 * The lead documents and each lead's own events, as the API reads and edits them. Writes that change a lead's score
 * state belong to the lead processor; changes here are the profile and the re-score flag, made under the lead's lock
 * by the caller.
 */
export interface LeadStore {
  get (id: string): Promise<LeadDoc | null>
  /** Inserts a new lead; a duplicate key error when its id exists. */
  insert (doc: LeadDoc): Promise<void>
  /** Sets profile fields; the lead before and after, or nulls when there is none. */
  update (id: string, set: Record<string, unknown>): Promise<{ before: LeadDoc | null; after: LeadDoc | null }>
  /** Asks for a re-score from the lead's first event. */
  markRescore (id: string): Promise<void>
  /** Every stored event of the lead, in seq order (for a replay). */
  events (lead: LeadDoc): Promise<EventDoc[]>
  /** The lead's events in canonical order, newest first, a page at a time. */
  eventsPage (lead: LeadDoc, opts: { limit: number; cursor?: string | undefined }): Promise<CursorPage<EventDoc>>
  /** What the ledger readers (domain/trends) take. */
  readonly ledger: { scoreHistory: Collections['scoreHistory']; ferret: boolean }
}

/** Takes the core itself, or anything with its collections and database. */
export function createLeadStore (deps: { c: Collections; database: { ferret: boolean } }): LeadStore {
  const { c } = deps
  const ferret = deps.database.ferret
  const statuses = createEventStatus(deps)
  return {
    async get (id) { return await c.leads.findOne({ _id: id }) },
    async insert (doc) { await c.leads.insertOne(doc) },
    async update (id, set) {
      const before = await c.leads.findOne({ _id: id })
      const after = await c.leads.findOneAndUpdate({ _id: id }, { $set: set }, { returnDocument: 'after' })
      return { before, after }
    },
    async markRescore (id) { await c.leads.updateOne({ _id: id }, { $set: { rescoreFrom: '' } }) },
    async events (lead) { return await storedEvents(c, lead) },
    async eventsPage (lead, { limit, cursor }) {
      const cur = decodeStringCursor(cursor)
      let docs: EventDoc[]
      if (ferret) {
        // A lead's events are the `_id` range of its id (see domain/ids.ts): read from the `_id` index, at a cost that
        // grows with this lead's events only (a query by lead reads every event on FerretDB), then ordered here.
        docs = (await c.events.find(eventRangeOf(lead._id) as Filter<EventDoc>).toArray())
          .filter((e) => cur === null || e.ord < cur.v)
          .sort((a, b) => a.ord < b.ord ? 1 : a.ord > b.ord ? -1 : 0)
          .slice(0, limit + 1)
      } else {
        const filter: Filter<EventDoc> = { leadId: lead._id, ...(cur !== null ? { ord: { $lt: cur.v } } : {}) }
        docs = await c.events.find(filter).sort({ ord: -1 }).limit(limit + 1).toArray()
      }
      return pageOf(await statuses.resolve(docs), limit, (last) => ({ v: last.ord, id: last._id }))
    },
    ledger: { scoreHistory: c.scoreHistory, ferret },
  }
}
