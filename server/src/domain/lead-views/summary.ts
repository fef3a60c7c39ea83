// What the lead list, the leaderboard and the aggregates know of a lead: a few fields of its document. Both the index
// keys (keys.ts) and the aggregate counters (counters.ts) are functions of this summary only, so the writer that
// changes a lead can tell what to add and remove from the summaries before and after the change.
import type { LeadDoc, RulesetSettings } from '../types.js'
import { mapEventType } from '../rulesets/ruleset-service.js'

export interface LeadSummary {
  id: string
  score: number
  stage: string
  grade: string
  status: string
  sources: string[]
  /** The lead has converted: its status is `converted`, or scoring saw a conversion event (see `converted` below). */
  converted: boolean
  createdAt: number
  updatedAt: number
  lastEventAt: number | null
  name: string | null
  email: string | null
  company: string | null
  externalId: string | null
}

/** The status that marks a converted lead (besides a conversion event), as the backtest's lift defines it. */
export const CONVERTED_STATUS = 'converted'
/** The event type (after the published ruleset's aliases) that converts a lead. */
export const CONVERSION_EVENT = 'purchase'

/** Whether an event of this type converts a lead, with the ruleset's aliases applied. */
export function isConversionEvent (type: string, settings: RulesetSettings): boolean {
  return mapEventType(type, settings).type === CONVERSION_EVENT
}

const finite = (n: unknown): number => typeof n === 'number' && Number.isFinite(n) ? n : 0
const ms = (d: unknown): number | null => d instanceof Date && Number.isFinite(d.getTime()) ? d.getTime() : null
const str = (s: unknown): string | null => typeof s === 'string' ? s : null

/** The summary of a lead document (`convertedByEvent` is the flag scoring keeps on the lead). */
export function summaryOf (l: LeadDoc): LeadSummary {
  const status = typeof l.status === 'string' ? l.status : ''
  return {
    id: l._id,
    score: finite(l.score),
    stage: typeof l.stage === 'string' ? l.stage : '',
    grade: typeof l.grade === 'string' ? l.grade : '',
    status,
    sources: Array.isArray(l.sources) ? [...new Set(l.sources.filter((s): s is string => typeof s === 'string'))].sort() : [],
    converted: status === CONVERTED_STATUS || l.convertedByEvent === true,
    createdAt: ms(l.createdAt) ?? 0,
    updatedAt: ms(l.updatedAt) ?? 0,
    lastEventAt: ms(l.lastEventAt),
    name: str(l.name),
    email: str(l.email),
    company: str(l.company),
    externalId: str(l.externalId),
  }
}

/**
 * The lead document after a `$set` of top-level fields (dotted paths are left out: none of them is in the summary).
 */
export function afterSet (l: LeadDoc, set: Record<string, unknown>): LeadDoc {
  const next: Record<string, unknown> = { ...l }
  for (const [k, v] of Object.entries(set)) if (!k.includes('.')) next[k] = v
  return next as unknown as LeadDoc
}

/** One change of a lead: its summary before (null: created) and after (null: erased). */
export interface LeadChange { before: LeadSummary | null; after: LeadSummary | null }
