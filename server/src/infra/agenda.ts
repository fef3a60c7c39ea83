import { Agenda, InMemoryNotificationChannel, type Job } from 'agenda'
import { MongoBackend } from '@agendajs/mongo-backend'
import type { Collection, Db, Document } from 'mongodb'

export interface JobLogger {
  info(o: object, m: string): void
  warn(o: object, m: string): void
  error(o: object, m: string): void
}

/** The shortest interval at which Agenda looks for due jobs (`processEvery` is never set below it). */
export const MIN_POLL_MS = 1000
const JOBS_COLLECTION = 'agendaJobs'

/**
 * Agenda connects its backend (creating its indexes) as soon as it is constructed, and leaves a failure of that
 * connect unhandled: a database closed before the indexes were made (a boot that fails right after building the
 * scheduler) then ended the process. This backend reports the failure instead; the jobs' own commands fail and are
 * reported as they run.
 */
class ReportingMongoBackend extends MongoBackend {
  private readonly onConnectError: (err: unknown) => void
  constructor (opts: ConstructorParameters<typeof MongoBackend>[0], onConnectError: (err: unknown) => void, jobs: Collection<Document>) {
    super(opts)
    this.onConnectError = onConnectError
    askOnceForDueNames(this.repository, jobs)
  }

  override async connect (): Promise<void> {
    try {
      await super.connect()
    } catch (err) {
      this.onConnectError(err)
    }
  }
}

/** How long one read of the job names with due work answers Agenda's per-name lookups: about one poll's calls. */
const DUE_NAMES_MS = 200

/**
 * Agenda polls with one find-and-modify per job name (about ten here), every second, whether or not anything is due;
 * on the embedded FerretDB each reads the jobs collection, one at a time, and that was most of an idle server's CPU.
 * Here one read of the names that have a job due by the scan time, or locked (a lock may have expired), serves the
 * lookups of a whole poll; a name without one is answered "nothing" without a command. A job this process saves (a
 * run queued now, whose notification asks for it at once) forgets that read, so the next lookup reads again. If the
 * read fails, every lookup goes to the database as before.
 */
function askOnceForDueNames (repo: MongoBackend['repository'], jobs: Collection<Document>): void {
  const lookUp = repo.getNextJobToRun.bind(repo)
  const save = repo.saveJob.bind(repo)
  let due: { until: number; names: Promise<Set<string> | null> } | null = null
  repo.getNextJobToRun = async (jobName, nextScanAt, lockDeadline, now, options) => {
    if (due === null || Date.now() > due.until) {
      const filter = { disabled: { $ne: true }, $or: [{ lockedAt: { $eq: null }, nextRunAt: { $lte: nextScanAt } }, { lockedAt: { $ne: null } }] }
      due = { until: Date.now() + DUE_NAMES_MS, names: jobs.distinct('name', filter).then((names) => new Set(names.map(String)), () => null) }
    }
    const names = await due.names
    if (names !== null && !names.has(jobName)) return undefined
    return await lookUp(jobName, nextScanAt, lockDeadline, now, options)
  }
  repo.saveJob = async (job, options) => {
    due = null
    return await save(job, options)
  }
}

export interface SchedulerOptions {
  db: Db
  processEveryMs: number
  concurrency: number
  lockLifetimeMs: number
  log: JobLogger
}

/** One Agenda job document as the jobs API shows it (a recurring schedule, or a one-off run not yet removed). */
export interface ScheduledJob {
  id: string
  name: string
  /** The job's data where it is a flat record of plain values (an instance id, a job id); null otherwise. */
  data: Record<string, string | number | boolean> | null
  state: 'running' | 'failed' | 'repeating' | 'scheduled' | 'queued' | 'completed' | 'disabled'
  intervalMs: number | null
  nextRunAt: Date | null
  lastRunAt: Date | null
  lastFinishedAt: Date | null
  failCount: number
  failReason: string | null
  failedAt: Date | null
}

/** Most job documents `schedules` lists (recurring ones are one per job name or per polled source). */
const MAX_LISTED = 1000

function plainData (d: unknown): Record<string, string | number | boolean> | null {
  if (d === null || typeof d !== 'object' || Array.isArray(d)) return null
  const out: Record<string, string | number | boolean> = {}
  for (const [k, v] of Object.entries(d)) if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v
  return out
}

