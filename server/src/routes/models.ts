import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { problemResponses, IdParams } from '../schemas/common.js'
import {
  OutcomeDefinition, FeatureSpec, TrainBody, ModelJob, ModelSummary, Model, Deployment, DeployBody, DeploymentStatus, Performance, Drift, Bias,
  Compare, FeatureSetDeclaration,
} from '../schemas/models.js'
import { LS_ERR_JOB_NOT_FOUND, LS_ERR_MODEL_NOT_FOUND, LS_ERR_MODEL_NO_CHALLENGER, LS_ERR_MODEL_NO_ROLLBACK, LS_ERR_MODEL_TRAINING_BUSY, LS_ERR_VALIDATION } from '../errors.js'
import { PredictiveError, type TrainParams } from '../domain/predictive/service.js'
import { validatorCompiler } from '../infra/http-parsing.js'
import type { ModelDoc, DeploymentDoc } from '../domain/predictive/registry.js'
import type { JobDoc } from '../domain/types.js'
import { FEATURE_GROUPS, FEATURE_SET_VERSION } from '../domain/predictive/features.js'
import { performanceReport, summarize, DEFAULT_DRIFT_THRESHOLDS } from '../domain/predictive/monitoring.js'
import { createModelMonitoring } from '../domain/model-monitoring.js'

const iso = (d: Date | null | undefined): string | null => d == null ? null : d.toISOString()

function summaryOut (m: ModelDoc, dep: DeploymentDoc | null) {
  return {
    id: m._id, version: m.version, name: m.name, algorithm: m.algorithm, createdAt: m.createdAt.toISOString(), createdBy: m.createdBy,
    role: dep?.champion?.id === m._id ? 'champion' as const : dep?.challenger?.id === m._id ? 'challenger' as const : null,
    outcome: m.outcome,
    window: { asOf: m.window.asOf.toISOString(), from: iso(m.window.from), firstPoint: iso(m.window.firstPoint), lastPoint: iso(m.window.lastPoint) },
    data: m.data,
    featureSet: { version: m.featureSet.version, hash: m.featureSet.hash, columns: m.featureSet.columns?.length ?? 0 },
    winner: m.winner,
    auc: m.metrics.auc, brier: m.metrics.brier, f1: m.metrics.f1, precision: m.metrics.precision, recall: m.metrics.recall,
  }
}

function modelOut (m: ModelDoc, dep: DeploymentDoc | null) {
  const { featureSet: _fs, ...summary } = summaryOut(m, dep)
  const imp = new Map(m.importance.features.map((f) => [f.feature, f.importance]))
  return {
    ...summary,
    rulesetVersion: m.rulesetVersion,
    options: { ...m.options, candidates: m.options.candidates as unknown as Record<string, unknown>[] },
    cv: m.cv.map((c) => ({ name: c.name, auc: c.auc, aucSd: c.aucSd, foldAucs: c.foldAucs, ...(c.trees !== undefined ? { trees: c.trees } : {}) })),
    metrics: m.metrics,
    importance: m.importance,
    featureSet: {
      version: m.featureSet.version, hash: m.featureSet.hash, spec: m.featureSet.spec,
      sources: m.featureSet.sources.map(({ baseline: _b, ...s }) => ({ ...s, importance: imp.get(s.name) ?? 0 })),
      columns: m.featureSet.columns.map((c) => ({ name: c.name, source: m.featureSet.sources[c.source]?.name ?? '', kind: c.kind })),
      dropped: m.featureSet.dropped,
    },
    calibration: m.artifact.calibration,
    grades: m.artifact.grades,
    trainingMs: m.trainingMs,
  }
}

function deploymentOut (d: DeploymentDoc | null) {
  return { seq: d?.seq ?? 0, champion: d?.champion ?? null, challenger: d?.challenger ?? null, challengerShare: d?.challengerShare ?? 0, action: d?.action ?? null, actor: d?.actor ?? null, at: iso(d?.at) }
}

