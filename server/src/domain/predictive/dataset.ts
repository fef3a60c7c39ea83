// Training examples as of a point in time. For each lead: a prediction point (an event at or before the cutoff),
// the features as they were right after that event, and the outcome label. Nothing after the prediction point
// reaches the features, and nothing after the cutoff reaches the label.
import type { Collections } from '../../infra/db.js'
import type { LeadDoc, RulesetSettings } from '../types.js'
import { mapEventType } from '../rulesets/ruleset-service.js'
import { ADJUSTMENT_TYPE, DECAY_TICK_TYPE, MANUAL_SOURCE, SYSTEM_SOURCE } from '../scoring/pipeline.js'
import { loadState } from '../scoring/stored-state.js'
import { decodeKeys } from '../../lib/keys.js'
import { foldActivity, type ActivityState } from './activity.js'
import { normalizeValue, type FeatureInput } from './features.js'
import { unitHash } from './rng.js'
import { unpackProperties } from '../events/stored-properties.js'

const DAY = 86_400_000

/**
 * What counts as a conversion.
 * - `event`: an event of one of `eventTypes` within `horizonDays` after the prediction point (timed; the default,
 *   a `purchase` within 30 days).
 * - `status`: the lead's status is one of `values` (a recorded outcome: the status has no time, so the lead's last
 *   event at or before the cutoff is the prediction point).
 * - `attribute`: the lead attribute `name` has one of `values` (recorded, like `status`; for imported histories
 *   whose outcome is a column). The attribute itself is never a feature.
 */
export type OutcomeDefinition =
  | { kind: 'event'; eventTypes: string[]; horizonDays: number }
  | { kind: 'status'; values: string[] }
  | { kind: 'attribute'; name: string; values: Array<string | number | boolean> }

export const DEFAULT_OUTCOME: OutcomeDefinition = { kind: 'event', eventTypes: ['purchase'], horizonDays: 30 }

/** One event of a lead's timeline, as training and serving see it. */
export interface TimelineEvent {
  id: string
  ord: string
  seq: number
  /** Type after the ruleset's aliases. */
  type: string
  rawType: string
  at: number
  properties: Readonly<Record<string, unknown>>
  profileAttributes: Readonly<Record<string, unknown>> | null
  /** Manual score adjustments and decay ticks are not lead activity. */
  manual: boolean
}

export interface TimelineLead { id: string; status: string; attributes: Readonly<Record<string, unknown>>; sources: readonly string[] }
export interface LedgerPoint { ord: string; scores: { engagement: number; fit: number; intent: number } }

export interface Example {
  leadId: string
  /** The prediction point: the event whose aftermath the features describe. */
  eventId: string
  at: number
  input: FeatureInput
  label: 0 | 1
}

export type ExclusionReason = 'no-prediction-point' | 'converted-before-window' | 'censored'

export interface DatasetOptions {
  outcome: OutcomeDefinition
  /** The cutoff: data after it does not exist for this training. */
  asOf: number
  /** Prediction points earlier than this are not used. */
  from?: number | null
}

function isOutcomeEvent (def: OutcomeDefinition, e: TimelineEvent): boolean {
  return def.kind === 'event' && (def.eventTypes.includes(e.type) || def.eventTypes.includes(e.rawType))
}

function matchesValue (values: ReadonlyArray<string | number | boolean>, v: unknown): boolean {
  const s = normalizeValue(v, new Set())
  if (s === null) return false
  const str = String(s).toLowerCase()
  return values.some((x) => String(x).toLowerCase() === str)
}

/** The attributes a lead had right after `upTo` (inclusive, canonical order); attributes no event set count as always known. */
export function attributesAt (lead: TimelineLead, events: readonly TimelineEvent[], upTo: string): Record<string, unknown> {
  const timed = new Set<string>()
  for (const e of events) for (const k of Object.keys(e.profileAttributes ?? {})) timed.add(k)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(lead.attributes)) if (!timed.has(k)) out[k] = v
  for (const e of events) {
    if (e.ord > upTo) break
    if (e.profileAttributes !== null) Object.assign(out, e.profileAttributes)
  }
  return out
}

/** The engagement aggregates right after `upTo` (inclusive). */
export function activityAt (events: readonly TimelineEvent[], upTo: string): ActivityState | null {
  let a: ActivityState | null = null
  for (const e of events) {
    if (e.ord > upTo) break
    if (!e.manual) a = foldActivity(a, e.type, e.at, e.properties)
  }
  return a
}

function scoresAt (ledger: readonly LedgerPoint[], upTo: string): LedgerPoint['scores'] {
  let lo = 0
  let hi = ledger.length
  while (lo < hi) { const mid = (lo + hi) >>> 1; if (ledger[mid]!.ord <= upTo) lo = mid + 1; else hi = mid }
  return lo === 0 ? { engagement: 0, fit: 0, intent: 0 } : ledger[lo - 1]!.scores
}

/**
 * The training example of one lead, or why it has none. `events` and `ledger` must be in canonical order.
 * For event outcomes the prediction point is the lead's last event that is before its first conversion and at
 * least `horizonDays` before the cutoff (so the label is fully observed); the label is whether a conversion
 * followed within the horizon. For recorded outcomes it is the last event at or before the cutoff.
 */
