// The notification outbox. Every decision that two writers could race on is an insert on a unique `_id`:
// a crossing's notification (its id is the crossing's identity, so a replay that finds the crossing again hits the
// duplicate key), the fan-out of a notification to subscriptions, and each delivery attempt (see dispatcher.ts).
import type { Collections } from '../../infra/db.js'
import { duplicateWriteErrors, findByIds, insertIgnoringDuplicates, isDuplicateKey, retryTransient } from '../../infra/db.js'
import type { BatchNotify, Crossing, LeadDoc, NotificationDoc, NotificationHoldDoc, NotificationType } from '../types.js'
import { newId } from '../../lib/ids.js'
import { notificationIdOf, enteredCount, type CrossingKind } from './crossings.js'
import { loadState } from '../scoring/stored-state.js'

const KINDS: readonly CrossingKind[] = ['stage', 'grade']
const TYPE_OF: Record<CrossingKind, NotificationType> = { stage: 'lead.stage_changed', grade: 'lead.grade_changed' }

/** A re-score job that has not reported progress for this long is taken for dead, and its hold ends. */
export const HOLD_STALE_MS = 15 * 60_000
/**
 * The sign, for every process, that a bulk re-score runs: a lock document per job, `rescore-hold:<job id>`, renewed as
 * the job reports progress, read as an `_id` range. (A query of running jobs read the whole jobs collection on FerretDB,
 * which grows with every job ever run, up to four times a second while leads were scored.)
 */
const HOLD_PREFIX = 'rescore-hold:'
const HOLD_END = 'rescore-hold;'

export interface OutboxDeps {
  c: Collections
  now: () => Date
  log: { warn(o: object, m: string): void; debug(o: object, m: string): void }
  /** Runs fn under the lead's lock (the only way anything but a scoring run writes a lead document). */
  withLeadLock: <T>(leadId: string, fn: () => Promise<T>) => Promise<T>
  /** Called when new work for the dispatcher was queued. */
  onQueued?: () => void
}

async function insertIgnoringDuplicate<T extends { _id: string }> (col: { insertOne(doc: T): Promise<unknown> }, doc: T): Promise<boolean> {
  try {
    await col.insertOne(doc as never)
    return true
  } catch (err) {
    if (isDuplicateKey(err)) return false
    throw err
  }
}

