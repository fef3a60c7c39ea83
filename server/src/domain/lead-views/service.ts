// The lead views: the lead index (keys.ts) and the aggregates (counters.ts), kept by every writer of leads and read
// by the lead list, the leaderboard, analytics and stats. Reads cost a few `_id` range or list reads, whatever the
// number of leads and events.
import type { Collection } from 'mongodb'
import type { LeadDoc, EventDoc, LockDoc, RejectDoc } from '../types.js'
import { findByIds, idLists, insertIgnoringDuplicates } from '../../infra/db.js'
import { LS_ERR_INVALID_CURSOR } from '../../errors.js'
import { decodeCursor, encodeCursor } from '../../lib/cursor.js'
import { summaryOf, type LeadChange, type LeadSummary } from './summary.js'
import { keysOf, leadIdOfKey, normalizeText, prefixEnd, prefixOf, queryToken, scoreRange, tokensOf, valueOfKey, type FilterField, type View } from './keys.js'
import { LEADS_ID, STATUS_ID, eventIncrements, leadIncrements, mergeCounters, addLead, type Increments } from './counters.js'
import { newId } from '../../lib/ids.js'
import type { SortName } from '../../schemas/leads.js'
import { eventIdOf } from '../ids.js'
import type { LockService } from '../locks.js'
import { createEventStatus } from '../events/event-status.js'

export interface IndexDoc { _id: string }
/** What erasure and the rebuild read of an event (its lead and seq tell its status: events/event-status.ts). */
export type ErasedEvent = Pick<EventDoc, '_id' | 'leadId' | 'seq' | 'occurredAt' | 'type' | 'status'>
export interface CounterDoc { _id: string; [k: string]: unknown }

export interface LeadViewCollections {
  leads: Collection<LeadDoc>
  ingestRejects: Collection<RejectDoc>
  events: Collection<EventDoc>
  leadIndex: Collection<IndexDoc>
  aggregates: Collection<CounterDoc>
  /** Read for the claims that tell whether an event is scored yet (events/event-status.ts). */
  locks: Collection<LockDoc>
}

export interface LeadListQuery {
  sort: SortName
  limit: number
  cursor?: string | undefined
  minScore?: number | undefined
  maxScore?: number | undefined
  status?: string | undefined
  stage?: string | undefined
  source?: string | undefined
  grade?: string | undefined
  q?: string | undefined
}

/** Most index keys one list request reads before it returns a (possibly short) page with a cursor to go on. */
export const SCAN_LIMIT = 5000

const SORT_VIEW: Record<SortName, { view: View; dir: 1 | -1 }> = {
  score_desc: { view: 's', dir: -1 },
  score_asc: { view: 'a', dir: 1 },
  updated_desc: { view: 'u', dir: -1 },
  created_desc: { view: 'c', dir: -1 },
  last_event_desc: { view: 'e', dir: -1 },
  name_asc: { view: 'n', dir: 1 },
}

const META_ID = 'meta'
const ID_WINDOW = 500

/** How many counter slots processes share: each writing process holds one (see `claimSlot`). */
export const SLOTS = 16
const SLOT_TTL_MS = 60_000

/** What the counters need of the lock service: a numbered slot held for the life of the process. */
export type SlotLocks = Pick<LockService, 'claimSlot'>

