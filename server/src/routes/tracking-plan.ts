import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { problemResponses } from '../schemas/common.js'
import { PlanCheckBody, PlanCheckResult, PlanReplace, PlanTypeParams, PlanTypePut, PlanVersionParams, PlanVersions, PlanViolations, TrackingPlan } from '../schemas/tracking-plan.js'
import { checkAgainst, planProperties, planTypeName, type TrackingPlan as Plan } from '../domain/events/tracking-plan.js'
import { LS_ERR_VALIDATION } from '../errors.js'

const planOut = (p: Plan) => ({
  version: p.version, author: p.author, note: p.note, createdAt: p.createdAt?.toISOString() ?? null, types: p.types, properties: planProperties(p),
})

const conflict = { 409: Type.Ref('ProblemDetails') }

/** The tracking plan (docs/tracking-plans.md): read by anyone who can read, written by admins, every save audited. */
const trackingPlanRoutes: FastifyPluginAsyncTypebox = async function trackingPlanRoutes (app) {
  const { core } = app
  const audit = core.audit

  const saved = async (actor: string, action: string, p: Plan, details: Record<string, unknown>) => {
    await audit.record(actor, action, `tracking-plan:${p.version}`, details)
    return planOut(p)
  }

  app.get('/v1/tracking-plan', {
    config: { scope: 'read' },
    schema: {
      tags: ['tracking-plan'], summary: 'The latest tracking plan: per event type, a JSON Schema for properties and a mode (off, warn, enforce)',
      response: { 200: TrackingPlan, ...problemResponses },
    },
  }, async () => planOut(await core.trackingPlan.get()))

  app.put('/v1/tracking-plan', {
    config: { scope: 'admin' },
    schema: {
      tags: ['tracking-plan'], summary: 'Replace the whole plan: saved as a new version (earlier versions stay readable). Audited',
      description: 'Every schema is compiled before anything is saved (400 LS_ERR_TRACKING_PLAN_INVALID with where). With `baseVersion`, a plan saved meanwhile by someone else makes it 409 LS_ERR_TRACKING_PLAN_CONFLICT.',
      body: PlanReplace, response: { 200: TrackingPlan, ...problemResponses, ...conflict },
    },
  }, async (req) => {
    const p = await core.trackingPlan.replace(req.body.types, req.principal!.name, req.body.note ?? null, req.body.baseVersion)
    return await saved(req.principal!.name, 'tracking-plan.replace', p, { types: p.types.map((t) => `${t.type}:${t.mode}`) })
  })

  app.put('/v1/tracking-plan/types/:type', {
    config: { scope: 'admin' },
    schema: {
      tags: ['tracking-plan'], summary: "Declare or change one event type's schema and mode (a new plan version; the other types are kept). Audited",
      params: PlanTypeParams, body: PlanTypePut, response: { 200: TrackingPlan, ...problemResponses, ...conflict },
    },
  }, async (req) => {
    const { note, ...entry } = req.body
    const p = await core.trackingPlan.putType({ ...entry, type: req.params.type }, req.principal!.name, note ?? null)
    return await saved(req.principal!.name, 'tracking-plan.type.put', p, { type: req.params.type, mode: entry.mode })
  })

  app.delete('/v1/tracking-plan/types/:type', {
    config: { scope: 'admin' },
    schema: {
      tags: ['tracking-plan'], summary: 'Remove one event type from the plan (a new plan version; its events are no longer checked). Audited',
      params: PlanTypeParams, response: { 200: TrackingPlan, ...problemResponses, ...conflict },
    },
  }, async (req) => {
    const p = await core.trackingPlan.deleteType(req.params.type, req.principal!.name, null)
    return await saved(req.principal!.name, 'tracking-plan.type.delete', p, { type: req.params.type })
  })

  app.get('/v1/tracking-plan/versions', {
    config: { scope: 'read' },
    schema: {
      tags: ['tracking-plan'], summary: 'Saved plan versions, newest first: who saved each and when',
      querystring: Type.Object({
        limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
        before: Type.Optional(Type.Integer({ minimum: 1, description: 'only versions below this one (the next page)' })),
      }, { additionalProperties: false }),
      response: { 200: PlanVersions, ...problemResponses },
    },
  }, async (req) => ({
    items: (await core.trackingPlan.versions(req.query.limit ?? 50, req.query.before)).map((v) => ({ ...v, createdAt: v.createdAt.toISOString() })),
  }))

  app.get('/v1/tracking-plan/versions/:version', {
    config: { scope: 'read' },
    schema: {
      tags: ['tracking-plan'], summary: 'One saved plan version',
      params: PlanVersionParams, response: { 200: TrackingPlan, ...problemResponses },
    },
  }, async (req) => planOut(await core.trackingPlan.version(req.params.version)))

  app.post('/v1/tracking-plan/check', {
    config: { scope: 'read' },
    schema: {
      tags: ['tracking-plan'], summary: "Check properties against a type's schema in the latest plan, or against a given (unsaved) schema; nothing is stored or counted",
      body: PlanCheckBody, response: { 200: PlanCheckResult, ...problemResponses },
    },
  }, async (req) => {
    const { properties, type, schema } = req.body
    if ((type === undefined) === (schema === undefined)) throw new LS_ERR_VALIDATION('give either type or schema')
    if (schema !== undefined) {
      const violations = checkAgainst(schema, properties)
      return { planVersion: null, mode: null, matches: violations.length === 0, violations }
    }
    const plan = await core.trackingPlan.get()
    const entry = plan.types.find((x) => x.type === planTypeName(type!))
    if (entry === undefined) return { planVersion: plan.version, mode: null, matches: true, violations: [] }
    const violations = checkAgainst(entry.schema, properties)
    return { planVersion: plan.version, mode: entry.mode, matches: violations.length === 0, violations }
  })

  app.get('/v1/tracking-plan/violations', {
    config: { scope: 'read' },
    schema: {
      tags: ['tracking-plan'], summary: 'Events that did not match the plan, counted per event type and source when stored, with the latest example',
      response: { 200: PlanViolations, ...problemResponses },
    },
  }, async () => ({
    planVersion: (await core.trackingPlan.current()).version,
    items: (await core.violations.read()).map((v) => ({ ...v, lastAt: v.lastAt?.toISOString() ?? null })),
  }))
}

export default trackingPlanRoutes
