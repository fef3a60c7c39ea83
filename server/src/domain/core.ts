import type { AppConfig } from '../config.js'
import type { Database } from '../infra/db.js'
import { Scheduler } from '../infra/agenda.js'
import { createLockService } from './locks.js'
import { createLeadLocks } from './lead-lock.js'
import { createRulesetService } from './rulesets/ruleset-service.js'
import { createOfferService } from './offers/offer-service.js'
import { loadTaxonomy } from './offers/taxonomy.js'
import { createScoringPipeline, type MountedScoringPlugin } from './scoring/pipeline.js'
import { createDecaySchedule } from './scoring/decay-schedule.js'
import { createDecayTicker } from './scoring/decay-ticks.js'
import { createLeadProcessor } from './scoring/processor.js'
import { createIngestService } from './events/ingest.js'
import { createIngestJournal } from './events/ingest-journal.js'
import { createIdempotencyService } from './events/idempotency.js'
import { createLiveFeed } from './live/live-feed.js'
import { createApiKeyService } from './auth/api-keys.js'
import { createUserService } from './auth/users.js'
import { createMetrics } from './metrics.js'
import { createUploadService } from './uploads/upload-service.js'
import { createIdentityService } from './identity.js'
import { createOutbox } from './webhooks/outbox.js'
import { createSubscriptionService } from './webhooks/subscriptions.js'
import { createDispatcher } from './webhooks/dispatcher.js'
import { createPredictiveService, createPredictivePlugin, internalPluginContext } from './predictive/service.js'
import { createIntentPlugin, INTENT_PLUGIN_ID } from './intent/plugin.js'
import { createLeadViews } from './lead-views/service.js'
import { createSuppressionList } from './privacy/suppression.js'
import { createPrivacyService } from './privacy/erase.js'
import { createTrackingPlanService } from './events/tracking-plan.js'
import { createViolationCounters } from './events/violation-counters.js'
import { createScoringRunner } from './workers/scoring-runner.js'
import { createScoredFeed } from './workers/scored-feed.js'
import { createSweeper } from './workers/sweeper.js'
import { createWorkers } from './workers/workers.js'
import { registerJobs } from '../jobs/index.js'
import { queueWebhookDeliveries } from '../jobs/webhook-deliveries.js'
import { createAuditService } from './audit.js'
import { createInFlight } from '../lib/in-flight.js'

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

/**
 * Builds every domain service over one database, in dependency order, each from the ones before it. Nothing here
 * listens or starts timers (`startWorkers` does), and nothing is bound later: the two places where services need
 * each other go through an event (noted where they are).
 */
