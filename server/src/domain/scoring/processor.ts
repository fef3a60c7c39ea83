import { BSON, type AnyBulkWriteOperation, type Collection, type Document } from 'mongodb'
import type { Collections } from '../../infra/db.js'
import { duplicateWriteErrors, findByIds, idLists, insertIgnoringDuplicates, isDuplicateKey, isTransient, retryTransient } from '../../infra/db.js'
import type { BatchNotify, Crossing, EventDoc, LeadBatch, LeadDoc, LedgerDoc, ScoreParts, ScoreState, StoredPrediction, StoredState } from '../types.js'
import type { PredictiveScore } from '../../contracts/index.js'
import { decodeKeys } from '../../lib/keys.js'
import type { LockService } from '../locks.js'
import { holdLeadLock } from '../lead-lock.js'
import type { ActiveRuleset, RulesetService } from '../rulesets/ruleset-service.js'
import type { IdentityService } from '../identity.js'
import { DECAY_TICK_TYPE, SYSTEM_SOURCE, type ScoringPipeline } from './pipeline.js'
import { initialState, partsOf, gradeFor, intentLabelFor } from './model.js'
import { newId } from '../../lib/ids.js'
import { carriedLedger, packCarried, toCarried } from './carried-ledger.js'
import { loadState, storeState } from './stored-state.js'
import { batchTokenOf, eventIdOf, ledgerRangeOf } from '../ids.js'
import { enteredCount, gradeOf, notificationIdOf, trackCrossings } from '../webhooks/crossings.js'
import { together } from '../../lib/together.js'
import { mapLimit } from '../../lib/map-limit.js'
import type { LeadViews } from '../lead-views/service.js'
import { afterSet, isConversionEvent, summaryOf, type LeadChange } from '../lead-views/summary.js'
import { decayKeyOf, nextDecayAt, type DecayKeyChange, type DecaySchedule } from './decay-schedule.js'
import { unpackProperties } from '../events/stored-properties.js'

/** What a committed scoring batch changed; handed to listeners (live updates, metrics). */
export interface CommittedBatch {
  leadId: string
  before: ScoreParts & { stage: string }
  after: ScoreParts & { stage: string }
  lastSeq: number
  events: number
  entries: Array<Pick<LedgerDoc, '_id' | 'eventId' | 'eventType' | 'delta' | 'reasons' | 'occurredAt'>>
  rescored: boolean
}

/** Where committed stage and grade crossings go (the webhook outbox). */
export interface BatchNotifier {
  /** Id of the running bulk re-score whose notifications are held, or null. */
  heldBy(): Promise<string | null>
  /** Records committed batches' crossings (a few commands for them all). Runs in finalize, so it must be idempotent. */
  recordMany(items: ReadonlyArray<{ leadId: string; token: string; notify: BatchNotify }>): Promise<void>
}

export interface ProcessResult { locked: boolean; events: number; batches: number; conflicts: number }

/** The outcome of scoring many leads together. */
export interface ManyResult {
  /** Leads whose lock another run held: that run re-checks them after itself. */
  busy: string[]
  /** Leads this call held and scored (or found nothing to score for). */
  done: string[]
  /**
   * The `lastSeq` each of the `done` leads was left at, where this call knows it: the lead committed its last round,
   * or had nothing to score and no re-score flag. `withWork` then needs no read of those leads.
   */
  watermarks: Map<string, number>
  events: number
  batches: number
  conflicts: number
}

export interface LeadProcessorDeps {
  c: Collections
  locks: LockService
  rulesets: RulesetService
  pipeline: ScoringPipeline
  now: () => Date
  lockLifetimeMs: number
  eventsPerRun: number
  /**
   * Most single-document writes sent in one command. FerretDB 1.24 as released holds one of its 100 SQLite
   * connections per single-document update until the whole command ends, so large commands there would starve it;
   * MongoDB and the embedded build take more.
   */
  writesPerCommand?: number
  /** Whether the database answers `_id: { $in }` from its index (see `Database.idIn`): lists of ids are then one query. */
  idIn?: boolean
  /** Records the lead external ids that scoring gives email-keyed leads (aliases for identity resolution). */
  identity?: IdentityService
  log: { warn(o: object, m: string): void; debug(o: object, m: string): void }
  onCommitted?: (b: CommittedBatch) => void
  /**
   * Called as soon as a committed batch's ledger entries are visible, before the counters and the rest of finalize
   * (notifications, aliases, event statuses): live messages go out here, a command or two after the commit.
   */
  onVisible?: (b: CommittedBatch) => void
  notifier?: BatchNotifier
  /** Test seam: called after the ledger is written and before the commit, to simulate crashes and pauses. */
  beforeCommit?: (leadId: string) => Promise<void>
  /** The lead index and aggregates, kept in step with every commit. */
  views?: LeadViews
  /** When each lead next decays, kept in step with every commit. */
  decay?: DecaySchedule
  /** The database answers queries other than by `_id` by reading the collection (FerretDB): use `_id` ranges. */
  scansQueries?: boolean
}

/** A committed batch to finish: its lead, its record, and the lead's ledger where a batch's read found it already. */
interface FinalizeItem {
  lead: Pick<LeadDoc, '_id' | 'key' | 'rev' | 'ledgerKeyed'>
  batch: LeadBatch
  /** The lead's state as the batch committed it (what a carried entry without a state stands for). */
  state: StoredState
  prior?: PriorEntry[] | undefined
  /** The batch's ledger entries in full, when this process just scored it (else read from what the batch carries). */
  entries?: LedgerDoc[] | undefined
}

/** Most ledger entries, and their size as BSON, that a commit carries itself (see `LeadBatch.ledger`). */
const INLINE_ENTRIES = 4
const INLINE_BYTES = 8_000
/** Most new events one batch of leads reads (about 1 KB each in memory). */
const MAX_BATCH_EVENTS = 20_000

// the writers' side of the lead lock lives in lead-lock.ts (same lock documents, same protocol)
export { LockBusyError } from '../lead-lock.js'

/** One lead's run inside a batch: everything computed before the writes. */
interface Prepared {
  lead: LeadDoc
  token: string
  entries: LedgerDoc[]
  batch: LeadBatch
  set: Record<string, unknown>
  committed: CommittedBatch
  /** The lead's summary before and after (lead-views/); before is null for a lead never counted yet. */
  change: LeadChange
  /** The events scored for the first time (counted by event time in the aggregates). */
  scored: Array<{ occurredAt: Date; type: string }>
  /** The lead's decay schedule key before and after. */
  decayKey: DecayKeyChange
  /** The lead's ledger as read before the commit, where a batch's read served it (see `adjacentLedgers`). */
  prior?: PriorEntry[]
}

