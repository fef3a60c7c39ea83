// When each quiet lead next decays. Inactivity decay changes a lead's engagement at fixed points after its last
// activity; the decay tick used to find the leads due by reading every lead, a cost that grew with the database.
// The schedule keeps one document per lead that will decay, whose `_id` is `<due time>|<lead id>` (the time as
// order-preserving hex), so the leads due by now are one `_id` range read on every server (the embedded build's
// range patch serves it from an index). A key is a function of the lead's score state and the published ruleset's
// decay settings only, so whoever changes the state knows which key to add and which to remove.
import type { Collection } from 'mongodb'
import type { RulesetSettings, ScoreState } from '../types.js'
import { idLists, insertIgnoringDuplicates } from '../../infra/db.js'
import { sortableNumber } from '../lead-views/keys.js'
import { decayFactor, durationMs } from './model.js'

export interface DecayKeyDoc { _id: string; leadId?: string; settings?: string; builtAt?: Date }

/** The document that names the decay settings the schedule was computed with ('~' sorts after every key). */
const META_ID = '~meta'
/** Most decay points looked at for one lead; past them the lead is looked at again when that point comes. */
const MAX_STEPS = 10_000

/** The settings a key depends on, as a string: when they change, every key has to be computed again. */
export function decaySettingsKey (settings: RulesetSettings): string {
  const decay = (settings.decay ?? []).filter((d) => d.dimension === 'engagement')
  if (decay.length === 0) return ''
  return JSON.stringify({ decay, floor: settings.floors?.engagement ?? null, cap: settings.caps?.engagement ?? null })
}

/**
 * The first time at which inactivity decay would take the lead's engagement past the value it has now (what
 * `applyDecay` would change), or null when no time would. The decayed value moves only at the points
 * `after + k × every` of each decay setting, and only towards zero, so the points are walked in order until the
 * value goes past the current one (the current value may itself be a decayed one, left by an earlier tick), stops
 * moving, or MAX_STEPS have gone by (that point is then returned: the tick finds nothing to do there and the key
 * moves on).
 */
export function nextDecayAt (state: ScoreState, settings: RulesetSettings): number | null {
  if (state.lastActivityAt === null) return null
  const rules = (settings.decay ?? []).filter((d) => d.dimension === 'engagement').map((d) => ({ every: durationMs(d.every), after: d.after === undefined ? 0 : durationMs(d.after) }))
    .filter((r): r is { every: number; after: number } => r.every !== null && r.every > 0 && r.after !== null)
  if (rules.length === 0) return null
  const base = state.decayBase ?? state.engagement
  const floor = settings.floors?.engagement
  const cap = settings.caps?.engagement
  const bounded = (v: number): number => Math.min(cap ?? Infinity, Math.max(floor ?? -Infinity, v))
  // down for a positive value, up for a negative one
  const past = (v: number): boolean => base > 0 ? v < state.engagement : base < 0 ? v > state.engagement : v !== state.engagement
  // a value outside its bounds is brought inside them by any decay, however early
  if (bounded(state.engagement) !== state.engagement) return state.lastActivityAt + 1
  const next = rules.map((r) => r.after + r.every)
  let gap = 0
  for (let step = 0; step < MAX_STEPS; step++) {
    gap = Math.min(...next)
    for (let i = 0; i < rules.length; i++) if (next[i] === gap) next[i] = gap + rules[i]!.every
    const raw = base * decayFactor(gap, settings)
    if (past(bounded(Math.round(raw)))) return state.lastActivityAt + gap
    // once it rounds to zero or passes the bound on its way there, the value stays
    if (Math.abs(raw) < 0.5 || (base > 0 && floor !== undefined && raw <= floor) || (base < 0 && cap !== undefined && raw >= cap)) return null
  }
  return state.lastActivityAt + gap
}

export const decayKeyOf = (due: number, leadId: string): string => `${sortableNumber(due)}|${leadId}`

/** The due time and lead of a key. */
export function parseDecayKey (key: string): { due: number; leadId: string } {
  const b = Buffer.from(key.slice(0, 16), 'hex')
  if ((b[0]! & 0x80) !== 0) b[0] = b[0]! ^ 0x80
  else for (let i = 0; i < 8; i++) b[i] = ~b[i]! & 0xff
  return { due: b.readDoubleBE(0), leadId: key.slice(17) }
}

