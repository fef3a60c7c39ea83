// Pull sources (IMAP, and any source plugin with `poll`) as Agenda jobs. Each enabled polled instance has one
// recurring schedule, `source-poll` with data `{ instanceId }` every poll period, which plugin-host/poller.ts keeps in
// step with the instance (made, changed, removed as it is created, changed, deleted; checked at worker start). "Poll
// now" is a one-off `source-poll-now` run whose outcome goes back to the request that asked. What a run does (fetch,
// ingest, cursor, backoff, stopping on a permanent failure) is the poller's; a scheduled run may move its schedule's
// next run (a backoff, or a period counted from a poll that ran meanwhile).
import type { Scheduler } from '../infra/agenda.js'
import { keepingClaim, type JobRun } from './job.js'

export const SOURCE_POLL = 'source-poll'
export const SOURCE_POLL_NOW = 'source-poll-now'

// polls mostly wait on remote servers: more of them at once than the worker concurrency, still a bounded share of
// the process's job slots
const POLLS_AT_ONCE = 4
const POLLS_NOW_AT_ONCE = 2

export interface SourcePollRun extends JobRun {
  /** When the instance's schedule runs next (instead of a period after this run started). */
  runNextAt(at: Date): void
}

/** The work behind the two jobs (the poller's). */
export interface SourcePollWork {
  /** One run of an instance's schedule. */
  scheduled(instanceId: string, run: SourcePollRun): Promise<void>
  /** One poll asked for through the API; `runId` names the request waiting for its outcome. */
  now(instanceId: string, runId: string): Promise<void>
}

/** An instance's schedule, as the poller changes it. */
export interface SourcePollSchedule {
  /** Polls the instance every `periodMs` (a new schedule is due at once; an unchanged one keeps its next run). */
  keep(instanceId: string, periodMs: number): Promise<void>
  /** Stops the instance's schedule. */
  drop(instanceId: string): Promise<void>
  /** Queues one poll now, run by this process too (as the API's other jobs, with workers or not). */
  queueNow(instanceId: string, runId: string): Promise<void>
}

export function defineSourcePoll (scheduler: Scheduler, work: SourcePollWork, opts: { lockLifetimeMs: number; log: { warn(o: object, m: string): void } }): SourcePollSchedule {
  scheduler.define<{ instanceId: string }>({
    name: SOURCE_POLL, concurrency: POLLS_AT_ONCE,
    handler: async (data, job) => {
      const run: SourcePollRun = {
        touch: async () => { await job.touch() },
        // saved with the job when the run ends (Agenda writes the run's nextRunAt back)
        runNextAt: (at) => { job.attrs.nextRunAt = at },
      }
      await keepingClaim(run, opts.lockLifetimeMs, opts.log, async () => { await work.scheduled(data.instanceId, run) })
    },
  })
  scheduler.define<{ instanceId: string; runId: string }>({
    name: SOURCE_POLL_NOW, concurrency: POLLS_NOW_AT_ONCE,
    handler: async (data, job) => {
      await keepingClaim({ touch: async () => { await job.touch() } }, opts.lockLifetimeMs, opts.log, async () => { await work.now(data.instanceId, data.runId) })
    },
  })
  return {
    async keep (instanceId, periodMs) { await scheduler.everyWithData(SOURCE_POLL, periodMs, { instanceId }, ['instanceId']) },
    async drop (instanceId) { await scheduler.cancel(SOURCE_POLL, { instanceId }) },
    async queueNow (instanceId, runId) {
      await scheduler.start([SOURCE_POLL_NOW])
      await scheduler.now(SOURCE_POLL_NOW, { instanceId, runId })
    },
  }
}