export function createOutbox (deps: OutboxDeps) {
  const { c, now, log } = deps
  let localHold: string | null = null
  let cache: { at: number; jobId: string | null } | null = null

  /** The running bulk re-score (this process's own, or one another process reports as running), or null. */
  async function activeHold (fresh = false): Promise<string | null> {
    if (localHold !== null) return localHold
    const t = Date.now()
    if (!fresh && cache !== null && t - cache.at < 250) return cache.jobId
    // the `_id` range alone (a few documents): FerretDB reads the whole collection for a range with another condition
    const at = now().getTime()
    const holds = await c.locks.find({ _id: { $gte: HOLD_PREFIX, $lt: HOLD_END } }).project<{ owner: string; expiresAt: Date }>({ owner: 1, expiresAt: 1 }).toArray()
    cache = { at: t, jobId: holds.find((h) => h.expiresAt.getTime() > at)?.owner ?? null }
    return cache.jobId
  }

  /** Whether any subscription is active (the webhooks are few: a read of them all costs little even on FerretDB). */
  async function anyActiveSubscription (): Promise<boolean> {
    return await c.webhooks.findOne({ status: 'active' }, { projection: { _id: 1 } }) !== null
  }

  /** Queues the fan-out of notifications to subscriptions (one insert for them all; a repeat is harmless). */
  async function enqueueFanouts (notificationIds: readonly string[]): Promise<void> {
    if (notificationIds.length === 0) return
    const at = now().getTime()
    // due a millisecond apart in the order given (a lead's crossings in order), which the dispatcher keeps
    await insertIgnoringDuplicates(c.webhookQueue, notificationIds.map((ref, i) => ({ _id: `fan:${ref}`, kind: 'fanout' as const, ref, dueAt: new Date(at + i) })))
    deps.onQueued?.()
  }

  /**
   * Inserts notifications in one command. Per document: mine when this call inserted it or its batch did earlier (a
   * finalize run again after a crash): the caller then (re)does the follow-up steps, which are idempotent; not mine
   * when someone else recorded it. Its status is the stored one.
   */
  async function insertNotifications (docs: readonly NotificationDoc[]): Promise<Array<{ mine: boolean; status: NotificationDoc['status'] }>> {
    if (docs.length === 0) return []
    let refused = new Set<number>()
    // a transient failure repeats the insert: a document the failed attempt stored then clashes with itself, and
    // counts as mine below (same batch)
    await retryTransient(async () => {
      try {
        await c.notifications.insertMany(docs as NotificationDoc[], { ordered: false })
      } catch (err) {
        const dup = duplicateWriteErrors(err)
        if (dup === null) throw err
        refused = dup
      }
    })
    const clashed = docs.filter((_, i) => refused.has(i))
    const existing = new Map((await findByIds<NotificationDoc>(c.notifications, clashed.map((d) => d._id), { batch: 1, status: 1 })).map((d) => [d._id, d]))
    return docs.map((d, i) => {
      if (!refused.has(i)) return { mine: true, status: d.status }
      const e = existing.get(d._id)
      return e === undefined ? { mine: false, status: d.status } : { mine: e.batch === d.batch, status: e.status }
    })
  }

  /** What follows a notification this batch owns: a pending one is fanned out (collected into `fanouts`), a held one joins its lead's hold. */
  async function followUp (leadId: string, id: string, status: NotificationDoc['status'], notify: Pick<BatchNotify, 'before' | 'heldBy'>, fanouts: string[]): Promise<void> {
    if (status === 'pending') fanouts.push(id)
    else if (status === 'held') await addHold(leadId, id, notify.before, notify.heldBy ?? 'unknown')
  }

  function holdDoc (leadId: string, notificationId: string | null, before: { stage: string; grade: string }, jobId: string): NotificationHoldDoc {
    return { _id: `l:${leadId}`, leadId, holdId: newId('hd'), before, notificationIds: notificationId !== null ? [notificationId] : [], jobId, at: now() }
  }

  /** Adds a held notification to its lead's hold document (written only under the lead's lock). */
  async function addHold (leadId: string, notificationId: string | null, before: { stage: string; grade: string }, jobId: string): Promise<void> {
    const doc = holdDoc(leadId, notificationId, before, jobId)
    if (!await insertIgnoringDuplicate(c.notificationHolds, doc) && notificationId !== null) {
      await c.notificationHolds.updateOne({ _id: doc._id }, { $addToSet: { notificationIds: notificationId } })
    }
  }

  /** `from` is the stage (grade) the receivers were last told about, which after a replay may differ from the one before the crossing in the lead's history. */
  function crossingDoc (leadId: string, token: string, notify: BatchNotify, x: Crossing, from: string, index: number, status: NotificationDoc['status']): NotificationDoc {
    return {
      _id: x.id, leadId, type: TYPE_OF[x.kind], kind: x.kind, origin: 'crossing', from, to: x.to, n: x.n, occurredAt: x.occurredAt,
      data: { leadId, email: notify.lead.email, name: notify.lead.name, from, to: x.to, score: x.score, version: notify.rulesetVersion, eventId: x.eventId },
      batch: token, rev: notify.rev, index, status, heldBy: notify.heldBy, createdAt: now(),
    }
  }

  /**
   * Records committed batches (BatchNotifier.recordMany). Each crossing is inserted under its identity; only the ones
   * its batch inserted are announced. Then, unless held, if those do not bring the receivers' view to the lead's stage
   * or grade after the batch (a replay retracted a crossing they were told about, or found one whose id was used by a
   * retracted one), a correction is recorded under an id naming the batch. The leads go together: the n-th crossing of
   * every lead in one insert (a crossing's `from` depends on whether the lead's earlier ones were this batch's), then
   * the corrections in one, then the fan-outs in one, so a scoring batch of hundreds of leads costs a few commands.
   */
  async function recordMany (items: ReadonlyArray<{ leadId: string; token: string; notify: BatchNotify }>): Promise<void> {
    const runs = items.map((it) => ({ ...it, held: it.notify.heldBy !== null, view: { stage: it.notify.before.stage, grade: it.notify.before.grade } as Record<CrossingKind, string> }))
    // With no active subscription, what would be sent now is dispatched to nobody at once: the fan-out would find no
    // receiver anyway, and queueing it cost an insert, a read, an update and a delete per batch (a tenth of the
    // embedded database's time in a scoring stream). A subscription created from here on receives later crossings.
    const pendingStatus = runs.some((r) => !r.held) && !await anyActiveSubscription() ? 'dispatched' as const : 'pending' as const
    const settle = (doc: NotificationDoc): NotificationDoc => doc.status === 'dispatched' ? { ...doc, deliveries: 0, dispatchedAt: doc.createdAt } : doc
    // every held lead has a hold document, so its release compares the receivers' view with its stage even when this
    // batch crossed nothing: one insert for the batch (a lead held already keeps its document)
    await insertIgnoringDuplicates(c.notificationHolds, runs.filter((r) => r.held).map((r) => holdDoc(r.leadId, null, r.notify.before, r.notify.heldBy!)))
    const fanouts: string[] = []
    const rounds = runs.reduce((m, r) => Math.max(m, r.notify.crossings.length), 0)
    for (let i = 0; i < rounds; i++) {
      const these = runs.filter((r) => r.notify.crossings.length > i)
      const docs = these.map((r) => {
        const x = r.notify.crossings[i]!
        const from = r.view[x.kind] !== '' ? r.view[x.kind] : x.from
        // after a replay the receivers may already believe the lead is where this new crossing leads: record it, send nothing
        const known = !r.held && from === x.to
        const doc = crossingDoc(r.leadId, r.token, r.notify, x, known ? x.from : from, i, known ? 'dropped' : r.held ? 'held' : pendingStatus)
        if (known) doc.droppedReason = 'the receivers were already told about this stage'
        return settle(doc)
      })
      const res = await insertNotifications(docs)
      for (let k = 0; k < these.length; k++) {
        const r = these[k]!
        const x = r.notify.crossings[i]!
        if (!res[k]!.mine) continue
        await followUp(r.leadId, x.id, res[k]!.status, r.notify, fanouts)
        r.view[x.kind] = x.to
      }
    }
    const corrections: Array<{ run: typeof runs[number]; doc: NotificationDoc }> = []
    for (const r of runs) {
      if (r.held) continue
      for (const kind of KINDS) {
        const to = r.notify.after[kind]
        if (r.view[kind] === to || r.view[kind] === '' || to === '') continue
        const n = r.notify.afterN[kind]
        // a batch token starts with its lead's id (`<lead>~bt_…`), which the notification id names already
        const x: Crossing = { id: notificationIdOf(r.leadId, kind, to, n, `r-${r.token.slice(r.token.indexOf('~') + 1)}`), kind, from: r.view[kind], to, n, eventId: null, occurredAt: now(), score: r.notify.score }
        corrections.push({ run: r, doc: settle({ ...crossingDoc(r.leadId, r.token, r.notify, x, x.from, r.notify.crossings.length + KINDS.indexOf(kind), pendingStatus), origin: 'correction' }) })
      }
    }
    const res = await insertNotifications(corrections.map((x) => x.doc))
    for (let k = 0; k < corrections.length; k++) {
      if (res[k]!.mine) await followUp(corrections[k]!.run.leadId, corrections[k]!.doc._id, res[k]!.status, corrections[k]!.run.notify, fanouts)
    }
    await enqueueFanouts(fanouts)
  }

  return {
    activeHold,
    /** This process runs a bulk re-score: hold at once, without waiting for the shared state to be read again. */
    setLocalHold (jobId: string | null): void {
      localHold = jobId
      cache = null
    },

    /** Shows every process that the bulk re-score `jobId` runs, for HOLD_STALE_MS from now (called again as it goes on). */
    async shareHold (jobId: string): Promise<void> {
      const at = now()
      await c.locks.updateOne({ _id: `${HOLD_PREFIX}${jobId}` }, { $set: { owner: jobId, expiresAt: new Date(at.getTime() + HOLD_STALE_MS) }, $setOnInsert: { acquiredAt: at } }, { upsert: true })
    },

    /** The bulk re-score `jobId` ended: other processes no longer hold for it. */
    async endHold (jobId: string): Promise<void> {
      await c.locks.deleteOne({ _id: `${HOLD_PREFIX}${jobId}` })
      cache = null
    },

    /** Implements BatchNotifier.heldBy for the lead processor. */
    heldBy: async (): Promise<string | null> => await activeHold(),

    recordMany,

    /**
     * Erases what the outbox holds about a lead (its notifications and deliveries carry the email and name). A lead
     * created again later starts a new history, so its crossings are announced again.
     */
    async eraseLead (leadId: string): Promise<void> {
      await c.notificationHolds.deleteOne({ _id: `l:${leadId}` })
      await c.webhookDeliveries.deleteMany({ leadId })
      await c.notifications.deleteMany({ leadId })
    },

    /**
     * Releases what bulk re-scores held, once none is running. Per lead, the stage (and grade) the receivers were
     * last told about is compared with the lead's stage now: when they differ, exactly one notification goes out —
     * the latest held crossing into the current stage, reported as a change from the receivers' stage (or, if no
     * held crossing leads there, a correction); every other held notification is dropped as an intermediate state.
     * When they are equal, all are dropped. Returns the number of leads released.
     */
    async releaseHeld (): Promise<number> {
      if (await activeHold(true) !== null) return 0
      let after = ''
      let released = 0
      for (;;) {
        const page = await c.notificationHolds.find({ _id: { $gt: after } }).sort({ _id: 1 }).limit(100).toArray()
        if (page.length === 0) break
        after = page[page.length - 1]!._id
        for (const hold of page) {
          try {
            await deps.withLeadLock(hold.leadId, async () => { await releaseLead(hold) })
            released++
          } catch (err) {
            log.warn({ err, leadId: hold.leadId }, 'releasing held notifications failed; retried later')
          }
        }
      }
      return released
    },
  }

  async function releaseLead (hold: NotificationHoldDoc): Promise<void> {
    const lead = await c.leads.findOne({ _id: hold.leadId })
    const fresh = await c.notificationHolds.findOne({ _id: hold._id })
    if (fresh === null) return // released meanwhile
    if (lead === null) { await c.notificationHolds.deleteOne({ _id: hold._id }); return }
    const view = lead.notified ?? fresh.before
    const current = { stage: lead.stage, grade: lead.grade }
    const docs = (await Promise.all((fresh.notificationIds ?? []).map(async (id) => await c.notifications.findOne({ _id: id }))))
      .filter((d): d is NotificationDoc => d !== null && (d.status === 'held' || (d.status === 'pending' && d.heldBy !== null)))
      .sort((a, b) => a.rev - b.rev || a.index - b.index)
    const t = now()
    for (const kind of KINDS) {
      const mine = docs.filter((d) => d.kind === kind)
      const from = view[kind] ?? ''
      const to = current[kind]
      let pick: NotificationDoc | undefined
      if (from !== to && from !== '' && to !== '') {
        pick = mine.filter((d) => d.to === to).at(-1)
        if (pick !== undefined) {
          if (pick.status === 'held') {
            await c.notifications.updateOne({ _id: pick._id }, { $set: { status: 'pending', from, 'data.from': from, releasedAt: t } })
          }
          await enqueueFanouts([pick._id])
        } else {
          await releaseCorrection(lead, kind, from, to, fresh.holdId)
        }
      }
      for (const d of mine) {
        if (d === pick || d.status !== 'held') continue
        const reason = from === to ? 'not true at the end of the re-score' : 'an intermediate state during the re-score'
        await c.notifications.updateOne({ _id: d._id }, { $set: { status: 'dropped', droppedReason: reason } })
      }
    }
    await c.leads.updateOne({ _id: lead._id }, { $set: { notified: current } })
    await c.notificationHolds.deleteOne({ _id: fresh._id })
  }

  async function releaseCorrection (lead: LeadDoc, kind: CrossingKind, from: string, to: string, holdId: string): Promise<void> {
    const n = enteredCount(loadState(lead.state), kind, to)
    const id = notificationIdOf(lead._id, kind, to, n, `h-${holdId}`)
    const doc: NotificationDoc = {
      _id: id, leadId: lead._id, type: TYPE_OF[kind], kind, origin: 'correction', from, to, n, occurredAt: lead.lastEventAt ?? now(),
      data: { leadId: lead._id, email: lead.email, name: lead.name, from, to, score: lead.score, version: lead.rulesetVersion ?? 0, eventId: null },
      batch: `hold:${holdId}`, rev: lead.rev, index: 0, status: 'pending', heldBy: null, createdAt: now(), releasedAt: now(),
    }
    await insertIgnoringDuplicate(c.notifications, doc)
    const cur = await c.notifications.findOne({ _id: id }, { projection: { status: 1 } })
    if (cur?.status === 'pending') await enqueueFanouts([id])
  }
}

export type Outbox = ReturnType<typeof createOutbox>
