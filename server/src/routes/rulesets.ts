import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { problemResponses, IdParams } from '../schemas/common.js'
import {
  RulesetReplace, DraftCreate, DraftUpdate, PublishBody, PublishResult, ValidateBody, ValidateResult, Catalog,
  RulesetDiff, DryRunBody, DryRunResult, BacktestBody, Template,
} from '../schemas/rulesets.js'
import { RULESET_TEMPLATES } from '../domain/rulesets/templates.js'
import type { RulesetDoc } from '../domain/types.js'
import { createJobStore } from '../domain/job-store.js'
import { createLeadStore } from '../domain/leads/lead-store.js'
import { FACT_CATALOG, compileRulesSource } from '../domain/rulesets/ruleset-service.js'
import { withPluginFacts } from '../domain/scoring/plugin-vocabulary.js'
import { pastedEvents, replayLead, syntheticLead, type BacktestJobDoc } from '../domain/rulesets/backtest.js'
import { LS_ERR_JOB_NOT_FOUND, LS_ERR_LEAD_NOT_FOUND, LS_ERR_RULESET_INVALID, LS_ERR_TEMPLATE_NOT_FOUND, LS_ERR_VALIDATION } from '../errors.js'

const out = (r: RulesetDoc) => ({
  version: r.version, name: r.name, status: r.status, source: r.source ?? null, rules: r.rules as unknown as Record<string, unknown>[],
  settings: r.settings, author: r.author, note: r.note, basedOn: r.basedOn ?? null, createdAt: r.createdAt.toISOString(),
  updatedAt: (r.updatedAt ?? r.publishedAt ?? r.createdAt).toISOString(), publishedAt: r.publishedAt?.toISOString() ?? null,
})

const VersionParams = Type.Object({ version: Type.Integer({ minimum: 1 }) })
/** A backtest whose process stopped updating it for this long is reported as failed. */
const STALE_MS = 5 * 60_000

