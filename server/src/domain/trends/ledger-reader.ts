// The visible ledger of one lead, as the history, the trend and the as-of reads see it. On FerretDB, where a query
// by lead reads the whole ledger collection, a lead whose entries are keyed under its id is read by its `_id` range
// (a cost that grows with this lead's ledger only) and filtered here; on MongoDB the `lead_ord` index serves it.
import type { Collection, Filter } from 'mongodb'
import type { LeadDoc, LedgerDoc } from '../types.js'
import { ledgerRangeOf } from '../ids.js'
import { carriedLedger } from '../scoring/carried-ledger.js'

export interface LedgerReadQuery {
  /** Also the entries later replays replaced (flagged `superseded`). */
  includeSuperseded: boolean
  order: 'asc' | 'desc'
  /** At most this many entries (none: all). */
  limit?: number
  /** Entries after this position in `order` (a history cursor). */
  after?: { ord: string; id: string } | null
  /** Only entries whose `ord` is below this (an event-time bound: see `ordBound`). */
  ordBelow?: string
}

/** The first `ord` after every entry with event time `<= at` (an `ord` is `<ISO time>|<hash>`, and `}` > `|`). */
export const ordAfter = (at: Date): string => `${at.toISOString()}}`
/** The first `ord` of event time `at`: entries with `ord` below it happened strictly before `at`. */
export const ordAt = (at: Date): string => at.toISOString()

/**
 * Whether a document passes a filter of the forms `readLedger` builds: equality, `$and`, `$or`,
 * `$lt`/`$lte`/`$gt`/`$gte` on strings, `$ne`.
 */
function matchesFilter (d: Record<string, unknown>, f: Record<string, unknown>): boolean {
  for (const [k, cond] of Object.entries(f)) {
    if (k === '$and') { if (!(cond as Array<Record<string, unknown>>).every((x) => matchesFilter(d, x))) return false; continue }
    if (k === '$or') { if (!(cond as Array<Record<string, unknown>>).some((x) => matchesFilter(d, x))) return false; continue }
    const v = d[k]
    if (cond !== null && typeof cond === 'object' && !(cond instanceof Date)) {
      for (const [op, x] of Object.entries(cond)) {
        const a = v as string
        const ok = op === '$lt' ? a < (x as string) : op === '$lte' ? a <= (x as string) : op === '$gt' ? a > (x as string) : op === '$gte' ? a >= (x as string) : op === '$ne' ? v !== x : false
        if (!ok) return false
      }
    } else if (v !== cond) return false
  }
  return true
}

/**
 * A lead's ledger entries in canonical (event-time) order: committed ones and those of its last batch; without
 * `includeSuperseded`, only the chain of entries the lead's current score follows from.
 */
export async function readLedger (deps: { scoreHistory: Collection<LedgerDoc>; ferret: boolean }, l: LeadDoc, q: LedgerReadQuery): Promise<LedgerDoc[]> {
  const visible: Record<string, unknown>[] = [{ committed: true }]
  if (l.lastBatch != null) visible.push({ batch: l.lastBatch.token })
  const and: Record<string, unknown>[] = [{ $or: visible }]
  const filter: Record<string, unknown> = { leadId: l._id, $and: and }
  const b = l.lastBatch
  if (!q.includeSuperseded) {
    filter.superseded = false
    // a replay committed on the lead but not yet finalized: the entries it replaces are already out of view
    if (b != null && b.done !== true && b.supersedeFrom !== null) and.push({ $or: [{ ord: { $lte: b.supersedeFrom } }, { batch: b.token }] })
  }
  if (q.ordBelow !== undefined) and.push({ ord: { $lt: q.ordBelow } })
  const dir = q.order === 'asc' ? 1 : -1
  const cur = q.after ?? null
  if (cur !== null) and.push({ $or: [{ ord: { [dir === 1 ? '$gt' : '$lt']: cur.ord } }, { ord: cur.ord, _id: { [dir === 1 ? '$gt' : '$lt']: cur.id } }] })
  const byOrd = (x: LedgerDoc, y: LedgerDoc): number => dir * (x.ord < y.ord ? -1 : x.ord > y.ord ? 1 : x._id < y._id ? -1 : x._id > y._id ? 1 : 0)
  let docs: LedgerDoc[]
  if (l.ledgerKeyed === true && deps.ferret) {
    docs = (await deps.scoreHistory.find(ledgerRangeOf(l._id) as Filter<LedgerDoc>).toArray())
      .filter((d) => matchesFilter(d as unknown as Record<string, unknown>, filter))
      .sort(byOrd)
    if (q.limit !== undefined) docs = docs.slice(0, q.limit)
  } else {
    const c = deps.scoreHistory.find(filter).sort({ ord: dir, _id: dir })
    docs = await (q.limit !== undefined ? c.limit(q.limit) : c).toArray()
  }
  // a small batch's entries ride on the lead document until its finalize step inserts them: they are visible already
  if (b?.ledger !== undefined && b.done !== true) {
    const have = new Set(docs.map((d) => d._id))
    const carried = carriedLedger(b, l.state).filter((d) => !have.has(d._id) && matchesFilter(d as unknown as Record<string, unknown>, filter))
    if (carried.length > 0) {
      docs = [...docs, ...carried].sort(byOrd)
      if (q.limit !== undefined) docs = docs.slice(0, q.limit)
    }
  }
  // the lead document is the commit point: entries a committed replay replaces count as superseded even before
  // its finalize step has flagged them
  const replaced = (d: LedgerDoc): boolean => b != null && b.done !== true && b.supersedeFrom !== null && !d.superseded && d.batch !== b.token && d.ord > b.supersedeFrom
  return docs.map((d) => replaced(d) ? { ...d, superseded: true, supersededReason: b!.reason ?? 'rescored', supersededBy: b!.token } : d)
}
