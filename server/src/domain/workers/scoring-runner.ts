// The scoring run loop of a worker process. Scoring runs are triggered by an insert-only marker per lead
// (`pendingLeads`) and run in batches of leads by this process's pool (work-queue.ts); a marker poll takes up the
// markers any process left. Correctness comes from the processor's lead locks and watermark, not from who runs what:
// markers and locks need nothing but atomic inserts, which every MongoDB-protocol server has.
import type { Collections } from '../../infra/db.js'
import { findByIds, idLists, insertIgnoringDuplicates } from '../../infra/db.js'
import type { LeadProcessor, ManyResult } from '../scoring/processor.js'
import type { Metrics } from '../metrics.js'
import { BatchQueue } from '../work-queue.js'
import { createIngestFirst } from './ingest-first.js'

/** Past this many queued leads the pool takes no more from ingest: the marker poll feeds it (bounded memory). */
const MAX_QUEUED = 20_000
/** Queued leads from which scoring under a burst lets ingest go first (see ingest-first.ts). */
const MIN_BACKLOG = 1000
/** Markers the marker poll reads at a time. */
const POLL_PAGE = 1000
/** A lead whose run failed is tried again after this delay, doubled at each failure up to the cap. */
const RETRY_FIRST_MS = 1000
const RETRY_MAX_MS = 5 * 60_000

export interface ScoringRunnerDeps {
  c: Collections
  processor: LeadProcessor
  metrics: Metrics
  now: () => Date
  log: { warn(o: object, m: string): void; error(o: object, m: string): void }
  /** Batches of leads run at once, and leads per batch. */
  concurrency: number
  batchLeads: number
  /** Whether marker lookups go by an `_id` list first (FerretDB with the `_id` list patch, where a batch insert with duplicates is slow). */
  lookUpMarkers: boolean
  /** Whether this process is storing events now, and how long a backlog defers to it (see ingest-first.ts; 0: never). */
  ingestBusy?: () => boolean
  yieldMs?: number
}

