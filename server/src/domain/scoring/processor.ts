import type { AnyBulkWriteOperation, Collection, Document } from 'mongodb'
import type { Collections } from '../../infra/db.js'
import { idLists, isDuplicateKey, retryTransient } from '../../infra/db.js'
import type { BatchNotify, Crossing, EventDoc, LeadBatch, LeadDoc, LedgerDoc, ScoreParts, ScoreState, StoredPrediction } from '../types.js'
import type { PredictiveScore } from '../../contracts/index.js'
import { decodeKeys } from '../../lib/keys.js'
import type { LockService } from '../locks.js'
import type { RulesetService } from '../rulesets/ruleset-service.js'
import { DECAY_TICK_TYPE, SYSTEM_SOURCE, type ScoringPipeline } from './pipeline.js'
import { initialState, partsOf, gradeFor, intentLabelFor } from './model.js'
import { newId } from '../../lib/ids.js'
import { eventIdOf } from '../ids.js'
import { enteredCount, gradeOf, notificationIdOf, trackCrossings } from '../webhooks/crossings.js'

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
  /** Records a committed batch's crossings. Runs in finalize, so it must be idempotent. */
  record(leadId: string, token: string, notify: BatchNotify): Promise<void>
}

export interface ProcessResult { locked: boolean; events: number; batches: number; conflicts: number }

export interface LeadProcessorDeps {
  c: Collections
  locks: LockService
  rulesets: RulesetService
  pipeline: ScoringPipeline
  now: () => Date
  lockLifetimeMs: number
  eventsPerRun: number
  /**
   * Most single-document writes sent in one command. FerretDB 1.24 holds one of its 100 SQLite connections per
   * single-document update until the whole command ends, so large commands there would starve it; MongoDB takes 500.
   */
  writesPerCommand?: number
  /** Whether the database answers `_id: { $in }` from its index (see `Database.idIn`): lists of ids are then one query. */
  idIn?: boolean
  log: { warn(o: object, m: string): void; debug(o: object, m: string): void }
  onCommitted?: (b: CommittedBatch) => void
  notifier?: BatchNotifier
  /** Test seam: called after the ledger is written and before the commit, to simulate crashes and pauses. */
  beforeCommit?: (leadId: string) => Promise<void>
}

export class LockLostError extends Error {}
/** The lead stayed locked by a scoring run for longer than the caller would wait. */
export class LockBusyError extends Error {
  constructor (readonly leadId: string) { super(`lead ${leadId} is busy`) }
}

