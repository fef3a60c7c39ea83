// Compares what the server stored and shows (lead, events, visible ledger) with the independent model of model.ts.
import type { Database } from '../../server/src/infra/db.js'
import type { EventDoc } from '../../server/src/domain/types.js'
import { createEventStatus } from '../../server/src/domain/events/event-status.js'
import { scoreModel, tieBreak, type GenEvent, type ModelEvent, type ModelResult } from './model.js'
import { unpackProperties } from '../../server/src/domain/events/stored-properties.js'

/* eslint-disable @typescript-eslint/no-explicit-any */
interface Tap {
  equal(...args: any[]): unknown
  same(...args: any[]): unknown
  ok(...args: any[]): unknown
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** GET a path of the API as JSON (inject or fetch, whichever the test uses). */
export type Get = (path: string) => Promise<{ status: number; body: any }> // eslint-disable-line @typescript-eslint/no-explicit-any

export const SOURCE = 'api'

export interface LeadCheck { email: string; leadId: string; model: ModelResult; events: EventDoc[] }

/**
 * For every lead of `gen`: the stored events are exactly the unique generated ones (one each, gapless seq), the lead's
 * score, parts, stage and watermark match the model, and the visible ledger is the model's walk in canonical order
 * (one entry per event, before/after/delta/stage right, deltas summing to the score).
 */
export async function verifyLeads (t: Tap, get: Get, db: Database, gen: readonly GenEvent[]): Promise<LeadCheck[]> {
  const byLead = new Map<string, GenEvent[]>()
  for (const g of gen) {
    const l = byLead.get(g.lead)
    if (l === undefined) byLead.set(g.lead, [g]); else l.push(g)
  }
  const out: LeadCheck[] = []
  for (const [email, evs] of byLead) {
    const leadDoc = await db.c.leads.findOne({ key: `email:${email}` })
    t.ok(leadDoc !== null, `lead ${email} exists`)
    if (leadDoc === null) continue
    const leadId = leadDoc._id
    const stored = await db.c.events.find({ leadId }).sort({ seq: 1 }).toArray()
    // stored events ↔ generated events, matched by the unique properties.n of each generated event
    const byN = new Map<number, EventDoc>()
    let dupN = 0
    for (const e of stored) {
      const n = (unpackProperties(e.properties) as { n?: number }).n!
      if (byN.has(n)) dupN++
      byN.set(n, e)
    }
    t.equal(stored.length, evs.length, `${email}: every unique event stored exactly once`)
    t.equal(dupN, 0, `${email}: no event stored twice`)
    t.same(stored.map((e) => e.seq), stored.map((_, i) => i + 1), `${email}: seq is gapless 1..n`)
    const modelEvents: ModelEvent[] = []
    const idByKey = new Map<string, string>()
    const idMismatch: string[] = []
    for (const g of evs) {
      const e = byN.get(g.body.properties.n as number)
      if (e === undefined) { idMismatch.push(`${g.key}: not stored`); continue }
      if (e.type !== g.body.type || e.occurredAt.toISOString() !== g.body.occurredAt) idMismatch.push(`${g.key}: stored as ${e.type} at ${e.occurredAt.toISOString()}`)
      if (g.body.externalId !== undefined ? e.externalId !== g.body.externalId : !e.externalId.startsWith('h:')) idMismatch.push(`${g.key}: externalId ${e.externalId}`)
      const ord = `${e.occurredAt.toISOString()}|${tieBreak(SOURCE, e.externalId)}`
      if (e.ord !== ord) idMismatch.push(`${g.key}: ord ${e.ord} != ${ord}`)
      idByKey.set(g.key, e._id)
      modelEvents.push({ key: g.key, type: g.body.type, occurredAt: new Date(g.body.occurredAt), sourceId: SOURCE, externalId: e.externalId })
    }
    t.same(idMismatch, [], `${email}: stored events carry the submitted content, id and canonical ord`)
    const model = scoreModel(modelEvents)

    const lead = (await get(`/v1/leads/${leadId}`)).body
    const maxSeq = stored.reduce((m, e) => Math.max(m, e.seq), 0)
    t.same(
      { score: lead.score, scores: lead.scores, stage: lead.stage, lastSeq: lead.lastSeq, nextSeq: lead.nextSeq },
      { score: model.total, scores: { engagement: model.engagement, fit: model.fit, intent: model.intent, predictive: null }, stage: model.stage, lastSeq: maxSeq, nextSeq: maxSeq },
      `${email}: score, parts, stage and watermark (lastSeq == max seq) match the model`,
    )
    // a scored event may be stored as `pending`: its status follows from its lead (events/event-status.ts)
    const shown = await createEventStatus(db).resolve(stored)
    t.equal(shown.filter((e) => e.status !== 'scored').length, 0, `${email}: every event shows as scored`)

    const hist = await get(`/v1/leads/${leadId}/history?order=asc&limit=1000`)
    t.equal(hist.status, 200)
    const items = hist.body.items as Array<{ eventId: string; before: { total: number }; after: { total: number; engagement: number }; delta: number; stage: string; superseded: boolean }>
    t.same(
      items.map((h) => ({ eventId: h.eventId, before: h.before.total, after: h.after.total, engagement: h.after.engagement, delta: h.delta, stage: h.stage, superseded: h.superseded })),
      model.entries.map((m) => ({ eventId: idByKey.get(m.key), before: m.before, after: m.after, engagement: m.after, delta: m.delta, stage: m.stage, superseded: false })),
      `${email}: the visible ledger is the model's walk in canonical order`,
    )
    const ids = items.map((h) => h.eventId)
    t.equal(new Set(ids).size, ids.length, `${email}: no event has two visible ledger entries`)
    t.equal(items.reduce((s, h) => s + h.delta, 0), lead.score, `${email}: visible deltas sum to the score`)
    out.push({ email, leadId, model, events: stored })
  }
  return out
}

/** Every ledger entry of a lead (following the cursor), oldest first. */
export async function fullHistory (get: Get, leadId: string, includeSuperseded: boolean): Promise<Array<{ id: string; eventId: string; superseded: boolean; supersededReason?: string }>> {
  const out: Array<{ id: string; eventId: string; superseded: boolean }> = []
  let cursor: string | null = null
  do {
    const q: string = `/v1/leads/${leadId}/history?order=asc&limit=1000&includeSuperseded=${String(includeSuperseded)}${cursor !== null ? `&cursor=${encodeURIComponent(cursor)}` : ''}`
    const page = (await get(q)).body as { items: Array<{ id: string; eventId: string; superseded: boolean }>; nextCursor: string | null }
    out.push(...page.items)
    cursor = page.nextCursor
  } while (cursor !== null)
  return out
}