/** A lead's key before and after a change of its state (null: none). */
export interface DecayKeyChange { before: string | null; after: string | null }

export function createDecaySchedule (deps: { col: Collection<DecayKeyDoc> }) {
  const { col } = deps

  async function remove (keys: readonly string[]): Promise<void> {
    for (const part of idLists(keys)) await col.deleteMany({ _id: { $in: part } })
  }

  return {
    /** Keys the leads will have: inserted before their commit, so a committed lead is never missing its key. */
    async prepare (changes: readonly DecayKeyChange[]): Promise<void> {
      const add = changes.filter((ch) => ch.after !== null && ch.after !== ch.before).map((ch) => ({ _id: ch.after!, leadId: ch.after!.slice(17) }))
      await insertIgnoringDuplicates(col, add)
    },

    /** After the commit: the keys the committed leads left, and the ones prepared for leads that did not commit. */
    async settle (committed: readonly DecayKeyChange[], failed: readonly DecayKeyChange[]): Promise<void> {
      await remove([
        ...committed.filter((ch) => ch.before !== null && ch.before !== ch.after).map((ch) => ch.before!),
        ...failed.filter((ch) => ch.after !== null && ch.after !== ch.before).map((ch) => ch.after!),
      ])
    },

    remove,

    /** Up to `limit` keys due at or before `at`, after `after` (a key), in due order. */
    async dueBy (at: number, after: string | null, limit: number): Promise<string[]> {
      const to = `${sortableNumber(at)}}`
      const docs = await col.find({ _id: after === null ? { $gte: '', $lt: to } : { $gt: after, $lt: to } } as never)
        .sort({ _id: 1 }).limit(limit).project<{ _id: string }>({ _id: 1 }).toArray()
      return docs.map((d) => d._id)
    },

    /** The decay settings the keys were computed with ('' for none; null when never computed). */
    async settingsKey (): Promise<string | null> {
      return (await col.findOne({ _id: META_ID }))?.settings ?? null
    },

    /**
     * Inserts the key of every lead from its state (a scan of the leads: once per change of the decay settings, and
     * once for a database from before the schedule existed), then records the settings. Keys computed before stay:
     * removing them could race with a commit writing its lead's key, while a key that is no longer right costs only
     * a look when it comes due (see `check`).
     */
    async rebuild (leads: AsyncIterable<{ _id: string; state?: ScoreState }>, settings: RulesetSettings, at: Date): Promise<number> {
      let batch: DecayKeyDoc[] = []
      let n = 0
      for await (const l of leads) {
        const due = l.state == null ? null : nextDecayAt(l.state, settings)
        if (due === null) continue
        batch.push({ _id: decayKeyOf(due, l._id), leadId: l._id })
        n++
        if (batch.length >= 1000) { await insertIgnoringDuplicates(col, batch); batch = [] }
      }
      await insertIgnoringDuplicates(col, batch)
      await col.updateOne({ _id: META_ID }, { $set: { settings: decaySettingsKey(settings), builtAt: at } }, { upsert: true })
      return n
    },

    /**
     * Checks due keys against their leads' states now: a key is right when the state gives that due time. A wrong one
     * (its lead changed under other settings, or was erased) is replaced by the right one. Returns the leads whose
     * key is right.
     */
    async check (keys: readonly string[], states: ReadonlyMap<string, ScoreState | undefined>, settings: RulesetSettings): Promise<string[]> {
      const right: string[] = []
      const wrong: string[] = []
      const fixes: DecayKeyDoc[] = []
      for (const key of keys) {
        const { due, leadId } = parseDecayKey(key)
        const state = states.get(leadId)
        const now = state == null ? null : nextDecayAt(state, settings)
        if (now === due) { right.push(leadId); continue }
        wrong.push(key)
        if (now !== null) fixes.push({ _id: decayKeyOf(now, leadId), leadId })
      }
      await insertIgnoringDuplicates(col, fixes)
      await remove(wrong)
      return right
    },
  }
}

export type DecaySchedule = ReturnType<typeof createDecaySchedule>
