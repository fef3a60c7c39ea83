// Outbound webhook deliveries (domain/webhooks/dispatcher.ts) as a job. A run fans queued notifications out and
// sends the deliveries that are due, pass after pass until nothing is left. The job recurs every second, in whichever
// process claims it: that is what sends a retry once it is due, in any process. A shorter period would not run more
// often (Agenda looks for due jobs once a second), and retries wait seconds to hours, ±20%, so a second late is within
// their jitter. First attempts do not wait for it: when the outbox queues work the dispatcher queues a run at once,
// which the process that queued it starts straight away. Two runs at once (two processes) are safe: each attempt is
// claimed on its own.
import { MIN_POLL_MS, type Scheduler } from '../infra/agenda.js'
import type { JobDefinition } from './job.js'

export const WEBHOOK_DELIVERIES = 'webhook-deliveries'

/** The recurring schedule's period: the dispatcher's poll interval, at least a second. */
export function webhookDeliveriesEveryMs (pollMs: number): number {
  return Math.max(pollMs, MIN_POLL_MS)
}

/** Queues one run, due now, for whichever process runs the job (the one queuing it first, if it does). */
export async function queueWebhookDeliveries (scheduler: Pick<Scheduler, 'now'>): Promise<void> {
  await scheduler.now(WEBHOOK_DELIVERIES, undefined)
}

export function webhookDeliveriesJob (deps: { run: () => Promise<void> }): JobDefinition<undefined> {
  // one run at a time per process: a lead's deliveries go out in order within a run
  return { name: WEBHOOK_DELIVERIES, concurrency: 1, handler: async () => { await deps.run() } }
}
