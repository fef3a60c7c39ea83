import type { FindCursor } from 'mongodb'
import type { Collections } from '../../infra/db.js'
import type { EventDoc, LedgerDoc, LeadDoc } from '../types.js'
import type { LeadFilterQueryT } from '../../schemas/leads.js'
import { leadFilter } from '../leads/lead-filter.js'
import { ledgerRangeOf } from '../ids.js'
import { intentLabelOfRule, reasonsOfNote } from '../intent/plugin.js'
import { decodeKeys } from '../../lib/keys.js'
import { createEventStatus } from '../events/event-status.js'
import { unpackProperties } from '../events/stored-properties.js'

/** One row of the buying-intent view: rule layer = fit, AI layer = intent, label = stage. */
export interface IntentRow {
  id: string
  email: string | null
  externalId: string | null
  name: string | null
  company: string | null
  role: unknown
  industry: unknown
  location: unknown
  rulePoints: number
  aiPoints: number
  score: number
  label: string
  aiIntent: string | null
  aiReasons: string | null
  provider: unknown
  model: unknown
  offerVersion: unknown
  classifiedAt: string | null
}

/** What the exports stream: every matching document, read as it is written out (never all in memory). */
export interface ExportsService {
  /** Leads matching the lead list's filters, highest score first. */
  leads (q: LeadFilterQueryT): AsyncIterable<LeadDoc>
  /** The buying-intent view of the leads matching the lead list's filters, highest score first. */
  intent (q: LeadFilterQueryT): AsyncIterable<IntentRow>
  /** Events, by lead and then in the lead's order. */
  events (q: { leadId?: string | undefined; type?: string | undefined }): AsyncIterable<EventDoc>
  /** Committed ledger entries (superseded ones only when asked for), by lead and then in canonical order. */
  history (q: { leadId?: string | undefined; includeSuperseded?: boolean | undefined }): AsyncIterable<LedgerDoc>
}

interface IntentEntry { label: string; reasons: string | null; event: EventDoc | null }

/** Takes the core itself, or anything with its collections. */
export function createExportsService (deps: { c: Pick<Collections, 'leads' | 'events' | 'scoreHistory' | 'locks'> }): ExportsService {
  const { c } = deps
  const statuses = createEventStatus(deps)
  const leadCursor = (q: LeadFilterQueryT): FindCursor<LeadDoc> => c.leads.find(leadFilter(q)).sort({ score: -1, _id: 1 })

  /**
   * The lead's latest classification as scoring kept it: of its committed, current ledger entries, the last in
   * canonical order (`ord`) with a reason of the AI intent plugin (`ai_intent.<label>`), whose `set intent` is the one
   * that holds. The label and the model's reasons come from that reason; provider, model and offer version from the
   * event the entry scored, read by `_id`.
   */
  async function latestIntentEntry (lead: LeadDoc): Promise<IntentEntry | null> {
    let best: { ord: string; eventId: string | null; label: string; note: string } | null = null
    // by `_id` range when every entry of the lead is keyed under it (the embedded FerretDB scans for anything else)
    const filter = lead.ledgerKeyed === true ? ledgerRangeOf(lead._id) : { leadId: lead._id }
    const cursor = c.scoreHistory.find(filter as never).project<Pick<LedgerDoc, 'ord' | 'eventId' | 'reasons' | 'committed' | 'superseded'>>({ ord: 1, eventId: 1, reasons: 1, committed: 1, superseded: 1 })
    for await (const e of cursor) {
      if (!e.committed || e.superseded || (best !== null && e.ord <= best.ord)) continue
      const r = [...(e.reasons ?? [])].reverse().find((x) => intentLabelOfRule(x.ruleId) !== null)
      if (r !== undefined) best = { ord: e.ord, eventId: e.eventId, label: intentLabelOfRule(r.ruleId)!, note: r.note }
    }
    if (best === null) return null
    const event = best.eventId === null ? null : await c.events.findOne({ _id: best.eventId }, { projection: { occurredAt: 1, properties: 1 } })
    return { label: best.label, reasons: reasonsOfNote(best.note), event }
  }

  return {
    leads: leadCursor,
    async * intent (q) {
      for await (const l of leadCursor(q)) {
        const e = await latestIntentEntry(l)
        const p = e === null || e.event === null ? {} : decodeKeys(unpackProperties(e.event.properties))
        const a = decodeKeys(l.attributes ?? {}) as Record<string, unknown>
        yield {
          id: l._id, email: l.email ?? null, externalId: l.externalId ?? null, name: l.name ?? null, company: l.company ?? null,
          role: a.role ?? null, industry: a.industry ?? null, location: a.location ?? null,
          rulePoints: l.scores?.fit ?? 0, aiPoints: l.scores?.intent ?? 0, score: l.score, label: l.stage ?? '',
          aiIntent: e?.label ?? null, aiReasons: e?.reasons ?? null,
          provider: p.provider ?? null, model: p.model ?? null, offerVersion: p.offerVersion ?? null, classifiedAt: e?.event?.occurredAt.toISOString() ?? null,
        }
      }
    },
    events ({ leadId, type }) {
      const f: Record<string, unknown> = {}
      if (leadId !== undefined) f.leadId = leadId
      if (type !== undefined) f.type = type
      return statuses.resolveStream(c.events.find(f).sort({ leadId: 1, seq: 1 }))
    },
    history ({ leadId, includeSuperseded }) {
      const f: Record<string, unknown> = { committed: true }
      if (leadId !== undefined) f.leadId = leadId
      if (includeSuperseded !== true) f.superseded = false
      return c.scoreHistory.find(f).sort({ leadId: 1, ord: 1 })
    },
  }
}