export function createCore (config: AppConfig, database: Database, log: CoreLogger, opts: CoreOptions = {}) {
  const now = opts.now ?? (() => new Date())
  const { c } = database
  const { worker } = config
  const metrics = createMetrics()
  const locks = createLockService(c.locks, now)
  // the taxonomy file is read and checked here, at boot; rules read the active offer with the ruleset
  const offers = createOfferService({ offers: c.offers, now, taxonomy: loadTaxonomy() })
  const rulesets = createRulesetService({ c, now, locks, offers })
  const live = createLiveFeed(c.liveFeed, now, { idIn: database.idIn })
  const audit = createAuditService({ c, now })
  const predictive = createPredictiveService({
    c, locks, rulesets, now, log, audit: audit.record,
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
  // where a query on `expiresAt` reads every key (FerretDB), expired keys are found by `_id` ranges of markers
  const idempotency = createIdempotencyService(c.idempotencyKeys, now, config.idempotencyTtlMs, database.ferret && database.idRange ? { expiry: c.idempotencyExpiry } : {})
  const scheduler = new Scheduler({ db: database.db, processEveryMs: worker.processEveryMs, concurrency: worker.concurrency, lockLifetimeMs: worker.lockLifetimeMs, log })
  const subscriptions = createSubscriptionService({ c, now, allowPrivate: config.webhooks.allowPrivate })
  const leadLocks = createLeadLocks({ locks, lockLifetimeMs: worker.lockLifetimeMs, log })
  // the outbox tells the dispatcher (built after it, from it) that deliveries were queued: an event, not a callback
  const deliveriesQueued = new EventTarget()
  const outbox = createOutbox({ c, now, log, withLeadLock: leadLocks.withLeadLock, onQueued: () => { deliveriesQueued.dispatchEvent(new Event('queued')) } })
  const dispatcher = createDispatcher({
    c, now, config: config.webhooks, subscriptions, outbox, log,
    publish: async (payload) => await live.append('webhook.delivery', ['webhooks'], payload),
    // its work runs as a job (registered below, from it), queued by name
    requestRun: async () => { await queueWebhookDeliveries(scheduler) },
    ...(database.ferret && database.idRange ? { claimExpiry: c.webhookClaimExpiry } : {}),
  })
  deliveriesQueued.addEventListener('queued', () => { dispatcher.kick() })
  const feed = createScoredFeed({ metrics, live, log })
  const identity = createIdentityService(c, now)
  const views = createLeadViews({ c, now, locks })
  const decaySchedule = createDecaySchedule({ col: c.decaySchedule })
  const processor = createLeadProcessor({
    c, locks, rulesets, pipeline, now, lockLifetimeMs: worker.lockLifetimeMs, eventsPerRun: worker.eventsPerRun,
    // A released FerretDB holds one of its 100 SQLite connections per single-document update until the command ends:
    // at most 8 per command there. The embedded build closes each one as it goes (scripts/ferretdb.mjs), and has the
    // `_id` list patch that `idIn` detects.
    writesPerCommand: database.ferret && !database.idIn ? 8 : 200, idIn: database.idIn, identity,
    log, onCommitted: feed.committed, onVisible: feed.visible, notifier: outbox, views, decay: decaySchedule, scansQueries: database.ferret, ...(opts.beforeCommit !== undefined ? { beforeCommit: opts.beforeCommit } : {}),
  })
  // this process's ingest calls in progress: a scoring backlog lets a burst be stored first (workers/ingest-first.ts)
  const ingesting = createInFlight()
  const runner = createScoringRunner({
    c, processor, metrics, now, log, concurrency: worker.concurrency, batchLeads: worker.batchLeads, lookUpMarkers: database.ferret && database.idIn,
    ingestBusy: ingesting.busy, yieldMs: worker.ingestFirstMs,
  })
  // the lead lock (used by the outbox, built before the runner) reports each writer's release: an event
  leadLocks.onReleased(runner.afterWriter)
  const { enqueue } = runner

  const suppressions = createSuppressionList(c.suppressions, now, database.idIn)
  const trackingPlan = createTrackingPlanService({ plans: c.trackingPlans, now })
  const violations = createViolationCounters({ counters: c.trackingViolations, now, locks })
  const journal = createIngestJournal({ col: c.ingestJournal, now })
  const storing = createIngestService({
    c, now, identity, journal, suppressed: suppressions.suppressed, limits: { maxEventBytes: config.limits.maxEventBytes, maxFutureSkewMs: 5 * 60_000 },
    initialSettings: async () => (await rulesets.active()).settings, enqueue, idIn: database.idIn,
    onGroup: (source, requests) => { metrics.ingestGroups.inc(1, { source }); metrics.ingestGroupedRequests.inc(requests, { source }) },
    onStored: views.stored, onRejectsStored: async (n) => { await views.rejectsStored(n) },
    trackingPlan: trackingPlan.current, onViolations: violations.count,
  })
  const ingest: typeof storing = {
    ingest: async (inputs, ctx) => await ingesting.run(async () => await storing.ingest(inputs, ctx)),
    submit: async (inputs, ctx) => await ingesting.run(async () => await storing.submit(inputs, ctx)),
  }

  const privacy = createPrivacyService({ c, now, audit, ferret: database.ferret, withLeadLock: leadLocks.withLeadLock, views, outbox, identity, suppressions })
  const uploads = createUploadService({
    c, ingest, live, now, limits: config.uploads, spoolDir: config.uploads.dir, log, onRejectsStored: async (n) => { await views.rejectsStored(n) },
  })
  const { sweep } = createSweeper({ journal, idempotency, live, locks, enqueue, now, log, purgeWebhookClaims: dispatcher.purgeClaims, purgeRevisionClaims: processor.purgeClaims })
  const decayTicker = createDecayTicker({
    c, schedule: decaySchedule, locks, activeRuleset: async () => await rulesets.active(), now, lockLifetimeMs: worker.lockLifetimeMs, log,
    ingest: async (events, ctx) => await ingest.ingest(events, ctx),
  })
  const decayTick = async (): Promise<number> => await decayTicker.tick()

  const jobs = registerJobs({
    scheduler, locks, lockLifetimeMs: worker.lockLifetimeMs,
    rescoreAll: {
      c, audit, processor, enqueue, withLeadLock: leadLocks.withLeadLock, live, outbox, feed, now, lockLifetimeMs: worker.lockLifetimeMs, batchLeads: worker.batchLeads, pagesAtOnce: worker.concurrency, log,
      // a count of the leads read every lead on FerretDB (8 s at 20,000 leads, in the request that starts the job)
      countLeads: async () => await views.leadCount() ?? await c.leads.countDocuments({}),
    },
    rebuildViews: { c, audit, views, pauseScoring: runner.paused, now, lockLifetimeMs: worker.lockLifetimeMs, log },
    backtest: { c, audit, pipeline, rulesets, live, now, lockLifetimeMs: worker.lockLifetimeMs, log },
    trainModel: { predictive, lockLifetimeMs: worker.lockLifetimeMs, log },
    sweep, decayTick, log,
    webhookDeliveries: { run: dispatcher.run, nextDueAt: dispatcher.nextDueAt, pollMs: config.webhooks.pollMs },
    uploadRecovery: { host: uploads.host, leaseMs: config.uploads.leaseMs, recover: uploads.recover },
  })
  const workers = createWorkers({
    scheduler, runner, views, startRebuildViews: jobs.startRebuildViews, dispatcher, predictive, log,
    scheduleRecurring: async () => { await jobs.scheduleRecurring({ sweepMs: worker.sweepEveryMs, decayTickMs: worker.decayTickMs }) },
    pollMs: worker.processEveryMs, dispatcherTimeoutMs: config.webhooks.timeoutMs,
  })

  return {
    config, database, c, now, metrics, audit, locks, rulesets, offers, pipeline, processor, ingest, live, apiKeys, users, idempotency, scheduler, uploads,
    subscriptions, outbox, dispatcher,
    trackingPlan, violations,
    predictive, identity, suppressions, privacy, enqueue, sweep, pauseScoring: runner.paused, decayTick, withLeadLock: leadLocks.withLeadLock, views, jobs,
    startRescoreAll: jobs.startRescoreAll, startRebuildViews: jobs.startRebuildViews,
    /** Starts job processing (workers) and the recurring sweeper. */
    startWorkers: workers.start,
    /** Stops the pool and timers, waiting up to timeoutMs for runs in progress, then drains Agenda. */
    stopWorkers: workers.stop,
  }
}

export type Core = ReturnType<typeof createCore>
