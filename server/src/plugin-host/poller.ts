import { setTimeout as sleep } from 'node:timers/promises'
import { pluginErrorKind, type PollResult, type SourcePlugin } from '../contracts/index.js'
import type { Collections } from '../infra/db.js'
import type { LockService } from '../domain/locks.js'
import type { IngestService } from '../domain/events/ingest.js'
import type { PluginInstanceDoc, SourceErrorInfo } from '../domain/types.js'
import { newId } from '../lib/ids.js'
import { createStateStore, type ContextFactory } from './context.js'
import type { InstanceChange, InstanceService } from './instances.js'
import { parseDuration } from './registry.js'
import type { SourcePollRun, SourcePollSchedule, SourcePollWork } from '../jobs/source-poll.js'
import { pollError, rejectedEvents, type SourceStatsService } from './stats.js'

interface Logger { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void }

export interface PollerDeps {
  c: Collections
  instances: InstanceService
  contexts: ContextFactory
  locks: LockService
  ingest: IngestService
  stats: SourceStatsService
  now: () => Date
  log: Logger
  processId: string
  /** Defines the poll jobs (jobs/source-poll.ts) with this poller's work; gives back the instances' schedules. */
  useJobs: (work: SourcePollWork) => SourcePollSchedule
}

/** What one poll run did. */
export interface PollRun { status: 'ok' | 'retrying' | 'failed' | 'skipped'; events: number; pages: number; error?: SourceErrorInfo }

/**
 * Host-owned state of a polled instance, in its key-value store under `~poll`. It is shared by every process, as the
 * runs of one instance's schedule may go to any of them: the backoff (`failures`, `retryAt`) lives here too.
 */
interface PollState { lastRunAt?: number; failedRev?: number; error?: { code: string; message: string }; failures?: number; retryAt?: number }

const CURSOR_KEY = '~cursor'
const STATE_KEY = '~poll'
/** Where a poll-now run leaves its outcome for a request waiting in another process. */
const ANSWER_PREFIX = '~now:'
const MAX_PAGES_PER_RUN = 100
const MAX_BACKOFF_MS = 3_600_000
/** How long a poll-now request waits for its run (the request deadline usually answers first). */
const ANSWER_WAIT_MS = 600_000
const SKIPPED: PollRun = { status: 'skipped', events: 0, pages: 0 }

/** The poll period of an instance, in ms (a bad value from a config function falls back to 1 minute). */
export function pollPeriodMs (plugin: SourcePlugin, config: unknown): number {
  const every = plugin.poll === undefined ? '1m' : typeof plugin.poll.every === 'string' ? plugin.poll.every : plugin.poll.every(config as never)
  const ms = typeof every === 'string' ? parseDuration(every) : null
  return ms === null || ms < 1000 ? 60_000 : ms
}

function isPollResult (v: unknown): v is PollResult {
  if (v === null || typeof v !== 'object') return false
  const r = v as Record<string, unknown>
  return Array.isArray(r.events) && (r.cursor === null || typeof r.cursor === 'string') && (r.more === undefined || typeof r.more === 'boolean')
}

/**
 * Runs pull sources. Agenda triggers the polls (jobs/source-poll.ts): each enabled polled instance has one recurring
 * schedule, kept here in step with the instance, and any process with workers may run it. A lease in `locks`
 * (`poll:<id>`) lets one run at a time per instance across processes (a poll-now run and a scheduled one included),
 * and a scheduled run that finds the instance polled within the last period, or still in its backoff, moves its next
 * run instead. A run fetches, ingests, and only then stores the cursor (at-least-once; the repeated events of a
 * crashed run are duplicates). Transient failures back off exponentially (capped at 1 h); permanent, auth and input
 * failures remove the instance's schedule until its config changes.
 */
