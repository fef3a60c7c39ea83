import type { AppConfig } from '../config.js'
import type { Database } from '../infra/db.js'
import { Scheduler } from '../infra/agenda.js'
import { findByIds, idLists, insertIgnoringDuplicates } from '../infra/db.js'
import { createLockService } from './locks.js'
import { createRulesetService } from './rulesets/ruleset-service.js'
import { createOfferService } from './offers/offer-service.js'
import { loadTaxonomy } from './offers/taxonomy.js'
import { createScoringPipeline, DECAY_TICK_TYPE, SYSTEM_SOURCE, type MountedScoringPlugin } from './scoring/pipeline.js'
import { createDecaySchedule } from './scoring/decay-schedule.js'
import { createDecayTicker } from './scoring/decay-ticks.js'
import { createLeadProcessor, LockBusyError, type CommittedBatch } from './scoring/processor.js'
import { createIngestService } from './events/ingest.js'
import { createIngestJournal } from './events/ingest-journal.js'
import { createIdempotencyService } from './events/idempotency.js'
import { createLiveFeed } from './live/live-feed.js'
import { createApiKeyService } from './auth/api-keys.js'
import { createUserService } from './auth/users.js'
import { createMetrics } from './metrics.js'
import { createUploadService } from './uploads/upload-service.js'
import { newId } from '../lib/ids.js'
import { BatchQueue } from './work-queue.js'
import { createIdentityService } from './identity.js'
import { createOutbox } from './webhooks/outbox.js'
import { createSubscriptionService } from './webhooks/subscriptions.js'
import { createDispatcher } from './webhooks/dispatcher.js'
import type { JobDoc } from './types.js'
import type { LeadScoredDataT } from '../schemas/live.js'
import { createPredictiveService, createPredictivePlugin, internalPluginContext } from './predictive/service.js'
import { createIntentPlugin, INTENT_PLUGIN_ID } from './intent/plugin.js'
import { createLeadViews } from './lead-views/service.js'
import { createSuppressionList } from './privacy/suppression.js'
import { createPrivacyService } from './privacy/erase.js'
import { createTrackingPlanService } from './events/tracking-plan.js'
import { createViolationCounters } from './events/violation-counters.js'

export interface CoreLogger {
  info(o: object, m: string): void
  warn(o: object, m: string): void
  error(o: object, m: string): void
  debug(o: object, m: string): void
}

export interface CoreOptions {
  now?: () => Date
  /** Test seam forwarded to the lead processor. */
  beforeCommit?: (leadId: string) => Promise<void>
  /** Installed scoring plugins with their contexts (plugin-host/), applied after the ruleset's rules. */
  scoringPlugins?: readonly MountedScoringPlugin[]
}

const MAX_QUEUED = 20_000

