// A backtest: a ruleset version (usually a draft) replayed against stored history next to the version it would
// replace. The route records the job and answers 202; any worker process runs it; its progress and result live in
// the job document (`/v1/backtests/:id`).
import type { AuditService } from '../domain/audit.js'
import type { Collection } from 'mongodb'
import type { Collections } from '../infra/db.js'
import type { ScoringPipeline } from '../domain/scoring/pipeline.js'
import type { RulesetService } from '../domain/rulesets/ruleset-service.js'
import { runBacktest, type BacktestJobDoc } from '../domain/rulesets/backtest.js'
import type { LiveFeed } from '../domain/live/live-feed.js'
import { newId } from '../lib/ids.js'
import { keepingClaim, type JobDefinition } from './job.js'

export const BACKTEST = 'backtest'

export interface BacktestJobDeps {
  c: Collections
  audit: Pick<AuditService, 'record'>
  pipeline: ScoringPipeline
  rulesets: Pick<RulesetService, 'byVersion'>
  live: Pick<LiveFeed, 'append'>
  schedule: (name: string, data: { jobId: string }) => Promise<void>
  now: () => Date
  lockLifetimeMs: number
  log: { warn(o: object, m: string): void; error(o: object, m: string): void }
}

export interface BacktestRequest {
  version: number
  baseVersion: number
  scope: BacktestJobDoc['scope']
  actor: string
}

export function backtestJob (deps: BacktestJobDeps) {
  const { now } = deps
  const backtests = deps.c.jobs as unknown as Collection<BacktestJobDoc>

  const progress = async (jobId: string, done: number, total: number, extra: Record<string, unknown> = {}): Promise<void> => {
    await backtests.updateOne({ _id: jobId }, { $set: { done, total, updatedAt: now(), ...extra } })
    await deps.live.append('job.progress', ['backtests', `backtest:${jobId}`], { jobId, kind: 'backtest', done, total, state: extra.state ?? 'running' })
  }

  /** Records the job and hands it to the job runner. It reads as running from the start (its staleness shows a stop). */
  async function start (req: BacktestRequest): Promise<BacktestJobDoc> {
    const { scope } = req
    const total = scope.leadIds !== null ? scope.leadIds.length : Math.min(await deps.c.leads.estimatedDocumentCount(), scope.limit ?? Infinity)
    const t = now()
    const job: BacktestJobDoc = {
      _id: newId('bt'), kind: 'backtest', state: 'running', total, done: 0, error: null, createdAt: t, updatedAt: t, finishedAt: null,
      version: req.version, baseVersion: req.baseVersion, scope: req.scope, actor: req.actor, result: null,
    }
    await backtests.insertOne(job)
    await deps.audit.record(req.actor, 'ruleset.backtest', `ruleset:${req.version}`, { jobId: job._id, baseVersion: req.baseVersion })
    await deps.schedule(BACKTEST, { jobId: job._id })
    return job
  }

  async function run (jobId: string): Promise<void> {
    const job = await backtests.findOne({ _id: jobId, kind: 'backtest' })
    if (job === null || job.finishedAt !== null) return
    try {
      const [base, candidate] = [await deps.rulesets.byVersion(job.baseVersion), await deps.rulesets.byVersion(job.version)]
      const { scope } = job
      const result = await runBacktest(
        { c: deps.c, pipeline: deps.pipeline, now, onProgress: async (d, n) => { await progress(jobId, d, n) } },
        { leadIds: scope.leadIds ?? undefined, from: scope.from ?? undefined, to: scope.to ?? undefined, limit: scope.limit ?? undefined },
        base, candidate,
      )
      await progress(jobId, result.leads, result.leads, { state: 'done', result, finishedAt: now() })
    } catch (err) {
      deps.log.error({ err, jobId }, 'backtest failed')
      await progress(jobId, 0, job.total, { state: 'failed', error: (err as Error).message, finishedAt: now() }).catch(() => undefined)
    }
  }

  const definition: JobDefinition<{ jobId: string }> = {
    name: BACKTEST,
    handler: async (d, r) => { await keepingClaim(r, deps.lockLifetimeMs, deps.log, async () => { await run(d.jobId) }) },
  }
  return { definition, start, run }
}
