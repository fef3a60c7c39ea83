// Tracking-plan violations counted per (event type, source) at write time, as the lead views keep their counters
// (domain/lead-views/counters.ts): each process increments only its own document (`viol:<slot>`, the slot held with
// a lock), one write at a time, because the embedded database applies an update as a read and a write and two
// processes incrementing one document could lose a count. A read adds every slot's document up.
import type { Collection } from 'mongodb'
import { encodeKey } from '../../lib/keys.js'
import { mergeCounters, nameOfSegment } from '../lead-views/counters.js'
import { SLOTS, type SlotLocks } from '../lead-views/service.js'
import { newId } from '../../lib/ids.js'

export interface ViolationCounterDoc { _id: string; [field: string]: unknown }

/** One violation to count: an event of `type` from `sourceId`, warned (stored, flagged) or rejected. */
export interface CountedViolation { type: string; sourceId: string; outcome: 'warned' | 'rejected'; message: string; pointer: string; planVersion: number }

export interface ViolationCount {
  type: string
  sourceId: string
  warned: number
  rejected: number
  lastAt: Date | null
  lastMessage: string | null
  lastPointer: string | null
  lastPlanVersion: number | null
}

const PREFIX = 'viol'
const SLOT_TTL_MS = 60_000
// like the lead counters: an 'x' in front makes any name (empty, with '.' or '$') a valid path segment
const seg = (name: string): string => `x${encodeKey(name)}`

export function createViolationCounters (deps: { counters: Collection<ViolationCounterDoc>; now: () => Date; locks?: SlotLocks }) {
  const { counters } = deps
  const owner = newId('tv')
  let claiming: Promise<string> | null = null
  async function claimSlot (): Promise<string> {
    if (deps.locks === undefined) return 's0'
    // with every slot held, a document of this process alone
    const k = await deps.locks.claimSlot('plan-slot', SLOTS, owner, SLOT_TTL_MS)
    return k === null ? owner : `s${k}`
  }
  const mySlot = async (): Promise<string> => await (claiming ??= claimSlot())

  // increments wait here while a write runs and then go in one update: one writer per slot document at a time
  interface Pending { inc: Record<string, number>; set: Record<string, unknown> }
  let buffer: Pending = { inc: {}, set: {} }
  let waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = []
  let writing = false

  function flush (): void {
    if (writing) return
    if (Object.keys(buffer.inc).length === 0) {
      for (const w of waiters.splice(0)) w.resolve()
      return
    }
    writing = true
    const pending = buffer
    const mine = waiters
    buffer = { inc: {}, set: {} }
    waiters = []
    ;(async () => {
      const slot = await mySlot()
      await counters.updateOne({ _id: `${PREFIX}:${slot}` }, { $inc: pending.inc, $set: pending.set } as never, { upsert: true })
    })().then(() => { for (const w of mine) w.resolve() }, (err: unknown) => { for (const w of mine) w.reject(err) })
      .finally(() => { writing = false; flush() })
  }

  /** Counts violations; settles once they are stored. */
  async function count (violations: readonly CountedViolation[]): Promise<void> {
    if (violations.length === 0) return
    const at = deps.now()
    for (const v of violations) {
      const base = `t.${seg(v.type)}.${seg(v.sourceId)}`
      const key = `${base}.${v.outcome === 'warned' ? 'w' : 'r'}`
      buffer.inc[key] = (buffer.inc[key] ?? 0) + 1
      // the slot's own latest example; a read shows the latest of all slots
      buffer.set[`${base}.last`] = { at, message: v.message.slice(0, 300), pointer: v.pointer.slice(0, 300), planVersion: v.planVersion }
    }
    const done = new Promise<void>((resolve, reject) => { waiters.push({ resolve, reject }) })
    flush()
    await done
  }

  /** Counts per (type, source), summed over every slot (one `_id` range read of a few documents). */
  async function read (): Promise<ViolationCount[]> {
    const docs = await counters.find({ _id: { $gte: `${PREFIX}:`, $lt: `${PREFIX};` } } as never).toArray()
    // the `last` examples are not numbers, so they are picked by time rather than summed
    const sums = mergeCounters(docs as Array<Record<string, unknown>>)
    const lasts = new Map<string, { at: Date; message: string; pointer: string; planVersion: number }>()
    for (const d of docs) {
      const t = (d.t ?? {}) as Record<string, Record<string, { last?: { at: Date; message: string; pointer: string; planVersion: number } }>>
      for (const [ts, bySource] of Object.entries(t)) {
        for (const [ss, c] of Object.entries(bySource)) {
          const last = c.last
          if (last === undefined || !(last.at instanceof Date)) continue
          const k = `${ts}\n${ss}`
          const known = lasts.get(k)
          if (known === undefined || known.at < last.at) lasts.set(k, last)
        }
      }
    }
    const out: ViolationCount[] = []
    for (const [ts, bySource] of Object.entries((sums.t ?? {}) as Record<string, Record<string, Record<string, unknown>>>)) {
      for (const [ss, c] of Object.entries(bySource)) {
        const n = (k: string): number => typeof c[k] === 'number' ? Math.round(c[k] as number) : 0
        const last = lasts.get(`${ts}\n${ss}`)
        out.push({
          type: nameOfSegment(ts), sourceId: nameOfSegment(ss), warned: n('w'), rejected: n('r'),
          lastAt: last?.at ?? null, lastMessage: last?.message ?? null, lastPointer: last?.pointer ?? null, lastPlanVersion: last?.planVersion ?? null,
        })
      }
    }
    return out.sort((a, b) => (b.warned + b.rejected) - (a.warned + a.rejected) || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0) || (a.sourceId < b.sourceId ? -1 : 1))
  }

  return { count, read }
}

export type ViolationCounters = ReturnType<typeof createViolationCounters>