/**
 * Scores a lead's new events under its lock. The lead document is the commit point: ledger entries are written
 * uncommitted first, then the lead is updated with a compare-and-set on (rev, lastSeq) — the fencing token — and
 * only then are the entries committed. A crash at any point leaves either the old state or a state the next run
 * completes; a paused worker whose lease expired finds its compare-and-set matching nothing and aborts.
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

  /** Completes a committed batch: ledger entries visible, superseded ones marked, events marked scored. Idempotent. */
  async function finalize (leadId: string, batch: LeadBatch): Promise<void> {
    // first, so that once the batch's events show as scored its notifications are recorded too
    if (batch.notify != null && deps.notifier !== undefined) await deps.notifier.record(leadId, batch.token, batch.notify)
    // Each write names one document by `_id` alone and sets a value this batch fixed, so repeating it is harmless.
    // All go in one unordered update command: on FerretDB (SQLite) concurrent single writes queue for the database's
    // write lock, and one command of many point writes takes it far less often.
    const entryIds = Array.from({ length: batch.entries }, (_, i) => `${batch.token}:${i}`)
    await setById(c.scoreHistory, entryIds, { committed: true })
    if (batch.supersedeFrom !== null) {
      await c.scoreHistory.updateMany(
        { leadId, committed: true, superseded: false, batch: { $ne: batch.token }, ord: { $gt: batch.supersedeFrom } },
        { $set: { superseded: true, supersededBy: batch.token, supersededReason: batch.reason ?? 'rescored' } },
      )
    }
    const unmapped = new Set(batch.unmapped)
    const seqs = Array.from({ length: Math.max(0, batch.seqTo - batch.seqFrom + 1) }, (_, i) => batch.seqFrom + i)
    const ids = seqs.map((seq) => eventIdOf(leadId, seq))
    await setById(c.events, ids.filter((id) => !unmapped.has(id)), { status: 'scored' as const })
    await setById(c.events, ids.filter((id) => unmapped.has(id)), { status: 'unmapped' as const })
    await c.leads.updateOne({ _id: leadId, 'lastBatch.token': batch.token }, { $set: { 'lastBatch.done': true } })
  }

  /**
   * Claims the lead's next revision by inserting a marker on a unique _id: only one batch can win it. A marker left
   * by a worker that died between claiming and committing (the lead still at the old revision long after the claim)
   * is removed so the lead does not stay stuck.
   */
  async function claimRevision (lead: LeadDoc, token: string, at: Date): Promise<boolean> {
    const id = `commit:${lead._id}:${lead.rev + 1}`
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await c.locks.insertOne({ _id: id, owner: token, expiresAt: at, acquiredAt: at })
        return true
      } catch (err) {
        if (!isDuplicateKey(err)) throw err
      }
      const marker = await c.locks.findOne({ _id: id })
      if (marker === null) continue
      if (now().getTime() - marker.acquiredAt.getTime() <= deps.lockLifetimeMs) return false
      const cur = await c.leads.findOne({ _id: lead._id }, { projection: { rev: 1 } })
      if (cur === null || cur.rev !== lead.rev) return false
      await c.locks.deleteOne({ _id: id, owner: marker.owner })
    }
    return false
  }

  /** The lead's events after `lastSeq`, in seq order, found by walking their ids (seqs are gapless). */
  async function eventsAfter (leadId: string, lastSeq: number, limit: number): Promise<EventDoc[]> {
    const out: EventDoc[] = []
    if (deps.idIn === true) {
      // windows of ids, each one query answered from the index
      for (let from = lastSeq + 1; out.length < limit;) {
        const n = Math.min(64, limit - out.length)
        const docs = await c.events.find({ _id: { $in: Array.from({ length: n }, (_, i) => eventIdOf(leadId, from + i)) } }).toArray()
        const bySeq = new Map(docs.map((d) => [d.seq, d]))
        for (let i = 0; i < n; i++) {
          const d = bySeq.get(from + i)
          if (d === undefined) return out
          out.push(d)
        }
        from += n
      }
      return out
    }
    // a few at a time at first (most runs find one or two new events), then more while they keep coming
    let chunk = 4
    for (let from = lastSeq + 1; out.length < limit; from += chunk, chunk = Math.min(chunk * 2, 32)) {
      const n = Math.min(chunk, limit - out.length)
      const docs = await Promise.all(Array.from({ length: n }, async (_, i) => await c.events.findOne({ _id: eventIdOf(leadId, from + i) })))
      for (const d of docs) {
        if (d === null) return out
        out.push(d)
      }
    }
    return out
  }

  /**
   * Where a run starts: the lead's state and its new events, or, when a new event is older than the last scored one
   * (or a re-score is flagged), the state of the last checkpoint before that point and every event after it.
   */
  async function planReplay (lead: LeadDoc, newEvents: EventDoc[], settings: Parameters<typeof initialState>[0]): Promise<{
    replayFrom: string | null; reason: string | null; state: ScoreState; supersedeFrom: string | null; events: EventDoc[]; replayed: number
  }> {
    const sorted = [...newEvents].sort(byOrd)
    const minNewOrd = sorted[0]?.ord ?? null
    let replayFrom: string | null = lead.rescoreFrom ?? null
    let reason: string | null = lead.rescoreFrom != null ? 'rescored: re-score requested' : null
    if (minNewOrd !== null && lead.lastOrd != null && minNewOrd < lead.lastOrd && (replayFrom === null || minNewOrd < replayFrom)) {
      replayFrom = minNewOrd
      reason = `rescored: late event ${sorted[0]!._id}`
    }
    if (replayFrom === null) return { replayFrom, reason, state: lead.state, supersedeFrom: null, events: sorted, replayed: 0 }
    // Restore the state from the last checkpoint before the replay point and replay only the suffix after it.
    const checkpoint = replayFrom === ''
      ? null
      : await c.scoreHistory.find({ leadId: lead._id, committed: true, superseded: false, ord: { $lt: replayFrom } }).sort({ ord: -1 }).limit(1).next()
    const supersedeFrom = checkpoint?.ord ?? ''
    const older = await c.events.find({ leadId: lead._id, seq: { $lte: lead.lastSeq }, ord: { $gt: supersedeFrom } }).toArray()
    return { replayFrom, reason, state: checkpoint?.state ?? initialState(settings), supersedeFrom, events: [...older, ...sorted].sort(byOrd), replayed: older.length }
  }

  async function runOnce (lead: LeadDoc, token: string, lease: { lost: boolean }, rescore: boolean): Promise<{ events: number; committed: boolean }> {
    let newEvents = await eventsAfter(lead._id, lead.lastSeq, deps.eventsPerRun)
    if (rescore) lead = { ...lead, rescoreFrom: '' }
    if (newEvents.length === 0 && lead.rescoreFrom == null) return { events: 0, committed: false }
    const ruleset = await rulesets.active()
    await pipeline.prepare?.()
    let plan = await planReplay(lead, newEvents, ruleset.settings)
    // A replay re-scores every stored event after its checkpoint. When more new events wait than this run took, the
    // run takes as many more as it replays (the replay is paid for anyway), so a shuffled backlog costs each event
    // a bounded number of replays instead of one replay per `eventsPerRun` events.
    if (plan.replayFrom !== null && newEvents.length === deps.eventsPerRun && plan.replayed > newEvents.length) {
      const more = await eventsAfter(lead._id, lead.lastSeq + newEvents.length, plan.replayed - newEvents.length)
      if (more.length > 0) {
        newEvents = [...newEvents, ...more]
        plan = await planReplay(lead, newEvents, ruleset.settings)
      }
    }
    const { replayFrom, reason, supersedeFrom, events } = plan
    let state = plan.state

    const beforeParts = { ...partsOf(lead.state), stage: lead.state.stage }
    const entries: LedgerDoc[] = []
    const unmapped: string[] = []
    const crossings: Crossing[] = []
    const created = now()
    // the attributes as of each event: the stored ones, then those the batch's events carry, in canonical order
    let attributes: Record<string, unknown> = decodeKeys(lead.attributes ?? {})
    let prediction: StoredPrediction | null = null
    const stored = (p: PredictiveScore | null, at: Date): StoredPrediction | null => p === null ? null : { ...p, at }
    for (const ev of events) {
      if (ev.leadProfile?.attributes !== undefined) attributes = { ...attributes, ...decodeKeys(ev.leadProfile.attributes) }
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
        state, rulesetVersion: ruleset.version, batch: token, committed: false, superseded: false, createdAt: created,
        ...(pred !== null ? { predictive: pred } : {}),
      })
    }
    if (lease.lost) throw new LockLostError('lease lost before commit')
    if (entries.length > 0) {
      // entry ids are unique to this batch, so on a retry a clash can only be our own earlier, partly stored attempt
      await retryTransient(async () => {
        try { await c.scoreHistory.insertMany(entries, { ordered: false }) } catch (err) { if (!isDuplicateKey(err)) throw err }
      })
    }
    if (deps.beforeCommit !== undefined) await deps.beforeCommit(lead._id)
    if (lease.lost) {
      await c.scoreHistory.deleteMany({ leadId: lead._id, batch: token, committed: false })
      throw new LockLostError('lease lost before commit')
    }

    const seqs = newEvents.map((e) => e.seq)
    const lastSeq = seqs.length > 0 ? Math.max(...seqs) : lead.lastSeq
    let lastOrd = lead.lastOrd
    for (const e of events) if (lastOrd == null || e.ord > lastOrd) lastOrd = e.ord
    const batch: LeadBatch = {
      token, supersedeFrom, reason, seqFrom: lead.lastSeq + 1, seqTo: lastSeq, unmapped, entries: entries.length, done: false,
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
      if (p.externalId !== undefined && (lead.externalId ?? null) === null) profile.externalId = p.externalId
      for (const [k, v] of Object.entries(p.attributes ?? {})) profile[`attributes.${k}`] = v
    }
    // Crossings go with the commit (in lastBatch), so a crash before they reach the outbox loses none: the next run
    // finalizes the batch again. The receivers' view moves with the commit unless a bulk re-score holds notifications.
    const grade = gradeFor(state.fit, ruleset.settings)
    const view = lead.notified ?? { stage: lead.state.stage, grade: gradeOf(lead.state, ruleset.settings) }
    let notified: { stage: string; grade: string } | undefined
    if (deps.notifier !== undefined) {
      const heldBy = await deps.notifier.heldBy()
      const after = { stage: state.stage, grade }
      if (crossings.length > 0 || view.stage !== after.stage || view.grade !== after.grade) {
        const notify: BatchNotify = {
          crossings, before: view, after, heldBy, rev: lead.rev + 1, rulesetVersion: ruleset.version, score: state.total,
          afterN: { stage: enteredCount(state, 'stage', after.stage), grade: enteredCount(state, 'grade', after.grade) },
          lead: { email: lead.email, name: typeof profile.name === 'string' ? profile.name : lead.name },
        }
        batch.notify = notify
      }
      if (heldBy === null) notified = after
    }
    // The fencing token: exactly one batch can claim the lead's next revision, because the claim is an insert on a
    // unique _id (a conditional update alone is not an atomic read-modify-write on every MongoDB-protocol server).
    if (!await claimRevision(lead, token, created)) {
      await c.scoreHistory.deleteMany({ leadId: lead._id, batch: token, committed: false })
      throw new LockLostError(`revision ${lead.rev + 1} of the lead was claimed by another worker; batch discarded`)
    }
    const res = await c.leads.updateOne(
      { _id: lead._id, rev: lead.rev, lastSeq: lead.lastSeq },
      {
        $set: {
          state, score: state.total, 'scores.engagement': state.engagement, 'scores.fit': state.fit, 'scores.intent': state.intent,
          stage: state.stage, grade, intentLabel: intentLabelFor(state.intent, ruleset.settings), lastSeq, lastOrd, lastBatch: batch, rescoreFrom: null,
          lastScoredAt: created, rulesetVersion: ruleset.version, updatedAt: created, lastEventAt, nextSeq: lastSeq,
          sources: [...sources], ...profile, ...(notified !== undefined ? { notified } : {}),
          ...(prediction !== null ? { predictive: prediction, 'scores.predictive': prediction.score } : {}),
        },
        $inc: { rev: 1 },
      },
    )
    if (res.matchedCount !== 1) {
      // Someone else advanced this lead (our lease expired while we were paused): our work is void.
      await c.scoreHistory.deleteMany({ leadId: lead._id, batch: token, committed: false })
      throw new LockLostError('lead changed under us; batch discarded')
    }
    await finalize(lead._id, batch)
    deps.onCommitted?.({
      leadId: lead._id,
      before: beforeParts,
      after: { ...partsOf(state), stage: state.stage },
      lastSeq,
      events: newEvents.length,
      entries: entries.map((e) => ({ _id: e._id, eventId: e.eventId, eventType: e.eventType, delta: e.delta, reasons: e.reasons, occurredAt: e.occurredAt })),
      rescored: replayFrom !== null,
    })
    return { events: newEvents.length, committed: true }
  }

  return {
    /** Scores everything pending for one lead. Returns locked:false when another worker holds the lead. */
    /** Whether the lead has events past its watermark or a pending re-score. */
    async hasWork (leadId: string): Promise<boolean> {
      const lead = await c.leads.findOne({ _id: leadId }, { projection: { lastSeq: 1, rescoreFrom: 1 } })
      if (lead === null) return false
      if (typeof lead.rescoreFrom === 'string') return true
      return await c.events.findOne({ _id: eventIdOf(leadId, lead.lastSeq + 1) }, { projection: { _id: 1 } }) !== null
    },

    /**
     * Runs `fn` while holding the lead's lock (waiting up to `waitMs` for it): the way every writer other than the
     * scoring run itself changes a lead document, so no two writers ever rewrite one lead at the same time.
     */
    async withLeadLock<T> (leadId: string, fn: () => Promise<T>, waitMs = 10_000): Promise<T> {
      const token = newId('lk')
      const name = `lead:${leadId}`
      const deadline = Date.now() + waitMs
      while (!await locks.acquire(name, token, deps.lockLifetimeMs)) {
        if (Date.now() > deadline) throw new LockBusyError(leadId)
        await new Promise((r) => setTimeout(r, 25 + Math.random() * 75))
      }
      try {
        return await fn()
      } finally {
        await locks.release(name, token)
      }
    },

    async processLead (leadId: string, opts: { rescore?: boolean } = {}): Promise<ProcessResult> {
      const token = newId('lk')
      const lockName = `lead:${leadId}`
      const result: ProcessResult = { locked: false, events: 0, batches: 0, conflicts: 0 }
      if (!await locks.acquire(lockName, token, deps.lockLifetimeMs)) return result
      result.locked = true
      const lease = { lost: false }
      const timer = setInterval(() => {
        locks.renew(lockName, token, deps.lockLifetimeMs).then((ok) => { if (!ok) lease.lost = true }, () => { lease.lost = true })
      }, Math.max(100, Math.floor(deps.lockLifetimeMs / 3)))
      try {
        let first = true
        for (let round = 0; round < 1000; round++) {
          const lead = await c.leads.findOne({ _id: leadId })
          if (lead === null) break
          if (first && lead.lastBatch != null && lead.lastBatch.done !== true) await finalize(lead._id, lead.lastBatch) // finish a crashed run's commit
          try {
            const r = await runOnce(lead, newId('bt'), lease, first && opts.rescore === true)
            first = false
            if (!r.committed) break
            result.events += r.events
            result.batches += 1
          } catch (err) {
            if (err instanceof LockLostError) { result.conflicts += 1; deps.log.warn({ leadId, err: err.message }, 'scoring batch abandoned'); break }
            throw err
          }
          if (lease.lost) break
        }
      } finally {
        clearInterval(timer)
        await locks.release(lockName, token)
      }
      return result
    },
  }
}

function byOrd (a: EventDoc, b: EventDoc): number {
  return a.ord < b.ord ? -1 : a.ord > b.ord ? 1 : 0
}

export type LeadProcessor = ReturnType<typeof createLeadProcessor>
