// Rebuild the lead views: the lead index and the aggregates computed again from the leads and events (a database
// from before the views, or an operator's repair). Scoring waits in this process while it runs.
import type { AuditService } from '../domain/audit.js'
import type { Collections } from '../infra/db.js'
import type { JobDoc } from '../domain/types.js'
import type { LeadViews } from '../domain/lead-views/service.js'
import { newId } from '../lib/ids.js'
import { keepingClaim, type JobDefinition } from './job.js'

export const REBUILD_VIEWS = 'rebuild-views'

export interface RebuildViewsDeps {
  c: Collections
  audit: Pick<AuditService, 'record'>
  views: Pick<LeadViews, 'rebuild'>
  /** Runs `fn` with this process's scoring paused (workers/scoring-runner.ts). */
  pauseScoring: <T>(fn: () => Promise<T>) => Promise<T>
  schedule: (name: string, data: { jobId: string }) => Promise<void>
  now: () => Date
  lockLifetimeMs: number
  log: { warn(o: object, m: string): void }
}

export function rebuildViewsJob (deps: RebuildViewsDeps) {
  const { c, now } = deps

  /** Records the job (queued) and hands it to the job runner. */
  async function start (actor: string): Promise<JobDoc> {
    const t = now()
    const job: JobDoc = { _id: newId('job'), kind: 'rebuild-views', state: 'queued', total: 0, done: 0, error: null, createdAt: t, updatedAt: t, finishedAt: null }
    await c.jobs.insertOne(job)
    await deps.audit.record(actor, 'views.rebuild', job._id, {})
    await deps.schedule(REBUILD_VIEWS, { jobId: job._id })
    return job
  }

  async function run (jobId: string): Promise<void> {
    await c.jobs.updateOne({ _id: jobId }, { $set: { state: 'running', updatedAt: now() } })
    try {
      const r = await deps.pauseScoring(async () => await deps.views.rebuild(async (done) => { await c.jobs.updateOne({ _id: jobId }, { $set: { done, updatedAt: now() } }) }))
      await c.jobs.updateOne({ _id: jobId }, { $set: { state: 'done', total: r.leads, done: r.leads, updatedAt: now(), finishedAt: now() } })
    } catch (err) {
      await c.jobs.updateOne({ _id: jobId }, { $set: { state: 'failed', error: (err as Error).message, updatedAt: now(), finishedAt: now() } })
      throw err
    }
  }

  const definition: JobDefinition<{ jobId: string }> = {
    name: REBUILD_VIEWS,
    concurrency: 1,
    handler: async (d, r) => { await keepingClaim(r, deps.lockLifetimeMs, deps.log, async () => { await run(d.jobId) }) },
  }
  return { definition, start, run }
}