export function createLeadViews (deps: { c: LeadViewCollections; now: () => Date; locks?: SlotLocks }) {
  const { c } = deps
  const statuses = createEventStatus(deps)
  // The documents this process increments end in its slot. Updates from one process are serialized (see `flush`);
  // a slot lock keeps other processes off them. Without a free slot, a process uses one of its own.
  let slot: string | null = null
  let claiming: Promise<string> | null = null
  const owner = newId('vw')
  async function claimSlot (): Promise<string> {
    if (deps.locks === undefined) return 's0'
    const k = await deps.locks.claimSlot('views-slot', SLOTS, owner, SLOT_TTL_MS)
    return k === null ? owner : `s${k}`
  }
  async function mySlot (): Promise<string> {
    if (slot !== null) return slot
    claiming ??= claimSlot()
    return slot = await claiming
  }

  // ---- writes ----

  const keyDiff = (a: LeadSummary | null, b: LeadSummary | null): string[] => {
    if (a === null) return []
    const other = new Set(b === null ? [] : keysOf(b))
    return keysOf(a).filter((k) => !other.has(k))
  }

  async function insertKeys (keys: string[]): Promise<void> {
    for (const part of idLists(keys)) await insertIgnoringDuplicates(c.leadIndex, part.map((_id) => ({ _id })))
  }

  async function deleteKeys (keys: string[]): Promise<void> {
    for (const part of idLists(keys)) await c.leadIndex.deleteMany({ _id: { $in: part } })
  }

  // Increments wait in `buffer` while a write runs, then go in one write: one writer at a time, and under load one
  // update per counter document for many changes. A caller's promise settles when its increments are stored.
  let buffer = new Map<string, Increments>()
  let waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = []
  let writing = false

  async function write (docs: Map<string, Increments>): Promise<void> {
    const suffix = await mySlot()
    // `incrementAll` buffers only non-empty increments
    const ops = [...docs].map(([id, inc]) => ({ updateOne: { filter: { _id: `${id}:${suffix}` }, update: { $inc: inc }, upsert: true } }))
    for (let i = 0; i < ops.length; i += 200) await c.aggregates.bulkWrite(ops.slice(i, i + 200) as never, { ordered: false })
  }

  function flush (): void {
    if (writing) return
    if (buffer.size === 0) {
      for (const w of waiters.splice(0)) w.resolve()
      return
    }
    writing = true
    const docs = buffer
    const mine = waiters
    buffer = new Map()
    waiters = []
    write(docs).then(() => { for (const w of mine) w.resolve() }, (err: unknown) => { for (const w of mine) w.reject(err) })
      .finally(() => { writing = false; flush() })
  }

  async function incrementAll (docs: Map<string, Increments>): Promise<void> {
    docs = new Map([...docs].filter(([, inc]) => Object.keys(inc).length > 0))
    if (docs.size === 0) return
    for (const [id, inc] of docs) {
      const into = buffer.get(id) ?? {}
      for (const [k, n] of Object.entries(inc)) into[k] = (into[k] ?? 0) + n
      buffer.set(id, into)
    }
    const done = new Promise<void>((resolve, reject) => { waiters.push({ resolve, reject }) })
    flush()
    await done
  }

  /**
   * Before changes are committed: adds the keys the leads will have. A key of a change that does not commit stays
   * until `settle` removes it; a reader skips keys its lead no longer has, so an extra key is never wrong, and a key
   * is never missing once its lead holds the change.
   */
  async function prepare (changes: readonly LeadChange[]): Promise<void> {
    await insertKeys(changes.flatMap((ch) => keyDiff(ch.after, ch.before)))
  }

  /**
   * After a commit: removes the keys the committed leads no longer have (and those prepared for changes that did not
   * commit), and adds the committed changes to the counters, with the events scored for the first time by event time
   * (`finalized` counts them scored).
   */
  async function settle (committed: readonly LeadChange[], failed: readonly LeadChange[], scored: ReadonlyArray<{ occurredAt: Date; type: string }> = []): Promise<void> {
    await deleteKeys([...committed.flatMap((ch) => keyDiff(ch.before, ch.after)), ...failed.flatMap((ch) => keyDiff(ch.after, ch.before))])
    const docs = eventIncrements(scored, 1)
    const leads = leadIncrements(committed)
    if (Object.keys(leads).length > 0) docs.set(LEADS_ID, leads)
    await incrementAll(docs)
  }

  /**
   * After finalize has marked a batch's events: counts them scored (and unmapped), so that once `/v1/stats` shows
   * nothing pending, every event shows its final status and every ledger entry is visible.
   */
  async function finalized (events: number, unmapped: number): Promise<void> {
    const status: Increments = {}
    if (events > 0) status.scored = events
    if (unmapped > 0) status.unmapped = unmapped
    await incrementAll(new Map([[STATUS_ID, status]]))
  }

  /** A change made outside scoring (a lead created, edited or erased): keys and counters at once. */
  async function apply (changes: readonly LeadChange[]): Promise<void> {
    await prepare(changes)
    await settle(changes, [])
  }

  /** Events ingest stored and accepted (counted before their request is answered). */
  async function stored (n: number): Promise<void> {
    if (n !== 0) await incrementAll(new Map([[STATUS_ID, { stored: n }]]))
  }

  /** Rejects stored (or, negative, deleted): the rejects total of /v1/stats. */
  async function rejectsStored (n: number): Promise<void> {
    if (n !== 0) await incrementAll(new Map([[STATUS_ID, { rejects: n }]]))
  }

  /** An erased lead's events: out of the event counts. */
  async function erasedEvents (events: ReadonlyArray<{ occurredAt: Date; type: string; status: string }>): Promise<void> {
    const scored = events.filter((e) => e.status !== 'pending')
    const docs = eventIncrements(scored, -1)
    docs.set(STATUS_ID, { stored: -events.length, scored: -scored.length, unmapped: -events.filter((e) => e.status === 'unmapped').length })
    await incrementAll(docs)
  }

  /**
   * Every stored event of a lead, read by `_id` (seqs are gapless from 1), projected to what erasure needs, with the
   * status the API shows (the counters count an event scored by that status).
   */
  async function eventsOfLead (leadId: string): Promise<ErasedEvent[]> {
    const out: ErasedEvent[] = []
    for (let from = 1; ; from += ID_WINDOW) {
      const ids = Array.from({ length: ID_WINDOW }, (_, i) => eventIdOf(leadId, from + i))
      const got = await findByIds<EventDoc, ErasedEvent>(c.events, ids, { _id: 1, leadId: 1, seq: 1, occurredAt: 1, type: 1, status: 1 })
      out.push(...await statuses.resolve(got))
      if (got.length < ID_WINDOW) return out
    }
  }

  // ---- reads ----

  async function range (from: string, to: string, dir: 1 | -1, after: string | null, limit: number): Promise<string[]> {
    const idf: Record<string, string> = dir === 1
      ? { ...(after !== null ? { $gt: after } : { $gte: from }), $lt: to }
      : { $gte: from, $lt: after ?? to }
    const docs = await c.leadIndex.find({ _id: idf } as never).sort({ _id: dir }).limit(limit).project<{ _id: string }>({ _id: 1 }).toArray()
    return docs.map((d) => d._id)
  }

  /**
   * Walks a view from a cursor and returns the leads (in view order) that hold their key and pass `keep`, up to
   * `limit`, reading at most SCAN_LIMIT keys. `next` is where a following call goes on (null at the end).
   */
  async function walk (from: string, to: string, dir: 1 | -1, after: string | null, limit: number, keep: (l: LeadDoc, key: string) => boolean): Promise<{ items: LeadDoc[]; next: string | null }> {
    const items: LeadDoc[] = []
    const seen = new Set<string>()
    let cursor = after
    let scanned = 0
    // the first read takes just what a page needs (most pages have no filter to skip leads), later ones more
    let chunk = Math.min(1000, limit + 1)
    for (;; chunk = Math.min(1000, chunk * 4)) {
      const keys = await range(from, to, dir, cursor, chunk)
      if (keys.length === 0) return { items, next: null }
      const leads = new Map((await findByIds(c.leads, [...new Set(keys.map(leadIdOfKey))])).map((l) => [l._id, l]))
      for (const key of keys) {
        scanned++
        cursor = key
        const l = leads.get(leadIdOfKey(key))
        if (l === undefined || seen.has(l._id) || !keysOf(summaryOf(l)).includes(key) || !keep(l, key)) continue
        seen.add(l._id)
        items.push(l)
        if (items.length === limit) return { items, next: key }
      }
      if (keys.length < chunk) return { items, next: null }
      if (scanned >= SCAN_LIMIT) return { items, next: cursor }
    }
  }

  /** A page of the lead list: filters, sort, cursor. What search matches: docs/architecture.md §4b. */
  async function list (q: LeadListQuery): Promise<{ items: LeadDoc[]; nextCursor: string | null }> {
    const token = q.q !== undefined ? queryToken(q.q) : ''
    const needle = q.q !== undefined ? normalizeText(q.q.trim()) : ''
    let prefix: string
    let from: string
    let to: string
    let dir: 1 | -1
    const used = new Set<FilterField | 'score'>()
    if (token !== '') {
      prefix = prefixOf('q')
      from = `${prefix}${token}`
      to = `${prefix}${token}\u{10FFFF}`
      dir = 1
    } else {
      const sv = SORT_VIEW[q.sort]
      dir = sv.dir
      let filter: { field: FilterField; value: string } | undefined
      if (sv.view === 'a') used.add('score')
      if (sv.view === 's') {
        for (const field of ['stage', 'source', 'status'] as const) {
          const value = q[field]
          if (value !== undefined) { filter = { field, value }; used.add(field); break }
        }
        used.add('score')
      }
      prefix = prefixOf(sv.view, filter)
      if (sv.view === 's' || sv.view === 'a') ({ from, to } = scoreRange(prefix, q.minScore, q.maxScore))
      else { from = prefix; to = prefixEnd(prefix) }
    }
    const cur = decodeCursor(q.cursor)
    if (cur !== null && (typeof cur.v !== 'string' || !cur.v.startsWith(prefix))) throw new LS_ERR_INVALID_CURSOR()
    const after = cur === null ? null : cur.v as string
    const keep = (l: LeadDoc, key: string): boolean => {
      const s = summaryOf(l)
      if (!used.has('score') && ((q.minScore !== undefined && s.score < q.minScore) || (q.maxScore !== undefined && s.score > q.maxScore))) return false
      if (!used.has('stage') && q.stage !== undefined && s.stage !== q.stage) return false
      if (q.grade !== undefined && s.grade !== q.grade) return false
      if (!used.has('status') && q.status !== undefined && s.status !== q.status) return false
      if (!used.has('source') && q.source !== undefined && !s.sources.includes(q.source)) return false
      if (token !== '') {
        // the query is in the name, email, company or external id, as typed (case and accents aside), and the lead
        // shows once: at its first token the query's longest word starts
        if (![s.name, s.email, s.company, s.externalId].some((f) => f !== null && normalizeText(f).includes(needle))) return false
        if (tokensOf(s).find((t) => t.startsWith(token)) !== valueOfKey(key, prefix)) return false
      }
      return true
    }
    const { items, next } = await walk(from, to, dir, after, q.limit, keep)
    return { items, nextCursor: next === null ? null : encodeCursor({ v: next, id: leadIdOfKey(next) }) }
  }

  /** The lowest or highest score of the leads (of a stage), or null when there are none. */
  async function scoreEdge (stage: string | undefined, dir: 1 | -1): Promise<number | null> {
    const prefix = prefixOf('s', stage !== undefined ? { field: 'stage', value: stage } : undefined)
    const { items } = await walk(prefix, prefixEnd(prefix), dir, null, 1, () => true)
    return items[0] !== undefined ? summaryOf(items[0]).score : null
  }

  /** The counter documents whose ids (without the slot) are in `[from, to]`, of every slot, in id order. */
  async function counterDocs (from: string, to: string): Promise<CounterDoc[]> {
    return await c.aggregates.find({ _id: { $gte: `${from}:`, $lt: `${to};` } } as never).sort({ _id: 1 }).toArray()
  }

  async function leadCounters (): Promise<Record<string, unknown>> {
    return mergeCounters(await counterDocs(LEADS_ID, LEADS_ID) as Array<Record<string, unknown>>)
  }

  /** How many leads there are, from the counters; null while the views are not built (their counters say nothing yet). */
  async function leadCount (): Promise<number | null> {
    if (!await built()) return null
    const n = (await leadCounters()).n
    return typeof n === 'number' ? Math.max(0, Math.round(n)) : 0
  }

  async function statusCounters (): Promise<{ stored: number; scored: number; unmapped: number; pending: number; rejects: number }> {
    const d = mergeCounters(await counterDocs(STATUS_ID, STATUS_ID) as Array<Record<string, unknown>>)
    const n = (k: string): number => typeof d[k] === 'number' ? Math.round(d[k] as number) : 0
    return { stored: n('stored'), scored: n('scored'), unmapped: n('unmapped'), pending: Math.max(0, n('stored') - n('scored')), rejects: n('rejects') }
  }

  /**
   * The day documents (hourly counts; `kind` 'd', keys `YYYY-MM-DD`) or month documents (daily counts; 'm',
   * `YYYY-MM`) from `first` to `last`, of every slot: one range read.
   */
  async function eventDocs (kind: 'd' | 'm', first: string, last: string): Promise<CounterDoc[]> {
    return await counterDocs(`ev:${kind}:${first}`, `ev:${kind}:${last}`)
  }

  // ---- rebuild ----

  /**
   * Recomputes the index and every counter from the leads and events (one pass over each), for a database written
   * before the views existed or after a crash between a commit and its counters. Scoring should be paused meanwhile
   * (the caller does that), or changes committed during the pass may be counted twice.
   */
  async function rebuild (progress: (done: number) => Promise<void> = async () => undefined): Promise<{ leads: number; events: number }> {
    // dropped rather than emptied: FerretDB deletes document by document
    for (const col of [c.leadIndex, c.aggregates]) await col.drop().catch(() => undefined)
    const inc: Increments = {}
    let keys: string[] = []
    let leads = 0
    for await (const l of c.leads.find({}).batchSize(1000)) {
      const s = summaryOf(l)
      addLead(inc, s, 1)
      keys.push(...keysOf(s))
      if (keys.length >= 5000) { await insertKeys(keys); keys = [] }
      if (++leads % 5000 === 0) await progress(leads)
    }
    await insertKeys(keys)
    const docs = new Map<string, Increments>()
    if (leads > 0) docs.set(LEADS_ID, inc)
    const status = { stored: 0, scored: 0, unmapped: 0, rejects: await c.ingestRejects.countDocuments({}) }
    let events = 0
    const scored: Array<{ occurredAt: Date; type: string }> = []
    const all = c.events.find({}).project<ErasedEvent>({ _id: 1, leadId: 1, seq: 1, occurredAt: 1, type: 1, status: 1 }).batchSize(1000)
    for await (const e of statuses.resolveStream(all)) {
      events++
      status.stored++
      if (e.status === 'pending') continue
      status.scored++
      if (e.status === 'unmapped') status.unmapped++
      scored.push(e)
      if (scored.length >= 10_000) eventIncrements(scored.splice(0), 1, docs)
    }
    eventIncrements(scored, 1, docs)
    docs.set(STATUS_ID, status)
    await incrementAll(docs)
    await c.aggregates.updateOne({ _id: META_ID }, { $set: { builtAt: deps.now(), leads, events } }, { upsert: true })
    return { leads, events }
  }

  /** Whether the views were ever built for this database (a database from before them needs a rebuild). */
  async function built (): Promise<boolean> {
    return await c.aggregates.findOne({ _id: META_ID }) !== null
  }

  /** Marks a new, empty database's views as built (nothing to count yet). */
  async function markBuiltIfEmpty (): Promise<boolean> {
    if (await c.leads.findOne({}, { projection: { _id: 1 } }) !== null) return false
    await c.aggregates.updateOne({ _id: META_ID }, { $setOnInsert: { builtAt: deps.now(), leads: 0, events: 0 } }, { upsert: true })
    return true
  }

  return { prepare, settle, finalized, apply, stored, rejectsStored, erasedEvents, eventsOfLead, list, scoreEdge, leadCounters, leadCount, statusCounters, eventDocs, rebuild, built, markBuiltIfEmpty }
}

export type LeadViews = ReturnType<typeof createLeadViews>
