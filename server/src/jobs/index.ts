// The one place job definitions are registered with the job runner (infra/agenda.ts), and the starters the routes
// call. Jobs the API starts (backtests, training) also run in a process without workers when it is the one asked:
// it starts running that kind of job then, as they ran in the requesting process before they were jobs.
import { nextRunBy, type Scheduler } from '../infra/agenda.js'
import type { LockService } from '../domain/locks.js'
import { keepingClaim, type JobDefinition, type JobRun } from './job.js'
import { rescoreAllJob, type RescoreAllDeps } from './rescore-all.js'
import { rebuildViewsJob, type RebuildViewsDeps } from './rebuild-views.js'
import { backtestJob, type BacktestJobDeps } from './backtest.js'
import { trainModelJob, type TrainModelDeps } from './train-model.js'
import { sweepJob, SWEEP } from './sweep.js'
import { decayTickJob, DECAY_TICK } from './decay-tick.js'
import { defineSourcePoll, type SourcePollSchedule, type SourcePollWork } from './source-poll.js'
import { webhookDeliveriesJob, webhookDeliveriesEveryMs, WEBHOOK_DELIVERIES } from './webhook-deliveries.js'
import { uploadRecoveryJob, uploadRecoveryEveryMs } from './upload-recovery.js'

type Without<T> = Omit<T, 'schedule'>

export interface JobsDeps {
  scheduler: Scheduler
  locks: LockService
  lockLifetimeMs: number
  rescoreAll: Without<RescoreAllDeps>
  rebuildViews: Without<RebuildViewsDeps>
  backtest: Without<BacktestJobDeps>
  trainModel: Without<TrainModelDeps>
  sweep: () => Promise<unknown>
  decayTick: () => Promise<unknown>
  /** One run of the webhook dispatcher, when its earliest queued work is due, and the longest between runs (the period). */
  webhookDeliveries: { run: () => Promise<void>; nextDueAt: () => Promise<Date | null>; pollMs: number }
  /** This host (the one the upload service records with its spooled files), the upload lease, and the takeover. */
  uploadRecovery: { host: string; leaseMs: number; recover: () => Promise<number> }
  log: { warn(o: object, m: string): void }
}

export function registerJobs (deps: JobsDeps) {
  const { scheduler } = deps
  const schedule = async (name: string, data: object): Promise<void> => { await scheduler.now(name, data) }
  /** For jobs the API starts: this process runs that kind of job from now on (a no-op once it does). */
  const scheduleHere = async (name: string, data: object): Promise<void> => {
    await scheduler.start([name])
    await scheduler.now(name, data)
  }
  const rescoreAll = rescoreAllJob({ ...deps.rescoreAll, schedule })
  const rebuildViews = rebuildViewsJob({ ...deps.rebuildViews, schedule })
  const backtest = backtestJob({ ...deps.backtest, schedule: scheduleHere })
  const trainModel = trainModelJob({ ...deps.trainModel, schedule: scheduleHere })
  const definitions: Array<JobDefinition<{ jobId: string }>> = [rescoreAll.definition, rebuildViews.definition, backtest.definition, trainModel.definition]
  for (const d of definitions) {
    scheduler.define<{ jobId: string }>({
      name: d.name, ...(d.concurrency !== undefined ? { concurrency: d.concurrency } : {}),
      // Our job document is run under a lock of its own as well: whatever the database's claim does (an unpatched
      // FerretDB can hand one Agenda job to two workers), one worker at a time runs it, and each handler returns at
      // once for a job its document shows as finished.
      handler: async (data, job) => {
        await deps.locks.withLock(`job-run:${data.jobId}`, async () => { await d.handler(data, { touch: async () => { await job.touch() } }) }, { ttlMs: deps.lockLifetimeMs })
      },
    })
  }
  // recurring, and safe to run twice (see each file): no lock of their own. Webhook deliveries are also queued at
  // once by the dispatcher when work comes in, and upload recovery once at start (one schedule per host, run only by
  // the processes on it); Agenda removes such one-off runs once done, and never a recurring schedule.
  const uploadRecovery = uploadRecoveryJob(deps.uploadRecovery)
  for (const d of [sweepJob({ sweep: deps.sweep }), decayTickJob({ decayTick: deps.decayTick }), webhookDeliveriesJob(deps.webhookDeliveries), uploadRecovery]) {
    scheduler.define<undefined>({
      name: d.name, ...(d.concurrency !== undefined ? { concurrency: d.concurrency } : {}),
      handler: async (data, job) => {
        const run: JobRun = {
          touch: async () => { await job.touch() },
          // a run of the schedule sets its own next run (saved when it ends); a one-off run moves the schedule's
          // document; either way no earlier than now
          runBy: async (at) => {
            const when = new Date(Math.max(at.getTime(), Date.now()))
            if (!nextRunBy(job, when)) await scheduler.runBy(d.name, when)
          },
        }
        await keepingClaim(run, deps.lockLifetimeMs, deps.log, async () => { await d.handler(data, run) })
      },
    })
  }
  return {
    /**
     * Runs this host's upload recovery in this process (any process that takes uploads, with workers or not): once
     * now, then every half lease. Saving the schedule again also frees it from a claim a killed process held.
     */
    async startUploadRecovery (): Promise<void> {
      await scheduler.start([uploadRecovery.name])
      await scheduler.every(uploadRecovery.name, uploadRecoveryEveryMs(deps.uploadRecovery.leaseMs))
      await scheduler.now(uploadRecovery.name, undefined)
    },
    /** Puts the sweeper, the decay tick and webhook deliveries on their schedules (one shared schedule each; repeating it is harmless). */
    async scheduleRecurring (every: { sweepMs: number; decayTickMs: number }): Promise<void> {
      await scheduler.every(SWEEP, every.sweepMs)
      await scheduler.every(DECAY_TICK, every.decayTickMs)
      await scheduler.every(WEBHOOK_DELIVERIES, webhookDeliveriesEveryMs(deps.webhookDeliveries.pollMs))
    },
    /** Defines the source poll jobs; their work is the plugin host's poller, built after the core (jobs/source-poll.ts). */
    useSourcePoll: (work: SourcePollWork): SourcePollSchedule => defineSourcePoll(scheduler, work, { lockLifetimeMs: deps.lockLifetimeMs, log: deps.log }),
    startRescoreAll: rescoreAll.start,
    startRebuildViews: rebuildViews.start,
    startBacktest: backtest.start,
    startTraining: trainModel.start,
  }
}

export type Jobs = ReturnType<typeof registerJobs>
