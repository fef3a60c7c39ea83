import type { AppConfig } from '../config.js'
import type { Database } from '../infra/db.js'
import { Scheduler } from '../infra/agenda.js'
import { createLockService } from './locks.js'
import { createRulesetService } from './rulesets/ruleset-service.js'
import { createScoringPipeline } from './scoring/pipeline.js'
import { createLeadProcessor, type CommittedBatch } from './scoring/processor.js'
import { createIngestService } from './events/ingest.js'
import { createIdempotencyService } from './events/idempotency.js'
import { createLiveFeed } from './live/live-feed.js'
import { createApiKeyService } from './auth/api-keys.js'
import { createMetrics } from './metrics.js'
import { newId } from '../lib/ids.js'
import type { JobDoc } from './types.js'

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
  const pipeline = createScoringPipeline()
  const live = createLiveFeed(c.liveFeed, now)
  const apiKeys = createApiKeyService(c.apiKeys, now)
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
    live.append('lead.scored', ['leaderboard', `lead:${b.leadId}`, 'events'], {
      leadId: b.leadId, score: b.after.total, stage: b.after.stage, parts: b.after, before: b.before,
      delta: b.after.total - b.before.total, lastSeq: b.lastSeq, events: b.events, rescored: b.rescored,
      entries: b.entries.slice(-20).map((e) => ({ id: e._id, eventId: e.eventId, type: e.eventType, delta: e.delta, reasons: e.reasons })),
    }).catch((err: unknown) => log.warn({ err, leadId: b.leadId }, 'live feed append failed'))
  }

  const processor = createLeadProcessor({
    c, locks, rulesets, pipeline, now, lockLifetimeMs: config.worker.lockLifetimeMs, eventsPerRun: config.worker.eventsPerRun,
    log, onCommitted, ...(opts.beforeCommit !== undefined ? { beforeCommit: opts.beforeCommit } : {}),
  })

  async function enqueue (leadIds: string[]): Promise<void> {
    for (const leadId of leadIds) await scheduler.ensurePending('score-lead', { leadId }, { 'data.leadId': leadId })
  }

  const ingest = createIngestService({
    c, now, limits: { maxEventBytes: config.limits.maxEventBytes, maxFutureSkewMs: 5 * 60_000 },
    initialSettings: async () => (await rulesets.active()).settings, enqueue,
  })

  let sweeps = 0
  /**
   * The backstop for lost jobs and crashes between insert and enqueue: leads whose watermark trails their newest
   * seq (or that wait for a re-score) get a new run; every 12th sweep also looks for events left pending longer than
   * 30 s (a crash before the lead's seq hint was written).
   */
  async function sweep (): Promise<number> {
    const t = now()
    const leads = await c.leads.find({}).project<{ _id: string; nextSeq: number; lastSeq: number; rescoreFrom?: string | null }>({ nextSeq: 1, lastSeq: 1, rescoreFrom: 1 }).toArray()
    const ids = new Set(leads.filter((l) => l.nextSeq > l.lastSeq || typeof l.rescoreFrom === 'string').map((l) => l._id))
    if (sweeps++ % 12 === 0) {
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
    const r = await processor.processLead(leadId)
    if (!r.locked) {
      // another worker holds the lead; make sure a run follows it in case it finished before seeing our events
      await new Promise((res) => setTimeout(res, 50))
      await scheduler.ensurePending('score-lead', { leadId }, { 'data.leadId': leadId })
      return
    }
    const lead = await c.leads.findOne({ _id: leadId }, { projection: { nextSeq: 1, lastSeq: 1, rescoreFrom: 1 } })
    if (lead !== null && (lead.nextSeq > lead.lastSeq || lead.rescoreFrom != null)) await enqueue([leadId])
  }

  async function startRescoreAll (actor: string): Promise<JobDoc> {
    const t = now()
    const job: JobDoc = { _id: newId('job'), kind: 'rescore-all', state: 'queued', total: await c.leads.countDocuments({}), done: 0, error: null, createdAt: t, updatedAt: t, finishedAt: null }
    await c.jobs.insertOne(job)
    await c.auditLog.insertOne({ _id: newId('au'), at: t, actor, action: 'rescore.all', target: job._id, details: { total: job.total } })
    await scheduler.agenda.now('rescore-all', { jobId: job._id })
    return job
  }

  async function runRescoreAll (jobId: string): Promise<void> {
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
        await c.leads.updateMany({ _id: { $in: page.map((p) => p._id) } }, { $set: { rescoreFrom: '' } })
        for (const p of page) {
          const r = await processor.processLead(p._id)
          if (!r.locked) await enqueue([p._id])
        }
        done += page.length
        after = page[page.length - 1]!._id
        await c.jobs.updateOne({ _id: jobId }, { $set: { done, updatedAt: now() } })
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

  scheduler.define<{ leadId: string }>({ name: 'score-lead', handler: async (d) => { await runScoreLead(d.leadId) } })
  scheduler.define<Record<string, never>>({ name: 'sweep', handler: async () => { await sweep() }, concurrency: 1 })
  scheduler.define<{ jobId: string }>({ name: 'rescore-all', handler: async (d) => { await runRescoreAll(d.jobId) }, concurrency: 1, lockLifetimeMs: 10 * 60_000 })

  return {
    config, database, c, now, metrics, locks, rulesets, pipeline, processor, ingest, live, apiKeys, idempotency, scheduler,
    enqueue, sweep, startRescoreAll,
    /** Starts job processing (workers) and the recurring sweeper. */
    async startWorkers (): Promise<void> {
      await scheduler.start()
      await scheduler.ensureRecurring('sweep', config.worker.sweepEveryMs)
    },
  }
}

export type Core = ReturnType<typeof createCore>
