import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { problemResponses, IdParams } from '../schemas/common.js'
import { WebhookWithSecret, WebhookCreate, WebhookUpdate, RotateSecret, WebhookTestResult } from '../schemas/webhooks.js'
import type { DeliveryDoc, WebhookDoc } from '../domain/types.js'

const iso = (d: Date | null | undefined): string | null => d == null ? null : d.toISOString()

function webhookOut (w: WebhookDoc) {
  return {
    id: w._id, url: w.url, events: w.events, stages: w.stages ?? null, grades: w.grades ?? null, description: w.description ?? null,
    status: w.status, disabledReason: w.disabledReason ?? null, disabledAt: iso(w.disabledAt),
    previousSecretExpiresAt: w.previousSecret != null ? iso(w.previousSecretExpiresAt) : null,
    createdAt: w.createdAt.toISOString(), updatedAt: w.updatedAt.toISOString(),
  }
}

function deliveryOut (d: DeliveryDoc) {
  let payload: Record<string, unknown> = {}
  try { payload = JSON.parse(d.body) as Record<string, unknown> } catch { /* stored by us; always JSON */ }
  return {
    id: d._id, webhookId: d.webhookId, notificationId: d.notificationId, type: d.type, state: d.state, attemptCount: d.attemptCount,
    attempts: d.attempts.map((a) => ({ n: a.n, at: a.at.toISOString(), durationMs: a.durationMs, statusCode: a.statusCode ?? null, error: a.error ?? null, response: a.response ?? null })),
    nextAttemptAt: iso(d.nextAttemptAt), lastStatusCode: d.lastStatusCode ?? null, lastError: d.lastError ?? null, payload,
    createdAt: d.createdAt.toISOString(), updatedAt: d.updatedAt.toISOString(), deliveredAt: iso(d.deliveredAt),
  }
}

/** Outbound webhook subscriptions (admin only): stage and grade changes signed with Standard Webhooks. */
const webhooksRoutes: FastifyPluginAsyncTypebox = async function webhooksRoutes (app) {
  const { core } = app
  const audit = core.audit.record

  app.post('/v1/webhooks', {
    config: { scope: 'admin' },
    schema: {
      tags: ['webhooks'],
      summary: 'Subscribe a receiver URL to stage/grade changes; the signing secret (whsec_…) is shown once',
      body: WebhookCreate,
      response: { 201: WebhookWithSecret, ...problemResponses },
    },
  }, async (req, reply) => {
    const doc = await core.subscriptions.create(req.body, req.principal!.name)
    await audit(req.principal!.name, 'webhook.create', doc._id, { url: doc.url, events: doc.events })
    return reply.code(201).send({ ...webhookOut(doc), secret: doc.secret })
  })

  app.get('/v1/webhooks', {
    config: { scope: 'admin' },
    schema: { tags: ['webhooks'], summary: 'Webhook subscriptions, newest first', response: { 200: Type.Object({ items: Type.Array(Type.Ref('Webhook')) }), ...problemResponses } },
  }, async () => ({ items: (await core.subscriptions.list()).map(webhookOut) }))

  app.get('/v1/webhooks/:id', {
    config: { scope: 'admin' },
    schema: { tags: ['webhooks'], summary: 'One webhook subscription', params: IdParams, response: { 200: Type.Ref('Webhook'), ...problemResponses } },
  }, async (req) => webhookOut(await core.subscriptions.get(req.params.id)))

  app.patch('/v1/webhooks/:id', {
    config: { scope: 'admin' },
    schema: { tags: ['webhooks'], summary: 'Change a subscription (URL, events, filters, description, enabled)', params: IdParams, body: WebhookUpdate, response: { 200: Type.Ref('Webhook'), ...problemResponses } },
  }, async (req) => {
    const doc = await core.subscriptions.update(req.params.id, req.body)
    await audit(req.principal!.name, 'webhook.update', doc._id, { fields: Object.keys(req.body) })
    if (req.body.enabled === true) core.dispatcher.kick()
    return webhookOut(doc)
  })

  app.delete('/v1/webhooks/:id', {
    config: { scope: 'admin' },
    schema: { tags: ['webhooks'], summary: 'Delete a subscription and its delivery log', params: IdParams, response: { 204: Type.Null(), ...problemResponses } },
  }, async (req, reply) => {
    await core.subscriptions.remove(req.params.id)
    await audit(req.principal!.name, 'webhook.delete', req.params.id)
    return reply.code(204).send(null)
  })

  app.post('/v1/webhooks/:id/rotate-secret', {
    config: { scope: 'admin' },
    schema: {
      tags: ['webhooks'],
      summary: 'Replace the signing secret (shown once); the previous one keeps signing alongside it for graceSeconds',
      params: IdParams,
      body: Type.Union([RotateSecret, Type.Null()], { description: 'Optional; without a body the grace period is one day.' }),
      response: { 200: WebhookWithSecret, ...problemResponses },
    },
  }, async (req) => {
    const grace = req.body?.graceSeconds ?? 86_400
    const doc = await core.subscriptions.rotateSecret(req.params.id, grace)
    await audit(req.principal!.name, 'webhook.rotate_secret', doc._id, { graceSeconds: grace })
    return { ...webhookOut(doc), secret: doc.secret }
  })

  app.get('/v1/webhooks/:id/deliveries', {
    config: { scope: 'admin' },
    schema: {
      tags: ['webhooks'],
      summary: 'Delivery log of a subscription, newest first: attempts, status codes, errors, next attempt',
      params: IdParams,
      querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ items: Type.Array(Type.Ref('WebhookDelivery')) }), ...problemResponses },
    },
  }, async (req) => ({ items: (await core.subscriptions.deliveries(req.params.id, req.query.limit)).map(deliveryOut) }))

  app.post('/v1/webhooks/:id/test', {
    config: { scope: 'admin' },
    schema: {
      tags: ['webhooks'],
      summary: 'Send a signed webhook.ping now and report the answer (logged as a delivery; never retried)',
      params: IdParams,
      response: { 200: WebhookTestResult, ...problemResponses },
    },
  }, async (req) => {
    const sub = await core.subscriptions.get(req.params.id)
    const { deliveryId, result } = await core.dispatcher.ping(sub)
    const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300
    return { deliveryId, ok, statusCode: result.statusCode, error: result.error, durationMs: result.durationMs }
  })
}

export default webhooksRoutes
