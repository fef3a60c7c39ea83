import { pluginErrorKind, type PollResult, type SourcePlugin } from '../contracts/index.js'
import type { Collections } from '../infra/db.js'
import type { LockService } from '../domain/locks.js'
import type { IngestService } from '../domain/events/ingest.js'
import type { PluginInstanceDoc, SourceErrorInfo } from '../domain/types.js'
import { newId } from '../lib/ids.js'
import { createStateStore, type ContextFactory } from './context.js'
import type { InstanceChange, InstanceService } from './instances.js'
import { parseDuration } from './registry.js'
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
  /** How often instances created or changed by other processes are picked up. */
  refreshEveryMs?: number
}

/** What one poll run did. */
export interface PollRun { status: 'ok' | 'retrying' | 'failed' | 'skipped'; events: number; pages: number; error?: SourceErrorInfo }

/** Host-owned state of a polled instance, in its key-value store under `~poll`. */
interface PollState { lastRunAt?: number; failedRev?: number; error?: { code: string; message: string } }

const CURSOR_KEY = '~cursor'
const STATE_KEY = '~poll'
const MAX_PAGES_PER_RUN = 100
const MAX_BACKOFF_MS = 3_600_000

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
 * Runs pull sources. Every process with workers schedules each enabled polled instance; a lease in `locks`
 * (`poll:<id>`) lets one run at a time across processes, and a run that finds the instance polled within the last
 * period by another process skips. A run fetches, ingests, and only then stores the cursor (at-least-once; the
 * repeated events of a crashed run are duplicates). Transient failures back off exponentially (capped at 1 h);
 * permanent, auth and input failures stop the instance's polling until its config changes.
 */
