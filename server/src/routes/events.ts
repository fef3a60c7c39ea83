import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { problemResponses, Page, IdParams } from '../schemas/common.js'
import { Reject } from '../schemas/events.js'
import { LS_ERR_BATCH_TOO_LARGE, LS_ERR_BODY_TOO_LARGE, LS_ERR_EVENT_NOT_FOUND, LS_ERR_IDEMPOTENCY_KEY_INVALID } from '../errors.js'
import { sha256 } from '../lib/ids.js'
import { eventOut } from './serialize.js'
import type { IngestSummary } from '../domain/events/ingest.js'
import { createEventReads } from '../domain/events/event-reads.js'
import { TypeCompiler } from '@sinclair/typebox/compiler'

export const REST_SOURCE = 'api'

const EventsBody = Type.Union([
  Type.Ref('EventInput'),
  Type.Object({ events: Type.Array(Type.Ref('EventInput'), { maxItems: 1000 }) }, { additionalProperties: false }),
], {
  description: 'One event, or { "events": [...] } with up to 1,000. The envelope is checked as a whole: a batch is an object ' +
    'with an events array and nothing else (else 400 LS_ERR_VALIDATION; more than 1,000 events: 400 LS_ERR_BATCH_TOO_LARGE). ' +
    'Each event is then checked on its own: an invalid one is a stored reject with its reason, counted in the 202 answer, ' +
    'and does not fail its siblings. A single event that is invalid (or not an object) is answered 400/413 with its problem, ' +
    'and its reject is stored all the same. See docs/architecture.md, section 1.',
})

/**
 * What is checked of a batch request as a whole, before its events are ingested one by one. Only the envelope: an
 * event's own shape is checked by ingest, which stores a bad one as a reject with its reason instead of refusing the
 * batch (a batch of 999 good events and one bad one stores the 999). A body that is not a batch is one event, checked
 * the same way.
 */
export const BatchEnvelope = Type.Object({ events: Type.Array(Type.Unknown()) }, { additionalProperties: false })
const batchCheck = TypeCompiler.Compile(BatchEnvelope)
// as the app's validator answers (LS_ERR_VALIDATION with a pointer per error), without its copy of the body: a batch
// may be megabytes, and nothing here has defaults to fill in
function checkEnvelope (data: unknown): { value: unknown } | { error: Error } {
  if (batchCheck.Check(data)) return { value: data }
  const validation = [...batchCheck.Errors(data)].slice(0, 20).map((e) => ({ instancePath: e.path, message: e.message, params: {} }))
  return { error: Object.assign(new Error(validation.map((e) => `${e.instancePath} ${e.message}`).join('; ')), { validation, validationContext: 'body' }) }
}
const isBatch = (body: unknown): body is { events: unknown[] } => body !== null && typeof body === 'object' && !Array.isArray(body) && 'events' in body

const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/

