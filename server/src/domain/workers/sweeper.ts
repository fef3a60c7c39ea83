// The backstop next to the marker poll (workers/scoring-runner.ts), and the purge of what expires.
import type { IngestJournal } from '../events/ingest-journal.js'
import type { IdempotencyService } from '../events/idempotency.js'
import type { LiveFeed } from '../live/live-feed.js'
import type { LockService } from '../locks.js'

export interface SweeperDeps {
  /** Removes webhook attempt claims expired before a time (webhooks/dispatcher.ts). */
  purgeWebhookClaims: (before: Date) => Promise<number>
  /** Removes scoring's revision claims taken before a time that sign no unfinished batch (scoring/processor.ts). */
  purgeRevisionClaims: (before: Date) => Promise<number>
  journal: IngestJournal
  idempotency: IdempotencyService
  live: Pick<LiveFeed, 'purgeBefore'>
  locks: LockService
  enqueue: (leadIds: string[]) => Promise<void>
  now: () => Date
  log: { debug(o: object, m: string): void }
}

export function createSweeper (deps: SweeperDeps) {
  const { journal, now } = deps
  let sweeps = 0
  /**
   * Queues the leads of ingest journal entries older than 30 s (a process that died between storing events and
   * queueing their leads leaves its entry), one `_id` range read. (A lead flagged for re-score needs nothing: its
   * marker is written before the flag and again after it.) On its first run and every 10th, it purges expired
   * idempotency keys, old live messages, long-expired lock documents, revision claims and webhook attempt claims (by `_id` ranges of
   * expiry markers or of the live feed's seq where a query reads whole collections; the locks stay few). Returns how many leads it queued.
   */
  async function sweep (): Promise<number> {
    const t = now()
    const ids = new Set<string>()
    const n = sweeps++
    const orphans = await journal.orphans(30_000)
    for (const o of orphans) for (const id of o.leads) ids.add(id)
    if (ids.size > 0) {
      deps.log.debug({ leads: ids.size }, 'sweeper enqueued leads')
      await deps.enqueue([...ids])
    }
    // removed only once their leads have markers
    await journal.remove(orphans.map((o) => o._id))
    if (n % 10 !== 0) return ids.size
    await deps.idempotency.purgeExpired()
    await deps.live.purgeBefore(new Date(t.getTime() - 24 * 3_600_000))
    await deps.locks.purgeExpired(new Date(t.getTime() - 3_600_000))
    await deps.purgeRevisionClaims(new Date(t.getTime() - 3_600_000))
    await deps.purgeWebhookClaims(new Date(t.getTime() - 24 * 3_600_000))
    return ids.size
  }
  return { sweep }
}

export type Sweeper = ReturnType<typeof createSweeper>
