// A small scoring batch carries its ledger entries in the lead's commit (`LeadBatch.ledger`) until finalize inserts
// them. The last entry's state is the lead's new state, which the same commit stores, so it is carried once: the
// entry leaves it out and these helpers put it back wherever carried entries are read.
// The entries travel packed, as one BSON binary value: no query reads inside them, and the embedded database stores
// a structured value with a type schema per field and per array element, which made the carried entries over a third
// of every lead document it read and rewrote. Batches committed before they were packed carry a plain array.
import type { Binary } from 'mongodb'
import { pack, unpack } from '../../infra/packed.js'
import type { CarriedEntry, LeadBatch, LedgerDoc, StoredState } from '../types.js'

/** The entry as carried: without its state when that is `leadState` (the state the batch commits on the lead). */
export function toCarried (e: LedgerDoc, leadState: StoredState): CarriedEntry {
  if (e.state !== leadState && JSON.stringify(e.state) !== JSON.stringify(leadState)) return e
  const { state: _state, ...rest } = e
  return rest
}

/** The entries a commit carries, packed as `LeadBatch.ledger` stores them. */
export function packCarried (entries: readonly CarriedEntry[]): Binary {
  return pack({ entries })
}

/** A batch's carried entries as carried (the last one may lack its state): none when it carries none. */
export function carriedEntries (batch: Pick<LeadBatch, 'ledger'>): CarriedEntry[] {
  const l = batch.ledger
  if (l === undefined) return []
  if (Array.isArray(l)) return l
  return unpack<{ entries: CarriedEntry[] }>(l).entries
}

/** A batch's carried entries in full; `leadState` is the lead's state as that batch committed it. */
export function carriedLedger (batch: Pick<LeadBatch, 'ledger'>, leadState: StoredState): LedgerDoc[] {
  return carriedEntries(batch).map((e) => e.state === undefined ? { ...e, state: leadState } : e as LedgerDoc)
}
