// The dispatcher: fans notifications out to the subscriptions that want them and sends each delivery, retrying with
// exponential backoff and jitter. It has no timer of its own: its work runs as the Agenda job `webhook-deliveries`
// (jobs/webhook-deliveries.ts), whose recurring schedule runs when the earliest retry comes due and which is queued at
// once when the outbox queues work. Every process may run the job at the same time: each attempt of each delivery is
// claimed by inserting `<deliveryId>#<attempt>`, so no two processes send the same attempt, and the delivery document
// is written only by the attempt's claimer.
import { createHash } from 'node:crypto'
import type { Collection } from 'mongodb'
import type { Collections } from '../../infra/db.js'
import { findByIds, idLists, insertIgnoringDuplicates, isDuplicateKey } from '../../infra/db.js'
import { MIN_POLL_MS } from '../../infra/agenda.js'
import { createExpiry } from '../../infra/expiry-markers.js'
import type { DeliveryAttempt, DeliveryDoc, NotificationDoc, WebhookDoc, WebhookQueueDoc } from '../types.js'
import type { AppConfig } from '../../config.js'
import { newId } from '../../lib/ids.js'
import { postWebhook, type SendResult } from './send.js'
import { signedHeaders, subscriptionMatches, type SubscriptionService } from './subscriptions.js'
import type { Outbox } from './outbox.js'

export interface DispatcherDeps {
  c: Collections
  now: () => Date
  config: AppConfig['webhooks']
  subscriptions: SubscriptionService
  outbox: Outbox
  log: { info(o: object, m: string): void; warn(o: object, m: string): void; debug(o: object, m: string): void }
  /** Publishes one live message per attempt (topic `webhooks`). */
  publish?: (payload: Record<string, unknown>) => Promise<unknown>
  /** Queues one run of the delivery job, due now, for whichever process runs it (this one first). */
  requestRun: () => Promise<void>
  /**
   * Where a query on `expiresAt` reads every claim (FerretDB): the collection of the claims' expiry markers
   * (infra/expiry-markers.ts), so their purge reads what expired, not every claim ever made.
   */
  claimExpiry?: Collection<{ _id: string }>
}

/** The id of a notification's delivery to one subscription (stable, so a repeated fan-out finds it). */
export function deliveryIdOf (notificationId: string, webhookId: string): string {
  return `dl_${createHash('sha256').update(`${notificationId}\n${webhookId}`).digest('hex').slice(0, 32)}`
}

/** The request body of a notification (Standard Webhooks: type, timestamp, data). */
export function notificationBody (n: NotificationDoc): string {
  return JSON.stringify({ type: n.type, timestamp: n.occurredAt.toISOString(), data: n.data })
}

/** Delay before the next attempt: the schedule's entry for this attempt, ±20% jitter. */
export function retryDelay (schedule: readonly number[], attempt: number, random = Math.random): number | null {
  const base = schedule[attempt - 1]
  if (base === undefined) return null
  return Math.round(base * (0.8 + 0.4 * random()))
}

const RELEASE_EVERY_MS = 2_000
// A run asked for and not started here within Agenda's poll went to another process, or waits for this process's
// running one to be let go: the next kick asks again.
const ASK_AGAIN_MS = MIN_POLL_MS

