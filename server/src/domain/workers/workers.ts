// What a worker process runs besides answering requests: the scoring pool and its marker poll, Agenda's jobs (the
// sweeper, the decay tick and the webhook dispatcher's runs among them); and how it stops them.
import type { Scheduler } from '../../infra/agenda.js'
import type { ScoringRunner } from './scoring-runner.js'
import type { LeadViews } from '../lead-views/service.js'
import type { Dispatcher } from '../webhooks/dispatcher.js'
import type { PredictiveService } from '../predictive/service.js'

export interface WorkersDeps {
  scheduler: Scheduler
  runner: ScoringRunner
  views: Pick<LeadViews, 'built' | 'markBuiltIfEmpty'>
  startRebuildViews: (actor: string) => Promise<unknown>
  /** Puts the sweeper and the decay tick, Agenda jobs (jobs/sweep.ts, jobs/decay-tick.ts), on their schedules. */
  scheduleRecurring: () => Promise<void>
  dispatcher: Pick<Dispatcher, 'start' | 'stop'>
  predictive: Pick<PredictiveService, 'stop'>
  pollMs: number
  dispatcherTimeoutMs: number
  log: { warn(o: object, m: string): void }
}

export function createWorkers (deps: WorkersDeps) {
  const timers: NodeJS.Timeout[] = []
  /** Runs `fn` every `ms`, skipping a beat while the previous run is still going. */
  const every = (ms: number, fn: () => Promise<unknown>, what: string): NodeJS.Timeout => {
    let busy = false
    const timer = setInterval(() => {
      if (busy) return
      busy = true
      fn().catch((err: unknown) => deps.log.warn({ err }, `${what} failed`)).finally(() => { busy = false })
    }, ms)
    timer.unref()
    return timer
  }
  return {
    /** Starts job processing (workers), the marker poll and the recurring jobs. */
    async start (): Promise<void> {
      deps.runner.start()
      // before Agenda hands this process a run of its job
      deps.dispatcher.start()
      await deps.scheduler.start()
      await deps.scheduleRecurring()
      // a database from before the lead views: build them once (an empty one is marked built at once)
      if (!await deps.views.built() && !await deps.views.markBuiltIfEmpty()) await deps.startRebuildViews('system')
      timers.push(every(deps.pollMs, deps.runner.pollMarkers, 'marker poll'))
    },
    /** Stops the pool and timers, waiting up to timeoutMs for runs in progress, then drains Agenda. */
    async stop (timeoutMs: number): Promise<void> {
      for (const t of timers.splice(0)) clearInterval(t)
      await deps.predictive.stop(timeoutMs)
      await deps.dispatcher.stop(Math.min(timeoutMs, deps.dispatcherTimeoutMs))
      await deps.runner.stop(timeoutMs)
      await deps.scheduler.drain(timeoutMs)
    },
  }
}