export function createPoller (deps: PollerDeps) {
  const { c, instances, contexts, locks, now, log } = deps
  const running = new Map<string, { done: Promise<PollRun>; force: boolean }>()
  const waiting = new Map<string, (r: PollRun) => void>()
  /** Schedule changes of one instance, one after the other (a create followed at once by a change keeps the change). */
  const following = new Map<string, Promise<void>>()
  let stopping = false

  const hostState = (id: string) => createStateStore(c.sourceState, id, now, { host: true })

  async function readState (id: string): Promise<PollState> {
    const raw = await hostState(id).get(STATE_KEY)
    if (raw === null) return {}
    try { return JSON.parse(raw) as PollState } catch { return {} }
  }

  const schedule = deps.useJobs({
    async scheduled (id, run) { await runOnce(id, false, run) },
    async now (id, runId) {
      const r = await runOnce(id, true)
      const waiter = waiting.get(runId)
      if (waiter !== undefined) waiter(r)
      else await hostState(id).set(`${ANSWER_PREFIX}${runId}`, JSON.stringify(r))
    },
  })

  /** The schedule an instance should have: every period while it is enabled, polled, and not stopped by a failure. */
  async function follow (doc: PluginInstanceDoc): Promise<void> {
    const plugin = instances.pluginOf(doc.type)
    if (plugin.poll === undefined) return
    if (!doc.enabled || (await readState(doc._id)).failedRev === doc.rev) {
      await schedule.drop(doc._id)
      return
    }
    await schedule.keep(doc._id, pollPeriodMs(plugin, instances.effectiveConfig(plugin, doc, now())))
  }

  function enqueueFollow (id: string, fn: () => Promise<void>): Promise<void> {
    const next = (following.get(id) ?? Promise.resolve()).then(fn).catch((err: unknown) => { log.warn({ err, sourceId: id }, 'could not schedule source polling') })
    following.set(id, next)
    void next.finally(() => { if (following.get(id) === next) following.delete(id) })
    return next
  }

  async function doRun (id: string, force: boolean, run?: SourcePollRun): Promise<PollRun> {
    // the server is closing: Agenda may still hand out a run before it drains; the schedule stays for the next process
    if (stopping) return SKIPPED
    const doc = await c.pluginInstances.findOne({ _id: id })
    // a schedule left by an instance deleted or disabled meanwhile stops here
    if (doc === null || !doc.enabled) { if (!force) await schedule.drop(id); return SKIPPED }
    const plugin = instances.pluginOf(doc.type)
    const poll = plugin.poll
    if (poll === undefined) { if (!force) await schedule.drop(id); return SKIPPED }
    const config = instances.effectiveConfig(plugin, doc, now())
    const period = pollPeriodMs(plugin, config)
    const state = hostState(id)
    const lockName = `poll:${id}`
    const ttl = Math.min(Math.max(60_000, 3 * period), MAX_BACKOFF_MS)
    if (!await locks.acquire(lockName, deps.processId, ttl)) return SKIPPED
    let events = 0
    let pages = 0
    let st: PollState = {}
    try {
      // read under the lease: the runs before this one have all written theirs
      st = await readState(id)
      if (!force) {
        if (st.failedRev === doc.rev) { await schedule.drop(id); return SKIPPED }
        const t = now().getTime()
        if (st.retryAt !== undefined && t < st.retryAt) {
          run?.runNextAt(new Date(st.retryAt))
          return SKIPPED
        }
        if (st.lastRunAt !== undefined && t - st.lastRunAt < period * 0.9) {
          // polled within the period (a poll-now run, or this schedule's previous run)
          run?.runNextAt(new Date(st.lastRunAt + period))
          return SKIPPED
        }
      }
      // the address guard again at connect time (DNS can change); the plugin gets the checked address
      const target = await instances.connectConfig(plugin, config)
      const ctx = contexts.context({ instanceId: id, pluginId: plugin.manifest.id, config: target, secrets: (n) => instances.secretValues(doc, n, now()) })
      const runId = newId('poll')
      for (;;) {
        const cursor = await state.get(CURSOR_KEY)
        const res = await poll.fetch(cursor, ctx)
        if (!isPollResult(res)) throw new Error(`poll.fetch of ${plugin.manifest.id} returned no { events, cursor }`)
        const at = now()
        const requestId = `${runId}:${pages}`
        const summary = await deps.ingest.ingest(res.events, { sourceId: id, requestId, receivedAt: at })
        // the cursor moves only once the events it covers are stored
        if (res.cursor !== cursor) {
          if (res.cursor === null) await state.delete(CURSOR_KEY)
          else await state.set(CURSOR_KEY, res.cursor)
        }
        await deps.stats.record(id, { accepted: summary.accepted, duplicates: summary.duplicates, rejected: summary.rejected, at, recent: rejectedEvents(summary.results, at, requestId) })
        events += summary.submitted
        pages++
        if (!await locks.renew(lockName, deps.processId, ttl)) throw new Error('the poll lease was lost')
        if (res.more !== true || pages >= MAX_PAGES_PER_RUN || ctx.signal.aborted) break
      }
      const at = now()
      await state.set(STATE_KEY, JSON.stringify({ lastRunAt: at.getTime() } satisfies PollState))
      const nextAt = new Date(at.getTime() + period)
      await deps.stats.record(id, { at, lastPoll: { at, status: 'ok', events, error: null, nextAt } })
      run?.runNextAt(nextAt)
      // a poll-now run of an instance whose polling had stopped puts it back on its schedule
      if (st.failedRev !== undefined) await enqueueFollow(id, async () => { await follow(doc) })
      return { status: 'ok', events, pages }
    } catch (err) {
      const kind = pluginErrorKind(err)
      const at = now()
      const code = (err as { code?: unknown }).code
      const error: SourceErrorInfo = {
        at, code: typeof code === 'string' && kind !== null ? code : kind === 'auth' ? 'LS_ERR_SOURCE_AUTH' : kind === null ? 'LS_ERR_PLUGIN_FAILED' : kind === 'transient' ? 'LS_ERR_SOURCE_UNAVAILABLE' : 'LS_ERR_SOURCE_INPUT',
        message: kind === null && !(err as Error).message ? 'poll failed' : (err as Error).message,
      }
      if (kind === 'permanent' || kind === 'auth' || kind === 'input') {
        await state.set(STATE_KEY, JSON.stringify({ ...st, failedRev: doc.rev, error: { code: error.code, message: error.message } } satisfies PollState))
        await deps.stats.record(id, { at, lastError: error, lastPoll: { at, status: 'failed', events, error, nextAt: null }, recent: [pollError(error)] })
        log.warn({ err, sourceId: id, plugin: plugin.manifest.id }, 'source polling failed; it stays stopped until its config changes')
        await schedule.drop(id)
        return { status: 'failed', events, pages, error }
      }
      const n = (st.failures ?? 0) + 1
      const retryAfter = (err as { retryAfterMs?: unknown }).retryAfterMs
      const backoff = Math.min(period * 2 ** (n - 1), MAX_BACKOFF_MS) * (0.8 + Math.random() * 0.4)
      const delay = Math.max(typeof retryAfter === 'number' ? retryAfter : 0, Math.min(backoff, MAX_BACKOFF_MS))
      const retryAt = new Date(at.getTime() + delay)
      await state.set(STATE_KEY, JSON.stringify({ ...st, failures: n, retryAt: retryAt.getTime() } satisfies PollState))
      await deps.stats.record(id, { at, lastError: error, lastPoll: { at, status: 'retrying', events, error, nextAt: retryAt }, recent: [pollError(error)] })
      if (kind === null) log.error({ err, sourceId: id, plugin: plugin.manifest.id }, 'source poll failed; retrying with backoff')
      else log.warn({ err, sourceId: id, plugin: plugin.manifest.id }, 'source poll failed; retrying with backoff')
      run?.runNextAt(retryAt)
      return { status: 'retrying', events, pages, error }
    } finally {
      await locks.release(lockName, deps.processId).catch(() => undefined)
    }
  }

  /**
   * Runs one poll of an instance, one at a time per instance in this process: a second caller gets the outcome of the
   * run in progress, unless it forces a poll and that run does not (a scheduled run may skip).
   */
  async function runOnce (id: string, force: boolean, run?: SourcePollRun): Promise<PollRun> {
    for (;;) {
      const cur = running.get(id)
      if (cur === undefined) break
      const r = await cur.done
      if (cur.force || !force) return r
    }
    const done = doRun(id, force, run).finally(() => running.delete(id))
    running.set(id, { done, force })
    return await done
  }

  /** The outcome a poll-now run left in the instance's state (run by another process), or null. */
  async function storedAnswer (id: string, runId: string): Promise<PollRun | null> {
    const raw = await hostState(id).get(`${ANSWER_PREFIX}${runId}`)
    if (raw === null) return null
    await hostState(id).delete(`${ANSWER_PREFIX}${runId}`)
    const r = JSON.parse(raw) as PollRun & { error?: { at: string } }
    return r.error !== undefined ? { ...r, error: { ...r.error, at: new Date(r.error.at) } } : r
  }

  return {
    /**
     * Polls an instance now, also one whose polling stopped after a failure: queues a one-off Agenda run and answers
     * with its outcome, whichever process ran it.
     */
    async pollNow (id: string): Promise<PollRun> {
      const runId = newId('pnow')
      const answered = new Promise<PollRun>((resolve) => { waiting.set(runId, resolve) })
      try {
        await schedule.queueNow(id, runId)
        const deadline = Date.now() + ANSWER_WAIT_MS
        for (;;) {
          const r = await Promise.race([answered, sleep(500, null)])
          if (r !== null) return r
          const stored = await storedAnswer(id, runId)
          if (stored !== null) return stored
          if (stopping || Date.now() > deadline) return SKIPPED
        }
      } finally {
        waiting.delete(runId)
      }
    },
    /** Checks every instance's schedule (instances created or changed while no worker ran). */
    async start (): Promise<void> {
      stopping = false
      for (const d of await c.pluginInstances.find({}).toArray()) await enqueueFollow(d._id, async () => { await follow(d) })
    },
    /** Follows a change made through this process's API: the instance's schedule is made, changed or removed. */
    onChange (change: InstanceChange): void {
      if (change.kind === 'deleted') void enqueueFollow(change.id, async () => { await schedule.drop(change.id) })
      else void enqueueFollow(change.doc._id, async () => { await follow(change.doc) })
    },
    /** Answers the poll-now requests still waiting and waits for the runs and schedule changes in progress. */
    async stop (): Promise<void> {
      stopping = true
      for (const w of waiting.values()) w(SKIPPED)
      await Promise.allSettled([...[...running.values()].map((r) => r.done), ...following.values()])
    },
  }
}

export type Poller = ReturnType<typeof createPoller>
