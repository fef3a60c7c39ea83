import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { problemResponses, IdParams } from '../schemas/common.js'
import { OfferInput, OfferList, ActivateBody, ActivateResult, Taxonomy } from '../schemas/offers.js'
import type { Offer } from '../domain/offers/types.js'
import { LS_ERR_OFFER_NOT_FOUND } from '../errors.js'

const out = (o: Offer) => ({
  id: o.id, version: o.version, name: o.name, valuePropositions: o.valuePropositions, useCases: o.useCases,
  icp: {
    industries: o.icp.industries, adjacentIndustries: o.icp.adjacentIndustries, adjacentAdditions: o.icp.adjacentAdditions ?? [],
    roles: { decisionMakers: o.icp.roles.decisionMakers, influencers: o.icp.roles.influencers }, locations: o.icp.locations ?? [],
  },
  createdAt: o.createdAt.toISOString(), createdBy: o.createdBy, active: o.active,
})

const VersionParams = Type.Object({ id: IdParams.properties.id, version: Type.Integer({ minimum: 1 }) })
const RescoreResult = Type.Object({ rescoreJobId: Type.Union([Type.String(), Type.Null()]) })

const offersRoutes: FastifyPluginAsyncTypebox = async function offersRoutes (app) {
  const { core } = app
  const audit = core.audit.record
  // changing what rules read as `offer.*` is like publishing a ruleset: existing scores change on a re-score
  const changed = async (payload: Record<string, unknown>, rescore: boolean | undefined, actor: string) => {
    await core.live.append('offer.activated', ['offers', 'rulesets'], payload)
    return rescore === true ? (await core.startRescoreAll(actor))._id : null
  }

  app.get('/v1/offers', {
    config: { scope: 'read' },
    schema: { tags: ['offers'], summary: 'Offers (latest version of each, archived ones left out) and which one is active', response: { 200: OfferList, ...problemResponses } },
  }, async () => {
    const items = await core.offers.list()
    const act = items.find((o) => o.activeVersion !== null)
    return {
      items: items.map((o) => ({ ...o, createdAt: o.createdAt.toISOString(), updatedAt: o.updatedAt.toISOString() })),
      active: act !== undefined ? { id: act.id, version: act.activeVersion! } : null,
    }
  })

  app.get('/v1/offers/taxonomy', {
    config: { scope: 'read' },
    schema: { tags: ['offers'], summary: 'The industry taxonomy: every industry and its adjacent industries', response: { 200: Taxonomy, ...problemResponses } },
  }, async () => ({ version: core.offers.taxonomy.version, industries: core.offers.taxonomy.industries.map((i) => ({ name: i.name, adjacent: [...i.adjacent] })) }))

  app.get('/v1/offers/active', {
    config: { scope: 'read' },
    schema: { tags: ['offers'], summary: 'The active offer version (what rules read as offer.*)', response: { 200: Type.Ref('Offer'), ...problemResponses } },
  }, async () => {
    const o = await core.offers.active()
    if (o === null) throw new LS_ERR_OFFER_NOT_FOUND('active')
    return out(o)
  })

  app.delete('/v1/offers/active', {
    config: { scope: 'admin' },
    schema: {
      tags: ['offers'], summary: 'Leave the workspace without an active offer (offer rules stop firing); optionally re-score every lead',
      querystring: Type.Object({ rescore: Type.Boolean({ default: false }) }, { additionalProperties: false }),
      response: { 200: RescoreResult, ...problemResponses },
    },
  }, async (req) => {
    const was = await core.offers.deactivate()
    if (!was) return { rescoreJobId: null }
    await audit(req.principal!.name, 'offer.deactivate', 'offer:active', { rescore: req.query.rescore === true })
    return { rescoreJobId: await changed({ id: null, version: 0 }, req.query.rescore, req.principal!.name) }
  })

  app.post('/v1/offers', {
    config: { scope: 'admin' },
    schema: { tags: ['offers'], summary: 'Create an offer (version 1); it is used once activated', body: OfferInput, response: { 201: Type.Ref('Offer'), ...problemResponses } },
  }, async (req, reply) => {
    const o = await core.offers.create(req.body, req.principal!.name)
    await audit(req.principal!.name, 'offer.create', `offer:${o.id}@${o.version}`, { name: o.name })
    return reply.code(201).header('location', `/v1/offers/${o.id}`).send(out(o))
  })

  app.get('/v1/offers/:id', {
    config: { scope: 'read' },
    schema: { tags: ['offers'], summary: 'The latest version of an offer', params: IdParams, response: { 200: Type.Ref('Offer'), ...problemResponses } },
  }, async (req) => {
    const o = await core.offers.get(req.params.id)
    if (o === null) throw new LS_ERR_OFFER_NOT_FOUND(req.params.id)
    return out(o)
  })

  app.put('/v1/offers/:id', {
    config: { scope: 'admin' },
    schema: {
      tags: ['offers'], summary: 'Save a new version of an offer (versions never change; activate it to use it)', params: IdParams, body: OfferInput,
      response: { 201: Type.Ref('Offer'), ...problemResponses, 409: Type.Ref('ProblemDetails') },
    },
  }, async (req, reply) => {
    const o = await core.offers.update(req.params.id, req.body, req.principal!.name)
    await audit(req.principal!.name, 'offer.version', `offer:${o.id}@${o.version}`, { name: o.name })
    return reply.code(201).header('location', `/v1/offers/${o.id}/versions/${o.version}`).send(out(o))
  })

  app.delete('/v1/offers/:id', {
    config: { scope: 'admin' },
    schema: { tags: ['offers'], summary: 'Archive an offer that is not active (its versions stay readable)', params: IdParams, response: { 204: Type.Null(), ...problemResponses, 409: Type.Ref('ProblemDetails') } },
  }, async (req, reply) => {
    await core.offers.archive(req.params.id)
    await audit(req.principal!.name, 'offer.archive', `offer:${req.params.id}`, {})
    return reply.code(204).send(null)
  })

  app.get('/v1/offers/:id/versions', {
    config: { scope: 'read' },
    schema: { tags: ['offers'], summary: 'Every version of an offer, newest first', params: IdParams, response: { 200: Type.Object({ items: Type.Array(Type.Ref('Offer')) }), ...problemResponses } },
  }, async (req) => ({ items: (await core.offers.versions(req.params.id)).map(out) }))

  app.get('/v1/offers/:id/versions/:version', {
    config: { scope: 'read' },
    schema: { tags: ['offers'], summary: 'One version of an offer', params: VersionParams, response: { 200: Type.Ref('Offer'), ...problemResponses } },
  }, async (req) => {
    const o = await core.offers.get(req.params.id, req.params.version)
    if (o === null) throw new LS_ERR_OFFER_NOT_FOUND(`${req.params.id} version ${req.params.version}`)
    return out(o)
  })

  app.post('/v1/offers/:id/activate', {
    config: { scope: 'admin' },
    schema: {
      tags: ['offers'], summary: 'Make a version of an offer the active one (default: its latest); optionally re-score every lead',
      params: IdParams, body: ActivateBody, response: { 200: ActivateResult, ...problemResponses },
    },
  }, async (req) => {
    const o = await core.offers.activate(req.params.id, req.body?.version, req.principal!.name)
    await audit(req.principal!.name, 'offer.activate', `offer:${o.id}@${o.version}`, { rescore: req.body?.rescore === true })
    return { offer: out(o), rescoreJobId: await changed({ id: o.id, version: o.version }, req.body?.rescore, req.principal!.name) }
  })
}

export default offersRoutes