export function createPoller (deps: PollerDeps) {
  const { c, instances, contexts, locks, now, log } = deps
  const timers = new Map<string, NodeJS.Timeout>()
  const failures = new Map<string, number>()
  const running = new Map<string, Promise<PollRun>>()
  let started = false
  let refresher: NodeJS.Timeout | null = null

  const hostState = (id: string) => createStateStore(c.sourceState, id, now, { host: true })

  async function readState (id: string): Promise<PollState> {
    const raw = await hostState(id).get(STATE_KEY)
    if (raw === null) return {}
    try { return JSON.parse(raw) as PollState } catch { return {} }
  }

  function schedule (id: string, delayMs: number): void {
    if (!started) return
    const old = timers.get(id)
    if (old !== undefined) clearTimeout(old)
    const timer = setTimeout(() => {
      timers.delete(id)
      void runOnce(id).catch((err: unknown) => log.error({ err, sourceId: id }, 'poll run failed'))
    }, Math.max(0, delayMs))
    timer.unref()
    timers.set(id, timer)
  }

  function unschedule (id: string): void {
    const t = timers.get(id)
    if (t !== undefined) clearTimeout(t)
    timers.delete(id)
    failures.delete(id)
  }

  async function arm (doc: PluginInstanceDoc, first: boolean): Promise<void> {
    const plugin = instances.pluginOf(doc.type)
    if (plugin.poll === undefined || !doc.enabled) { unschedule(doc._id); return }
    const st = await readState(doc._id)
    if (st.failedRev === doc.rev) { unschedule(doc._id); return }
    if (timers.has(doc._id) && !first) return
    const period = pollPeriodMs(plugin, instances.effectiveConfig(plugin, doc, now()))
    const since = st.lastRunAt !== undefined ? now().getTime() - st.lastRunAt : Infinity
    schedule(doc._id, first ? Math.max(0, Math.min(period - since, period)) : period)
  }

  async function refresh (): Promise<void> {
    const docs = await c.pluginInstances.find({}).toArray()
    const seen = new Set<string>()
    for (const d of docs) {
      seen.add(d._id)
      if (!timers.has(d._id) && running.get(d._id) === undefined) await arm(d, true)
    }
    for (const id of timers.keys()) if (!seen.has(id)) unschedule(id)
  }

  async function doRun (id: string, force: boolean): Promise<PollRun> {
    const doc = await c.pluginInstances.findOne({ _id: id })
    if (doc === null || !doc.enabled) { unschedule(id); return { status: 'skipped', events: 0, pages: 0 } }
    const plugin = instances.pluginOf(doc.type)
    const poll = plugin.poll
    if (poll === undefined) return { status: 'skipped', events: 0, pages: 0 }
    const config = instances.effectiveConfig(plugin, doc, now())
    const period = pollPeriodMs(plugin, config)
    const state = hostState(id)
    const st = await readState(id)
    if (st.failedRev === doc.rev && !force) return { status: 'skipped', events: 0, pages: 0 }
    const lockName = `poll:${id}`
    const ttl = Math.min(Math.max(60_000, 3 * period), MAX_BACKOFF_MS)
    if (!await locks.acquire(lockName, deps.processId, ttl)) { schedule(id, period); return { status: 'skipped', events: 0, pages: 0 } }
    let events = 0
    let pages = 0
    try {
      if (!force && st.lastRunAt !== undefined && now().getTime() - st.lastRunAt < period * 0.9) {
        // another process polled this instance within the period
        schedule(id, period - (now().getTime() - st.lastRunAt))
        return { status: 'skipped', events: 0, pages: 0 }
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
      failures.delete(id)
      const nextAt = new Date(at.getTime() + period)
      await deps.stats.record(id, { at, lastPoll: { at, status: 'ok', events, error: null, nextAt } })
      schedule(id, period)
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
        unschedule(id)
        return { status: 'failed', events, pages, error }
      }
      const n = (failures.get(id) ?? 0) + 1
      failures.set(id, n)
      const retryAfter = (err as { retryAfterMs?: unknown }).retryAfterMs
      const backoff = Math.min(period * 2 ** (n - 1), MAX_BACKOFF_MS) * (0.8 + Math.random() * 0.4)
      const delay = Math.max(typeof retryAfter === 'number' ? retryAfter : 0, Math.min(backoff, MAX_BACKOFF_MS))
      await deps.stats.record(id, { at, lastError: error, lastPoll: { at, status: 'retrying', events, error, nextAt: new Date(at.getTime() + delay) }, recent: [pollError(error)] })
      if (kind === null) log.error({ err, sourceId: id, plugin: plugin.manifest.id }, 'source poll failed; retrying with backoff')
      else log.warn({ err, sourceId: id, plugin: plugin.manifest.id }, 'source poll failed; retrying with backoff')
      schedule(id, delay)
      return { status: 'retrying', events, pages, error }
    } finally {
      await locks.release(lockName, deps.processId).catch(() => undefined)
    }
  }

  /** Runs one poll of an instance now (one at a time per instance in this process). */
  async function runOnce (id: string, force = false): Promise<PollRun> {
    const cur = running.get(id)
    if (cur !== undefined) return await cur
    const p = doRun(id, force).finally(() => running.delete(id))
    running.set(id, p)
    return await p
  }

  return {
    runOnce,
    /** Schedules every enabled polled instance and starts picking up other processes' changes. */
    async start (): Promise<void> {
      if (started) return
      started = true
      await refresh()
      refresher = setInterval(() => { refresh().catch((err: unknown) => log.warn({ err }, 'source refresh failed')) }, deps.refreshEveryMs ?? 30_000)
      refresher.unref()
    },
    /** Follows a change made through this process's API. */
    onChange (change: InstanceChange): void {
      if (!started) return
      if (change.kind === 'deleted') { unschedule(change.id); return }
      unschedule(change.doc._id)
      arm(change.doc, true).catch((err: unknown) => log.warn({ err, sourceId: change.doc._id }, 'could not schedule source polling'))
    },
    /** Stops scheduling and waits for runs in progress. */
    async stop (): Promise<void> {
      started = false
      if (refresher !== null) clearInterval(refresher)
      for (const id of [...timers.keys()]) unschedule(id)
      await Promise.allSettled([...running.values()])
    },
  }
}

export type Poller = ReturnType<typeof createPoller>
