// A small scoring batch carries its ledger entries in the lead's commit (`LeadBatch.ledger`) until finalize inserts
// them. The last entry's state is the lead's new state, which the same commit stores, so it is carried once: the
// entry leaves it out and these helpers put it back wherever carried entries are read.
// The entries travel packed, as one BSON binary value: no query reads inside them, and the embedded database stores
// a structured value with a type schema per field and per array element, which made the carried entries over a third
// of every lead document it read and rewrote. Batches committed before they were packed carry a plain array.
// Packed entries also leave out what the pack tells anyway (`compact`): the fields every entry of the batch shares
// (lead, batch, ruleset version, time, flags) are stored once, and an entry's `_id`, event id, `before` and `delta`
// are left out where they follow from the batch, the lead and the entry before. That was half of what a batch carried,
// and the lead document keeps its last batch until the next one replaces it: every read of the lead paid for it.
import type { Binary } from 'mongodb'
import { pack, unpack } from '../../infra/packed.js'
import { eventIdOf } from '../ids.js'
import type { CarriedEntry, LeadBatch, LedgerDoc, StoredState } from '../types.js'

/** The entry as carried: without its state when that is `leadState` (the state the batch commits on the lead). */
export function toCarried (e: LedgerDoc, leadState: StoredState): CarriedEntry {
  if (e.state !== leadState && JSON.stringify(e.state) !== JSON.stringify(leadState)) return e
  const { state: _state, ...rest } = e
  return rest
}

type Entry = Record<string, unknown>

/** Fields stored once for the batch when every entry has the same value (a string, number, boolean or date). */
const SHARED = ['leadId', 'kind', 'rulesetVersion', 'offer', 'batch', 'committed', 'superseded', 'createdAt'] as const
/** The order of a ledger entry's fields as scoring writes them; restored entries follow it. */
const ORDER = ['_id', 'leadId', 'kind', 'eventId', 'eventType', 'seq', 'ord', 'occurredAt', 'before', 'after', 'delta', 'reasons', 'state', 'rulesetVersion', 'batch', 'committed', 'superseded', 'createdAt']

const sameScalar = (a: unknown, b: unknown): boolean =>
  a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b && (typeof a !== 'object' || a === null)

/**
 * What follows for entry `i` from the pack (its restored fields and the restored entry before it): the derived value of
 * `_id`, `eventId`, `before` and `delta`, or undefined where it cannot be derived.
 */
function derived (key: string, e: Entry, i: number, prev: Entry | undefined): unknown {
  switch (key) {
    case '_id': return typeof e.batch === 'string' ? `${e.batch}:${i}` : undefined
    case 'eventId': return typeof e.leadId === 'string' && typeof e.seq === 'number' ? eventIdOf(e.leadId, e.seq) : undefined
    case 'before': return prev?.after
    case 'delta': {
      const a = (e.after as { total?: unknown } | undefined)?.total
      const b = (e.before as { total?: unknown } | undefined)?.total
      return typeof a === 'number' && typeof b === 'number' ? a - b : undefined
    }
    default: return undefined
  }
}
const DERIVED = ['_id', 'eventId', 'before', 'delta'] as const
const sameDerived = (key: string, v: unknown, d: unknown): boolean =>
  key === 'before' ? d !== undefined && JSON.stringify(v) === JSON.stringify(d) : d !== undefined && v === d

/** The entries without what `expand` puts back: the fields they share, once, and each entry's derivable fields. */
export function compact (entries: readonly CarriedEntry[]): { shared: Entry; entries: Entry[] } {
  const all = entries as unknown as Entry[]
  const shared: Entry = {}
  for (const k of SHARED) {
    const first = all[0]?.[k]
    if (first !== undefined && all.every((e) => k in e && sameScalar(e[k], first))) shared[k] = first
  }
  const out = all.map((e, i) => {
    const slim: Entry = {}
    for (const [k, v] of Object.entries(e)) {
      if (k in shared) continue
      if ((DERIVED as readonly string[]).includes(k) && sameDerived(k, v, derived(k, e, i, all[i - 1]))) continue
      slim[k] = v
    }
    return slim
  })
  return { shared, entries: out }
}

/** The entries `compact` took apart, whole again, their fields in the order scoring writes them. */
export function expand (packed: { shared: Entry; entries: Entry[] }): CarriedEntry[] {
  const out: Entry[] = []
  packed.entries.forEach((slim, i) => {
    const e: Entry = { ...packed.shared, ...slim }
    // `before` first: `delta` follows from it
    for (const k of DERIVED) if (!(k in e)) { const d = derived(k, e, i, out[i - 1]); if (d !== undefined) e[k] = k === 'before' ? { ...(d as object) } : d }
    const ordered: Entry = {}
    for (const k of ORDER) if (k in e) ordered[k] = e[k]
    for (const [k, v] of Object.entries(e)) if (!(k in ordered)) ordered[k] = v
    out.push(ordered)
  })
  return out as unknown as CarriedEntry[]
}

/** The entries a commit carries, packed as `LeadBatch.ledger` stores them. */
export function packCarried (entries: readonly CarriedEntry[]): Binary {
  return pack(compact(entries))
}

/** A batch's carried entries as carried (the last one may lack its state): none when it carries none. */
export function carriedEntries (batch: Pick<LeadBatch, 'ledger'>): CarriedEntry[] {
  const l = batch.ledger
  if (l === undefined) return []
  if (Array.isArray(l)) return l
  const packed = unpack<{ entries: Entry[]; shared?: Entry }>(l)
  // packs written before entries were compacted hold them whole
  return packed.shared === undefined ? packed.entries as unknown as CarriedEntry[] : expand({ shared: packed.shared, entries: packed.entries })
}

/** A batch's carried entries in full; `leadState` is the lead's state as that batch committed it. */
export function carriedLedger (batch: Pick<LeadBatch, 'ledger'>, leadState: StoredState): LedgerDoc[] {
  return carriedEntries(batch).map((e) => e.state === undefined ? { ...e, state: leadState } : e as LedgerDoc)
}
