import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { Readable } from 'node:stream'
import { problemResponses } from '../schemas/common.js'
import { LeadFilterQuery, leadFilter } from './leads.js'
import { leadOut, eventOut, ledgerOut } from './serialize.js'
import { csvRow } from '../lib/csv.js'
import { decodeKeys } from '../lib/keys.js'
import type { Collection } from 'mongodb'
import { ledgerRangeOf } from '../domain/ids.js'
import { intentLabelOfRule, reasonsOfNote } from '../domain/intent/plugin.js'
import type { EventDoc, LedgerDoc, LeadDoc } from '../domain/types.js'

const Format = Type.Union([Type.Literal('csv'), Type.Literal('ndjson')], { default: 'csv' })
// the body is a stream in the format asked for; documented so that a 200 is a documented answer
const Streamed = Type.String({ description: 'The rows, as CSV (with a header row) or NDJSON (one object a line), streamed' })

async function * render<T> (rows: AsyncIterable<T>, format: 'csv' | 'ndjson', columns: string[], pick: (r: T) => Record<string, unknown>): AsyncGenerator<string> {
  if (format === 'csv') yield csvRow(columns)
  for await (const r of rows) {
    const o = pick(r)
    yield format === 'csv' ? csvRow(columns.map((c) => o[c])) : JSON.stringify(o) + '\n'
  }
}

const LEAD_COLUMNS = ['id', 'email', 'externalId', 'name', 'company', 'status', 'stage', 'grade', 'score', 'engagement', 'fit', 'intent', 'sources', 'lastEventAt', 'createdAt', 'updatedAt', 'attributes']
const EVENT_COLUMNS = ['id', 'leadId', 'sourceId', 'externalId', 'seq', 'type', 'occurredAt', 'receivedAt', 'status', 'timestampAdjusted', 'properties']
const HISTORY_COLUMNS = ['id', 'leadId', 'eventId', 'eventType', 'occurredAt', 'before', 'after', 'delta', 'rulesetVersion', 'superseded', 'reasons']
// the buying-intent view of a lead (the "Buying intent" template): rule layer = fit, AI layer = intent, label = stage
const INTENT_COLUMNS = ['id', 'email', 'externalId', 'name', 'company', 'role', 'industry', 'location', 'rulePoints', 'aiPoints', 'score', 'label', 'aiIntent', 'aiReasons', 'provider', 'model', 'offerVersion', 'classifiedAt']

interface IntentEntry { label: string; reasons: string | null; event: EventDoc | null }

/**
 * The lead's latest classification as scoring kept it: of its committed, current ledger entries, the last in
 * canonical order (`ord`) with a reason of the AI intent plugin (`ai_intent.<label>`), whose `set intent` is the one
 * that holds. The label and the model's reasons come from that reason; provider, model and offer version from the
 * event the entry scored, read by `_id`.
 */