/** What finding the ledger entries a replay supersedes needs of an entry. */
type PriorEntry = Pick<LedgerDoc, '_id' | 'leadId' | 'committed' | 'superseded' | 'batch' | 'ord'>
const PRIOR_FIELDS = { leadId: 1, committed: 1, superseded: 1, batch: 1, ord: 1 }

/**
 * Scores leads' new events under their locks, many leads at a time. Each database step serves the whole batch in a
 * command or a few (read the leads, read their new events, insert the ledger entries, claim the revisions, commit
 * the leads, finalize), so the cost per lead is a share of a constant number of commands, not a dozen of its own.
 *
 * Per lead, the lead document stays the commit point: ledger entries are written uncommitted first, then the lead
 * is updated with a compare-and-set on (rev, lastSeq) after its next revision was claimed by a unique insert — the
 * fencing token — and only then are the entries committed. A crash at any point leaves each lead either in its old
 * state or in a state the next run completes; a paused worker whose lease expired finds its claim taken or its
 * compare-and-set matching nothing and discards that lead's work, not the others'.
 */
export function createLeadProcessor (deps: LeadProcessorDeps) {
  const { c, locks, rulesets, pipeline, now } = deps

  const perCommand = Math.max(1, deps.writesPerCommand ?? 500)
  /** Point writes by `_id` in unordered commands of `perCommand`; a transient failure repeats the (idempotent) command. */
  async function pointWrites<T extends Document> (col: Collection<T>, ops: Array<AnyBulkWriteOperation<T>>): Promise<void> {
    for (let i = 0; i < ops.length; i += perCommand) {
      const part = ops.slice(i, i + perCommand)
      await retryTransient(async () => await col.bulkWrite(part, { ordered: false }))
    }
  }

  /**
   * Sets the same fields on documents named by `_id`: one update of an `_id` list where the database answers that
   * from its index (`idIn`), else point writes. Repeating it is harmless.
   */
  async function setById<T extends Document> (col: Collection<T>, ids: readonly string[], set: Partial<T>): Promise<void> {
    if (ids.length === 0) return
    if (deps.idIn === true) {
      for (const part of idLists(ids)) await retryTransient(async () => await col.updateMany({ _id: { $in: part } } as never, { $set: set } as never))
      return
    }
    await pointWrites(col, ids.map((id) => ({ updateOne: { filter: { _id: id }, update: { $set: set } } }) as never))
  }

  /** Documents by `_id`: one query per list where the index answers lists, else one lookup each. */
  async function byIds<T extends Document> (col: Collection<T>, ids: readonly string[], projection?: Document): Promise<T[]> {
    if (ids.length === 0) return []
    if (deps.idIn === true) return await findByIds<T, T>(col, ids, projection)
    const found = await mapLimit(ids, 16, async (id) => await col.findOne({ _id: id } as never, projection !== undefined ? { projection } : {}) as T | null)
    return found.filter((d): d is T => d !== null)
  }

  /**
   * Completes committed batches: ledger entries visible, superseded ones marked, notifications and aliases recorded,
   * and last the events marked scored. Idempotent, so a crash part-way is repaired by running it again: a
   * run first finalizes each lead's `lastBatch` whose events do not all show their final status yet (see
   * `unfinished`). Nothing marks a batch done: that was one more write per lead, and a read tells the same.
   */
  async function finalize (items: ReadonlyArray<FinalizeItem>): Promise<void> {
    await showLedger(items)
    await finishBatches(items)
  }

  /**
   * The first half of finalize: committed batches' ledger entries made visible and the ones they replace marked
   * superseded. A commit runs it at once, before the counters and the rest of finalize, so that the live message
   * (`onVisible`) follows the commit by a command or two.
   */
  async function showLedger (items: ReadonlyArray<FinalizeItem>): Promise<void> {
    if (items.length === 0) return
    // A small batch's entries come with its commit and are inserted now, visible at once (from memory when this
    // process just scored them, else unpacked from the commit); a repeat finds them there.
    // A large batch's entries were inserted before the commit and are made visible here. Each write names documents
    // by `_id` and sets a value their batch fixed, so repeating it is harmless; one command serves the whole list.
    await insertIgnoringDuplicates(c.scoreHistory, items.flatMap(({ batch, state, entries }) => batch.ledger === undefined ? [] : entries ?? carriedLedger(batch, state)))
    await setById(c.scoreHistory, items.filter(({ batch }) => batch.ledger === undefined).flatMap(({ batch }) => Array.from({ length: batch.entries }, (_, i) => `${batch.token}:${i}`)), { committed: true })
    // The entries the replays replace are marked superseded, every lead's in one command (or a few): those known by
    // `_id` at once; where a query by lead reads the whole ledger (FerretDB), those found in each lead's `_id` range, a
    // few leads at a time (a re-score of every lead would otherwise read the ledger once per lead); elsewhere by a
    // query per lead, which the index serves.
    const marks: Array<AnyBulkWriteOperation<LedgerDoc>> = []
    await mapLimit(items.filter(({ batch }) => batch.supersedeFrom !== null), 8, async ({ lead, batch, prior }) => {
      const from = batch.supersedeFrom!
      const replaced = { superseded: true, supersededBy: batch.token, supersededReason: batch.reason ?? 'rescored' }
      const mark = (ids: readonly string[]): void => { for (const _id of ids) marks.push({ updateOne: { filter: { _id }, update: { $set: replaced } } }) }
      const visibleAfter = (entries: readonly PriorEntry[]): string[] => entries.filter((e) => e.committed && !e.superseded && e.batch !== batch.token && e.ord > from).map((e) => e._id)
      // the entries replaced are known by `_id` when the replay started from the lead's last batch
      if (batch.supersedeIds !== undefined) { mark(batch.supersedeIds); return }
      // or were read with those of the leads beside it
      if (prior !== undefined) { mark(visibleAfter(prior)); return }
      if (deps.scansQueries === true && (lead.ledgerKeyed === true || lead.rev === 0)) {
        mark(visibleAfter(await c.scoreHistory.find(ledgerRangeOf(lead._id) as never).project<PriorEntry>(PRIOR_FIELDS).toArray()))
        return
      }
      await c.scoreHistory.updateMany({ leadId: lead._id, committed: true, superseded: false, batch: { $ne: batch.token }, ord: { $gt: from } }, { $set: replaced })
    })
    await pointWrites(c.scoreHistory, marks)
  }

  /**
   * The second half of finalize: notifications, aliases, the statuses of unmapped events, and last the removal of
   * the batch's revision claim (the sign that the batch is finished, see `unfinished`). An event's `scored` status is
   * not written: it follows from the lead's `lastSeq` and that sign (events/event-status.ts), a write per event saved.
   */
  async function finishBatches (items: ReadonlyArray<FinalizeItem>): Promise<void> {
    if (items.length === 0) return
    // before the sign, so that once a batch's events show as scored its notifications are recorded too
    await deps.notifier?.recordMany(items.filter(({ batch }) => batch.notify != null).map(({ lead, batch }) => ({ leadId: lead._id, token: batch.token, notify: batch.notify! })))
    if (deps.identity !== undefined) {
      await deps.identity.link(items.filter(({ batch }) => batch.alias !== undefined).map(({ lead, batch }) => ({ externalId: batch.alias!, leadId: lead._id, key: lead.key })))
    }
    const claims = items.filter(({ batch }) => batch.claim !== undefined)
    await setById(c.events, claims.flatMap(({ batch }) => batch.unmapped), { status: 'unmapped' as const })
    // batches committed before claims were signs carry none: their events are marked as they always were, the last
    // one after the others (marking an unmapped last event first would make the batch look finished too soon)
    await markLegacyBatches(items.filter(({ batch }) => batch.claim === undefined))
    for (const part of idLists(claims.map(({ batch }) => batch.claim!))) await c.locks.deleteMany({ _id: { $in: part } })
  }

  /** Marks the events of batches committed before claims were signs: the last event after the others (its sign). */
  async function markLegacyBatches (items: ReadonlyArray<FinalizeItem>): Promise<void> {
    if (items.length === 0) return
    const scored: string[] = []
    const unmappedIds: string[] = []
    for (const { lead, batch } of items) {
      const unmapped = new Set(batch.unmapped)
      for (let seq = batch.seqFrom; seq <= batch.seqTo; seq++) {
        const id = eventIdOf(lead._id, seq)
        if (unmapped.has(id)) unmappedIds.push(id)
        else scored.push(id)
      }
    }
    const last = new Set(items.filter(({ batch }) => batch.seqTo >= batch.seqFrom).map(({ lead, batch }) => eventIdOf(lead._id, batch.seqTo)))
    for (const lastOnes of [false, true]) {
      await setById(c.events, scored.filter((id) => last.has(id) === lastOnes), { status: 'scored' as const })
      await setById(c.events, unmappedIds.filter((id) => last.has(id) === lastOnes), { status: 'unmapped' as const })
    }
  }

  /**
   * The leads whose last batch may not be finalized. A batch keeps its revision claim until finalize ends, so one
   * whose claim is still there (with its token) is unfinished: one read by `_id` per lead. Batches committed before
   * that carry no claim name: finalize marked their last event after the others, so it tells, and a batch without
   * events (a re-score) is told by its ledger entries. Older batches still carry `done: true`.
   */
  async function unfinished (leads: readonly LeadDoc[]): Promise<LeadDoc[]> {
    const open = leads.filter((l) => l.lastBatch != null && l.lastBatch.done !== true)
    if (open.length === 0) return []
    const signed = open.filter((l) => l.lastBatch!.claim !== undefined)
    const held = new Map((await byIds(c.locks, signed.map((l) => l.lastBatch!.claim!), { owner: 1 })).map((d) => [d._id, d.owner]))
    const legacy = open.filter((l) => l.lastBatch!.claim === undefined)
    const legacyOpen = new Set((await unfinishedLegacy(legacy)).map((l) => l._id))
    return open.filter((l) => legacyOpen.has(l._id) || (l.lastBatch!.claim !== undefined && held.get(l.lastBatch!.claim) === l.lastBatch!.token))
  }

  /** `unfinished` for batches committed before claims were signs (see there). */
  async function unfinishedLegacy (open: readonly LeadDoc[]): Promise<LeadDoc[]> {
    if (open.length === 0) return []
    const hasEvents = (l: LeadDoc): boolean => l.lastBatch!.seqTo >= l.lastBatch!.seqFrom
    const eventIds = open.filter(hasEvents).map((l) => eventIdOf(l._id, l.lastBatch!.seqTo))
    const entryIds = open.filter((l) => !hasEvents(l)).flatMap((l) => Array.from({ length: l.lastBatch!.entries }, (_, i) => `${l.lastBatch!.token}:${i}`))
    const pendingLeads = new Set((await byIds(c.events, eventIds, { leadId: 1, status: 1 })).filter((e) => e.status === 'pending').map((e) => e.leadId))
    const entries = await byIds(c.scoreHistory, entryIds, { leadId: 1, committed: 1 })
    const uncommitted = new Set(entries.filter((e) => !e.committed).map((e) => e.leadId))
    const stored = new Map<string, number>()
    for (const e of entries) stored.set(e.leadId, (stored.get(e.leadId) ?? 0) + 1)
    // entries a commit carried and finalize has not inserted yet; otherwise an event or entry that cannot be found
    // (a lead being erased) leaves nothing to finish
    const missing = (l: LeadDoc): boolean => !hasEvents(l) && l.lastBatch!.ledger !== undefined && (stored.get(l._id) ?? 0) < l.lastBatch!.entries
    return open.filter((l) => pendingLeads.has(l._id) || uncommitted.has(l._id) || missing(l))
  }

  /**
   * Claims the lead's next revision by inserting a marker on a unique _id: only one batch can win it. A marker left
   * by a worker that died between claiming and committing (the lead still at the old revision long after the claim)
   * is removed so the lead does not stay stuck.
   */
  async function claimRevision (lead: LeadDoc, token: string, at: Date): Promise<boolean> {
    const id = claimIdOf(lead)
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await c.locks.insertOne({ _id: id, owner: token, expiresAt: at, acquiredAt: at })
        return true
      } catch (err) {
        if (!isDuplicateKey(err)) throw err
      }
      const marker = await c.locks.findOne({ _id: id })
      if (marker === null) continue
      if (marker.owner === token) return true // our own insert landed before an error answered it
      if (now().getTime() - marker.acquiredAt.getTime() <= deps.lockLifetimeMs) return false
      const cur = await c.leads.findOne({ _id: lead._id }, { projection: { rev: 1 } })
      if (cur === null || cur.rev !== lead.rev) return false
      await c.locks.deleteOne({ _id: id, owner: marker.owner })
    }
    return false
  }

  /** Claims the next revision of each lead: one insert for them all; those refused go through `claimRevision`. */
  async function claimRevisions (runs: readonly Prepared[], at: Date): Promise<Set<Prepared>> {
    const won = new Set<Prepared>()
    if (runs.length === 0) return won
    const docs = runs.map((r) => ({ _id: claimIdOf(r.lead), owner: r.token, expiresAt: at, acquiredAt: at }))
    let refused: Set<number>
    try {
      await c.locks.insertMany(docs, { ordered: false })
      refused = new Set()
    } catch (err) {
      const dup = duplicateWriteErrors(err)
      if (dup === null && !isTransient(err)) throw err
      refused = dup ?? new Set(runs.map((_, i) => i))
    }
    for (let i = 0; i < runs.length; i++) {
      if (!refused.has(i) || await claimRevision(runs[i]!.lead, runs[i]!.token, at)) won.add(runs[i]!)
    }
    return won
  }

  /**
   * The new events of many leads (seq > lastSeq, in seq order, at most `limit` each), found by looking up windows of
   * their ids (seqs are gapless): a window that comes back full is followed by a larger one for that lead alone.
   */
  async function eventsAfterMany (leads: ReadonlyArray<{ _id: string; lastSeq: number }>, limit: number, capped = new Set<string>()): Promise<Map<string, EventDoc[]>> {
    const out = new Map<string, EventDoc[]>(leads.map((l) => [l._id, []]))
    let open = leads.map((l) => ({ id: l._id, next: l.lastSeq + 1 }))
    // memory stays bounded whatever the backlog: past this many events the batch takes no more (each lead keeps a
    // gapless prefix of its new events; the rest is found by the re-check after the batch)
    let total = 0
    for (let window = Math.min(8, limit); open.length > 0 && window > 0 && total < MAX_BATCH_EVENTS; window = Math.min(window * 4, 256)) {
      const ids: string[] = []
      const wants = open.map((o) => {
        const n = Math.min(window, limit - out.get(o.id)!.length)
        for (let i = 0; i < n; i++) ids.push(eventIdOf(o.id, o.next + i))
        return n
      })
      const found = new Map((await byIds(c.events, ids)).map((d) => [d._id, d]))
      const still: typeof open = []
      open.forEach((o, k) => {
        const list = out.get(o.id)!
        let i = 0
        for (; i < wants[k]!; i++) {
          const d = found.get(eventIdOf(o.id, o.next + i))
          if (d === undefined) break
          list.push(d)
          total++
        }
        if (i === wants[k]! && i > 0 && list.length < limit) still.push({ id: o.id, next: o.next + i })
      })
      open = still
    }
    // leads cut short by the cap, or that reached the limit, may have more new events
    for (const o of open) capped.add(o.id)
    for (const [id, list] of out) if (list.length >= limit) capped.add(id)
    return out
  }

  /**
   * Where a run starts: the lead's state and its new events, or, when a new event is older than the last scored one
   * (or a re-score is flagged), the state of the last checkpoint before that point and every event after it.
   */
  /**
   * The checkpoint of a replay found by `_id` alone, for the common case: the late event is newer than the first
   * entry of the lead's last batch. That batch scored every event after its own starting point (its new events, and
   * for a replay every stored event after its checkpoint), so the checkpoint is one of its entries, every event after
   * the checkpoint has a seq at or above the lowest seq the batch scored (`scoredFromSeq`), and the entries to
   * supersede are that batch's entries after the checkpoint (older visible entries all sort before them). null when
   * the case does not hold: the caller then queries the ledger and the events.
   */
  async function recentCheckpoint (lead: LeadDoc, replayFrom: string): Promise<{ checkpoint: LedgerDoc; older: EventDoc[]; supersedeIds: string[] } | null> {
    const b = lead.lastBatch
    const from = b?.scoredFromSeq ?? (b?.supersedeFrom === null ? b.seqFrom : null)
    if (b == null || from == null || b.entries === 0 || from > lead.lastSeq) return null
    const entries = b.ledger !== undefined ? carriedLedger(b, lead.state) : await byIds(c.scoreHistory, Array.from({ length: b.entries }, (_, i) => `${b.token}:${i}`))
    if (entries.length !== b.entries) return null
    let checkpoint: LedgerDoc | null = null
    for (const e of entries) if (e.ord < replayFrom && (checkpoint === null || e.ord > checkpoint.ord)) checkpoint = e
    if (checkpoint === null) return null
    const cp = checkpoint
    const events = await byIds(c.events, Array.from({ length: lead.lastSeq - from + 1 }, (_, i) => eventIdOf(lead._id, from + i)))
    if (events.length !== lead.lastSeq - from + 1) return null
    return { checkpoint: cp, older: events.filter((e) => e.ord > cp.ord), supersedeIds: entries.filter((e) => e.ord > cp.ord).map((e) => e._id) }
  }

  async function planReplay (lead: LeadDoc, leadState: ScoreState, newEvents: EventDoc[], settings: Parameters<typeof initialState>[0], history?: EventDoc[]): Promise<{
    replayFrom: string | null; reason: string | null; state: ScoreState; supersedeFrom: string | null; events: EventDoc[]; replayed: number
    supersedeIds?: string[]
  }> {
    const sorted = [...newEvents].sort(byOrd)
    const minNewOrd = sorted[0]?.ord ?? null
    let replayFrom: string | null = lead.rescoreFrom ?? null
    let reason: string | null = lead.rescoreFrom != null ? 'rescored: re-score requested' : null
    if (minNewOrd !== null && lead.lastOrd != null && minNewOrd < lead.lastOrd && (replayFrom === null || minNewOrd < replayFrom)) {
      replayFrom = minNewOrd
      reason = `rescored: late event ${sorted[0]!._id}`
    }
    if (replayFrom === null) return { replayFrom, reason, state: leadState, supersedeFrom: null, events: sorted, replayed: 0 }
    // Restore the state from the last checkpoint before the replay point and replay only the suffix after it: found
    // by `_id` when the checkpoint is in the last batch, else by a query (which FerretDB answers by a collection read).
    const recent = replayFrom !== '' && lead.rescoreFrom == null ? await recentCheckpoint(lead, replayFrom) : null
    if (recent !== null) {
      return {
        replayFrom, reason, state: loadState(recent.checkpoint.state), supersedeFrom: recent.checkpoint.ord, supersedeIds: recent.supersedeIds,
        events: [...recent.older, ...sorted].sort(byOrd), replayed: recent.older.length,
      }
    }
    // Where a query by lead reads the whole collection (FerretDB), both reads are `_id` ranges of this lead (a cost
    // that grows with this lead only); the ledger of a lead scored before its entries were keyed by it is queried.
    let checkpoint: LedgerDoc | null = null
    if (replayFrom !== '' && lead.ledgerKeyed === true && deps.scansQueries === true) {
      for (const e of await c.scoreHistory.find(ledgerRangeOf(lead._id) as never).toArray()) {
        if (e.committed && !e.superseded && e.ord < replayFrom && (checkpoint === null || e.ord > checkpoint.ord || (e.ord === checkpoint.ord && e._id > checkpoint._id))) checkpoint = e
      }
    } else if (replayFrom !== '') {
      checkpoint = await c.scoreHistory.find({ leadId: lead._id, committed: true, superseded: false, ord: { $lt: replayFrom } }).sort({ ord: -1 }).limit(1).next()
    }
    const supersedeFrom = checkpoint?.ord ?? ''
    const older = history !== undefined && supersedeFrom === '' ? history : deps.scansQueries !== true
      ? await c.events.find({ leadId: lead._id, seq: { $lte: lead.lastSeq }, ord: { $gt: supersedeFrom } }).toArray()
      : lead.lastSeq < 1 ? [] : (await c.events.find({ _id: { $gte: eventIdOf(lead._id, 1), $lte: eventIdOf(lead._id, lead.lastSeq) } } as never).toArray()).filter((e) => e.ord > supersedeFrom)
    return { replayFrom, reason, state: checkpoint !== null ? loadState(checkpoint.state) : initialState(settings), supersedeFrom, events: [...older, ...sorted].sort(byOrd), replayed: older.length }
  }

  /**
   * Scores one lead's new events in memory: the ledger entries, the batch record and the lead's new fields. Reads
   * the database only for a replay (a late event or a re-score). null when there is nothing to do.
   */
  async function prepare (lead: LeadDoc, newEvents: EventDoc[], rescore: boolean, ruleset: ActiveRuleset, heldBy: string | null, history?: EventDoc[]): Promise<Prepared | null> {
    // under the lead's id, so that the ledger entries (`<token>:<i>`) of a lead are an `_id` range
    const token = batchTokenOf(lead._id, newId('bt'))
    if (rescore) lead = { ...lead, rescoreFrom: '' }
    if (newEvents.length === 0 && lead.rescoreFrom == null) return null
    const leadState = loadState(lead.state)
    let plan = await planReplay(lead, leadState, newEvents, ruleset.settings, history)
    // A replay re-scores every stored event after its checkpoint. When more new events wait than this run took, the
    // run takes as many more as it replays (the replay is paid for anyway), so a shuffled backlog costs each event
    // a bounded number of replays instead of one replay per `eventsPerRun` events.
    if (plan.replayFrom !== null && newEvents.length === deps.eventsPerRun && plan.replayed > newEvents.length) {
      const more = (await eventsAfterMany([{ _id: lead._id, lastSeq: lead.lastSeq + newEvents.length }], plan.replayed - newEvents.length)).get(lead._id)!
      if (more.length > 0) {
        newEvents = [...newEvents, ...more]
        plan = await planReplay(lead, leadState, newEvents, ruleset.settings, history)
      }
    }
    const { replayFrom, reason, supersedeFrom, events } = plan
    let state = plan.state

    const beforeParts = { ...partsOf(leadState), stage: leadState.stage }
    const entries: LedgerDoc[] = []
    const unmapped: string[] = []
    const crossings: Crossing[] = []
    const created = now()
    // the attributes as of each event: the stored ones, then those the batch's events carry, in canonical order
    let attributes: Record<string, unknown> = decodeKeys(lead.attributes ?? {})
    let prediction: StoredPrediction | null = null
    const stored = (p: PredictiveScore | null, at: Date): StoredPrediction | null => p === null ? null : { ...p, at }
    // the last entry's state is most often the lead's new one: stored once for both, it is found carried by identity
    let lastStored: { from: ScoreState; stored: StoredState } | null = null
    const storedOf = (st: ScoreState): StoredState => {
      if (lastStored?.from !== st) lastStored = { from: st, stored: storeState(st) }
      return lastStored.stored
    }
    for (const ev of events) {
      if (ev.leadProfile?.attributes !== undefined) attributes = { ...attributes, ...decodeKeys(unpackProperties(ev.leadProfile.attributes)) }
      const out = await pipeline.scoreEvent(lead, ev, state, ruleset, { attributes })
      const pred = stored(out.predictive, ev.occurredAt)
      if (pred !== null) prediction = pred
      if (!out.mapped) {
        // not scored by the rules, but lead activity all the same: the state carries it on (a decay tick that
        // changed nothing is not activity)
        if (!(ev.sourceId === SYSTEM_SOURCE && ev.type === DECAY_TICK_TYPE)) state = out.state
        if (ev.seq > lead.lastSeq) unmapped.push(ev._id)
        continue
      }
      const before = partsOf(state)
      const tracked = trackCrossings(state, out.state, ruleset.settings)
      state = tracked.state
      for (const x of tracked.crossings) {
        crossings.push({ id: notificationIdOf(lead._id, x.kind, x.to, x.n), ...x, eventId: ev._id, occurredAt: ev.occurredAt, score: state.total })
      }
      const after = partsOf(state)
      entries.push({
        _id: `${token}:${entries.length}`, leadId: lead._id, kind: ev.sourceId === 'manual' ? 'adjustment' : 'event', eventId: ev._id, eventType: out.type,
        seq: ev.seq, ord: ev.ord, occurredAt: ev.occurredAt, before, after, delta: after.total - before.total, reasons: out.reasons,
        state: storedOf(state), rulesetVersion: ruleset.version, batch: token, committed: false, superseded: false, createdAt: created,
        ...(ruleset.offer?.ref != null ? { offer: ruleset.offer.ref } : {}),
        ...(pred !== null ? { predictive: pred } : {}),
      })
    }

    const seqs = newEvents.map((e) => e.seq)
    const lastSeq = seqs.length > 0 ? Math.max(...seqs) : lead.lastSeq
    let lastOrd = lead.lastOrd
    for (const e of events) if (lastOrd == null || e.ord > lastOrd) lastOrd = e.ord
    const batch: LeadBatch = {
      token, supersedeFrom, reason, seqFrom: lead.lastSeq + 1, seqTo: lastSeq, unmapped, entries: entries.length, done: false, claim: claimIdOf(lead),
      ...(plan.supersedeIds !== undefined ? { supersedeIds: plan.supersedeIds } : {}),
      ...(events.length > 0 ? { scoredFromSeq: events.reduce((m, e) => Math.min(m, e.seq), Infinity) } : {}),
    }
    const lastEventAt = events.reduce<Date | null>((m, e) => m === null || e.occurredAt > m ? e.occurredAt : m, lead.lastEventAt ?? null)
    // the lead's profile follows its events in seq order (ingest never updates a lead document itself)
    const profile: Record<string, unknown> = {}
    const sources = new Set(lead.sources ?? [])
    for (const e of [...newEvents].sort((a, b) => a.seq - b.seq)) {
      sources.add(e.sourceId)
      const p = e.leadProfile
      if (p === undefined) continue
      if (p.name !== undefined) profile.name = p.name
      if (p.company !== undefined) profile.company = p.company
      if (p.externalId !== undefined && (lead.externalId ?? null) === null && profile.externalId === undefined) profile.externalId = p.externalId
      for (const [k, v] of Object.entries(unpackProperties(p.attributes))) profile[`attributes.${k}`] = v
    }
    if (typeof profile.externalId === 'string' && lead.key.startsWith('email:')) batch.alias = profile.externalId
    // A small batch carries its entries in the commit, so no write has to make them visible afterwards (one update
    // per entry saved); a large one inserts them uncommitted before the commit, so the lead document stays small.
    const storedState = storedOf(state)
    if (entries.length > 0 && entries.length <= INLINE_ENTRIES && BSON.calculateObjectSize(entries) <= INLINE_BYTES) {
      for (const e of entries) e.committed = true
      // the last entry's state is the lead's new state, which the commit stores anyway: carried once, not twice (it is
      // most of an entry, and the lead document is read and rewritten at every batch)
      const last = entries[entries.length - 1]!
      batch.ledger = packCarried(entries.map((e) => e === last ? toCarried(e, storedState) : e))
    }
    // Crossings go with the commit (in lastBatch), so a crash before they reach the outbox loses none: the next run
    // finalizes the batch again. The receivers' view moves with the commit unless a bulk re-score holds notifications.
    const grade = gradeFor(state.fit, ruleset.settings)
    const view = lead.notified ?? { stage: leadState.stage, grade: gradeOf(leadState, ruleset.settings) }
    let notified: { stage: string; grade: string } | undefined
    if (deps.notifier !== undefined) {
      const after = { stage: state.stage, grade }
      if (crossings.length > 0 || view.stage !== after.stage || view.grade !== after.grade) {
        batch.notify = {
          crossings, before: view, after, heldBy, rev: lead.rev + 1, rulesetVersion: ruleset.version, score: state.total,
          afterN: { stage: enteredCount(state, 'stage', after.stage), grade: enteredCount(state, 'grade', after.grade) },
          lead: { email: lead.email, name: typeof profile.name === 'string' ? profile.name : lead.name },
        }
      }
      if (heldBy === null) notified = after
    }
    const set: Record<string, unknown> = {
      state: storedState, score: state.total, 'scores.engagement': state.engagement, 'scores.fit': state.fit, 'scores.intent': state.intent,
      stage: state.stage, grade, intentLabel: intentLabelFor(state.intent, ruleset.settings), lastSeq, lastOrd, lastBatch: batch, rescoreFrom: null,
      lastScoredAt: created, rulesetVersion: ruleset.version, updatedAt: created, lastEventAt, nextSeq: lastSeq,
      sources: [...sources], ...profile, ...(notified !== undefined ? { notified } : {}),
      ...(prediction !== null ? { predictive: prediction, 'scores.predictive': prediction.score } : {}),
    }
    // a conversion event (after the ruleset's aliases) converts the lead for good, unless a replay from the first
    // event finds none
    const conversion = events.some((e) => isConversionEvent(e.type, ruleset.settings))
    set.convertedByEvent = supersedeFrom === '' ? conversion : (lead.convertedByEvent === true || conversion)
    // a lead first scored with `_id`-ranged ledger entries keeps only such entries (older leads have some without)
    set.ledgerKeyed = lead.rev === 0 || lead.ledgerKeyed === true
    const counted = lead.rev > 0 || lead.inViews === true
    const decayKey = (st: ScoreState): string | null => {
      const due = nextDecayAt(st, ruleset.settings)
      return due === null ? null : decayKeyOf(due, lead._id)
    }
    return {
      lead, token, entries, batch, set, decayKey: { before: lead.rev > 0 ? decayKey(leadState) : null, after: decayKey(state) },
      change: { before: counted ? summaryOf(lead) : null, after: summaryOf(afterSet(lead, set)) },
      scored: newEvents.map((e) => ({ occurredAt: e.occurredAt, type: e.type })),
      committed: {
        leadId: lead._id, before: beforeParts, after: { ...partsOf(state), stage: state.stage }, lastSeq, events: newEvents.length,
        entries: entries.map((e) => ({ _id: e._id, eventId: e.eventId, eventType: e.eventType, delta: e.delta, reasons: e.reasons, occurredAt: e.occurredAt })),
        rescored: replayFrom !== null,
      },
    }
  }

  /** Removes the uncommitted ledger entries of runs that did not commit (by `_id`: no query over the ledger). */
  async function discard (runs: readonly Prepared[]): Promise<void> {
    const ids = runs.filter((r) => r.batch.ledger === undefined).flatMap((r) => r.entries.map((e) => e._id))
    for (const part of idLists(ids)) await c.scoreHistory.deleteMany({ _id: { $in: part }, committed: false })
  }

  /**
   * Writes prepared runs: the ledger entries of all of them in one insert, the revision claims in another, the leads'
   * compare-and-sets in one command (or a few), then one finalize for all. Returns the runs that committed.
   */
  async function commit (runs: Prepared[], lost: ReadonlySet<string>): Promise<Prepared[]> {
    const entries = runs.filter((r) => r.batch.ledger === undefined).flatMap((r) => r.entries)
    for (let i = 0; i < entries.length; i += 1000) {
      const part = entries.slice(i, i + 1000)
      // entry ids are unique to their batch, so on a retry a clash can only be our own earlier, partly stored attempt
      await retryTransient(async () => {
        try { await c.scoreHistory.insertMany(part, { ordered: false }) } catch (err) { if (!isDuplicateKey(err)) throw err }
      })
    }
    if (deps.beforeCommit !== undefined) for (const r of runs) await deps.beforeCommit(r.lead._id)
    const live = runs.filter((r) => !lost.has(r.lead._id))
    const at = now()
    // The revision claims, and the index keys and decay keys the leads will have, go before the compare-and-sets (so a
    // committed lead is never missing from the lead list), together: three collections, nothing orders them. The keys
    // of a lead whose claim is refused stay (another run holds that revision and may have the same keys; an extra key
    // is never wrong: readers and the decay tick check keys against their leads).
    const [claimed] = await together([
      claimRevisions(live, at),
      live.length > 0 ? Promise.resolve(deps.views?.prepare(live.map((r) => r.change))) : Promise.resolve(),
      live.length > 0 ? Promise.resolve(deps.decay?.prepare(live.map((r) => r.decayKey))) : Promise.resolve(),
    ] as const)
    const ready = live.filter((r) => claimed.has(r))
    for (const r of live) if (!claimed.has(r)) deps.log.warn({ leadId: r.lead._id }, `revision ${r.lead.rev + 1} of the lead was claimed by another worker; batch discarded`)
    let committed: Prepared[] = []
    if (ready.length > 0) {
      let matched = -1
      try {
        const ops = ready.map((r) => ({ updateOne: { filter: { _id: r.lead._id, rev: r.lead.rev, lastSeq: r.lead.lastSeq }, update: { $set: r.set, $inc: { rev: 1 } } } }))
        if (ready.length <= perCommand) matched = (await c.leads.bulkWrite(ops as never, { ordered: false })).matchedCount
        else for (let i = 0; i < ops.length; i += perCommand) matched = Math.max(matched, 0) + (await c.leads.bulkWrite(ops.slice(i, i + perCommand) as never, { ordered: false })).matchedCount
      } catch (err) {
        if (!isTransient(err)) throw err
      }
      if (matched === ready.length) {
        committed = ready
      } else {
        // someone else advanced some of these leads (a lease that expired while paused), or the command failed
        // part-way: each lead's document says whether this run's batch is the one it holds
        const holds = new Map((await byIds(c.leads, ready.map((r) => r.lead._id), { 'lastBatch.token': 1 })).map((l) => [l._id, l.lastBatch?.token]))
        committed = ready.filter((r) => holds.get(r.lead._id) === r.token)
        for (const r of ready) if (!committed.includes(r)) deps.log.warn({ leadId: r.lead._id }, 'lead changed under us; batch discarded')
      }
    }
    await discard(runs.filter((r) => !committed.includes(r)))
    const done = committed.map((r) => ({ lead: r.lead, batch: r.batch, state: r.set.state as StoredState, prior: r.prior, entries: r.entries }))
    await showLedger(done)
    for (const r of committed) deps.onVisible?.(r.committed)
    const failed = ready.filter((r) => !committed.includes(r))
    await together([
      // a failure here leaves keys that the decay tick checks against their leads when they come due
      Promise.resolve(deps.decay?.settle(committed.map((r) => r.decayKey), failed.map((r) => r.decayKey)))
        .catch((err: unknown) => { deps.log.warn({ err, leads: committed.length }, 'decay schedule not updated') }),
      // before the rest of finalize, so that once a batch's events show as scored, the lead and event counters include
      // them (the scored count follows finalize); a failure here leaves the counters behind (a rebuild repairs them),
      // never the scores
      Promise.resolve(deps.views?.settle(committed.map((r) => r.change), failed.map((r) => r.change), committed.flatMap((r) => r.scored)))
        .catch((err: unknown) => { deps.log.warn({ err, leads: committed.length }, 'lead views not updated; rebuild them (POST /v1/views/rebuild)') }),
    ] as const)
    await finishBatches(done)
    if (deps.views !== undefined) {
      await deps.views.finalized(committed.reduce((n, r) => n + r.scored.length, 0), committed.reduce((n, r) => n + r.batch.unmapped.length, 0))
        .catch((err: unknown) => { deps.log.warn({ err, leads: committed.length }, 'lead views not updated; rebuild them (POST /v1/views/rebuild)') })
    }
    for (const r of committed) deps.onCommitted?.(r.committed)
    return committed
  }

  /**
   * The stored events (seq 1..lastSeq) of leads being re-scored, by `_id` list, while they fit in MAX_BATCH_EVENTS; a
   * lead left out reads its own (see `planReplay`).
   */
  async function storedEvents (leads: readonly LeadDoc[]): Promise<Map<string, EventDoc[]>> {
    const out = new Map<string, EventDoc[]>()
    const ids: string[] = []
    for (const l of leads) {
      if (ids.length + l.lastSeq > MAX_BATCH_EVENTS) break
      out.set(l._id, [])
      for (let seq = 1; seq <= l.lastSeq; seq++) ids.push(eventIdOf(l._id, seq))
    }
    for (const e of await byIds(c.events, ids)) out.get(e.leadId)?.push(e)
    // a lead with an event missing (erased meanwhile) reads its own
    for (const l of leads) if (out.get(l._id)?.length !== l.lastSeq) out.delete(l._id)
    return out
  }

  /**
   * The ledgers of leads adjacent in `_id` order (a page of a scan of the leads), in one `_id` range read from the
   * first one's entries to the last one's, where a query by lead reads the whole ledger (FerretDB): a re-score
   * supersedes every visible entry of its leads, and a read per lead was half of its time. Leads whose entries are not
   * all under their `_id` (scored before they were) are left out, as are entries of leads outside the list (created
   * after the scan passed them).
   */
  async function adjacentLedgers (leads: ReadonlyArray<Pick<LeadDoc, '_id' | 'rev' | 'ledgerKeyed'>>): Promise<Map<string, PriorEntry[]>> {
    const out = new Map<string, PriorEntry[]>()
    if (deps.scansQueries !== true) return out
    const keyed = leads.filter((l) => l.ledgerKeyed === true || l.rev === 0).map((l) => l._id).sort()
    if (keyed.length < 2) return out
    for (const id of keyed) out.set(id, [])
    const range = { _id: { $gte: ledgerRangeOf(keyed[0]!)._id.$gte, $lt: ledgerRangeOf(keyed[keyed.length - 1]!)._id.$lt } }
    for (const e of await c.scoreHistory.find(range as never).project<PriorEntry>(PRIOR_FIELDS).toArray()) out.get(e.leadId)?.push(e)
    return out
  }

  /**
   * One round over leads this process holds: reads their documents and new events, scores them, writes them.
   * Returns the leads that committed a full round of new events (more may wait) and the counts.
   */
  async function round (ids: readonly string[], rescore: boolean, lost: ReadonlySet<string>, first: boolean, watermarks: Map<string, number>, adjacent = false): Promise<{ more: string[]; events: number; batches: number; conflicts: number }> {
    const leads = await byIds(c.leads, ids)
    const partial = new Set<string>()
    // Independent steps, run at once (one wait instead of one per step, on the path of every live message): a crashed
    // run's commit finished (it writes only what that batch scored, before anything here is committed), the new events
    // read, the ruleset, the plugins and the notification hold. A re-score replays every stored event of its leads:
    // their ids are known (seqs 1..lastSeq), so one list read serves the batch instead of a read per lead.
    const [, news, ruleset, heldBy, histories] = await together([
      first ? unfinished(leads).then(async (open) => { await finalize(open.map((l) => ({ lead: l, batch: l.lastBatch!, state: l.state }))) }) : Promise.resolve(),
      eventsAfterMany(leads, deps.eventsPerRun, partial),
      rulesets.active(),
      deps.notifier !== undefined ? deps.notifier.heldBy() : Promise.resolve(null),
      rescore ? storedEvents(leads) : Promise.resolve(new Map<string, EventDoc[]>()),
      Promise.resolve(pipeline.prepare?.()),
    ] as const)
    // a few leads at a time: a replay (a late event, a re-score) reads the database, and those reads can overlap
    const runs = (await mapLimit(leads, 4, async (lead) => await prepare(lead, news.get(lead._id)!, rescore, ruleset, heldBy, histories.get(lead._id)))).filter((p): p is Prepared => p !== null)
    // after the crashed runs' commits were finished above, so the entries read show what they committed
    if (rescore && adjacent) {
      const ledgers = await adjacentLedgers(runs.map((r) => r.lead))
      for (const r of runs) r.prior = ledgers.get(r.lead._id)
    }
    const committed = await commit(runs, lost)
    // what the leads were left at: a lead whose run did not commit is left out (it may still carry a re-score flag)
    const ran = new Set(runs.map((r) => r.lead._id))
    for (const id of ids) watermarks.delete(id)
    for (const l of leads) if (!ran.has(l._id) && l.rescoreFrom == null && !lost.has(l._id)) watermarks.set(l._id, l.lastSeq)
    for (const r of committed) if (!lost.has(r.lead._id)) watermarks.set(r.lead._id, r.committed.lastSeq)
    return {
      more: committed.filter((r) => partial.has(r.lead._id) || r.committed.events >= deps.eventsPerRun).map((r) => r.lead._id),
      events: committed.reduce((n, r) => n + r.committed.events, 0),
      batches: committed.length,
      conflicts: runs.length - committed.length,
    }
  }

  /**
   * `adjacent`: the leads are adjacent in `_id` order (a page of a scan of the leads), so a re-score reads their
   * ledgers in one range (see `adjacentLedgers`).
   */
  async function processMany (leadIds: readonly string[], opts: { rescore?: boolean; adjacent?: boolean } = {}): Promise<ManyResult> {
    const owner = newId('lk')
    const unique = [...new Set(leadIds)]
    const names = unique.map((id) => `lead:${id}`)
    const held = await locks.acquireMany(names, owner, deps.lockLifetimeMs)
    const mine = unique.filter((id) => held.has(`lead:${id}`))
    const result: ManyResult = { busy: unique.filter((id) => !held.has(`lead:${id}`)), done: mine, watermarks: new Map(), events: 0, batches: 0, conflicts: 0 }
    if (mine.length === 0) return result
    // one renewal for all the batch's leases, every third of their lifetime; a lead whose lease was lost is dropped
    const heldNames = mine.map((id) => `lead:${id}`)
    const lost = new Set<string>()
    const timer = setInterval(() => {
      locks.renewMany(heldNames, owner, deps.lockLifetimeMs).then((still) => {
        for (const n of heldNames) if (!still.has(n)) lost.add(n.slice(5))
      }, () => { for (const id of mine) lost.add(id) })
    }, Math.max(100, Math.floor(deps.lockLifetimeMs / 3)))
    try {
      let todo: readonly string[] = mine
      for (let n = 0; n < 1000 && todo.length > 0; n++) {
        const r = await round(todo, n === 0 && opts.rescore === true, lost, n === 0, result.watermarks, opts.adjacent === true)
        result.events += r.events
        result.batches += r.batches
        result.conflicts += r.conflicts
        todo = r.more.filter((id) => !lost.has(id))
      }
    } finally {
      clearInterval(timer)
      await locks.releaseMany(heldNames, owner)
    }
    return result
  }

  /**
   * Which of these leads have events past their watermark or a pending re-score (two lookups for them all). Leads
   * whose watermark a scoring call just left them at (`known`, see `ManyResult.watermarks`) are not read again: a
   * lead document is the largest read of a run, and only the event after that watermark tells.
   */
  async function withWork (leadIds: readonly string[], known?: ReadonlyMap<string, number>): Promise<string[]> {
    const leads = await byIds(c.leads, leadIds.filter((id) => known?.has(id) !== true), { lastSeq: 1, rescoreFrom: 1 })
    const flagged = leads.filter((l) => typeof l.rescoreFrom === 'string').map((l) => l._id)
    const rest: Array<{ _id: string; lastSeq: number }> = leads.filter((l) => typeof l.rescoreFrom !== 'string')
    for (const id of leadIds) { const seq = known?.get(id); if (seq !== undefined) rest.push({ _id: id, lastSeq: seq }) }
    const next = await byIds(c.events, rest.map((l) => eventIdOf(l._id, l.lastSeq + 1)), { leadId: 1 })
    return [...flagged, ...next.map((e) => e.leadId)]
  }

  /**
   * Removes revision claims taken before `before` that sign nothing any more (see `finishBatches`): the claim of a run
   * that did not commit, or of a lead erased since. The claim of a lead's last batch stays while that batch is
   * unfinished, however old. One `_id` range read of the claims (few: as many as the work in progress), one list read
   * of their leads. Returns how many were removed.
   */
  async function purgeClaims (before: Date, limit = 1000): Promise<number> {
    const claims = (await c.locks.find({ _id: { $gte: CLAIM_PREFIX, $lt: CLAIM_END } }).limit(limit).toArray())
      .filter((d) => d.acquiredAt < before)
    if (claims.length === 0) return 0
    const leadOf = (id: string): string => id.slice(CLAIM_PREFIX.length, id.lastIndexOf(':'))
    const leads = new Map((await byIds(c.leads, [...new Set(claims.map((d) => leadOf(d._id)))], { 'lastBatch.claim': 1, 'lastBatch.token': 1 })).map((l) => [l._id, l]))
    const signs = (d: { _id: string; owner: string }): boolean => {
      const b = leads.get(leadOf(d._id))?.lastBatch
      return b != null && b.claim === d._id && b.token === d.owner
    }
    let n = 0
    for (const d of claims.filter((x) => !signs(x))) n += (await c.locks.deleteOne({ _id: d._id, owner: d.owner })).deletedCount
    return n
  }

  return {
    withWork,
    purgeClaims,

    /** Whether the lead has events past its watermark or a pending re-score. */
    async hasWork (leadId: string): Promise<boolean> {
      return (await withWork([leadId])).length > 0
    },

    /**
     * Runs `fn` while holding the lead's lock (waiting up to `waitMs` for it): the way every writer other than the
     * scoring run itself changes a lead document, so no two writers ever rewrite one lead at the same time.
     */
    async withLeadLock<T> (leadId: string, fn: () => Promise<T>, waitMs = 10_000): Promise<T> {
      return await holdLeadLock(locks, deps.lockLifetimeMs, leadId, fn, waitMs)
    },

    /** Scores everything pending for many leads at once; leads another run holds come back in `busy`. */
    processMany,

    /** Scores everything pending for one lead. Returns locked:false when another worker holds the lead. */
    async processLead (leadId: string, opts: { rescore?: boolean } = {}): Promise<ProcessResult> {
      const r = await processMany([leadId], opts)
      return { locked: r.busy.length === 0, events: r.events, batches: r.batches, conflicts: r.conflicts }
    },
  }
}

const CLAIM_PREFIX = 'commit:'
/** The first `_id` after every claim's (`;` follows `:`). */
const CLAIM_END = 'commit;'

/**
 * The lock document that claims a lead's next revision (see `claimRevision`). It stays after the commit until the
 * batch is finalized: the sign that finalize finished (see `unfinished`).
 */
function claimIdOf (lead: Pick<LeadDoc, '_id' | 'rev'>): string {
  return `${CLAIM_PREFIX}${lead._id}:${lead.rev + 1}`
}

function byOrd (a: EventDoc, b: EventDoc): number {
  return a.ord < b.ord ? -1 : a.ord > b.ord ? 1 : 0
}

export type LeadProcessor = ReturnType<typeof createLeadProcessor>
