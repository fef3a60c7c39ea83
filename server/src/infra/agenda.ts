import { Agenda, InMemoryNotificationChannel, type Job } from 'agenda'
import { MongoBackend } from '@agendajs/mongo-backend'
import type { Db } from 'mongodb'

export interface JobLogger {
  info(o: object, m: string): void
  warn(o: object, m: string): void
  error(o: object, m: string): void
}

export interface SchedulerOptions {
  db: Db
  processEveryMs: number
  concurrency: number
  lockLifetimeMs: number
  log: JobLogger
}

export interface JobSpec<D> {
  name: string
  handler: (data: D, job: Job<D>) => Promise<void>
  concurrency?: number
  lockLifetimeMs?: number
  removeOnComplete?: boolean
}

/**
 * Agenda with the Mongo backend, wrapped so that job names are unique (Agenda's define() silently overwrites) and
 * every job handler logs its failures. Agenda only triggers work: handlers are idempotent and correctness comes
 * from the lead lock and watermark, never from a job running exactly once.
 */
export class Scheduler {
  readonly agenda: Agenda
  private readonly names = new Set<string>()
  private started = false
  private readonly log: JobLogger
  private readonly inflight = new Set<Promise<void>>()

  constructor (opts: SchedulerOptions) {
    this.log = opts.log
    this.agenda = new Agenda({
      backend: new MongoBackend({ mongo: opts.db, collection: 'agendaJobs', ensureIndex: true }),
      processEvery: opts.processEveryMs,
      maxConcurrency: Math.max(opts.concurrency * 2, 8),
      defaultConcurrency: opts.concurrency,
      defaultLockLifetime: opts.lockLifetimeMs,
      notificationChannel: new InMemoryNotificationChannel(),
    })
    this.agenda.on('error', (err: Error) => this.log.error({ err }, 'job scheduler error'))
  }

  define<D> (spec: JobSpec<D>): void {
    if (this.names.has(spec.name)) throw new Error(`job '${spec.name}' is already defined`)
    this.names.add(spec.name)
    this.agenda.define<D>(spec.name, async (job) => {
      const run = spec.handler(job.attrs.data, job)
      const tracked = run.then(() => undefined, () => undefined)
      this.inflight.add(tracked)
      try {
        await run
      } catch (err) {
        this.log.error({ err, job: spec.name, jobId: String(job.attrs._id) }, 'job failed')
        throw err
      } finally {
        this.inflight.delete(tracked)
      }
    }, {
      concurrency: spec.concurrency ?? this.agenda.attrs.defaultConcurrency,
      lockLifetime: spec.lockLifetimeMs ?? this.agenda.attrs.defaultLockLifetime,
      removeOnComplete: spec.removeOnComplete ?? true,
    })
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await this.agenda.start()
  }

  /**
   * Stops taking jobs, hands back the locks of jobs not yet started, and waits (up to timeoutMs) for the handlers
   * that are running to finish. A handler cut off by the timeout is safe: its writes are fenced.
   */
  async drain (timeoutMs: number): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.agenda.stop(false)
    if (this.inflight.size === 0) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all([...this.inflight]),
      new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs) }),
    ])
    clearTimeout(timer)
  }
}
