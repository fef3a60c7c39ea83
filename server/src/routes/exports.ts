import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { Readable } from 'node:stream'
import { problemResponses } from '../schemas/common.js'
import { LeadFilterQuery } from './leads.js'
import { leadOut, eventOut, ledgerOut } from './serialize.js'
import { csvRow } from '../lib/csv.js'
import { createExportsService } from '../domain/exports/service.js'

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

const exportsRoutes: FastifyPluginAsyncTypebox = async function exportsRoutes (app) {
  const exported = createExportsService(app.core)
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
    return send(reply, 'leads', req.query.format ?? 'csv', render(exported.leads(req.query), req.query.format ?? 'csv', LEAD_COLUMNS, (l) => {
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
    const format = req.query.format ?? 'csv'
    return send(reply, 'intent', format, render(exported.intent(req.query), format, INTENT_COLUMNS, (r) => ({ ...r })))
  })

  app.get('/v1/exports/events', {
    config: { scope: 'read' },
    schema: { tags: ['exports'], summary: 'Stream events as CSV or NDJSON', produces: ['text/csv', 'application/x-ndjson'], querystring: Type.Object({ format: Format, leadId: Type.Optional(Type.String({ maxLength: 100 })), type: Type.Optional(Type.String({ maxLength: 100 })) }, { additionalProperties: false }), response: { 200: Streamed, ...problemResponses } },
  }, async (req, reply) => {
    const rows = exported.events({ leadId: req.query.leadId, type: req.query.type })
    return send(reply, 'events', req.query.format ?? 'csv', render(rows, req.query.format ?? 'csv', EVENT_COLUMNS, (e) => eventOut(e)))
  })

  app.get('/v1/exports/history', {
    config: { scope: 'read' },
    schema: { tags: ['exports'], summary: 'Stream the score ledger as CSV or NDJSON', produces: ['text/csv', 'application/x-ndjson'], querystring: Type.Object({ format: Format, leadId: Type.Optional(Type.String({ maxLength: 100 })), includeSuperseded: Type.Boolean({ default: false }) }, { additionalProperties: false }), response: { 200: Streamed, ...problemResponses } },
  }, async (req, reply) => {
    const rows = exported.history({ leadId: req.query.leadId, includeSuperseded: req.query.includeSuperseded })
    return send(reply, 'history', req.query.format ?? 'csv', render(rows, req.query.format ?? 'csv', HISTORY_COLUMNS, (h) => ledgerOut(h)))
  })
}

export default exportsRoutes
