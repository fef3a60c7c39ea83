// Outbound webhook deliveries (domain/webhooks/dispatcher.ts) as a job. A run fans queued notifications out and
// sends the deliveries that are due, pass after pass until nothing is left. First attempts do not wait for a
// schedule: when the outbox queues work the dispatcher queues a one-off run at once, which the process that queued it
// starts straight away. Retries are sent by the job's recurring schedule (one for all processes): every run ends by
// setting that schedule's next run to when the earliest queued work is due, so a retry goes out on time (within
// Agenda's one-second poll; retries wait seconds to hours, ±20%) and an idle server does not run the job every second.
// The schedule's period (LEADSCORE_WEBHOOKS_POLL_MS, 30 s by default) only bounds the wait when nothing set it sooner:
// work queued by a process that died before its run, or a next run overwritten by a run that ended at the same time.
// Two runs at once (two processes) are safe: each attempt is claimed on its own.
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

export function webhookDeliveriesJob (deps: { run: () => Promise<void>; nextDueAt: () => Promise<Date | null> }): JobDefinition<undefined> {
  // one run at a time per process: a lead's deliveries go out in order within a run
  return {
    name: WEBHOOK_DELIVERIES,
    concurrency: 1,
    handler: async (_data, run) => {
      await deps.run()
      const next = await deps.nextDueAt()
      if (next !== null) await run.runBy?.(next)
    },
  }
}