const eventsRoutes: FastifyPluginAsyncTypebox = async function eventsRoutes (app) {
  const { core } = app
  const reads = createEventReads(core)
  const limits = core.config.limits

  app.post('/v1/events', {
    config: { scope: 'ingest' },
    bodyLimit: limits.eventsBodyLimit,
    // the envelope is validated here, each event by the ingest service, so a bad event is a stored reject, not a lost
    // batch; the idempotency key is checked by the handler (its own problem code)
    validatorCompiler: ({ httpPart }) => (data: unknown) => httpPart === 'body' && isBatch(data) ? checkEnvelope(data) : { value: data },
    schema: {
      tags: ['events'],
      summary: 'Submit one event or a batch',
      headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ pattern: '^[\\x21-\\x7e]{1,255}$', description: '1-255 printable ASCII characters; a repeat with the same body replays the first answer' })) }),
      body: EventsBody,
      response: { 200: Type.Ref('IngestResult'), 202: Type.Ref('IngestResult'), 409: Type.Ref('ProblemDetails'), 413: Type.Ref('ProblemDetails'), 415: Type.Ref('ProblemDetails'), 422: Type.Ref('ProblemDetails'), ...problemResponses },
    },
  }, async (req, reply) => {
    const body = req.body as unknown
    const batch = isBatch(body)
    let items: unknown[]
    if (batch) {
      if (body.events.length > limits.maxBatchEvents) throw new LS_ERR_BATCH_TOO_LARGE(limits.maxBatchEvents, body.events.length)
      items = body.events
    } else {
      if (req.rawBody !== undefined && req.rawBody.length > limits.maxEventBytes) throw new LS_ERR_BODY_TOO_LARGE(limits.maxEventBytes)
      items = [body]
    }

    const keyHeader = req.headers['idempotency-key']
    let claimId: string | null = null
    if (keyHeader !== undefined) {
      if (typeof keyHeader !== 'string' || !IDEMPOTENCY_KEY_RE.test(keyHeader)) throw new LS_ERR_IDEMPOTENCY_KEY_INVALID()
      const claim = await core.idempotency.claim(`${req.principal!.keyId}:events`, keyHeader, sha256(req.rawBody ?? JSON.stringify(body)))
      if (claim.kind === 'replay') {
        return reply.code(claim.statusCode as 202).header('idempotent-replayed', 'true').type('application/json; charset=utf-8').send(claim.body)
      }
      claimId = claim.id
    }
    let summary: IngestSummary
    try {
      summary = await core.ingest.submit(items, { sourceId: REST_SOURCE, requestId: String(req.id) })
    } catch (err) {
      if (claimId !== null) await core.idempotency.abandon(claimId)
      throw err
    }
    core.metrics.ingestEvents.inc(summary.accepted, { source: REST_SOURCE, outcome: 'accepted' })
    core.metrics.ingestEvents.inc(summary.duplicates, { source: REST_SOURCE, outcome: 'duplicate' })
    core.metrics.ingestEvents.inc(summary.rejected, { source: REST_SOURCE, outcome: 'rejected' })
    if (!batch && summary.rejected === 1) {
      // a single invalid event is answered as a problem (the reject is stored all the same)
      const r = summary.results[0]!
      const status = r.error?.code === 'LS_ERR_EVENT_TOO_LARGE' ? 413 : 400
      const errors = [{ pointer: r.error?.pointer ?? '#', detail: r.error?.message ?? 'invalid' }]
      const problem = { code: r.error?.code ?? 'LS_ERR_EVENT_INVALID', detail: r.error?.message ?? 'invalid', errors }
      if (claimId !== null) await core.idempotency.abandon(claimId)
      return reply.code(status).type('application/problem+json; charset=utf-8').send({
        type: `${core.config.problemBaseUrl}/${problem.code.replace(/^LS_ERR_/, '').toLowerCase().replaceAll('_', '-')}`,
        title: 'The event was rejected', status, detail: problem.detail, instance: req.url, code: problem.code, requestId: String(req.id),
        errors, submitted: 1, accepted: 0, duplicates: 0, rejected: 1,
      })
    }
    const text = JSON.stringify(summary)
    if (claimId !== null) await core.idempotency.complete(claimId, 202, text)
    return reply.code(202).type('application/json; charset=utf-8').send(text)
  })

  const ListQuery = Type.Object({
    status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('scored'), Type.Literal('unmapped')])),
    type: Type.Optional(Type.String({ maxLength: 100 })),
    sourceId: Type.Optional(Type.String({ maxLength: 100 })),
    leadId: Type.Optional(Type.String({ maxLength: 100 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 500 })),
  }, { additionalProperties: false })

  app.get('/v1/events', {
    config: { scope: 'read' },
    schema: {
      tags: ['events'], summary: 'List events (newest received first); status=unmapped lists events no rule handles',
      description: 'With `status=pending` or `status=scored`, a request reads at most 5,000 stored events: a page can come back short (even empty) with a `nextCursor`, which goes on from there.',
      querystring: ListQuery, response: { 200: Page(Type.Ref('Event')), ...problemResponses },
    },
  }, async (req) => {
    // the validator fills in the default limit; optional so that leaving it out is documented
    const page = await reads.list({ ...req.query, limit: req.query.limit ?? 50 })
    return { items: page.items.map(eventOut), nextCursor: page.nextCursor }
  })

  app.get('/v1/events/:id', {
    config: { scope: 'read' },
    schema: { tags: ['events'], summary: 'One stored event, properties exactly as submitted', params: IdParams, response: { 200: Type.Ref('Event'), ...problemResponses } },
  }, async (req) => {
    const e = await reads.get(req.params.id)
    if (e === null) throw new LS_ERR_EVENT_NOT_FOUND(req.params.id)
    return eventOut(e)
  })

  app.get('/v1/rejects', {
    config: { scope: 'read' },
    schema: {
      tags: ['events'], summary: 'Rejected events with their reasons (newest first)',
      querystring: Type.Object({ requestId: Type.Optional(Type.String({ maxLength: 100 })), sourceId: Type.Optional(Type.String({ maxLength: 100 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })), cursor: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }),
      response: { 200: Page(Reject), ...problemResponses },
    },
  }, async (req) => {
    const page = await reads.rejects({ ...req.query, limit: req.query.limit ?? 50 })
    return {
      items: page.items.map((d) => ({ id: d._id, sourceId: d.sourceId, requestId: d.requestId, index: d.index, code: d.code, reason: d.reason, raw: d.raw, rawTruncated: d.rawTruncated, receivedAt: d.receivedAt.toISOString() })),
      nextCursor: page.nextCursor,
    }
  })
}

export default eventsRoutes