export function exampleOf (lead: TimelineLead, allEvents: readonly TimelineEvent[], ledger: readonly LedgerPoint[], opts: DatasetOptions): Example | ExclusionReason {
  const def = opts.outcome
  const events = allEvents.filter((e) => e.at <= opts.asOf)
  const from = opts.from ?? -Infinity
  let point: TimelineEvent | undefined
  let label: 0 | 1
  if (def.kind === 'event') {
    const horizon = def.horizonDays * DAY
    const conversion = events.find((e) => isOutcomeEvent(def, e))
    let any = false
    for (const e of events) {
      if (e.manual || isOutcomeEvent(def, e) || e.at < from) continue
      if (conversion !== undefined && e.ord >= conversion.ord) break
      any = true
      if (e.at <= opts.asOf - horizon) point = e
    }
    if (point === undefined) {
      if (conversion !== undefined && !any) return 'converted-before-window'
      return any ? 'censored' : 'no-prediction-point'
    }
    label = conversion !== undefined && conversion.at - point.at <= horizon ? 1 : 0
  } else {
    for (const e of events) if (!e.manual && e.at >= from) point = e
    if (point === undefined) return 'no-prediction-point'
    if (def.kind === 'status') label = matchesValue(def.values, lead.status) ? 1 : 0
    else label = matchesValue(def.values, attributesAt(lead, events, events[events.length - 1]?.ord ?? '')[def.name]) ? 1 : 0
  }
  const attributes = attributesAt(lead, events, point.ord)
  if (def.kind === 'attribute') delete attributes[def.name]
  return {
    leadId: lead.id,
    eventId: point.id,
    at: point.at,
    label,
    input: { attributes, activity: activityAt(events, point.ord), scores: scoresAt(ledger, point.ord), at: point.at },
  }
}

export interface DatasetStats {
  leads: number
  examples: number
  positives: number
  excluded: Record<ExclusionReason, number>
}

export interface LoadOptions extends DatasetOptions {
  settings: RulesetSettings
  /** At most this many leads (a deterministic sample by lead id when there are more). */
  maxLeads: number
  onProgress?: (phase: string) => Promise<void>
}

/** Reads leads, their events and their ledger from the database and builds one example per eligible lead. */
export async function loadDataset (c: Collections, opts: LoadOptions): Promise<{ examples: Example[]; stats: DatasetStats }> {
  const total = await c.leads.countDocuments({})
  const share = total > opts.maxLeads ? opts.maxLeads / total : 1
  const leads = new Map<string, TimelineLead>()
  for await (const l of c.leads.find({}, { projection: { _id: 1, status: 1, attributes: 1, sources: 1 } })) {
    if (share < 1 && unitHash(`sample:${l._id}`) >= share) continue
    leads.set(l._id, { id: l._id, status: l.status, attributes: decodeKeys(l.attributes ?? {}), sources: l.sources ?? [] })
  }
  await opts.onProgress?.('reading events')
  const events = new Map<string, TimelineEvent[]>()
  const cursor = c.events.find({ occurredAt: { $lte: new Date(opts.asOf) } }, {
    projection: { _id: 1, leadId: 1, seq: 1, ord: 1, type: 1, sourceId: 1, occurredAt: 1, properties: 1, 'leadProfile.attributes': 1 },
  })
  for await (const e of cursor) {
    if (!leads.has(e.leadId)) continue
    const mapped = mapEventType(e.type, opts.settings)
    const list = events.get(e.leadId) ?? []
    list.push({
      id: e._id, ord: e.ord, seq: e.seq, type: mapped.type, rawType: e.type, at: e.occurredAt.getTime(),
      properties: decodeKeys(unpackProperties(e.properties)),
      profileAttributes: e.leadProfile?.attributes != null ? decodeKeys(unpackProperties(e.leadProfile.attributes)) : null,
      manual: (e.sourceId === MANUAL_SOURCE && e.type === ADJUSTMENT_TYPE) || (e.sourceId === SYSTEM_SOURCE && e.type === DECAY_TICK_TYPE),
    })
    events.set(e.leadId, list)
  }
  await opts.onProgress?.('reading the ledger')
  const ledger = new Map<string, LedgerPoint[]>()
  for await (const h of c.scoreHistory.find({ committed: true, superseded: false }, { projection: { leadId: 1, ord: 1, after: 1 } })) {
    if (!leads.has(h.leadId)) continue
    const list = ledger.get(h.leadId) ?? []
    list.push({ ord: h.ord, scores: { engagement: h.after.engagement, fit: h.after.fit, intent: h.after.intent } })
    ledger.set(h.leadId, list)
  }
  const byOrd = <T extends { ord: string }>(a: T, b: T): number => a.ord < b.ord ? -1 : a.ord > b.ord ? 1 : 0
  const examples: Example[] = []
  const stats: DatasetStats = { leads: leads.size, examples: 0, positives: 0, excluded: { 'no-prediction-point': 0, 'converted-before-window': 0, censored: 0 } }
  for (const id of [...leads.keys()].sort()) {
    const ex = exampleOf(leads.get(id)!, (events.get(id) ?? []).sort(byOrd), (ledger.get(id) ?? []).sort(byOrd), opts)
    if (typeof ex === 'string') { stats.excluded[ex]++; continue }
    examples.push(ex)
    stats.positives += ex.label
  }
  stats.examples = examples.length
  return { examples, stats }
}

/** The features a lead has now (after its last scored event), as the serving path computes them. */
export function currentInput (lead: Pick<LeadDoc, 'attributes' | 'state' | 'scores' | 'lastEventAt'>, now: number): FeatureInput {
  return {
    attributes: decodeKeys(lead.attributes ?? {}),
    activity: lead.state != null ? loadState(lead.state).activity ?? null : null,
    scores: { engagement: lead.scores?.engagement ?? 0, fit: lead.scores?.fit ?? 0, intent: lead.scores?.intent ?? 0 },
    at: lead.lastEventAt?.getTime() ?? now,
  }
}