const rulesetsRoutes: FastifyPluginAsyncTypebox = async function rulesetsRoutes (app) {
  const { core } = app

  const audit = core.audit.record
  const jobs = createJobStore(core)
  const leads = createLeadStore(core)

  app.get('/v1/rulesets', {
    config: { scope: 'read' },
    schema: { tags: ['rulesets'], summary: 'All ruleset versions (drafts included), newest first', response: { 200: Type.Object({ items: Type.Array(Type.Ref('Ruleset')) }), ...problemResponses } },
  }, async () => ({ items: (await core.rulesets.list()).map(out) }))

  app.get('/v1/rulesets/active', {
    config: { scope: 'read' },
    schema: { tags: ['rulesets'], summary: 'The published ruleset (source, json-rules-engine rules and settings)', response: { 200: Type.Ref('Ruleset'), ...problemResponses } },
  }, async () => out(await core.rulesets.get((await core.rulesets.active()).version)))

  app.get('/v1/rulesets/catalog', {
    config: { scope: 'read' },
    schema: { tags: ['rulesets'], summary: 'The facts rules may use and the event types the published ruleset knows (for editors)', response: { 200: Catalog, ...problemResponses } },
  }, async () => {
    const active = await core.rulesets.active()
    const known = active.settings.eventTypes?.known ?? []
    const aliases = Object.keys(active.settings.eventTypes?.aliases ?? {})
    return { facts: withPluginFacts(FACT_CATALOG) as Record<string, { type: string; doc?: string }>, eventTypes: [...new Set([...known, ...aliases])].sort() }
  })

  app.get('/v1/rulesets/templates', {
    config: { scope: 'read' },
    schema: { tags: ['rulesets'], summary: 'The shipped ruleset templates (start a draft from one with POST /v1/rulesets and its source)', response: { 200: Type.Object({ items: Type.Array(Template) }), ...problemResponses } },
  }, async () => ({ items: RULESET_TEMPLATES.map((x) => ({ ...x })) }))

  app.get('/v1/rulesets/templates/:id', {
    config: { scope: 'read' },
    schema: { tags: ['rulesets'], summary: 'One shipped ruleset template', params: IdParams, response: { 200: Template, ...problemResponses } },
  }, async (req) => {
    const tpl = RULESET_TEMPLATES.find((x) => x.id === req.params.id)
    if (tpl === undefined) throw new LS_ERR_TEMPLATE_NOT_FOUND(req.params.id)
    return { ...tpl }
  })

  app.get('/v1/rulesets/diff', {
    config: { scope: 'read' },
    schema: {
      tags: ['rulesets'], summary: 'What changed between two versions: source lines, rules by id, settings',
      querystring: Type.Object({ from: Type.Integer({ minimum: 1 }), to: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
      response: { 200: RulesetDiff, ...problemResponses },
    },
  }, async (req) => await core.rulesets.diff(req.query.from, req.query.to))

  app.get('/v1/rulesets/:version', {
    config: { scope: 'read' },
    schema: { tags: ['rulesets'], summary: 'One ruleset version', params: VersionParams, response: { 200: Type.Ref('Ruleset'), ...problemResponses } },
  }, async (req) => out(await core.rulesets.get(req.params.version)))

  app.post('/v1/rulesets/validate', {
    config: { scope: 'read' },
    schema: { tags: ['rulesets'], summary: 'Compile and validate rules-language source without saving it', body: ValidateBody, response: { 200: ValidateResult, ...problemResponses, 413: Type.Ref('ProblemDetails') } },
  }, async (req) => {
    const r = await compileRulesSource(req.body.source)
    const res: Record<string, unknown> = { ok: r.ok, diagnostics: r.diagnostics, errors: r.problems }
    if (r.rules !== undefined) res.rules = r.rules
    if (r.settings !== undefined) res.settings = r.settings
    return res as never
  })

  app.post('/v1/rulesets', {
    config: { scope: 'rules' },
    schema: {
      tags: ['rulesets'], summary: 'Save rules-language source as a new draft version (compiled and validated; errors come back as diagnostics)',
      body: DraftCreate, response: { 201: Type.Ref('Ruleset'), ...problemResponses, 413: Type.Ref('ProblemDetails') },
    },
  }, async (req, reply) => {
    const doc = await core.rulesets.createDraft(req.body, req.principal!.name)
    await audit(req.principal!.name, 'ruleset.draft.create', `ruleset:${doc.version}`, { basedOn: doc.basedOn ?? null, note: doc.note })
    return reply.code(201).header('location', `/v1/rulesets/${doc.version}`).send(out(doc))
  })

  app.put('/v1/rulesets/:version', {
    config: { scope: 'rules' },
    schema: { tags: ['rulesets'], summary: 'Edit a draft (published versions never change)', params: VersionParams, body: DraftUpdate, response: { 200: Type.Ref('Ruleset'), ...problemResponses, 409: Type.Ref('ProblemDetails'), 413: Type.Ref('ProblemDetails') } },
  }, async (req) => {
    const doc = await core.rulesets.updateDraft(req.params.version, req.body, req.principal!.name)
    await audit(req.principal!.name, 'ruleset.draft.update', `ruleset:${doc.version}`, { note: doc.note })
    return out(doc)
  })

  const publishResult = async (doc: RulesetDoc, rescore: boolean | undefined, actor: string) => {
    await core.live.append('ruleset.published', ['rulesets'], { version: doc.version })
    const job = rescore === true ? await core.startRescoreAll(actor) : null
    return { ruleset: out(doc), rescoreJobId: job?._id ?? null }
  }

  app.post('/v1/rulesets/:version/publish', {
    config: { scope: 'rules' },
    schema: {
      tags: ['rulesets'], summary: 'Publish a draft; optionally re-score every lead with it in the background',
      params: VersionParams, body: PublishBody, response: { 200: PublishResult, ...problemResponses, 409: Type.Ref('ProblemDetails') },
    },
  }, async (req) => {
    const doc = await core.rulesets.publish(req.params.version, req.principal!.name)
    await audit(req.principal!.name, 'ruleset.publish', `ruleset:${doc.version}`, { draft: req.params.version, rescore: req.body?.rescore === true })
    return await publishResult(doc, req.body?.rescore, req.principal!.name)
  })

  app.post('/v1/rulesets/:version/rollback', {
    config: { scope: 'rules' },
    schema: {
      tags: ['rulesets'], summary: 'Publish an earlier version again, as a new version (history stays linear)',
      params: VersionParams, body: PublishBody, response: { 201: PublishResult, ...problemResponses, 409: Type.Ref('ProblemDetails') },
    },
  }, async (req, reply) => {
    const doc = await core.rulesets.rollback(req.params.version, req.principal!.name)
    await audit(req.principal!.name, 'ruleset.rollback', `ruleset:${doc.version}`, { to: req.params.version, rescore: req.body?.rescore === true })
    return reply.code(201).send(await publishResult(doc, req.body?.rescore, req.principal!.name))
  })

  app.put('/v1/rulesets/active', {
    config: { scope: 'rules' },
    schema: {
      tags: ['rulesets'],
      summary: 'Publish json-rules-engine rules and settings as a new version (validated; existing scores change only on re-score)',
      body: RulesetReplace,
      response: { 201: Type.Ref('Ruleset'), ...problemResponses },
    },
  }, async (req, reply) => {
    const doc = await core.rulesets.replace(req.body, req.principal!.name)
    await audit(req.principal!.name, 'ruleset.publish', `ruleset:${doc.version}`, { note: doc.note })
    await core.live.append('ruleset.published', ['rulesets'], { version: doc.version })
    return reply.code(201).send(out(doc))
  })

  app.post('/v1/rulesets/dry-run', {
    config: { scope: 'read' },
    schema: {
      tags: ['rulesets'],
      summary: "Score a stored lead's history and/or pasted events with a ruleset (unsaved source, a version, or the published one) and explain every point; nothing is stored",
      body: DryRunBody, response: { 200: DryRunResult, ...problemResponses, 413: Type.Ref('ProblemDetails'), 422: Type.Ref('ProblemDetails') },
    },
  }, async (req) => {
    const { source, version, leadId, events } = req.body
    if (source !== undefined && version !== undefined) throw new LS_ERR_VALIDATION('give either source or version, not both')
    if (leadId === undefined && (events === undefined || events.length === 0)) throw new LS_ERR_VALIDATION('give a leadId, events, or both')
    let rs
    let diagnostics: unknown[] = []
    if (source !== undefined) {
      const r = await compileRulesSource(source)
      diagnostics = r.diagnostics
      if (!r.ok || r.rules === undefined || r.settings === undefined) {
        const err = new LS_ERR_RULESET_INVALID(r.problems[0]?.detail ?? 'the source has errors')
        ;(err as unknown as { problemExtras: unknown }).problemExtras = { diagnostics: r.diagnostics }
        ;(err as unknown as { errors: unknown }).errors = r.problems
        throw err
      }
      rs = await core.rulesets.withOffer(core.rulesets.fromCompiled(r.rules, r.settings))
    } else {
      rs = version !== undefined ? await core.rulesets.byVersion(version) : await core.rulesets.active()
    }
    const t = core.now()
    const lead = leadId !== undefined ? await leads.get(leadId) : syntheticLead(events ?? [], t)
    if (lead === null) throw new LS_ERR_LEAD_NOT_FOUND(leadId!)
    const history = leadId !== undefined ? await leads.events(lead) : []
    const extra = pastedEvents(events ?? [], { maxEventBytes: core.config.limits.maxEventBytes, maxFutureSkewMs: 5 * 60_000 }, t)
    const r = await replayLead(core.pipeline, lead, [...history, ...extra], rs, true)
    return {
      version: source !== undefined ? null : rs.version, leadId: leadId ?? null, final: r.final,
      current: leadId !== undefined ? { total: lead.score, stage: lead.stage ?? '' } : null, entries: r.entries, diagnostics,
    } as never
  })

  const backtestOut = (j: BacktestJobDoc) => {
    const stale = j.state === 'running' && core.now().getTime() - j.updatedAt.getTime() > STALE_MS
    return {
      id: j._id, version: j.version, baseVersion: j.baseVersion, status: stale ? 'failed' as const : j.state,
      progress: { done: j.done, total: j.total },
      scope: { leadIds: j.scope.leadIds, from: j.scope.from?.toISOString() ?? null, to: j.scope.to?.toISOString() ?? null, limit: j.scope.limit },
      startedAt: j.createdAt.toISOString(), finishedAt: j.finishedAt?.toISOString() ?? null,
      error: stale ? 'the process running the backtest stopped' : j.error, result: j.result,
    }
  }

  app.post('/v1/rulesets/:version/backtest', {
    config: { scope: 'rules' },
    schema: {
      tags: ['rulesets'],
      summary: 'Backtest a version (usually a draft) against stored history in the background: per-lead old → new scores, movers, stage changes, distributions and lift against conversions',
      params: VersionParams, body: BacktestBody, response: { 202: Type.Object({ jobId: Type.String() }), ...problemResponses },
    },
  }, async (req, reply) => {
    const body = req.body ?? {}
    const candidate = await core.rulesets.byVersion(req.params.version)
    const base = await core.rulesets.active()
    const scope = {
      leadIds: body.leadIds ?? null, from: body.from !== undefined ? new Date(body.from) : null, to: body.to !== undefined ? new Date(body.to) : null,
      limit: body.limit ?? null,
    }
    // a job (jobs/backtest.ts): a worker runs it; its progress and result live in the job document
    const job = await core.jobs.startBacktest({ version: candidate.version, baseVersion: base.version, scope, actor: req.principal!.name })
    return reply.code(202).header('location', `/v1/backtests/${job._id}`).send({ jobId: job._id })
  })

  app.get('/v1/backtests/:id', {
    config: { scope: 'read' },
    schema: { tags: ['rulesets'], summary: 'Progress and result of a backtest', params: IdParams, response: { 200: Type.Ref('Backtest'), ...problemResponses } },
  }, async (req) => {
    const j = await jobs.backtest(req.params.id)
    if (j === null) throw new LS_ERR_JOB_NOT_FOUND(req.params.id)
    return backtestOut(j)
  })
}

export default rulesetsRoutes
