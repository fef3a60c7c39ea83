// What a committed scoring batch tells the rest of the process: the metrics, and a `lead.scored` live message
// (leaderboard, the lead's page, the events view). During a bulk re-score the messages of re-scored leads are held
// back (the job reports progress instead): every lead would otherwise flood the feed.
import type { CommittedBatch } from '../scoring/processor.js'
import type { LiveFeed } from '../live/live-feed.js'
import type { Metrics } from '../metrics.js'
import type { LeadScoredDataT } from '../../schemas/live.js'

export function createScoredFeed (deps: { metrics: Metrics; live: Pick<LiveFeed, 'append'>; log: { warn(o: object, m: string): void } }) {
  let holds = 0
  return {
    /** The processor's `onCommitted`: counted once the batch is finalized (its events show as scored). */
    committed (b: CommittedBatch): void {
      deps.metrics.eventsScored.inc(b.events)
      deps.metrics.batchesCommitted.inc()
    },
    /** The processor's `onVisible`: the live message, as soon as the batch's ledger entries can be read. */
    visible (b: CommittedBatch): void {
      if (holds > 0 && b.rescored) return
      const data: LeadScoredDataT = {
        leadId: b.leadId, score: b.after.total, stage: b.after.stage, parts: b.after, before: b.before,
        delta: b.after.total - b.before.total, lastSeq: b.lastSeq, events: b.events, rescored: b.rescored,
        entries: b.entries.slice(-20).map((e) => ({ id: e._id, eventId: e.eventId, type: e.eventType, delta: e.delta, reasons: e.reasons })),
      }
      deps.live.append('lead.scored', ['leaderboard', `lead:${b.leadId}`, 'events'], data).catch((err: unknown) => deps.log.warn({ err, leadId: b.leadId }, 'live feed append failed'))
    },
    /** Holds back re-scored leads' messages while `fn` runs. */
    async holdingRescored<T> (fn: () => Promise<T>): Promise<T> {
      holds++
      try { return await fn() } finally { holds-- }
    },
  }
}

export type ScoredFeed = ReturnType<typeof createScoredFeed>
