// The decay tick (domain/scoring/decay-ticks.ts) as a recurring job: one schedule for all worker processes. A tick
// names each event it stores by the lead's last activity and the decay reached, so a tick run twice stores nothing new.
import type { JobDefinition } from './job.js'

export const DECAY_TICK = 'decay-tick'

export function decayTickJob (deps: { decayTick: () => Promise<unknown> }): JobDefinition<undefined> {
  return { name: DECAY_TICK, concurrency: 1, handler: async () => { await deps.decayTick() } }
}
