// Model training: `POST /v1/models/train` records the job (holding the training lock, so at most one trains at a
// time across processes) and answers 202; a worker runs it (domain/predictive/service.ts), reporting its phases in
// the job document (`/v1/models/jobs/:id`).
import type { JobDoc } from '../domain/types.js'
import type { PredictiveService, TrainParams } from '../domain/predictive/service.js'
import { keepingClaim, type JobDefinition } from './job.js'

export const TRAIN_MODEL = 'train-model'

export interface TrainModelDeps {
  predictive: Pick<PredictiveService, 'queueTraining' | 'runTraining' | 'abandonTraining'>
  schedule: (name: string, data: { jobId: string; actor: string }) => Promise<void>
  lockLifetimeMs: number
  log: { warn(o: object, m: string): void }
}

export function trainModelJob (deps: TrainModelDeps) {
  async function start (params: TrainParams, actor: string): Promise<JobDoc> {
    const job = await deps.predictive.queueTraining(params, actor)
    try {
      await deps.schedule(TRAIN_MODEL, { jobId: job._id, actor })
    } catch (err) {
      await deps.predictive.abandonTraining(job._id).catch(() => undefined)
      throw err
    }
    return job
  }

  // the actor is optional in the data only so that every job's data is `{ jobId, … }` (see index.ts)
  const definition: JobDefinition<{ jobId: string; actor?: string }> = {
    name: TRAIN_MODEL,
    concurrency: 1,
    handler: async (d, r) => { await keepingClaim(r, deps.lockLifetimeMs, deps.log, async () => { await deps.predictive.runTraining(d.jobId, d.actor ?? 'system') }) },
  }
  return { definition, start }
}
