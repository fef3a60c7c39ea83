// A small scoring batch carries its ledger entries in the lead's commit (`LeadBatch.ledger`) until finalize inserts
// them. The last entry's state is the lead's new state, which the same commit stores, so it is carried once: the
// entry leaves it out and these helpers put it back wherever carried entries are read.
import type { CarriedEntry, LeadBatch, LedgerDoc, ScoreState } from '../types.js'

/** The entry as carried: without its state when that is `leadState` (the state the batch commits on the lead). */
export function toCarried (e: LedgerDoc, leadState: ScoreState): CarriedEntry {
  if (e.state !== leadState && JSON.stringify(e.state) !== JSON.stringify(leadState)) return e
  const { state: _state, ...rest } = e
  return rest
}

/** A batch's carried entries in full; `leadState` is the lead's state as that batch committed it. */
export function carriedLedger (batch: Pick<LeadBatch, 'ledger'>, leadState: ScoreState): LedgerDoc[] {
  return (batch.ledger ?? []).map((e) => e.state === undefined ? { ...e, state: leadState } : e as LedgerDoc)
}