/** What a job document says of itself: claimed, failed last, recurring, due later, due now, or done. */
function stateOf (j: Document, now: Date): ScheduledJob['state'] {
  if (j.disabled === true) return 'disabled'
  if (j.lockedAt instanceof Date) return 'running'
  const failed = j.failedAt instanceof Date && (!(j.lastFinishedAt instanceof Date) || j.failedAt >= j.lastFinishedAt)
  if (failed) return 'failed'
  if (j.repeatInterval != null) return 'repeating'
  if (j.nextRunAt instanceof Date) return j.nextRunAt > now ? 'scheduled' : 'queued'
  return 'completed'
}

export interface JobSpec<D> {
  name: string
  handler: (data: D, job: Job<D>) => Promise<void>
  concurrency?: number
  lockLifetimeMs?: number
  removeOnComplete?: boolean
}

/**
 * Within a run of a job: makes that run's recurring schedule run next at `at` when its period would run it later;
 * Agenda saves the run's next-run time when the run ends. false when the run is not of a recurring schedule (a one-off
 * run), which changes nothing.
 */
export function nextRunBy (job: Job<unknown>, at: Date): boolean {
  if (job.attrs.type !== 'single' || job.attrs.repeatInterval == null) return false
  const planned = job.attrs.nextRunAt
  if (planned == null || at.getTime() < planned.getTime()) job.attrs.nextRunAt = at
  return true
}

/**
 * Agenda with the Mongo backend, wrapped so that job names are unique (Agenda's define() silently overwrites) and
 * every job handler logs its failures.
 *
 * A job is claimed by one `findOneAndUpdate` (`lockedAt: null` → now), atomic on MongoDB and on the embedded FerretDB
 * build (scripts/ferretdb.mjs runs one find-and-modify at a time there; an unpatched FerretDB reads, then writes, so
 * two workers could claim one job). Each definition may hold at most as many claimed jobs as it runs at once
 * (`lockLimit`): without that bound a process claims every due job before it runs the first, and a job whose claim
 * grew older than the lock lifetime while it waited in the process's queue is dropped unrun without giving its slot
 * back (Agenda's job processor), which on a slow database leaked slots until no job ran.
 */
export class Scheduler {
  readonly agenda: Agenda
  private readonly specs = new Map<string, JobSpec<never>>()
  private readonly defined = new Set<string>()
  private started = false
  private readonly log: JobLogger
  private readonly inflight = new Set<Promise<void>>()
  private readonly maxConcurrency: number
  /** Agenda's collection, for the schedules kept per data value (`everyWithData`, `cancel`). */
  private readonly jobs: Collection<Document>

  constructor (opts: SchedulerOptions) {
    this.log = opts.log
    this.maxConcurrency = Math.max(opts.concurrency * 2, 8)
    this.jobs = opts.db.collection(JOBS_COLLECTION)
    this.agenda = new Agenda({
      backend: new ReportingMongoBackend({ mongo: opts.db, collection: JOBS_COLLECTION, ensureIndex: true }, (err) => { opts.log.warn({ err }, 'job scheduler could not prepare its collection') }, this.jobs),
      // each poll reads the names with due work, then runs a find-and-modify for each of those (see
      // askOnceForDueNames): at most one a second per process (a job queued in this process starts at once anyway,
      // through the in-process notification channel)
      processEvery: Math.max(opts.processEveryMs, MIN_POLL_MS),
      maxConcurrency: this.maxConcurrency,
      lockLimit: this.maxConcurrency,
      defaultConcurrency: opts.concurrency,
      defaultLockLifetime: opts.lockLifetimeMs,
      notificationChannel: new InMemoryNotificationChannel(),
    })
    this.agenda.on('error', (err: Error) => this.log.error({ err }, 'job scheduler error'))
  }

  /** Declares a job; this process runs it once `start` names it (or names none). */
  define<D> (spec: JobSpec<D>): void {
    if (this.specs.has(spec.name)) throw new Error(`job '${spec.name}' is already defined`)
    this.specs.set(spec.name, spec as JobSpec<never>)
  }

  private hand (spec: JobSpec<never>): void {
    if (this.defined.has(spec.name)) return
    this.defined.add(spec.name)
    const concurrency = spec.concurrency ?? this.agenda.attrs.defaultConcurrency
    this.agenda.define<never>(spec.name, async (job) => {
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
      concurrency,
      lockLimit: concurrency,
      lockLifetime: spec.lockLifetimeMs ?? this.agenda.attrs.defaultLockLifetime,
      removeOnComplete: spec.removeOnComplete ?? true,
    })
  }