async function latestIntentEntry (c: { scoreHistory: Collection<LedgerDoc>; events: Collection<EventDoc> }, lead: LeadDoc): Promise<IntentEntry | null> {
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

async function * intentRows (leads: AsyncIterable<LeadDoc>, c: { scoreHistory: Collection<LedgerDoc>; events: Collection<EventDoc> }): AsyncGenerator<Record<string, unknown>> {
  for await (const l of leads) {
    const e = await latestIntentEntry(c, l)
    const p = e === null || e.event === null ? {} : decodeKeys(e.event.properties ?? {}) as Record<string, unknown>
    const a = decodeKeys(l.attributes ?? {}) as Record<string, unknown>
    yield {
      id: l._id, email: l.email ?? null, externalId: l.externalId ?? null, name: l.name ?? null, company: l.company ?? null,
      role: a.role ?? null, industry: a.industry ?? null, location: a.location ?? null,
      rulePoints: l.scores?.fit ?? 0, aiPoints: l.scores?.intent ?? 0, score: l.score, label: l.stage ?? '',
      aiIntent: e?.label ?? null, aiReasons: e?.reasons ?? null,
      provider: p.provider ?? null, model: p.model ?? null, offerVersion: p.offerVersion ?? null, classifiedAt: e?.event?.occurredAt.toISOString() ?? null,
    }
  }
}

const exportsRoutes: FastifyPluginAsyncTypebox = async function exportsRoutes (app) {
  const { c } = app.core
  const send = (reply: import('fastify').FastifyReply, name: string, format: 'csv' | 'ndjson', body: AsyncGenerator<string>) => {
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')
    return reply
      .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
      .header('content-disposition', `attachment; filename="${name}-${stamp}.${format}"`)
      .send(Readable.from(body))
  }

  app.get('/v1/exports/leads', {
    config: { scope: 'read' },
    schema: { tags: ['exports'], summary: 'Stream leads as CSV or NDJSON (same filters as the lead list)', produces: ['text/csv', 'application/x-ndjson'], querystring: Type.Composite([LeadFilterQuery, Type.Object({ format: Format })], { additionalProperties: false }), response: { 200: Streamed, ...problemResponses } },
  }, async (req, reply) => {
    const cursor = c.leads.find(leadFilter(req.query)).sort({ score: -1, _id: 1 })
    return send(reply, 'leads', req.query.format ?? 'csv', render(cursor, req.query.format ?? 'csv', LEAD_COLUMNS, (l) => {
      const o = leadOut(l)
      return { ...o, engagement: o.scores.engagement, fit: o.scores.fit, intent: o.scores.intent, sources: o.sources.join(' ') }
    }))
  })

  app.get('/v1/exports/intent', {
    config: { scope: 'read' },
    schema: {
      tags: ['exports'],
      summary: 'Stream the buying-intent view of leads (same filters as the lead list): rule points (fit), AI points (intent), final score, label (stage), and the AI classification that scored (the latest ledger entry of the AI intent plugin) with the model\'s reasons from that entry, provider and model',
      produces: ['text/csv', 'application/x-ndjson'], querystring: Type.Composite([LeadFilterQuery, Type.Object({ format: Format })], { additionalProperties: false }),
      response: { 200: Streamed, ...problemResponses },
    },
  }, async (req, reply) => {
    const cursor = c.leads.find(leadFilter(req.query)).sort({ score: -1, _id: 1 })
    const format = req.query.format ?? 'csv'
    return send(reply, 'intent', format, render(intentRows(cursor, c), format, INTENT_COLUMNS, (r) => r))
  })

  app.get('/v1/exports/events', {
    config: { scope: 'read' },
    schema: { tags: ['exports'], summary: 'Stream events as CSV or NDJSON', produces: ['text/csv', 'application/x-ndjson'], querystring: Type.Object({ format: Format, leadId: Type.Optional(Type.String({ maxLength: 100 })), type: Type.Optional(Type.String({ maxLength: 100 })) }, { additionalProperties: false }), response: { 200: Streamed, ...problemResponses } },
  }, async (req, reply) => {
    const f: Record<string, unknown> = {}
    if (req.query.leadId !== undefined) f.leadId = req.query.leadId
    if (req.query.type !== undefined) f.type = req.query.type
    const cursor = c.events.find(f).sort({ leadId: 1, seq: 1 })
    return send(reply, 'events', req.query.format ?? 'csv', render(cursor, req.query.format ?? 'csv', EVENT_COLUMNS, (e) => eventOut(e)))
  })

  app.get('/v1/exports/history', {
    config: { scope: 'read' },
    schema: { tags: ['exports'], summary: 'Stream the score ledger as CSV or NDJSON', produces: ['text/csv', 'application/x-ndjson'], querystring: Type.Object({ format: Format, leadId: Type.Optional(Type.String({ maxLength: 100 })), includeSuperseded: Type.Boolean({ default: false }) }, { additionalProperties: false }), response: { 200: Streamed, ...problemResponses } },
  }, async (req, reply) => {
    const f: Record<string, unknown> = { committed: true }
    if (req.query.leadId !== undefined) f.leadId = req.query.leadId
    if (req.query.includeSuperseded !== true) f.superseded = false
    const cursor = c.scoreHistory.find(f).sort({ leadId: 1, ord: 1 })
    return send(reply, 'history', req.query.format ?? 'csv', render(cursor, req.query.format ?? 'csv', HISTORY_COLUMNS, (h) => ledgerOut(h)))
  })
}

export default exportsRoutes
