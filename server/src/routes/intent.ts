import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { problemResponses, IdParams } from '../schemas/common.js'
import { IntentStatus, LeadIntent } from '../schemas/intent.js'
import { LS_ERR_LEAD_NOT_FOUND } from '../errors.js'

/** The AI intent layer: its status, a lead's last classification, and asking for a new one. */
const intentRoutes: FastifyPluginAsyncTypebox = async function intentRoutes (app) {
  app.get('/v1/intent/status', {
    config: { scope: 'read' },
    schema: {
      tags: ['intent'], summary: 'The AI intent provider, its health and queue',
      description: 'Says which provider and model classify leads, and says so plainly when none is configured (the rule fallback answers then). See docs/intent.md.',
      response: { 200: IntentStatus, ...problemResponses },
    },
  }, async () => await app.intent.status())

  app.get('/v1/intent/leads/:id', {
    config: { scope: 'read' },
    schema: {
      tags: ['intent'], summary: 'A lead\'s last intent classification',
      description: 'The intent, its reasons and the provider/model that produced it, and the ledger entry that scored it (null while it is not scored, or when the published ruleset does not know intent_classified); 404 when the lead has not been classified.',
      params: IdParams,
      response: { 200: LeadIntent, ...problemResponses },
    },
  }, async (req) => {
    const s = await app.intent.latest(req.params.id)
    if (s?.result === undefined || s.offerId === undefined || s.offerVersion === undefined) throw new LS_ERR_LEAD_NOT_FOUND(req.params.id)
    const r = s.result
    return {
      leadId: s._id, intent: r.intent, reasons: r.reasons, provider: r.provider, model: r.model, fallbackReason: r.fallbackReason ?? null,
      offerId: s.offerId, offerVersion: s.offerVersion, eventId: s.eventId ?? null, at: s.at.toISOString(),
      ledger: await app.intent.scoredBy(s._id, s.eventId ?? null),
    }
  })

  app.post('/v1/intent/leads/:id/classify', {
    config: { scope: 'rules' },
    schema: {
      tags: ['intent'], summary: 'Queue a lead for a new intent classification',
      description: 'Queues the lead even when its profile did not change (for example to retry after the rule fallback answered). 202; the result arrives as an intent_classified event.',
      params: IdParams,
      response: { 202: Type.Object({ queued: Type.Boolean() }), ...problemResponses },
    },
  }, async (req, reply) => {
    if (!await app.intent.leadExists(req.params.id)) throw new LS_ERR_LEAD_NOT_FOUND(req.params.id)
    await app.intent.request(req.params.id)
    return await reply.code(202).send({ queued: true })
  })
}

export default intentRoutes
