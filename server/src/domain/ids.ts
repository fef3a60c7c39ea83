import { sha256 } from '../lib/ids.js'

// Leads and events have ids derived from their identity, so the hot paths look documents up by `_id` — the one
// lookup every MongoDB-protocol server (FerretDB included) answers from an index.

/** A lead's id: a hash of its identity key (`email:…` or `ext:…`). */
export function leadIdOf (key: string): string {
  return `ld_${sha256(key).slice(0, 24)}`
}

/** The id of a lead's n-th event. Per-lead seqs are gapless, so a lead's events are found by walking ids. */
export function eventIdOf (leadId: string, seq: number): string {
  return `${leadId}-${String(seq).padStart(9, '0')}`
}

/** A scoring batch's token: under its lead's id, so that the batch's ledger entries (`<token>:<i>`) are in its range. */
export function batchTokenOf (leadId: string, unique: string): string {
  return `${leadId}~${unique}`
}

/** The `_id` range holding the ledger entries of a lead's batches (those with tokens from `batchTokenOf`). */
export function ledgerRangeOf (leadId: string): { _id: { $gte: string; $lt: string } } {
  return { _id: { $gte: `${leadId}~`, $lt: `${leadId}\u007f` } }
}

/** The `_id` range holding every event of a lead. */
export function eventRangeOf (leadId: string): { _id: { $gte: string; $lt: string } } {
  return { _id: { $gte: eventIdOf(leadId, 0), $lt: `${leadId}.` } }
}
