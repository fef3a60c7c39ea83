import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { problemResponses } from '../schemas/common.js'
import { SuppressionEntry, SuppressionLift } from '../schemas/privacy.js'
import { LS_ERR_SUPPRESSION_NOT_FOUND, LS_ERR_VALIDATION } from '../errors.js'
import { keyOfIdentity, suppressionIdOf, type SuppressionDoc } from '../domain/privacy/suppression.js'

const entryOut = (d: SuppressionDoc) => ({ id: d._id, kind: d.kind, leadId: d.leadId, at: d.at.toISOString(), by: d.by })

/** The suppression list of erased identities (docs/privacy.md): read and lifted by admins. */
const privacyRoutes: FastifyPluginAsyncTypebox = async function privacyRoutes (app) {
  const { core } = app
  const audit = core.audit

  async function lift (id: string, actor: string): Promise<void> {
    if (!await core.suppressions.lift(id)) throw new LS_ERR_SUPPRESSION_NOT_FOUND(id)
    await audit.record(actor, 'suppression.lift', id)
  }

  app.get('/v1/suppressions', {
    config: { scope: 'admin' },
    schema: {
      tags: ['privacy'], summary: 'The suppression list: hashed identities of erased leads, newest first',
      description: 'Events for a listed identity are refused (`LS_ERR_LEAD_SUPPRESSED`). The list is read whole (it grows with erasures only).',
      querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 1000, default: 200 }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ items: Type.Array(SuppressionEntry) }), ...problemResponses },
    },
  }, async (req) => ({ items: (await core.suppressions.list(req.query.limit ?? 200)).map(entryOut) }))

  app.delete('/v1/suppressions/:id', {
    config: { scope: 'admin' },
    schema: {
      tags: ['privacy'], summary: 'Lift one suppression entry by its hash: the identity may be ingested again. Audited',
      params: Type.Object({ id: Type.String({ pattern: '^sp_[0-9a-f]{64}$' }) }),
      response: { 204: Type.Null(), ...problemResponses },
    },
  }, async (req, reply) => {
    await lift(req.params.id, req.principal!.name)
    return reply.code(204).send(null)
  })

  app.post('/v1/suppressions/lift', {
    config: { scope: 'admin' },
    schema: {
      tags: ['privacy'], summary: 'Lift the suppression of an email or external id (hashed here; sent in the body so it stays out of URLs and logs). Audited',
      body: SuppressionLift,
      response: { 200: Type.Object({ id: Type.String() }), ...problemResponses },
    },
  }, async (req) => {
    const key = keyOfIdentity(req.body as { email?: string; externalId?: string })
    if (key === null) throw new LS_ERR_VALIDATION('give a valid email or a non-empty externalId')
    const id = suppressionIdOf(key)
    await lift(id, req.principal!.name)
    return { id }
  })
}

export default privacyRoutes