export function createDispatcher (deps: DispatcherDeps) {
  const { c, now, config, log } = deps
  const owner = newId('dp')
  let running = false
  // this process's run of the job, while its passes go on; `again` asks it for one more pass
  let active: Promise<void> | null = null
  let again = false
  let askedAt: number | null = null
  let lastRelease = 0
  const inFlight = new Set<AbortController>()
  const claimExpiry = createExpiry(c.webhookClaims, deps.claimExpiry)

  /**
   * New work was queued. A run going on here makes one more pass; otherwise one run of the job is queued. Kicks
   * before that run starts add nothing: its first pass reads everything queued by then.
   */
  function kick (): void {
    if (!running) return
    if (active !== null) { again = true; return }
    const t = Date.now()
    if (askedAt !== null && t - askedAt < ASK_AGAIN_MS) return
    askedAt = t
    deps.requestRun().catch((err: unknown) => {
      askedAt = null
      log.warn({ err }, 'could not queue a webhook delivery run')
    })
  }

  /** Passes until one finds nothing to do and no kick came meanwhile (a fan-out queues deliveries due at once). */
  async function passes (): Promise<void> {
    for (;;) {
      again = false
      let busy = false
      try { busy = await tick() } catch (err) { log.warn({ err }, 'webhook dispatcher pass failed') }
      // cleared in the same turn as the last check, so a kick from now on asks for a new run instead
      if (!running || (!busy && !again)) { active = null; return }
    }
  }

  /** One run of the delivery job in this process. A call while one runs asks that one for another pass and waits for it. */
  async function run (): Promise<void> {
    if (!running) return
    askedAt = null
    if (active !== null) {
      again = true
      await active
      return
    }
    active = passes()
    await active
  }

  async function dropQueue (id: string): Promise<void> {
    await c.webhookQueue.deleteOne({ _id: id })
  }

  /**
   * Fans notifications out: creates the deliveries of each (one per matching subscription), marks it dispatched, and
   * drops its queue entry. The whole list costs a few commands (the subscriptions are read once, and each write
   * names its documents by `_id`), so a scoring batch's hundreds of crossings do not cost four round trips each.
   * Every step is idempotent: a crash part-way is completed by the next pass, which finds the queue entries still due.
   */
  async function fanoutMany (qs: readonly WebhookQueueDoc[]): Promise<void> {
    if (qs.length === 0) return
    const found = new Map((await findByIds<NotificationDoc>(c.notifications, qs.map((q) => q.ref))).map((n) => [n._id, n]))
    const pending = qs.map((q) => found.get(q.ref)).filter((n): n is NotificationDoc => n !== undefined && n.status === 'pending')
    const active = pending.length > 0 ? await c.webhooks.find({ status: 'active' }).toArray() : []
    const t = now()
    const deliveries: DeliveryDoc[] = []
    const byCount = new Map<number, string[]>()
    for (const n of pending) {
      const subs = active.filter((s) => subscriptionMatches(s, n))
      const body = notificationBody(n)
      for (const sub of subs) {
        deliveries.push({
          _id: deliveryIdOf(n._id, sub._id), webhookId: sub._id, notificationId: n._id, leadId: n.leadId, type: n.type, body, state: 'pending', attempts: [], attemptCount: 0,
          nextAttemptAt: t, lastStatusCode: null, lastError: null, createdAt: t, updatedAt: t, deliveredAt: null,
        })
      }
      byCount.set(subs.length, [...(byCount.get(subs.length) ?? []), n._id])
    }
    await insertIgnoringDuplicates(c.webhookDeliveries, deliveries)
    // due a millisecond apart in the notifications' order, so a lead's crossings are sent in the order they happened
    await insertIgnoringDuplicates(c.webhookQueue, deliveries.map((d, i) => ({ _id: `dlv:${d._id}`, kind: 'delivery' as const, ref: d._id, dueAt: new Date(t.getTime() + i), leadId: d.leadId })))
    for (const [count, ids] of byCount) {
      for (const part of idLists(ids)) await c.notifications.updateMany({ _id: { $in: part } }, { $set: { status: 'dispatched', deliveries: count, dispatchedAt: t } })
    }
    for (const part of idLists(qs.map((q) => q._id))) await c.webhookQueue.deleteMany({ _id: { $in: part } })
  }

  /** Claims attempt `n` of a delivery; false when another process has it. */
  async function claim (deliveryId: string, n: number): Promise<boolean> {
    const t = now()
    const _id = `${deliveryId}#${n}`
    const expiresAt = new Date(t.getTime() + config.timeoutMs + 60_000)
    try {
      await c.webhookClaims.insertOne({ _id, owner, at: t, expiresAt })
      // after the claim; a marker whose claim never landed is purged like any other
      await claimExpiry.mark(_id, expiresAt)
      return true
    } catch (err) {
      if (!isDuplicateKey(err)) throw err
    }
    // The claimer of this attempt may have died before recording it. Taking over an expired claim is itself an
    // insert keyed by that claim, so only one process wins it; the attempt then counts as made, outcome unknown.
    const cur = await c.webhookClaims.findOne({ _id })
    if (cur === null || cur.expiresAt.getTime() > t.getTime()) return false
    try {
      await c.webhookClaims.insertOne({ _id: `${_id}~takeover:${cur.owner}`, owner, at: t, expiresAt })
      await claimExpiry.mark(`${_id}~takeover:${cur.owner}`, expiresAt)
    } catch (err) {
      if (isDuplicateKey(err)) return false
      throw err
    }
    const d = await c.webhookDeliveries.findOne({ _id: deliveryId })
    if (d !== null && d.attemptCount === n - 1) {
      await record(d, { n, at: cur.at, durationMs: 0, statusCode: null, error: 'no outcome recorded: the sending process stopped', response: null }, null)
    }
    return false
  }

  /** Writes an attempt's outcome and schedules what follows (by the attempt's claimer only). */
  async function record (d: DeliveryDoc, a: DeliveryAttempt, sub: WebhookDoc | null): Promise<DeliveryDoc['state']> {
    const ok = a.statusCode !== null && a.statusCode >= 200 && a.statusCode < 300
    const gone = a.statusCode === 410
    const delay = ok || gone ? null : retryDelay(config.retryDelaysMs, a.n)
    const state: DeliveryDoc['state'] = ok ? 'delivered' : delay === null ? 'failed' : 'pending'
    const t = now()
    const next = delay === null ? null : new Date(t.getTime() + delay)
    await c.webhookDeliveries.updateOne({ _id: d._id, attemptCount: a.n - 1 }, {
      $push: { attempts: a },
      $set: {
        attemptCount: a.n, state, nextAttemptAt: next, lastStatusCode: a.statusCode, lastError: gone ? 'the receiver answered 410 Gone; subscription disabled' : a.error,
        updatedAt: t, ...(ok ? { deliveredAt: t } : {}),
      },
    })
    if (gone && sub !== null) {
      await deps.subscriptions.disable(sub._id, `the receiver answered 410 Gone (delivery ${d._id})`)
      log.info({ webhookId: sub._id }, 'webhook subscription disabled by a 410 answer')
    }
    if (next === null) await dropQueue(`dlv:${d._id}`)
    else await c.webhookQueue.updateOne({ _id: `dlv:${d._id}` }, { $set: { dueAt: next } })
    await deps.publish?.({
      deliveryId: d._id, webhookId: d.webhookId, notificationId: d.notificationId, type: d.type, attempt: a.n, statusCode: a.statusCode,
      error: a.error, durationMs: a.durationMs, state, nextAttemptAt: next?.toISOString() ?? null,
    })?.catch((err: unknown) => log.warn({ err }, 'live feed append failed'))
    return state
  }

  async function send (sub: WebhookDoc, msgId: string, body: string): Promise<SendResult> {
    const ctl = new AbortController()
    inFlight.add(ctl)
    try {
      return await postWebhook({ url: sub.url, headers: signedHeaders(deps.subscriptions.reveal(sub), msgId, body, now()), body, timeoutMs: config.timeoutMs, allowPrivate: config.allowPrivate, signal: ctl.signal })
    } finally {
      inFlight.delete(ctl)
    }
  }

  /** One attempt of a due delivery. false when another process holds the attempt (nothing changed here). */
  async function attempt (q: WebhookQueueDoc): Promise<boolean> {
    const d = await c.webhookDeliveries.findOne({ _id: q.ref })
    if (d === null || d.state !== 'pending') { await dropQueue(q._id); return true }
    if (d.nextAttemptAt !== null && d.nextAttemptAt.getTime() > now().getTime()) {
      await c.webhookQueue.updateOne({ _id: q._id }, { $set: { dueAt: d.nextAttemptAt } })
      return true
    }
    const sub = await c.webhooks.findOne({ _id: d.webhookId })
    if (sub === null || sub.status !== 'active') {
      const why = sub === null ? 'the subscription was deleted' : `the subscription is disabled (${sub.disabledReason ?? 'no reason'})`
      await c.webhookDeliveries.updateOne({ _id: d._id, state: 'pending' }, { $set: { state: 'cancelled', lastError: why, nextAttemptAt: null, updatedAt: now() } })
      await dropQueue(q._id)
      return true
    }
    const n = d.attemptCount + 1
    if (!await claim(d._id, n)) return false
    const at = now()
    const r = await send(sub, d.notificationId, d.body)
    const state = await record(d, { n, at, durationMs: r.durationMs, statusCode: r.statusCode, error: r.error, response: r.response }, sub)
    log.debug({ deliveryId: d._id, webhookId: sub._id, attempt: n, statusCode: r.statusCode, state }, 'webhook attempt')
    return true
  }

  /** One pass: release held notifications when no re-score runs, fan out, then send what is due. true if it made progress. */
  async function tick (): Promise<boolean> {
    if (Date.now() - lastRelease > RELEASE_EVERY_MS) {
      lastRelease = Date.now()
      if (await c.notificationHolds.findOne({}, { projection: { _id: 1 } }) !== null) await deps.outbox.releaseHeld()
    }
    const due = await c.webhookQueue.find({ dueAt: { $lte: now() } }).sort({ dueAt: 1 }).limit(100).toArray()
    if (due.length === 0) return false
    let progressed = false
    const fanouts = due.filter((x) => x.kind === 'fanout')
    if (fanouts.length > 0 && running) {
      await fanoutMany(fanouts)
      progressed = true
    }
    // a lead's deliveries go one after another in due order (its crossings as they happened); leads in parallel
    const byLead = new Map<string, WebhookQueueDoc[]>()
    for (const q of due.filter((x) => x.kind === 'delivery')) {
      const key = q.leadId ?? q._id
      byLead.set(key, [...(byLead.get(key) ?? []), q])
    }
    const lanes = [...byLead.values()]
    let i = 0
    await Promise.all(Array.from({ length: Math.min(config.concurrency, lanes.length) }, async () => {
      while (running && i < lanes.length) {
        for (const q of lanes[i++]!) {
          if (!running) break
          try { if (await attempt(q)) progressed = true } catch (err) { log.warn({ err, deliveryId: q.ref }, 'webhook delivery attempt failed') }
        }
      }
    }))
    return progressed
  }

  return {
    kick,
    tick,
    /**
     * Removes the attempt claims that expired before `before` (the sweeper keeps them a day past their expiry, so a
     * process that stalled longer than that cannot claim an attempt again). With expiry markers, by `_id` ranges of
     * what expired; the claims stored before markers existed are removed once by a query.
     */
    async purgeClaims (before: Date): Promise<number> {
      return await claimExpiry.purge(before)
    },
    /** Sends a `webhook.ping` once, now, and logs it as a delivery of its own (never retried, never disables). */
    async ping (sub: WebhookDoc): Promise<{ deliveryId: string; result: SendResult }> {
      const t = now()
      const msgId = newId('ping')
      const body = JSON.stringify({ type: 'webhook.ping', timestamp: t.toISOString(), data: { webhookId: sub._id, message: 'Test notification from Leadscore' } })
      const result = await send(sub, msgId, body)
      const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300
      const d: DeliveryDoc = {
        _id: deliveryIdOf(msgId, sub._id), webhookId: sub._id, notificationId: msgId, leadId: null, type: 'webhook.ping', body, state: ok ? 'delivered' : 'failed',
        attempts: [{ n: 1, at: t, durationMs: result.durationMs, statusCode: result.statusCode, error: result.error, response: result.response }],
        attemptCount: 1, nextAttemptAt: null, lastStatusCode: result.statusCode, lastError: result.error, createdAt: t, updatedAt: now(), deliveredAt: ok ? now() : null,
      }
      await c.webhookDeliveries.insertOne(d)
      await deps.publish?.({ deliveryId: d._id, webhookId: sub._id, notificationId: msgId, type: d.type, attempt: 1, statusCode: result.statusCode, error: result.error, durationMs: result.durationMs, state: d.state, nextAttemptAt: null })
        ?.catch((err: unknown) => log.warn({ err }, 'live feed append failed'))
      return { deliveryId: d._id, result }
    },
    run,
    /**
     * When the earliest queued work (a fan-out, a first attempt or a retry) is due, or null when nothing is queued:
     * the delivery job's next run. The queue holds only work not yet done, so this read stays small.
     */
    async nextDueAt (): Promise<Date | null> {
      const first = await c.webhookQueue.find({}, { projection: { dueAt: 1 } }).sort({ dueAt: 1 }).limit(1).next()
      return first?.dueAt ?? null
    },
    /** From now on this process sends deliveries, in the runs of the job it is handed. */
    start (): void {
      running = true
    },
    /** Stops taking work; attempts still running after timeoutMs are aborted (and retried later by any process). */
    async stop (timeoutMs: number): Promise<void> {
      if (!running) return
      running = false
      const last = active ?? Promise.resolve()
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs) })
      await Promise.race([last, timedOut])
      clearTimeout(timer)
      for (const ctl of inFlight) ctl.abort()
      await last
    },
  }
}

export type Dispatcher = ReturnType<typeof createDispatcher>
