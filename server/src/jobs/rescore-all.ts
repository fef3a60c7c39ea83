// Re-score all: every lead scored again from its history under the published ruleset (after a publish, a model
// deployment or an offer change). Stage and grade notifications of the re-scored leads are held until the job ends
// (webhooks/outbox.ts), and so are their live messages (workers/scored-feed.ts).
import type { AuditService } from '../domain/audit.js'
import type { Collections } from '../infra/db.js'
import type { JobDoc } from '../domain/types.js'
import type { LeadProcessor } from '../domain/scoring/processor.js'
import { LockBusyError } from '../domain/lead-lock.js'
import type { LiveFeed } from '../domain/live/live-feed.js'
import type { Outbox } from '../domain/webhooks/outbox.js'
import type { ScoredFeed } from '../domain/workers/scored-feed.js'
import { newId } from '../lib/ids.js'
import { keepingClaim, type JobDefinition } from './job.js'

export const RESCORE_ALL = 'rescore-all'

export interface RescoreAllDeps {
  c: Collections
  audit: Pick<AuditService, 'record'>
  processor: LeadProcessor
  enqueue: (leadIds: string[]) => Promise<void>
  withLeadLock: <T>(leadId: string, fn: () => Promise<T>, waitMs?: number) => Promise<T>
  live: Pick<LiveFeed, 'append'>
  outbox: Pick<Outbox, 'setLocalHold' | 'shareHold' | 'endHold' | 'releaseHeld'>
  feed: Pick<ScoredFeed, 'holdingRescored'>
  schedule: (name: string, data: { jobId: string }) => Promise<void>
  /** How many leads there are (the job's total), from the counters the lead views keep where they are built. */
  countLeads: () => Promise<number>
  now: () => Date
  lockLifetimeMs: number
  batchLeads: number
  /** Pages of leads re-scored at once (the worker's scoring concurrency): one page's reads overlap another's writes. */
  pagesAtOnce: number
  log: { warn(o: object, m: string): void }
}

