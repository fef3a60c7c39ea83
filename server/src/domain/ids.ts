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