/** Builds every domain service over one database, in dependency order. Nothing here listens or starts timers. */
export function createCore (config: AppConfig, database: Database, log: CoreLogger, opts: CoreOptions = {}) {
  const now = opts.now ?? (() => new Date())
  const { c } = database
  const metrics = createMetrics()
  const locks = createLockService(c.locks, now)
  // the taxonomy file is read and checked here, at boot; rules read the active offer with the ruleset
  const offers = createOfferService({ offers: c.offers, now, taxonomy: loadTaxonomy() })
  const rulesets = createRulesetService({ c, now, locks, offers })
  const live = createLiveFeed(c.liveFeed, now, { idIn: database.idIn })
  const predictive = createPredictiveService({
    c, locks, rulesets, now, log,
    audit: async (actor, action, target, details) => { await c.auditLog.insertOne({ _id: newId('au'), at: now(), actor, action, target, details }) },
    progress: async (jobId, data) => { await live.append('job.progress', ['jobs', `job:${jobId}`], data) },
  })
  // the built-in predictive plugin first: an installed plugin that also predicts has the last word
  const pipeline = createScoringPipeline(
    [
      { plugin: createPredictivePlugin(predictive.runtime), ctx: internalPluginContext('predictive', log) },
      // the AI intent layer's scoring half: intent_classified events → intent points with the model's reasons
      { plugin: createIntentPlugin(), ctx: internalPluginContext(INTENT_PLUGIN_ID, log) },
      ...(opts.scoringPlugins ?? []),
    ],
    { prepare: async () => { await predictive.runtime.ensureFresh() } },
  )
  const apiKeys = createApiKeyService(c.apiKeys, now)
  const users = createUserService({ users: c.users, sessions: c.sessions, now })
  const idempotency = createIdempotencyService(c.idempotencyKeys, now, config.idempotencyTtlMs)
  const scheduler = new Scheduler({
    db: database.db, processEveryMs: config.worker.processEveryMs, concurrency: config.worker.concurrency,
    lockLifetimeMs: config.worker.lockLifetimeMs, log,
  })
  let holdNotifications = false
  const subscriptions = createSubscriptionService({ c, now, allowPrivate: config.webhooks.allowPrivate })
  // the outbox and the dispatcher are wired to the processor (lead locks) and to each other through late-bound calls
  const outbox = createOutbox({
    c, now, log, withLeadLock: async (leadId, fn) => await withLeadLock(leadId, fn), onQueued: () => { dispatcher.kick() },
  })
  const dispatcher = createDispatcher({
    c, now, config: config.webhooks, subscriptions, outbox, log,
    publish: async (payload) => await live.append('webhook.delivery', ['webhooks'], payload),
  })

  const onCommitted = (b: CommittedBatch): void => {
    metrics.eventsScored.inc(b.events)
    metrics.batchesCommitted.inc()
    if (holdNotifications && b.rescored) return
    const data: LeadScoredDataT = {
      leadId: b.leadId, score: b.after.total, stage: b.after.stage, parts: b.after, before: b.before,
      delta: b.after.total - b.before.total, lastSeq: b.lastSeq, events: b.events, rescored: b.rescored,
      entries: b.entries.slice(-20).map((e) => ({ id: e._id, eventId: e.eventId, type: e.eventType, delta: e.delta, reasons: e.reasons })),
    }
    live.append('lead.scored', ['leaderboard', `lead:${b.leadId}`, 'events'], data).catch((err: unknown) => log.warn({ err, leadId: b.leadId }, 'live feed append failed'))
  }

  const identity = createIdentityService(c, now)
  const views = createLeadViews({ c, now, locks })
  const decaySchedule = createDecaySchedule({ col: c.decaySchedule })
  const processor = createLeadProcessor({
    c, locks, rulesets, pipeline, now, lockLifetimeMs: config.worker.lockLifetimeMs, eventsPerRun: config.worker.eventsPerRun,
    // A released FerretDB holds one of its 100 SQLite connections per single-document update until the command ends:
    // at most 8 per command there. The embedded build closes each one as it goes (scripts/ferretdb.mjs), and has the
    // `_id` list patch that `idIn` detects.
    writesPerCommand: database.ferret && !database.idIn ? 8 : 200, idIn: database.idIn, identity,
    log, onCommitted, notifier: outbox, views, decay: decaySchedule, scansQueries: database.ferret, ...(opts.beforeCommit !== undefined ? { beforeCommit: opts.beforeCommit } : {}),
  })

  // Scoring runs are triggered by an insert-only marker per lead (`pendingLeads`) and run in batches of leads by the
  // in-process pool of every worker process. (Agenda job claims are not atomic on FerretDB, and its worker slots
  // leaked there until processing stopped; markers plus the lead locks need nothing but atomic inserts.)
  const queue = new BatchQueue(config.worker.concurrency, config.worker.batchLeads, async (ids) => { await runScoreLeads(ids) },
    (ids, err) => log.error({ err, leads: ids.length, firstLead: ids[0] }, 'scoring batch failed'))
  let workersStarted = false
  const timers: NodeJS.Timeout[] = []

  /** Makes sure a scoring run follows for each lead: a marker for other processes, and this process's pool. */
  async function enqueue (leadIds: string[]): Promise<void> {
    // one unordered batch: a duplicate marker means a run is already queued (a large upload touches hundreds of
    // leads per ingest call, and a round trip per marker dominated its time). On FerretDB a batch with duplicates is
    // rolled back and retried one document at a time, so where it can look up a list of ids through the index, the
    // markers that exist are looked up first (the same test as a duplicate insert: whether one exists now).
    let missing = leadIds
    if (database.ferret && database.idIn && leadIds.length > 0) {
      const have = new Set((await findByIds<{ _id: string; at: Date }, { _id: string }>(c.pendingLeads, leadIds, { _id: 1 })).map((m) => m._id))
      missing = leadIds.filter((id) => !have.has(id))
    }
    await insertIgnoringDuplicates(c.pendingLeads, missing.map((leadId) => ({ _id: leadId, at: now() })))
    // the pool's queue is only a shortcut for the markers: past a bound (an upload of a million new leads outruns
    // scoring) the marker poll feeds it, so memory stays bounded
    if (workersStarted) for (const leadId of leadIds) if (queue.size < MAX_QUEUED) queue.push(leadId)
  }

  /**
   * Runs `fn` holding the lead's lock, like the processor's own, and then queues a scoring run when the lead has work:
   * a run that found the lock held by this writer (not by another run, which re-checks after itself) gave up.
   */
  async function withLeadLock<T> (leadId: string, fn: () => Promise<T>, waitMs?: number): Promise<T> {
    try {
      return await processor.withLeadLock(leadId, fn, waitMs)
    } finally {
      if (workersStarted && await processor.hasWork(leadId).catch(() => false)) await enqueue([leadId]).catch((err: unknown) => log.warn({ err, leadId }, 'could not queue a scoring run'))
    }
  }

  /**
   * Picks up markers left for any process (new events ingested elsewhere, or a run that died): the first 1,000 in
   * `_id` order, an index range on every server (a query sorted by time read every marker on FerretDB, twice a
   * second, however large the backlog). A marker goes when its lead was scored, so the next ones come up in turn.
   */
  async function pollMarkers (): Promise<void> {
    // a process busy with its own queue takes others' leads when it is done (every marker stays until scored)
    if (queue.size > 0) return
    const markers = await c.pendingLeads.find({ _id: { $gte: '' } }).sort({ _id: 1 }).limit(1000).project<{ _id: string }>({ _id: 1 }).toArray()
    for (const m of markers) queue.push(m._id)
  }

  const suppressions = createSuppressionList(c.suppressions, now, database.idIn)
  const trackingPlan = createTrackingPlanService({ plans: c.trackingPlans, now })
  const violations = createViolationCounters({ counters: c.trackingViolations, now, locks })
  const journal = createIngestJournal({ col: c.ingestJournal, now })
  const storing = createIngestService({
    c, now, identity, journal, suppressed: suppressions.suppressed, limits: { maxEventBytes: config.limits.maxEventBytes, maxFutureSkewMs: 5 * 60_000 },
    initialSettings: async () => (await rulesets.active()).settings, enqueue, idIn: database.idIn,
    onGroup: (source, requests) => { metrics.ingestGroups.inc(1, { source }); metrics.ingestGroupedRequests.inc(requests, { source }) },
    onRejectsStored: async (n) => { await views.rejectsStored(n) },
    trackingPlan: trackingPlan.current, onViolations: violations.count,
  })
  // every accepted event is counted (the stored-events counter behind /v1/stats) before its request is answered
  const counted = async <T extends { accepted: number }>(r: T): Promise<T> => { await views.stored(r.accepted); return r }
  const ingest: typeof storing = {
    ingest: async (inputs, ctx) => await counted(await storing.ingest(inputs, ctx)),
    submit: async (inputs, ctx) => await counted(await storing.submit(inputs, ctx)),
  }

  const privacy = createPrivacyService({
    c, now, ferret: database.ferret, withLeadLock: async (leadId, fn) => await withLeadLock(leadId, fn), views, outbox, identity, suppressions,
  })
  const uploads = createUploadService({
    c, ingest, live, now, limits: config.uploads, spoolDir: config.uploads.dir, log, onRejectsStored: async (n) => { await views.rejectsStored(n) },
  })

  let sweeps = 0
  /**
   * The backstop next to the marker poll: it queues the leads of ingest journal entries older than 30 s (a process
   * that died between storing events and queueing their leads leaves its entry), one `_id` range read. (A lead
   * flagged for re-score needs nothing: its marker is written before the flag and again after it.) On its first run
   * and every 10th, it purges expired idempotency keys, old live messages and long-expired lock documents, which are
   * queries on other fields than `_id`.
   */
  async function sweep (): Promise<number> {
    const t = now()
    const ids = new Set<string>()
    const n = sweeps++
    const orphans = await journal.orphans(30_000)
    for (const o of orphans) for (const id of o.leads) ids.add(id)
    if (ids.size > 0) {
      log.debug({ leads: ids.size }, 'sweeper enqueued leads')
      await enqueue([...ids])
    }
    // removed only once their leads have markers
    await journal.remove(orphans.map((o) => o._id))
    if (n % 10 !== 0) return ids.size
    await idempotency.purgeExpired()
    await live.purgeBefore(new Date(t.getTime() - 24 * 3_600_000))
    await locks.purgeExpired(new Date(t.getTime() - 3_600_000))
    await c.webhookClaims.deleteMany({ expiresAt: { $lt: new Date(t.getTime() - 24 * 3_600_000) } })
    return ids.size
  }

  const decayTicker = createDecayTicker({
    c, schedule: decaySchedule, locks, activeRuleset: async () => await rulesets.active(), now, lockLifetimeMs: config.worker.lockLifetimeMs, log,
    ingest: async (events, ctx) => await ingest.ingest(events, ctx),
  })
  const decayTick = async (): Promise<number> => await decayTicker.tick()

  /**
   * Scores a batch of leads, then removes their markers and queues again those that got more work meanwhile. A
   * marker goes only after its lead was scored: a process that dies mid-batch leaves its leads' markers, and the
   * marker poll of any process picks them up once the dead process's locks expire. Leads another run holds keep
   * their markers too (that run also re-checks them after releasing their locks).
   */
  async function runScoreLeads (leadIds: string[]): Promise<void> {
    // a rebuild of the lead views counts the leads as they are: scoring waits for it
    while (rebuilding) await new Promise((r) => setTimeout(r, 200))
    let done: string[]
    try {
      const started = performance.now()
      done = (await processor.processMany(leadIds)).done
      metrics.batchDuration.observe((performance.now() - started) / 1000)
    } catch (err) {
      if (leadIds.length === 1) {
        // a lead whose run fails is not retried at every poll: the sweeper's scan for pending events comes back to it
        await c.pendingLeads.deleteOne({ _id: leadIds[0]! })
        throw err
      }
      // one lead's failure must not hold back the others: score them one by one
      log.warn({ err, leads: leadIds.length }, 'scoring batch failed; scoring its leads one by one')
      for (const id of leadIds) await runScoreLeads([id]).catch((e: unknown) => log.error({ err: e, leadId: id }, 'scoring run failed'))
      return
    }
    // an event stored after the marker's removal finds no marker and leaves one; one stored before is seen here
    for (const part of idLists(done)) await c.pendingLeads.deleteMany({ _id: { $in: part } })
    const again = await processor.withWork(done)
    if (again.length > 0) await enqueue(again)
  }

  async function startRescoreAll (actor: string): Promise<JobDoc> {
    const t = now()
    const job: JobDoc = { _id: newId('job'), kind: 'rescore-all', state: 'queued', total: await c.leads.countDocuments({}), done: 0, error: null, createdAt: t, updatedAt: t, finishedAt: null }
    await c.jobs.insertOne(job)
    await c.auditLog.insertOne({ _id: newId('au'), at: t, actor, action: 'rescore.all', target: job._id, details: { total: job.total } })
    await scheduler.agenda.now('rescore-all', { jobId: job._id })
    return job
  }

  async function runRescoreAll (jobId: string, touch: () => Promise<unknown> = async () => undefined): Promise<void> {
    const job = await c.jobs.findOne({ _id: jobId })
    if (job === null || job.state === 'done') return
    await c.jobs.updateOne({ _id: jobId }, { $set: { state: 'running', updatedAt: now() } })
    holdNotifications = true
    // a heartbeat keeps Agenda's lease on the job while this process works on it, however long one lead takes
    const heartbeat = setInterval(() => { touch().catch((err: unknown) => log.warn({ err, jobId }, 'could not renew the job lease')) }, Math.max(200, Math.floor(config.worker.lockLifetimeMs / 3)))
    // stage and grade notifications of every scoring run are held until the job ends (see webhooks/outbox.ts)
    outbox.setLocalHold(jobId)
    try {
      let done = 0
      const deferred: string[] = []
      const patience = Math.max(1000, config.worker.lockLifetimeMs)
      const flagged: string[] = []
      let reportedAt = Date.now()
      /** Re-scores one lead now, or flags it for the worker holding it; false when it stayed locked for `waitMs`. */
      const rescoreOne = async (id: string, waitMs: number): Promise<boolean> => {
        const r = await processor.processLead(id, { rescore: true })
        if (r.locked) return true
        // the marker first, so that a process stopping right after the flag still leaves the lead queued
        await enqueue([id])
        try {
          await withLeadLock(id, async () => await c.leads.updateOne({ _id: id }, { $set: { rescoreFrom: '' } }), waitMs)
        } catch (err) {
          if (err instanceof LockBusyError) return false
          throw err
        }
        await enqueue([id])
        flagged.push(id)
        return true
      }
      const report = async (): Promise<void> => {
        if (Date.now() - reportedAt <= 1000) return
        reportedAt = Date.now()
        await c.jobs.updateOne({ _id: jobId }, { $set: { done, updatedAt: now() } })
        await live.append('job.progress', ['jobs', `job:${jobId}`], { jobId, kind: 'rescore-all', done, total: job.total })
      }
      /** Re-scores a page of leads in one batch; the ones a scoring run holds go one by one (flagged if need be). */
      const rescorePage = async (ids: string[]): Promise<void> => {
        const r = await processor.processMany(ids, { rescore: true })
        done += r.done.length
        await report()
        for (const id of r.busy) {
          if (!await rescoreOne(id, patience)) deferred.push(id)
          done++
          await report()
        }
      }
      // One pass over the lead ids, in `_id` order (a range query per page would read the whole collection per page
      // on FerretDB).
      const page: string[] = []
      for await (const l of c.leads.find({}).sort({ _id: 1 }).project<{ _id: string }>({ _id: 1 }).batchSize(1000)) {
        page.push(l._id)
        if (page.length >= config.worker.batchLeads) await rescorePage(page.splice(0))
      }
      if (page.length > 0) await rescorePage(page)
      // leads that stayed busy (a long scoring run held them) get more patient retries before the job gives up
      for (let round = 0; round < 20 && deferred.length > 0; round++) {
        const again = deferred.splice(0)
        for (const id of again) if (!await rescoreOne(id, patience)) deferred.push(id)
      }
      if (deferred.length > 0) throw new Error(`${deferred.length} leads stayed busy and were not re-scored (first: ${deferred[0]!})`)
      // Flagged leads are re-scored by the worker holding them; wait for that here, so that their notifications are
      // held like everyone else's (a lead whose re-score already ran finds nothing left to do).
      for (const id of flagged) {
        for (let i = 0; i < 200; i++) {
          if ((await processor.processLead(id)).locked) break
          await new Promise((r) => setTimeout(r, 50))
        }
      }
      await c.jobs.updateOne({ _id: jobId }, { $set: { state: 'done', done, updatedAt: now(), finishedAt: now() } })
      await live.append('job.progress', ['jobs', `job:${jobId}`], { jobId, kind: 'rescore-all', done, total: job.total, state: 'done' })
    } catch (err) {
      await c.jobs.updateOne({ _id: jobId }, { $set: { state: 'failed', error: (err as Error).message, updatedAt: now(), finishedAt: now() } })
      throw err
    } finally {
      clearInterval(heartbeat)
      holdNotifications = false
      outbox.setLocalHold(null)
      await outbox.releaseHeld().catch((err: unknown) => log.warn({ err, jobId }, 'releasing held notifications failed; the dispatcher retries'))
    }
  }

  let rebuilding = false

  async function startRebuildViews (actor: string): Promise<JobDoc> {
    const t = now()
    const job: JobDoc = { _id: newId('job'), kind: 'rebuild-views', state: 'queued', total: 0, done: 0, error: null, createdAt: t, updatedAt: t, finishedAt: null }
    await c.jobs.insertOne(job)
    await c.auditLog.insertOne({ _id: newId('au'), at: t, actor, action: 'views.rebuild', target: job._id, details: {} })
    await scheduler.agenda.now('rebuild-views', { jobId: job._id })
    return job
  }

  /** Rebuilds the lead index and the aggregates from the leads and events, with scoring paused in this process. */
  async function runRebuildViews (jobId: string, touch: () => Promise<unknown> = async () => undefined): Promise<void> {
    await c.jobs.updateOne({ _id: jobId }, { $set: { state: 'running', updatedAt: now() } })
    rebuilding = true
    const heartbeat = setInterval(() => { touch().catch(() => undefined) }, Math.max(200, Math.floor(config.worker.lockLifetimeMs / 3)))
    try {
      const r = await views.rebuild(async (done) => { await c.jobs.updateOne({ _id: jobId }, { $set: { done, updatedAt: now() } }) })
      await c.jobs.updateOne({ _id: jobId }, { $set: { state: 'done', total: r.leads, done: r.leads, updatedAt: now(), finishedAt: now() } })
    } catch (err) {
      await c.jobs.updateOne({ _id: jobId }, { $set: { state: 'failed', error: (err as Error).message, updatedAt: now(), finishedAt: now() } })
      throw err
    } finally {
      clearInterval(heartbeat)
      rebuilding = false
    }
  }

  scheduler.define<{ jobId: string }>({ name: 'rebuild-views', handler: async (d, job) => { await runRebuildViews(d.jobId, async () => await job.touch()) }, concurrency: 1 })

  scheduler.define<{ jobId: string }>({ name: 'rescore-all', handler: async (d, job) => { await runRescoreAll(d.jobId, async () => await job.touch()) }, concurrency: 1 })

  return {
    config, database, c, now, metrics, locks, rulesets, offers, pipeline, processor, ingest, live, apiKeys, users, idempotency, scheduler, uploads,
    subscriptions, outbox, dispatcher,
    trackingPlan, violations,
    predictive, identity, suppressions, privacy, enqueue, sweep, decayTick, startRescoreAll, withLeadLock, views, startRebuildViews,
    /** Starts job processing (workers) and the recurring sweeper. */
    async startWorkers (): Promise<void> {
      workersStarted = true
      await scheduler.start()
      // a database from before the lead views: build them once (an empty one is marked built at once)
      if (!await views.built() && !await views.markBuiltIfEmpty()) await startRebuildViews('system')
      const every = (ms: number, fn: () => Promise<unknown>, what: string): NodeJS.Timeout => {
        let busy = false
        const timer = setInterval(() => {
          if (busy) return
          busy = true
          fn().catch((err: unknown) => log.warn({ err }, `${what} failed`)).finally(() => { busy = false })
        }, ms)
        timer.unref()
        return timer
      }
      timers.push(
        every(config.worker.processEveryMs, pollMarkers, 'marker poll'), every(config.worker.sweepEveryMs, sweep, 'sweep'),
        every(config.worker.decayTickMs, decayTick, 'decay tick'),
      )
      dispatcher.start()
    },
    /** Stops the pool and timers, waiting up to timeoutMs for runs in progress, then drains Agenda. */
    async stopWorkers (timeoutMs: number): Promise<void> {
      for (const t of timers.splice(0)) clearInterval(t)
      await predictive.stop(timeoutMs)
      await dispatcher.stop(Math.min(timeoutMs, config.webhooks.timeoutMs))
      await queue.stop(timeoutMs)
      await scheduler.drain(timeoutMs)
    },
  }
}

export type Core = ReturnType<typeof createCore>