export function rescoreAllJob (deps: RescoreAllDeps) {
  const { c, processor, enqueue, now } = deps

  /** Records the job (queued) and hands it to the job runner. */
  async function start (actor: string): Promise<JobDoc> {
    const t = now()
    const job: JobDoc = { _id: newId('job'), kind: 'rescore-all', state: 'queued', total: await deps.countLeads(), done: 0, error: null, createdAt: t, updatedAt: t, finishedAt: null }
    await c.jobs.insertOne(job)
    await deps.audit.record(actor, 'rescore.all', job._id, { total: job.total })
    await deps.schedule(RESCORE_ALL, { jobId: job._id })
    return job
  }

  async function run (jobId: string): Promise<void> {
    const job = await c.jobs.findOne({ _id: jobId })
    if (job === null || job.state === 'done') return
    await c.jobs.updateOne({ _id: jobId }, { $set: { state: 'running', updatedAt: now() } })
    try {
      await deps.feed.holdingRescored(async () => {
        // stage and grade notifications of every scoring run, in every process, are held until the job ends (see
        // webhooks/outbox.ts)
        deps.outbox.setLocalHold(jobId)
        await deps.outbox.shareHold(jobId)
        try {
          await rescoreEveryLead(jobId, job.total)
        } catch (err) {
          await c.jobs.updateOne({ _id: jobId }, { $set: { state: 'failed', error: (err as Error).message, updatedAt: now(), finishedAt: now() } })
          throw err
        }
      })
    } finally {
      await deps.outbox.endHold(jobId).catch((err: unknown) => deps.log.warn({ err, jobId }, 'ending the shared hold failed; other processes hold until it goes stale'))
      deps.outbox.setLocalHold(null)
      await deps.outbox.releaseHeld().catch((err: unknown) => deps.log.warn({ err, jobId }, 'releasing held notifications failed; the dispatcher retries'))
    }
  }

  async function rescoreEveryLead (jobId: string, total: number): Promise<void> {
    let done = 0
    const deferred: string[] = []
    const patience = Math.max(1000, deps.lockLifetimeMs)
    const flagged: string[] = []
    let reportedAt = Date.now()
    /** Re-scores one lead now, or flags it for the worker holding it; false when it stayed locked for `waitMs`. */
    const rescoreOne = async (id: string, waitMs: number): Promise<boolean> => {
      const r = await processor.processLead(id, { rescore: true })
      if (r.locked) return true
      // the marker first, so that a process stopping right after the flag still leaves the lead queued
      await enqueue([id])
      try {
        await deps.withLeadLock(id, async () => await c.leads.updateOne({ _id: id }, { $set: { rescoreFrom: '' } }), waitMs)
      } catch (err) {
        if (err instanceof LockBusyError) return false
        throw err
      }
      await enqueue([id])
      flagged.push(id)
      return true
    }
    const report = async (): Promise<void> => {
      if (Date.now() - reportedAt <= 1000) return
      reportedAt = Date.now()
      await c.jobs.updateOne({ _id: jobId }, { $set: { done, updatedAt: now() } })
      await deps.outbox.shareHold(jobId)
      await deps.live.append('job.progress', ['jobs', `job:${jobId}`], { jobId, kind: 'rescore-all', done, total })
    }
    /** Re-scores a page of leads in one batch; the ones a scoring run holds go one by one (flagged if need be). */
    const rescorePage = async (ids: string[]): Promise<void> => {
      const r = await processor.processMany(ids, { rescore: true, adjacent: true })
      done += r.done.length
      await report()
      for (const id of r.busy) {
        if (!await rescoreOne(id, patience)) deferred.push(id)
        done++
        await report()
      }
    }
    // One pass over the lead ids, in `_id` order (a range query per page would read the whole collection per page
    // on FerretDB).
    const running = new Set<Promise<void>>()
    const failures: unknown[] = []
    const launch = async (ids: string[]): Promise<void> => {
      while (running.size >= Math.max(1, deps.pagesAtOnce)) await Promise.race(running)
      if (failures.length > 0) throw failures[0]
      const p: Promise<void> = rescorePage(ids).catch((err: unknown) => { failures.push(err) }).finally(() => running.delete(p))
      running.add(p)
    }
    const page: string[] = []
    try {
      for await (const l of c.leads.find({}).sort({ _id: 1 }).project<{ _id: string }>({ _id: 1 }).batchSize(1000)) {
        page.push(l._id)
        if (page.length >= deps.batchLeads) await launch(page.splice(0))
      }
      if (page.length > 0) await launch(page)
    } finally {
      // a page still running when another failed is waited for: the job ends only once nothing of it runs
      await Promise.all(running)
    }
    if (failures.length > 0) throw failures[0]
    // leads that stayed busy (a long scoring run held them) get more patient retries before the job gives up
    for (let round = 0; round < 20 && deferred.length > 0; round++) {
      const again = deferred.splice(0)
      for (const id of again) if (!await rescoreOne(id, patience)) deferred.push(id)
    }
    if (deferred.length > 0) throw new Error(`${deferred.length} leads stayed busy and were not re-scored (first: ${deferred[0]!})`)
    // Flagged leads are re-scored by the worker holding them; wait for that here, so that their notifications are
    // held like everyone else's (a lead whose re-score already ran finds nothing left to do).
    for (const id of flagged) {
      for (let i = 0; i < 200; i++) {
        if ((await processor.processLead(id)).locked) break
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    await c.jobs.updateOne({ _id: jobId }, { $set: { state: 'done', done, updatedAt: now(), finishedAt: now() } })
    await deps.live.append('job.progress', ['jobs', `job:${jobId}`], { jobId, kind: 'rescore-all', done, total, state: 'done' })
  }

  const definition: JobDefinition<{ jobId: string }> = {
    name: RESCORE_ALL,
    concurrency: 1,
    // the claim is renewed however long one lead takes
    handler: async (d, r) => { await keepingClaim(r, deps.lockLifetimeMs, deps.log, async () => { await run(d.jobId) }) },
  }
  return { definition, start, run }
}
