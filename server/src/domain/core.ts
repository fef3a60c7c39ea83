import type { AppConfig } from '../config.js'
import type { Database } from '../infra/db.js'
import { Scheduler } from '../infra/agenda.js'
import { isDuplicateKey } from '../infra/db.js'
import { createLockService } from './locks.js'
import { createRulesetService } from './rulesets/ruleset-service.js'
import { createScoringPipeline } from './scoring/pipeline.js'
import { createLeadProcessor, type CommittedBatch } from './scoring/processor.js'
import { createIngestService } from './events/ingest.js'
import { createIdempotencyService } from './events/idempotency.js'
import { createLiveFeed } from './live/live-feed.js'
import { createApiKeyService } from './auth/api-keys.js'
import { createUserService } from './auth/users.js'
import { createMetrics } from './metrics.js'
import { newId } from '../lib/ids.js'
import { WorkQueue } from './work-queue.js'
import type { JobDoc } from './types.js'
import type { LeadScoredDataT } from '../schemas/live.js'
import { createPredictiveService, createPredictivePlugin, internalPluginContext } from './predictive/service.js'

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
}

/** Builds every domain service over one database, in dependency order. Nothing here listens or starts timers. */
export function createCore (config: AppConfig, database: Database, log: CoreLogger, opts: CoreOptions = {}) {
  const now = opts.now ?? (() => new Date())
  const { c } = database
  const metrics = createMetrics()
  const locks = createLockService(c.locks, now)
  const rulesets = createRulesetService({ c, now })
  const live = createLiveFeed(c.liveFeed, now)
  const predictive = createPredictiveService({
    c, locks, rulesets, now, log,
    audit: async (actor, action, target, details) => { await c.auditLog.insertOne({ _id: newId('au'), at: now(), actor, action, target, details }) },
    progress: async (jobId, data) => { await live.append('job.progress', ['jobs', `job:${jobId}`], data) },
  })
  const pipeline = createScoringPipeline(
    [{ plugin: createPredictivePlugin(predictive.runtime), ctx: internalPluginContext('predictive', log) }],
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

  const processor = createLeadProcessor({
    c, locks, rulesets, pipeline, now, lockLifetimeMs: config.worker.lockLifetimeMs, eventsPerRun: config.worker.eventsPerRun,
    log, onCommitted, ...(opts.beforeCommit !== undefined ? { beforeCommit: opts.beforeCommit } : {}),
  })

  // Scoring runs are triggered by an insert-only marker per lead (`pendingLeads`) and run by the in-process pool of
  // every worker process. (Agenda job claims are not atomic on FerretDB, and its worker slots leaked there until
  // processing stopped; markers plus the lead lock need nothing but atomic inserts.)
  const queue = new WorkQueue(config.worker.concurrency, async (id) => { await runScoreLead(id) },
    (id, err) => log.error({ err, leadId: id }, 'scoring run failed'))
  let workersStarted = false
  const timers: NodeJS.Timeout[] = []

  /** Makes sure a scoring run follows for each lead: a marker for other processes, and this process's pool. */
  async function enqueue (leadIds: string[]): Promise<void> {
    for (const leadId of leadIds) {
      try {
        await c.pendingLeads.insertOne({ _id: leadId, at: now() })
      } catch (err) {
        if (!isDuplicateKey(err)) throw err
      }
      if (workersStarted) queue.push(leadId)
    }
  }

  /** Picks up markers left for any process (new events ingested elsewhere, or a run that died). */
  async function pollMarkers (): Promise<void> {
    const markers = await c.pendingLeads.find({}).sort({ at: 1 }).limit(1000).project<{ _id: string }>({ _id: 1 }).toArray()
    for (const m of markers) queue.push(m._id)
  }

  const ingest = createIngestService({
    c, now, limits: { maxEventBytes: config.limits.maxEventBytes, maxFutureSkewMs: 5 * 60_000 },
    initialSettings: async () => (await rulesets.active()).settings, enqueue,
  })

  let sweeps = 0
  /**
   * The backstop next to the marker poll: leads waiting for a re-score get a run, and every 12th sweep looks for
   * events left pending longer than 30 s without a marker (a process that died between storing an event and its
   * marker). Also purges expired idempotency keys, old live messages and long-expired lock documents.
   */
  async function sweep (): Promise<number> {
    const t = now()
    const ids = new Set<string>()
    const flagged = await c.leads.find({ rescoreFrom: { $type: 'string' } }).project<{ _id: string }>({ _id: 1 }).limit(5000).toArray()
    for (const l of flagged) ids.add(l._id)
    if (sweeps++ % 12 === 0) {
      // a process that died between storing an event and its marker leaves the event pending with no marker
      const stale = await c.events.find({ status: 'pending', receivedAt: { $lt: new Date(t.getTime() - 30_000) } }).project<{ leadId: string }>({ leadId: 1 }).limit(5000).toArray()
      for (const e of stale) ids.add(e.leadId)
    }
    if (ids.size > 0) {
      log.debug({ leads: ids.size }, 'sweeper enqueued leads')
      await enqueue([...ids])
    }
    await idempotency.purgeExpired()
    await live.purgeBefore(new Date(t.getTime() - 24 * 3_600_000))
    await c.locks.deleteMany({ expiresAt: { $lt: new Date(t.getTime() - 3_600_000) } })
    return ids.size
  }

  async function runScoreLead (leadId: string): Promise<void> {
    // remove the marker before reading events: an event stored after this point queues a new run
    await c.pendingLeads.deleteOne({ _id: leadId })
    const r = await processor.processLead(leadId)
    if (!r.locked) {
      // another run holds the lead: it re-checks for new events after releasing the lock (and if it dies, its lock
      // expires and the sweeper finds the pending events)
      return
    }
    if (await processor.hasWork(leadId)) await enqueue([leadId])
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
    try {
      let after = ''
      let done = 0
      for (;;) {
        const page = await c.leads.find({ _id: { $gt: after } }).sort({ _id: 1 }).limit(200).project<{ _id: string }>({ _id: 1 }).toArray()
        if (page.length === 0) break
        for (const p of page) {
          const r = await processor.processLead(p._id, { rescore: true })
          if (!r.locked) {
            await processor.withLeadLock(p._id, async () => await c.leads.updateOne({ _id: p._id }, { $set: { rescoreFrom: '' } }))
            await enqueue([p._id])
          }
        }
        done += page.length
        after = page[page.length - 1]!._id
        await c.jobs.updateOne({ _id: jobId }, { $set: { done, updatedAt: now() } })
        await touch() // renews Agenda's lease on the job once per page
        await live.append('job.progress', ['jobs', `job:${jobId}`], { jobId, kind: 'rescore-all', done, total: job.total })
      }
      await c.jobs.updateOne({ _id: jobId }, { $set: { state: 'done', done, updatedAt: now(), finishedAt: now() } })
      await live.append('job.progress', ['jobs', `job:${jobId}`], { jobId, kind: 'rescore-all', done, total: job.total, state: 'done' })
    } catch (err) {
      await c.jobs.updateOne({ _id: jobId }, { $set: { state: 'failed', error: (err as Error).message, updatedAt: now(), finishedAt: now() } })
      throw err
    } finally {
      holdNotifications = false
    }
  }

  scheduler.define<{ jobId: string }>({ name: 'rescore-all', handler: async (d, job) => { await runRescoreAll(d.jobId, async () => await job.touch()) }, concurrency: 1 })

  return {
    config, database, c, now, metrics, locks, rulesets, pipeline, processor, ingest, live, apiKeys, users, idempotency, scheduler,
    predictive, enqueue, sweep, startRescoreAll,
    /** Starts job processing (workers) and the recurring sweeper. */
    async startWorkers (): Promise<void> {
      workersStarted = true
      await scheduler.start()
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
      timers.push(every(config.worker.processEveryMs, pollMarkers, 'marker poll'), every(config.worker.sweepEveryMs, sweep, 'sweep'))
    },
    /** Stops the pool and timers, waiting up to timeoutMs for runs in progress, then drains Agenda. */
    async stopWorkers (timeoutMs: number): Promise<void> {
      for (const t of timers.splice(0)) clearInterval(t)
      await predictive.stop(timeoutMs)
      await queue.stop(timeoutMs)
      await scheduler.drain(timeoutMs)
    },
  }
}

export type Core = ReturnType<typeof createCore>