  /** Starts running the named jobs (all defined ones when `names` is left out); a later call adds more. */
  async start (names?: readonly string[]): Promise<void> {
    for (const name of names ?? [...this.specs.keys()]) {
      const spec = this.specs.get(name)
      if (spec === undefined) throw new Error(`job '${name}' is not defined`)
      this.hand(spec)
    }
    if (this.started) return
    this.started = true
    await this.agenda.start()
  }

  /** Queues one run of a job, due now, for whichever process runs that job. */
  async now<D> (name: string, data: D): Promise<void> {
    if (!this.specs.has(name)) throw new Error(`job '${name}' is not defined`)
    await this.agenda.now(name, data)
  }

  /** Makes a job recurring (one schedule shared by every process: Agenda keeps a single document per name). */
  async every (name: string, intervalMs: number): Promise<void> {
    if (!this.specs.has(name)) throw new Error(`job '${name}' is not defined`)
    await this.agenda.every(intervalMs, name, undefined, { skipImmediate: false })
  }

  /**
   * Brings the recurring schedule of a job forward to `at` when its next run is later. A run of that schedule in
   * progress saves its own next run when it ends, which overwrites this: such a run sets its next run itself (see
   * `nextRunBy`), so at worst the schedule keeps its period once.
   */
  async runBy (name: string, at: Date): Promise<void> {
    await this.jobs.updateOne({ name, type: 'single', nextRunAt: { $gt: at } }, { $set: { nextRunAt: at } })
  }

  /**
   * Keeps one recurring job per value of the data fields named by `uniqueKey` (one schedule per source instance, say):
   * made due now when missing; its interval and data replaced when the interval differs, the next run then no later
   * than one new interval after the last; left alone otherwise, so repeating the call does not move its next run.
   */
  async everyWithData<D extends Record<string, unknown>> (name: string, intervalMs: number, data: D, uniqueKey: ReadonlyArray<keyof D & string>): Promise<void> {
    if (!this.specs.has(name)) throw new Error(`job '${name}' is not defined`)
    const query: Record<string, unknown> = { name }
    for (const k of uniqueKey) query[`data.${k}`] = data[k]
    const found = await this.jobs.findOne(query, { projection: { repeatInterval: 1, nextRunAt: 1, lastRunAt: 1 } })
    if (found === null) {
      // an upsert that only inserts: a schedule another process made meanwhile is kept as it is
      const job = this.agenda.create(name, data)
      job.repeatEvery(intervalMs)
      job.unique(query, { insertOnly: true })
      await job.save()
      return
    }
    if (Number(found.repeatInterval) === intervalMs) return
    const base = found.lastRunAt instanceof Date ? found.lastRunAt.getTime() : Date.now()
    const latest = new Date(base + intervalMs)
    const next = found.nextRunAt instanceof Date && found.nextRunAt.getTime() < latest.getTime() ? found.nextRunAt : latest
    await this.jobs.updateOne({ _id: found._id }, { $set: { repeatInterval: intervalMs, data, nextRunAt: next } })
  }

  /**
   * The job documents (recurring schedules, and one-off runs not yet removed), by name: what runs in the background
   * and how its last run went. A read of Agenda's collection, which holds a few documents per job name.
   */
  async schedules (now = new Date()): Promise<ScheduledJob[]> {
    const docs = await this.jobs.find({}).limit(MAX_LISTED).toArray()
    const at = (v: unknown): Date | null => v instanceof Date ? v : null
    return docs.map((j) => ({
      id: String(j._id), name: String(j.name), data: plainData(j.data), state: stateOf(j, now),
      intervalMs: typeof j.repeatInterval === 'number' ? j.repeatInterval : null,
      nextRunAt: at(j.nextRunAt), lastRunAt: at(j.lastRunAt), lastFinishedAt: at(j.lastFinishedAt),
      failCount: typeof j.failCount === 'number' ? j.failCount : 0, failReason: typeof j.failReason === 'string' ? j.failReason : null, failedAt: at(j.failedAt),
    })).sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  }

  /** Removes the jobs of a name whose data holds these fields (a recurring schedule stops for good). */
  async cancel (name: string, data: Record<string, string | number | boolean>): Promise<number> {
    const query: Record<string, unknown> = { name }
    for (const [k, v] of Object.entries(data)) query[`data.${k}`] = v
    return (await this.jobs.deleteMany(query)).deletedCount
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
