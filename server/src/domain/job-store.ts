import type { Collection } from 'mongodb'
import type { JobDoc } from './types.js'
import type { BacktestJobDoc } from './rulesets/backtest.js'

/** Reads the documents of background jobs (re-score, rebuild, training, backtests) by id. */
export interface JobStore {
  get (id: string): Promise<JobDoc | null>
  /** A backtest's job document; null for another kind of job. */
  backtest (id: string): Promise<BacktestJobDoc | null>
}

/** Takes the core itself, or anything with its jobs collection. */
export function createJobStore (deps: { c: { jobs: Collection<JobDoc> } }): JobStore {
  const col = deps.c.jobs
  // backtests share the jobs collection with a shape of their own
  const backtests = col as unknown as Collection<BacktestJobDoc>
  return {
    async get (id) { return await col.findOne({ _id: id }) },
    async backtest (id) { return await backtests.findOne({ _id: id, kind: 'backtest' }) },
  }
}
