// Scores as of a past time, from the ledger, in event time: a lead's state after the last visible entry whose event
// time is at or before `asOf` (docs/trends.md).
import type { Collection } from 'mongodb'
import type { LeadDoc, LedgerDoc, RulesetSettings, StoredPrediction } from '../types.js'
import type { LeadViews } from '../lead-views/service.js'
import { initialState } from '../scoring/model.js'
import { LS_ERR_AS_OF_TOO_FAR } from '../../errors.js'
import { ordAfter, readLedger } from './ledger-reader.js'
import { pointOf } from './trend.js'

export interface LedgerDeps { scoreHistory: Collection<LedgerDoc>; ferret: boolean }

/** Where an as-of value came from. */
export interface AsOfMark {
  at: Date
  /** The ledger entry the score is the state after; null when the lead had none by then (or was unchanged since). */
  entryId: string | null
  /** Commit time bound given (`knownAt`): entries recorded later, and replays done later, are not seen. */
  knownAt: Date | null
}

export type LeadAsOf = LeadDoc & { asOf: AsOfMark }

/**
 * The entries visible at commit time `knownAt`: recorded by then (`createdAt`), and not yet replaced by a replay
 * recorded by then (the replay's time is the `createdAt` of the entries its batch wrote).
 */
function knownBy (all: readonly LedgerDoc[], knownAt: Date): LedgerDoc[] {
  const batchAt = new Map<string, number>()
  for (const e of all) batchAt.set(e.batch, e.createdAt.getTime())
  const k = knownAt.getTime()
  return all.filter((e) => e.createdAt.getTime() <= k && (!e.superseded || e.supersededBy === undefined || (batchAt.get(e.supersededBy) ?? Infinity) > k))
}

/** The lead with its score fields as of `at` (event time); other fields stay current. */
export async function leadAsOf (deps: LedgerDeps, lead: LeadDoc, at: Date, settings: RulesetSettings, knownAt: Date | null = null): Promise<LeadAsOf | null> {
  let entries = await readLedger(deps, lead, { includeSuperseded: knownAt !== null, order: 'asc', ordBelow: ordAfter(at) })
  if (knownAt !== null) entries = knownBy(entries, knownAt)
  const last = entries[entries.length - 1]
  // a lead with no entry by then existed only if it was created by then (a lead made by the API, scored later)
  if (last === undefined && (lead.createdAt > at || (knownAt !== null && lead.createdAt > knownAt))) return null
  const state = last?.state ?? initialState(settings)
  let predictive: StoredPrediction | null = null
  for (const e of entries) if (e.predictive !== undefined) predictive = e.predictive
  const p = pointOf(state, settings)
  return {
    ...lead,
    score: p.score, stage: p.stage, grade: p.grade, intentLabel: p.intentLabel, predictive,
    scores: { engagement: p.engagement, fit: p.fit, intent: p.intent, predictive: predictive?.score ?? null },
    asOf: { at, entryId: last?._id ?? null, knownAt },
  }
}

/** Most leads with events after `asOf` a leaderboard as of `asOf` re-reads the ledger of (docs/trends.md). */
export const MAX_CHANGED_LEADS = 1000
const PAGE = 500
const PARALLEL = 8

/**
 * The top leads by score as of `at`. A lead whose last event is at or before `at` has the same score now as then, so
 * the current score index answers for those; only the leads with events after `at` (found newest first on the
 * last-event index) have their ledger read. That costs one ledger read per such lead: past `maxChanged` of them the
 * request is refused (`LS_ERR_AS_OF_TOO_FAR`).
 */
export async function leaderboardAsOf (deps: LedgerDeps & { views: LeadViews }, q: { at: Date; limit: number; stage?: string | undefined; settings: RulesetSettings; maxChanged?: number }): Promise<{ items: LeadAsOf[]; changed: number }> {
  const at = q.at.getTime()
  const maxChanged = q.maxChanged ?? MAX_CHANGED_LEADS
  const changed: LeadDoc[] = []
  let cursor: string | undefined
  // pages grow: an asOf close to now has few changed leads, and a page reads every lead it lists
  let size = 50
  walk: for (;;) {
    const page = await deps.views.list({ sort: 'last_event_desc', limit: size, cursor })
    size = Math.min(PAGE, size * 4)
    for (const l of page.items) {
      if (l.lastEventAt === null || l.lastEventAt.getTime() <= at) break walk
      changed.push(l)
      if (changed.length > maxChanged) throw new LS_ERR_AS_OF_TOO_FAR(maxChanged)
    }
    if (page.nextCursor === null) break
    cursor = page.nextCursor
  }
  const out: LeadAsOf[] = []
  const addAsOf = async (leads: readonly LeadDoc[]): Promise<void> => {
    for (let i = 0; i < leads.length; i += PARALLEL) {
      const done = await Promise.all(leads.slice(i, i + PARALLEL).map(async (l) => await leadAsOf(deps, l, q.at, q.settings)))
      for (const l of done) if (l !== null && (q.stage === undefined || l.stage === q.stage)) out.push(l)
    }
  }
  await addAsOf(changed)
  // the leads unchanged since `at`, highest score first: only the first `limit` of them can make the board
  const skip = new Set(changed.map((l) => l._id))
  const late: LeadDoc[] = []
  let unchanged = 0
  cursor = undefined
  for (;;) {
    const page = await deps.views.list({ sort: 'score_desc', limit: Math.min(PAGE, q.limit + changed.length), cursor, stage: q.stage })
    for (const l of page.items) {
      if (skip.has(l._id) || (l.lastEventAt === null && l.createdAt.getTime() > at)) continue
      // scored since the first walk: read like the changed ones
      if (l.lastEventAt !== null && l.lastEventAt.getTime() > at) { late.push(l); continue }
      out.push({ ...l, asOf: { at: q.at, entryId: null, knownAt: null } })
      if (++unchanged === q.limit) break
    }
    if (unchanged === q.limit || page.nextCursor === null) break
    cursor = page.nextCursor
  }
  await addAsOf(late)
  out.sort((a, b) => b.score - a.score || (a._id < b._id ? -1 : a._id > b._id ? 1 : 0))
  return { items: out.slice(0, q.limit), changed: changed.length }
}