export function createScoringRunner (deps: ScoringRunnerDeps) {
  const { c, processor, log } = deps
  const queue = new BatchQueue(deps.concurrency, deps.batchLeads, async (ids) => { await runScoreLeads(ids) },
    (ids, err) => log.error({ err, leads: ids.length, firstLead: ids[0] }, 'scoring batch failed'))
  let started = false
  let pauses = 0
  // leads whose last run failed: when they are tried again (in this process; a marker stays, so any process can)
  const failures = new Map<string, { attempts: number; retryAt: number; timer: NodeJS.Timeout }>()
  // where the marker poll goes on from: a page of leads that keep failing must not hide the markers after them
  let pollFrom = ''
  const ingestFirst = createIngestFirst({
    yieldMs: deps.yieldMs ?? 0,
    backlog: Math.max(MIN_BACKLOG, deps.batchLeads * deps.concurrency),
    // without a way to tell, ingest is never busy, so nothing defers
    ingestBusy: deps.ingestBusy ?? (() => false),
  })

  /**
   * Makes sure a scoring run follows for each lead: a marker for other processes, and this process's pool. `created`:
   * leads the caller has just inserted, whose markers are not looked up first (only a marker left by an erased lead
   * of the same identity could exist, and its duplicate is ignored like any other).
   */
  async function enqueue (leadIds: string[], created?: ReadonlySet<string>): Promise<void> {
    // this process's pool first, so that a run starts while the markers are written (a live message waits for no
    // marker). A run that ends before its lead's marker lands leaves that marker, and the marker poll then runs the
    // lead once more and finds nothing to do. The pool's queue is only a shortcut for the markers: past a bound (an
    // upload of a million new leads outruns scoring) the marker poll feeds it, so memory stays bounded.
    if (started) for (const leadId of leadIds) if (queue.size < MAX_QUEUED) queue.push(leadId)
    // one unordered batch: a duplicate marker means a run is already queued (a large upload touches hundreds of
    // leads per ingest call, and a round trip per marker dominated its time). On FerretDB a batch with duplicates is
    // rolled back and retried one document at a time, so where it can look up a list of ids through the index, the
    // markers that exist are looked up first (the same test as a duplicate insert: whether one exists now).
    let missing = leadIds
    const known = created === undefined ? leadIds : leadIds.filter((id) => !created.has(id))
    if (deps.lookUpMarkers && known.length > 0) {
      const have = new Set((await findByIds<{ _id: string; at: Date }, { _id: string }>(c.pendingLeads, known, { _id: 1 })).map((m) => m._id))
      missing = leadIds.filter((id) => !have.has(id))
    }
    await insertIgnoringDuplicates(c.pendingLeads, missing.map((leadId) => ({ _id: leadId, at: deps.now() })))
  }

  /**
   * After a writer other than scoring released a lead's lock: a run that found the lock held by that writer (not
   * by another run, which re-checks after itself) gave up, so the lead is queued again when it has work.
   */
  async function afterWriter (leadId: string): Promise<void> {
    if (!started || !await processor.hasWork(leadId).catch(() => false)) return
    await enqueue([leadId]).catch((err: unknown) => log.warn({ err, leadId }, 'could not queue a scoring run'))
  }

  /**
   * Picks up markers left for any process (new events ingested elsewhere, or a run that died): the first 1,000 in
   * `_id` order, an index range on every server (a query sorted by time read every marker on FerretDB, twice a
   * second, however large the backlog). A marker goes when its lead was scored, so the next ones come up in turn.
   */
  async function pollMarkers (): Promise<void> {
    // a process busy with its own queue takes others' leads when it is done (every marker stays until scored)
    if (queue.size > 0) return
    const markers = await c.pendingLeads.find({ _id: { $gte: pollFrom } }).sort({ _id: 1 }).limit(POLL_PAGE).project<{ _id: string }>({ _id: 1 }).toArray()
    pollFrom = markers.length < POLL_PAGE ? '' : markers[markers.length - 1]!._id
    const at = Date.now()
    // a lead waiting to be tried again is pushed by its own timer
    for (const m of markers) if ((failures.get(m._id)?.retryAt ?? 0) <= at) queue.push(m._id)
  }

  /**
   * A lead whose run failed (a transient database error, or a scoring plugin that throws on its data) keeps its
   * marker and is tried again after a delay that doubles at each failure: never lost, never retried in a hot loop.
   */
  function retryLater (leadId: string, err: unknown): void {
    const attempts = (failures.get(leadId)?.attempts ?? 0) + 1
    clearTimeout(failures.get(leadId)?.timer)
    const delay = Math.min(RETRY_FIRST_MS * 2 ** (attempts - 1), RETRY_MAX_MS)
    const timer = setTimeout(() => { if (started && queue.size < MAX_QUEUED) queue.push(leadId) }, delay)
    timer.unref()
    failures.set(leadId, { attempts, retryAt: Date.now() + delay, timer })
    log.error({ err, leadId, attempts, retryInMs: delay }, 'scoring run failed; the lead is tried again later')
  }

  function succeeded (leadIds: readonly string[]): void {
    if (failures.size === 0) return
    for (const id of leadIds) {
      clearTimeout(failures.get(id)?.timer)
      failures.delete(id)
    }
  }

  /**
   * Scores a batch of leads, then removes their markers and queues again those that got more work meanwhile. A
   * marker goes only after its lead was scored: a process that dies mid-batch leaves its leads' markers, and the
   * marker poll of any process picks them up once the dead process's locks expire. Leads another run holds keep
   * their markers too (that run also re-checks them after releasing their locks), and so do leads whose run failed
   * (see retryLater).
   */
  async function runScoreLeads (leadIds: string[]): Promise<void> {
    // a rebuild of the lead views counts the leads as they are: scoring waits for it
    while (pauses > 0) await new Promise((r) => setTimeout(r, 200))
    // far behind under a burst: the burst is stored first, for a while (see ingest-first.ts)
    for (let w = ingestFirst.waitMs(queue.size); w > 0 && started; w = ingestFirst.waitMs(queue.size)) await new Promise((r) => setTimeout(r, w))
    // a lead that failed before runs alone, so it cannot fail a batch of others again
    const suspects = leadIds.length > 1 ? leadIds.filter((id) => failures.has(id)) : []
    if (suspects.length > 0) {
      const others = leadIds.filter((id) => !failures.has(id))
      if (others.length > 0) await runScoreLeads(others).catch((e: unknown) => log.error({ err: e, leads: others.length }, 'scoring batch failed'))
      for (const id of suspects) await runScoreLeads([id]).catch((e: unknown) => log.error({ err: e, leadId: id }, 'scoring run failed'))
      return
    }
    let scored: ManyResult
    try {
      const started = performance.now()
      scored = await processor.processMany(leadIds)
      deps.metrics.batchDuration.observe((performance.now() - started) / 1000)
    } catch (err) {
      if (leadIds.length === 1) { retryLater(leadIds[0]!, err); return }
      // one lead's failure must not hold back the others: score them one by one
      log.warn({ err, leads: leadIds.length }, 'scoring batch failed; scoring its leads one by one')
      // (a lead's own failure is retried later inside; anything else, such as removing its marker, is logged and the
      // next lead goes on)
      for (const id of leadIds) await runScoreLeads([id]).catch((e: unknown) => log.error({ err: e, leadId: id }, 'scoring run failed'))
      return
    }
    succeeded(scored.done)
    // an event stored after the marker's removal finds no marker and leaves one; one stored before is seen here
    for (const part of idLists(scored.done)) await c.pendingLeads.deleteMany({ _id: { $in: part } })
    const again = await processor.withWork(scored.done, scored.watermarks)
    if (again.length > 0) await enqueue(again)
  }

  return {
    enqueue,
    afterWriter,
    pollMarkers,
    /** Lets the pool take leads from ingest (before this, only markers are written). */
    start (): void { started = true },
    /** Stops the pool, waiting up to timeoutMs for the batches in progress. */
    async stop (timeoutMs: number): Promise<void> {
      started = false
      for (const f of failures.values()) clearTimeout(f.timer)
      failures.clear()
      await queue.stop(timeoutMs)
    },
    /** Runs `fn` with scoring in this process paused (batches that started go on; new ones wait). */
    async paused<T> (fn: () => Promise<T>): Promise<T> {
      pauses++
      try { return await fn() } finally { pauses-- }
    },
  }
}

export type ScoringRunner = ReturnType<typeof createScoringRunner>