function jobOut (j: JobDoc) {
  return {
    id: j._id, kind: j.kind, state: j.state, phase: j.phase ?? j.state, done: j.done, total: j.total,
    percent: j.state === 'done' ? 100 : j.total > 0 ? Math.round(1000 * j.done / j.total) / 10 : 0,
    error: j.error, errorCode: j.errorCode ?? null,
    modelId: j.model?.id ?? null, modelVersion: j.model?.version ?? null,
    createdAt: j.createdAt.toISOString(), updatedAt: j.updatedAt.toISOString(), finishedAt: iso(j.finishedAt),
  }
}

const modelsRoutes: FastifyPluginAsyncTypebox = async function modelsRoutes (app) {
  for (const s of [OutcomeDefinition, FeatureSpec, ModelJob, ModelSummary, Model, Deployment]) app.addSchema(s)
  // a plugin that adds schemas gets Fastify's default (Ajv, non-coercing) validator back: querystrings would reject
  // numbers, so the product's validator is set again for this scope
  app.setValidatorCompiler(validatorCompiler)
  const { core } = app
  const svc = core.predictive
  const monitoring = createModelMonitoring(core)
  const conflicts = { 409: Type.Ref('ProblemDetails'), 422: Type.Ref('ProblemDetails') }

  /** Maps the service's documented failures to coded errors. */
  async function call<T> (fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (!(err instanceof PredictiveError)) throw err
      switch (err.kind) {
        case 'model-not-found': throw new LS_ERR_MODEL_NOT_FOUND(err.message.replace(/^Model '(.*)' not found$/, '$1'))
        case 'training-busy': throw new LS_ERR_MODEL_TRAINING_BUSY()
        case 'no-rollback': throw new LS_ERR_MODEL_NO_ROLLBACK()
        case 'no-challenger': throw new LS_ERR_MODEL_NO_CHALLENGER()
        default: throw err
      }
    }
  }

  app.post('/v1/models/train', {
    config: { scope: 'admin' },
    schema: {
      tags: ['models'], summary: 'Train a predictive model in the background (returns the job to follow)',
      body: TrainBody, response: { 202: Type.Ref('ModelJob'), ...conflicts, ...problemResponses },
    },
  }, async (req, reply) => {
    const b = req.body
    for (const k of ['asOf', 'from'] as const) if (b[k] !== undefined && Number.isNaN(Date.parse(b[k]))) throw new LS_ERR_VALIDATION(`${k} is not a valid date-time`)
    const job = await call(async () => await core.jobs.startTraining(b as TrainParams, req.principal!.name))
    return reply.code(202).send(jobOut(job))
  })

  app.get('/v1/models/jobs/:id', {
    config: { scope: 'read' },
    schema: { tags: ['models'], summary: 'Progress of a training job', params: IdParams, response: { 200: Type.Ref('ModelJob'), ...problemResponses } },
  }, async (req) => {
    const j = await svc.job(req.params.id)
    if (j === null) throw new LS_ERR_JOB_NOT_FOUND(req.params.id)
    return jobOut(j)
  })

  app.get('/v1/models', {
    config: { scope: 'read' },
    schema: { tags: ['models'], summary: 'Trained models, newest version first', response: { 200: Type.Object({ items: Type.Array(Type.Ref('ModelSummary')) }), ...problemResponses } },
  }, async () => {
    const dep = await svc.deployment()
    return { items: (await svc.registry.list()).map((m) => summaryOut(m, dep)) }
  })

  app.get('/v1/models/feature-set', {
    config: { scope: 'read' },
    schema: { tags: ['models'], summary: 'The default feature-set declaration, outcome and candidates used when a training request leaves them out', response: { 200: FeatureSetDeclaration, ...problemResponses } },
  }, async () => ({
    version: FEATURE_SET_VERSION, spec: svc.defaults.features, groups: FEATURE_GROUPS.map((g) => ({ ...g })), outcome: svc.defaults.outcome,
    candidates: svc.defaults.candidates as unknown as Record<string, unknown>[],
  }))

  app.get('/v1/models/deployment', {
    config: { scope: 'read' },
    schema: { tags: ['models'], summary: 'Champion and challenger, the deployment history, outcomes per arm and serving latency', response: { 200: DeploymentStatus, ...problemResponses } },
  }, async () => {
    const dep = await svc.deployment()
    const history = await svc.registry.history(20)
    const arms = []
    for (const [arm, ref] of [['champion', dep?.champion], ['challenger', dep?.challenger]] as const) {
      if (ref == null) continue
      const m = await svc.registry.get(ref.id)
      if (m === null) continue
      const rows = (await monitoring.observed([m._id], m.outcome)).get(m._id) ?? []
      arms.push({ arm, modelId: m._id, modelVersion: m.version, ...summarize(rows.filter((r) => r.arm === arm), m.artifact.threshold) })
    }
    const lat = svc.runtime.latency()
    return {
      current: deploymentOut(dep), history: history.map(deploymentOut), arms,
      serving: { predictions: svc.runtime.predictions, samples: lat.samples, p50Ms: lat.p50, p99Ms: lat.p99, maxMs: lat.max },
    }
  })

  app.post('/v1/models/rollback', {
    config: { scope: 'admin' },
    schema: { tags: ['models'], summary: 'Make the previous champion the champion again (or no model, if the current one was the first)', response: { 200: Type.Ref('Deployment'), ...conflicts, ...problemResponses } },
  }, async (req) => deploymentOut(await call(async () => await svc.rollback(req.principal!.name))))

  app.post('/v1/models/challenger/end', {
    config: { scope: 'admin' },
    schema: {
      tags: ['models'], summary: 'End the challenger\'s trial: promote it to champion, or stop it',
      body: Type.Object({ promote: Type.Boolean({ default: false }) }, { additionalProperties: false }),
      response: { 200: Type.Ref('Deployment'), ...conflicts, ...problemResponses },
    },
  }, async (req) => deploymentOut(await call(async () => await svc.endChallenger(req.body.promote === true, req.principal!.name))))

  app.get('/v1/models/compare', {
    config: { scope: 'read' },
    schema: {
      tags: ['models'], summary: 'Compare two model versions: holdout metrics, features, importance and live outcomes',
      querystring: Type.Object({ a: IdParams.properties.id, b: IdParams.properties.id }, { additionalProperties: false }),
      response: { 200: Compare, ...problemResponses },
    },
  }, async (req) => {
    const [a, b] = await call(async () => await Promise.all([svc.mustGet(req.query.a), svc.mustGet(req.query.b)]))
    const dep = await svc.deployment()
    const pick: Array<[string, (m: ModelDoc) => number | null]> = [
      ['auc', (m) => m.metrics.auc], ['brier', (m) => m.metrics.brier], ['logLoss', (m) => m.metrics.logLoss], ['f1', (m) => m.metrics.f1],
      ['precision', (m) => m.metrics.precision], ['recall', (m) => m.metrics.recall], ['ece', (m) => m.metrics.ece], ['examples', (m) => m.data.examples],
    ]
    const metrics = pick.map(([metric, f]) => { const va = f(a); const vb = f(b); return { metric, a: va, b: vb, delta: va === null || vb === null ? null : Math.round((vb - va) * 1e6) / 1e6 } })
    const fa = new Set(a.featureSet.sources.map((s) => s.name))
    const fb = new Set(b.featureSet.sources.map((s) => s.name))
    const ia = new Map(a.importance.features.map((f) => [f.feature, f.importance]))
    const ib = new Map(b.importance.features.map((f) => [f.feature, f.importance]))
    const importance = [...new Set([...fa, ...fb])].map((f) => ({ feature: f, a: ia.get(f) ?? 0, b: ib.get(f) ?? 0 })).sort((x, y) => Math.max(y.a, y.b) - Math.max(x.a, x.b)).slice(0, 20)
    const live = await monitoring.observed([a._id, b._id], a.outcome)
    return {
      a: summaryOut(a, dep), b: summaryOut(b, dep),
      sameOutcome: JSON.stringify(a.outcome) === JSON.stringify(b.outcome),
      sameFeatureSet: a.featureSet.hash === b.featureSet.hash,
      metrics,
      features: { onlyA: [...fa].filter((f) => !fb.has(f)), onlyB: [...fb].filter((f) => !fa.has(f)) },
      importance,
      live: { a: summarize(live.get(a._id) ?? [], a.artifact.threshold), b: summarize(live.get(b._id) ?? [], b.artifact.threshold) },
    }
  })

  app.get('/v1/models/:id', {
    config: { scope: 'read' },
    schema: { tags: ['models'], summary: 'One model: its report (metrics, curves, importance), feature set and training window', params: IdParams, response: { 200: Type.Ref('Model'), ...problemResponses } },
  }, async (req) => {
    const m = await call(async () => await svc.mustGet(req.params.id))
    return modelOut(m, await svc.deployment())
  })

  app.post('/v1/models/:id/deploy', {
    config: { scope: 'admin' },
    schema: {
      tags: ['models'], summary: 'Deploy a model as champion, or as challenger for a share of leads',
      params: IdParams, body: DeployBody, response: { 200: Type.Ref('Deployment'), ...conflicts, ...problemResponses },
    },
  }, async (req) => {
    const dep = await call(async () => await svc.deploy(req.params.id, req.body.role ?? 'champion', req.body.challengerShare, req.principal!.name))
    if (req.body.rescore === true) await core.startRescoreAll(req.principal!.name)
    return deploymentOut(dep)
  })

  app.get('/v1/models/:id/performance', {
    config: { scope: 'read' },
    schema: { tags: ['models'], summary: 'How the model\'s live predictions turned out, once outcomes are known (overall and per arm)', params: IdParams, response: { 200: Performance, ...problemResponses } },
  }, async (req) => {
    const m = await call(async () => await svc.mustGet(req.params.id))
    const rows = (await monitoring.observed([m._id], m.outcome)).get(m._id) ?? []
    return performanceReport(m, rows)
  })

  app.get('/v1/models/:id/drift', {
    config: { scope: 'read' },
    schema: {
      tags: ['models'], summary: 'Feature and prediction drift (PSI) of recently active leads against the training data',
      params: IdParams,
      querystring: Type.Object({
        days: Type.Integer({ minimum: 1, maximum: 3650, default: 30 }),
        warning: Type.Number({ exclusiveMinimum: 0, default: DEFAULT_DRIFT_THRESHOLDS.warning }),
        alarm: Type.Number({ exclusiveMinimum: 0, default: DEFAULT_DRIFT_THRESHOLDS.alarm }),
      }, { additionalProperties: false }),
      response: { 200: Drift, ...problemResponses },
    },
  }, async (req) => {
    const m = await call(async () => await svc.mustGet(req.params.id))
    const q = req.query
    return await monitoring.drift(m, { days: q.days ?? 30, thresholds: { warning: q.warning ?? DEFAULT_DRIFT_THRESHOLDS.warning, alarm: q.alarm ?? DEFAULT_DRIFT_THRESHOLDS.alarm } })
  })

  app.get('/v1/models/:id/bias', {
    config: { scope: 'read' },
    schema: {
      tags: ['models'], summary: 'Scores and error rates grouped by a lead attribute (or source, status)',
      params: IdParams,
      querystring: Type.Object({
        attribute: Type.String({ minLength: 1, maxLength: 100 }),
        data: Type.Union([Type.Literal('holdout'), Type.Literal('live')], { default: 'holdout' }),
      }, { additionalProperties: false }),
      response: { 200: Bias, ...problemResponses },
    },
  }, async (req) => {
    const m = await call(async () => await svc.mustGet(req.params.id))
    const data = req.query.data ?? 'holdout'
    if (data === 'holdout') {
      const h = await svc.registry.holdout(m._id)
      return await monitoring.bias(m, h.rows, req.query.attribute, data, h.groupKeys)
    }
    const live = (await monitoring.observed([m._id], m.outcome)).get(m._id) ?? []
    return await monitoring.bias(m, live.filter((r) => r.y !== null).map((r) => ({ leadId: r.leadId, p: r.p, y: r.y! })), req.query.attribute, data)
  })
}

export default modelsRoutes
