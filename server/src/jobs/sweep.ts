// The sweeper (domain/workers/sweeper.ts) as a recurring job: one schedule for all worker processes, each run in
// whichever process claims it. A run twice over would only queue leads that are queued already.
import type { JobDefinition } from './job.js'

export const SWEEP = 'sweep'

export function sweepJob (deps: { sweep: () => Promise<unknown> }): JobDefinition<undefined> {
  return { name: SWEEP, concurrency: 1, handler: async () => { await deps.sweep() } }
}
