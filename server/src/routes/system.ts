import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { problemResponses, IdParams, Page } from '../schemas/common.js'
import { ERROR_CODES, LS_ERR_JOB_NOT_FOUND, LS_ERR_NOT_FOUND, slugOf, titleOf } from '../errors.js'
import { Job, JobSchedule, AuditEntry, ApiKey, ApiKeyCreate, ApiKeyCreated, Stats } from '../schemas/system.js'
import type { Scope } from '../domain/types.js'
import { createJobStore } from '../domain/job-store.js'
import { metricsAccess } from '../http/metrics-access.js'

const systemRoutes: FastifyPluginAsyncTypebox = async function systemRoutes (app) {
  const { core } = app
  const audit = core.audit
  const jobs = createJobStore(core)

  app.get('/healthz', { schema: { tags: ['system'], summary: 'Liveness', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', {
    schema: { tags: ['system'], summary: 'Readiness: the database answers', response: { 200: Type.Object({ status: Type.Literal('ready'), database: Type.String() }), 503: Type.Ref('ProblemDetails') } },
  }, async () => {
    await core.database.db.command({ ping: 1 })
    return { status: 'ready' as const, database: core.database.ferret ? 'ferretdb' : 'mongodb' }
  })

  app.get('/metrics', {
    // the metrics token (LEADSCORE_METRICS_TOKEN) or an admin key or session; see http/metrics-access.ts
    onRequest: metricsAccess(app),
    schema: {
      tags: ['system'], summary: 'Prometheus metrics',
      description: 'Needs `Authorization: Bearer <LEADSCORE_METRICS_TOKEN>` when that is set, or an API key or console session with the admin scope.',
      produces: ['text/plain'],
      response: {
        200: Type.String({ description: 'The metrics in the Prometheus text exposition format (version 0.0.4)' }),
        401: Type.Ref('ProblemDetails'), 403: Type.Ref('ProblemDetails'), 500: Type.Ref('ProblemDetails'), 503: Type.Ref('ProblemDetails'),
      },
    },
  }, async (_req, reply) => {
    core.metrics.eventsPending.set((await core.views.statusCounters()).pending)
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(core.metrics.render())
  })

  app.get('/v1/stats', {
    config: { scope: 'read' },
    schema: {
      tags: ['system'], summary: 'Counts that tell whether scoring has caught up',
      response: { 200: Stats, ...problemResponses },
    },
  }, async () => {
    // event and lead counts come from the counters scoring and ingest keep (domain/lead-views/), not from counting
    // documents (a count reads the whole collection on FerretDB); a lead counts once scored or created by the API
    const [events, leads, rs] = await Promise.all([core.views.statusCounters(), core.views.leadCounters(), core.rulesets.active()])
    const leadTotal = typeof leads.n === 'number' ? Math.round(leads.n) : 0
    return { events: { total: events.stored, pending: events.pending, unmapped: events.unmapped }, leads: { total: leadTotal }, rejects: { total: events.rejects }, ruleset: { version: rs.version } }
  })

  app.post('/v1/views/rebuild', {
    config: { scope: 'admin' },
    schema: {
      tags: ['jobs'], summary: 'Rebuild the lead index and the analytics counters from the leads and events, in the background',
      description: 'Scoring pauses in the process running the job. Needed only after a crash between a scoring commit and its counters, or for a database written before the lead views existed (a start does that by itself).',
      response: { 202: Job, ...problemResponses },
    },
  }, async (req, reply) => reply.code(202).send(jobOut(await core.startRebuildViews(req.principal!.name))))

  const jobOut = (j: import('../domain/types.js').JobDoc) => ({
    id: j._id, kind: j.kind, state: j.state, total: j.total, done: j.done, error: j.error, createdAt: j.createdAt.toISOString(),
    updatedAt: j.updatedAt.toISOString(), finishedAt: j.finishedAt?.toISOString() ?? null,
  })

  app.post('/v1/rescore', {
    config: { scope: 'rules' },
    schema: { tags: ['jobs'], summary: 'Re-score every lead with the published ruleset, in the background', response: { 202: Job, ...problemResponses } },
  }, async (req, reply) => reply.code(202).send(jobOut(await core.startRescoreAll(req.principal!.name))))

  app.get('/v1/jobs/schedules', {
    config: { scope: 'admin' },
    schema: {
      tags: ['jobs'], summary: 'What runs in the background: every recurring schedule and queued run, with its last outcome',
      description: 'The job runner\'s own documents: the sweeper, decay ticks, webhook deliveries, upload recovery (one per host), one poll schedule per enabled pull source, and runs of re-score all, rebuilds, backtests and training not yet removed. Progress of those last four is at `GET /v1/jobs/{id}`.',
      response: { 200: Type.Object({ items: Type.Array(JobSchedule) }), ...problemResponses },
    },
  }, async () => {
    const iso = (d: Date | null): string | null => d?.toISOString() ?? null
    return {
      items: (await core.scheduler.schedules()).map((j) => ({
        ...j, nextRunAt: iso(j.nextRunAt), lastRunAt: iso(j.lastRunAt), lastFinishedAt: iso(j.lastFinishedAt), failedAt: iso(j.failedAt),
      })),
    }
  })

  app.get('/v1/jobs/:id', {
    config: { scope: 'read' },
    schema: { tags: ['jobs'], summary: 'Progress of a background job', params: IdParams, response: { 200: Job, ...problemResponses } },
  }, async (req) => {
    const j = await jobs.get(req.params.id)
    if (j === null) throw new LS_ERR_JOB_NOT_FOUND(req.params.id)
    return jobOut(j)
  })

  app.get('/v1/api-keys', {
    config: { scope: 'admin' },
    schema: { tags: ['auth'], summary: 'API keys (never their secret)', response: { 200: Type.Object({ items: Type.Array(ApiKey) }), ...problemResponses } },
  }, async () => ({
    items: (await core.apiKeys.list()).map((k) => ({ id: k._id, name: k.name, prefix: k.prefix, scopes: k.scopes, createdAt: k.createdAt.toISOString(), lastUsedAt: k.lastUsedAt?.toISOString() ?? null, revokedAt: k.revokedAt?.toISOString() ?? null })),
  }))

  app.post('/v1/api-keys', {
    config: { scope: 'admin' },
    schema: {
      tags: ['auth'], summary: 'Create an API key; the key is shown once',
      body: ApiKeyCreate,
      response: { 201: ApiKeyCreated, ...problemResponses },
    },
  }, async (req, reply) => {
    const { key, doc } = await core.apiKeys.create(req.body.name, req.body.scopes as Scope[])
    await audit.record(req.principal!.name, 'apikey.create', doc._id, { scopes: doc.scopes })
    return reply.code(201).send({ id: doc._id, key, scopes: doc.scopes })
  })

  app.delete('/v1/api-keys/:id', {
    config: { scope: 'admin' },
    schema: { tags: ['auth'], summary: 'Revoke an API key', params: IdParams, response: { 204: Type.Null(), ...problemResponses } },
  }, async (req, reply) => {
    await core.apiKeys.revoke(req.params.id)
    await audit.record(req.principal!.name, 'apikey.revoke', req.params.id)
    return reply.code(204).send(null)
  })

  app.get('/v1/audit-log', {
    config: { scope: 'admin' },
    schema: {
      tags: ['auth'], summary: 'Who did what, newest first, a page at a time',
      querystring: Type.Object({
        limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
        cursor: Type.Optional(Type.String({ maxLength: 500, description: 'The `nextCursor` of the previous page' })),
      }, { additionalProperties: false }),
      response: { 200: Page(AuditEntry), ...problemResponses },
    },
  }, async (req) => {
    const page = await audit.list({ limit: req.query.limit, cursor: req.query.cursor })
    return { items: page.items.map((a) => ({ id: a._id, at: a.at.toISOString(), actor: a.actor, action: a.action, target: a.target, details: a.details })), nextCursor: page.nextCursor }
  })

  app.get('/problems/:slug', {
    schema: { tags: ['system'], summary: 'What a problem type means', params: Type.Object({ slug: Type.String({ maxLength: 100 }) }), response: { 200: Type.Object({ code: Type.String(), title: Type.String(), status: Type.Integer() }), 400: Type.Ref('ProblemDetails'), 404: Type.Ref('ProblemDetails') } },
  }, async (req) => {
    for (const [code, E] of Object.entries(ERROR_CODES)) {
      if (slugOf(code) === req.params.slug) return { code, title: titleOf(code), status: new E('', '').statusCode ?? 500 }
    }
    throw new LS_ERR_NOT_FOUND('GET', req.url)
  })
}

export default systemRoutes
