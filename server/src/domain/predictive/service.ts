// Predictive scoring: training jobs, the registry, deployment (champion/challenger), the in-memory serving runtime
// and the scoring plugin that attaches a prediction to every scored event.
import { Type } from '@sinclair/typebox'
import { performance } from 'node:perf_hooks'
import type { Collections } from '../../infra/db.js'
import type { LockService } from '../locks.js'
import type { RulesetService } from '../rulesets/ruleset-service.js'
import type { JobDoc } from '../types.js'
import type { PluginContext, PredictiveScore, ScoringPlugin } from '../../contracts/index.js'
import { defineScoringPlugin, CONTRACT_VERSION } from '../../contracts/index.js'
import { newId } from '../../lib/ids.js'
import { loadDataset, DEFAULT_OUTCOME, type OutcomeDefinition } from './dataset.js'
import { DEFAULT_FEATURE_SPEC, type FeatureSpec } from './features.js'
import { train, DEFAULT_CANDIDATES, TrainingDataError, type Candidate } from './trainer.js'
import { Predictor } from './predictor.js'
import { createModelRegistry, type DeploymentDoc, type ModelDoc } from './registry.js'
import { unitHash } from './rng.js'

export interface TrainParams {
  name?: string
  outcome?: OutcomeDefinition
  asOf?: string
  from?: string
  features?: Partial<FeatureSpec>
  candidates?: Candidate[]
  folds?: number
  testFraction?: number
  seed?: number
  calibration?: 'platt' | 'isotonic'
  maxLeads?: number
}

export interface PredictiveLogger {
  info(o: object, m: string): void
  warn(o: object, m: string): void
  error(o: object, m: string): void
}

/** Raised for the documented failures; the route layer maps each `kind` to an LS_ERR_* code. */
export class PredictiveError extends Error {
  constructor (readonly kind: 'model-not-found' | 'training-busy' | 'no-rollback' | 'no-challenger' | 'training-data', message: string) { super(message) }
}

const TRAIN_LOCK = 'model-training'
const LOCK_TTL_MS = 60_000
const REFRESH_MS = 2_000
const LATENCY_WINDOW = 10_000

interface Loaded { id: string; version: number; predictor: Predictor }

/**
 * The models being served, loaded once per version and refreshed from the deployment history at most every
 * REFRESH_MS (so every process follows a deployment within that time, with one `_id`-sorted read).
 */
export class ModelRuntime {
  private champion: Loaded | null = null
  private challenger: Loaded | null = null
  private share = 0
  private seq = -1
  private checkedAt = 0
  private pending: Promise<void> | null = null
  private readonly cache = new Map<string, Predictor>()
  private readonly latencies = new Float64Array(LATENCY_WINDOW)
  private latencyCount = 0
  predictions = 0

  constructor (private readonly c: Collections, private readonly log: PredictiveLogger) {}

  /** Re-reads the deployment when the last check is older than REFRESH_MS (or when forced). */
  async ensureFresh (force = false): Promise<void> {
    if (!force && Date.now() - this.checkedAt < REFRESH_MS) return
    this.pending ??= this.refresh().finally(() => { this.pending = null })
    await this.pending
  }

  private async refresh (): Promise<void> {
    const dep = await this.c.modelDeployments.find({}).sort({ seq: -1 }).limit(1).next()
    this.checkedAt = Date.now()
    if ((dep?.seq ?? 0) === this.seq) return
    const load = async (ref: DeploymentDoc['champion']): Promise<Loaded | null> => {
      if (ref === null) return null
      let p = this.cache.get(ref.id)
      if (p === undefined) {
        const m = await this.c.models.findOne({ _id: ref.id })
        if (m === null) { this.log.warn({ modelId: ref.id }, 'deployed model not found'); return null }
        p = new Predictor({ ...m.artifact, featureSet: m.featureSet })
        this.cache.set(ref.id, p)
      }
      return { id: ref.id, version: ref.version, predictor: p }
    }
    this.champion = await load(dep?.champion ?? null)
    this.challenger = await load(dep?.challenger ?? null)
    this.share = dep?.challengerShare ?? 0
    this.seq = dep?.seq ?? 0
  }

  /** The model that scores this lead: the challenger for a fixed share of leads (by a hash of the id), else the champion. */
  select (leadId: string): { model: Loaded; arm: 'champion' | 'challenger' } | null {
    if (this.challenger !== null && unitHash(leadId) < this.share) return { model: this.challenger, arm: 'challenger' }
    return this.champion === null ? null : { model: this.champion, arm: 'champion' }
  }

  recordLatency (ms: number): void {
    this.latencies[this.latencyCount % LATENCY_WINDOW] = ms
    this.latencyCount++
    this.predictions++
  }

  /** Latency of the last (up to 10,000) predictions in this process, in milliseconds. */
  latency (): { samples: number; p50: number | null; p99: number | null; max: number | null } {
    const n = Math.min(this.latencyCount, LATENCY_WINDOW)
    if (n === 0) return { samples: 0, p50: null, p99: null, max: null }
    const s = Float64Array.from(this.latencies.subarray(0, n)).sort()
    const q = (f: number): number => Math.round(s[Math.min(n - 1, Math.floor(f * n))]! * 1000) / 1000
    return { samples: n, p50: q(0.5), p99: q(0.99), max: Math.round(s[n - 1]! * 1000) / 1000 }
  }
}

/** The scoring plugin that adds the deployed model's prediction, with its explanation, to every scored event. */
export function createPredictivePlugin (runtime: ModelRuntime): ScoringPlugin {
  return defineScoringPlugin({
    kind: 'scoring',
    manifest: { id: 'predictive', version: '1.0.0', contract: CONTRACT_VERSION, config: Type.Object({}) },
    predict (input): PredictiveScore | null {
      const sel = runtime.select(input.lead.id)
      if (sel === null) return null
      const t0 = performance.now()
      const p = sel.model.predictor.predict({
        attributes: input.lead.attributes,
        activity: input.activity,
        scores: { engagement: input.score.engagement, fit: input.score.fit, intent: input.score.intent },
        at: input.event.occurredAt.getTime(),
      })
      runtime.recordLatency(performance.now() - t0)
      return {
        probability: p.probability, score: p.score, grade: p.grade, confidence: p.confidence,
        model: { id: sel.model.id, version: sel.model.version, arm: sel.arm },
        factors: p.factors,
      }
    },
  })
}

/** A minimal context for plugins the core mounts itself. */
export function internalPluginContext (instanceId: string, log: PredictiveLogger & { debug(o: object, m: string): void }): PluginContext<unknown> {
  const kv = new Map<string, string>()
  return {
    instanceId,
    config: {},
    log,
    secrets: () => [],
    signal: new AbortController().signal,
    state: { get: async (k) => kv.get(k) ?? null, set: async (k, v) => { kv.set(k, v) }, delete: async (k) => { kv.delete(k) } },
    now: () => new Date(),
  }
}

/**
 * The champion to return to. Replaying the history in order, every change of champion pushes the new one on a
 * stack and every rollback pops it; the target is the entry below the top (null: no model). undefined when there is
 * nothing to roll back (no champion now, or nothing before it).
 */
function rollbackTarget (hist: readonly DeploymentDoc[]): DeploymentDoc['champion'] | undefined {
  const stack: Array<DeploymentDoc['champion']> = [null]
  for (const h of [...hist].sort((a, b) => a.seq - b.seq)) {
    if (h.action === 'rollback') { if (stack.length > 1) stack.pop(); continue }
    if ((h.champion?.id ?? null) !== (stack[stack.length - 1]?.id ?? null)) stack.push(h.champion)
  }
  return stack.length >= 2 && stack[stack.length - 1] !== null ? stack[stack.length - 2] : undefined
}

export interface PredictiveDeps {
  c: Collections
  locks: LockService
  rulesets: RulesetService
  now: () => Date
  log: PredictiveLogger
  audit: (actor: string, action: string, target: string, details: Record<string, unknown>) => Promise<void>
  progress: (jobId: string, data: Record<string, unknown>) => Promise<void>
}

export function createPredictiveService (deps: PredictiveDeps) {
  const { c, now, log } = deps
  const registry = createModelRegistry({ models: c.models, deployments: c.modelDeployments, evaluations: c.modelEvaluations, now })
  const runtime = new ModelRuntime(c, log)
  const running = new Set<Promise<void>>()
  let stopping = false

  async function mustGet (id: string): Promise<ModelDoc> {
    const m = await registry.get(id)
    if (m === null) throw new PredictiveError('model-not-found', `Model '${id}' not found`)
    return m
  }

  async function runJob (job: JobDoc, params: TrainParams, actor: string, owner: string): Promise<void> {
    const started = Date.now()
    // the lock was taken when the job was queued (maybe by another process): renewed from here on, under its owner
    const lease = deps.locks.keep(TRAIN_LOCK, owner, LOCK_TTL_MS)
    const stopRenewing = async (): Promise<void> => { await lease.release().catch(() => undefined) }
    const update = async (set: Partial<JobDoc>): Promise<void> => {
      await c.jobs.updateOne({ _id: job._id }, { $set: { ...set, updatedAt: now() } })
      await deps.progress(job._id, { jobId: job._id, kind: 'train-model', ...set })
    }
    try {
      await update({ state: 'running', phase: 'building the dataset' })
      const outcome = params.outcome ?? DEFAULT_OUTCOME
      const asOf = params.asOf !== undefined ? Date.parse(params.asOf) : now().getTime()
      const from = params.from !== undefined ? Date.parse(params.from) : null
      const ruleset = await deps.rulesets.active()
      const { examples, stats } = await loadDataset(c, {
        outcome, asOf, from, settings: ruleset.settings, maxLeads: params.maxLeads ?? 200_000,
        onProgress: async (phase) => { if (stopping) throw new Error('server shutting down'); await update({ phase }) },
      })
      const options = {
        seed: params.seed ?? 1, folds: params.folds ?? 5, testFraction: params.testFraction ?? 0.2,
        calibration: params.calibration ?? 'platt', candidates: params.candidates ?? DEFAULT_CANDIDATES,
      }
      const result = await train(examples, {
        ...options,
        features: params.features ?? {},
        excludeAttributes: outcome.kind === 'attribute' ? [outcome.name] : [],
        excludeEventTypes: outcome.kind === 'event' ? outcome.eventTypes : [],
      }, async (phase, done, total) => {
        if (stopping) throw new Error('server shutting down')
        await update({ phase, done, total })
      })
      const points = examples.map((e) => e.at)
      const { featureSet, ...artifact } = result.artifact
      const model = await registry.insert({
        _id: newId('mdl'),
        ...(params.name !== undefined ? { name: params.name } : {}),
        algorithm: result.artifact.algorithm,
        createdAt: now(),
        createdBy: actor,
        jobId: job._id,
        outcome,
        window: {
          asOf: new Date(asOf), from: from === null ? null : new Date(from),
          firstPoint: points.length > 0 ? new Date(Math.min(...points)) : null, lastPoint: points.length > 0 ? new Date(Math.max(...points)) : null,
        },
        data: { ...stats, ...result.split },
        options,
        rulesetVersion: ruleset.version,
        winner: result.winner,
        cv: result.cv,
        metrics: result.holdout,
        importance: result.importance,
        featureSet,
        artifact,
        predictionBaseline: result.predictionBaseline,
        trainingMs: Date.now() - started,
      }, result.holdoutRows, result.groupKeys)
      // the lock is released before the job reads as finished, so a client that saw it finish can train again
      await stopRenewing()
      await update({ state: 'done', phase: 'done', finishedAt: now(), model: { id: model._id, version: model.version } })
      await deps.audit(actor, 'model.trained', model._id, { version: model.version, auc: model.metrics.auc, algorithm: model.algorithm })
      log.info({ modelId: model._id, version: model.version, auc: model.metrics.auc, ms: model.trainingMs }, 'model trained')
    } catch (err) {
      const code = err instanceof TrainingDataError ? 'LS_ERR_MODEL_TRAINING_DATA' : 'LS_ERR_INTERNAL'
      log.error({ err, jobId: job._id }, 'model training failed')
      await stopRenewing()
      await update({ state: 'failed', error: (err as Error).message, errorCode: code, finishedAt: now() }).catch(() => undefined)
    } finally {
      await stopRenewing()
    }
  }

  async function deployment (): Promise<DeploymentDoc | null> {
    return await registry.current()
  }

  return {
    registry,
    runtime,
    mustGet,
    defaults: { outcome: DEFAULT_OUTCOME, features: DEFAULT_FEATURE_SPEC, candidates: DEFAULT_CANDIDATES },

    /**
     * Records a training job (queued) holding the training lock, for the job runner to start (jobs/train-model.ts):
     * at most one runs at a time across processes.
     */
    async queueTraining (params: TrainParams, actor: string): Promise<JobDoc> {
      const jobId = newId('job')
      if (!await deps.locks.acquire(TRAIN_LOCK, jobId, LOCK_TTL_MS)) throw new PredictiveError('training-busy', 'A model is already being trained')
      const t = now()
      const job: JobDoc = {
        _id: jobId, kind: 'train-model', state: 'queued', total: 0, done: 0, error: null, errorCode: null, phase: 'queued', model: null,
        params: JSON.parse(JSON.stringify(params)) as Record<string, unknown>, createdAt: t, updatedAt: t, finishedAt: null,
      }
      try {
        await c.jobs.insertOne(job)
        await deps.audit(actor, 'model.train', jobId, { outcome: params.outcome ?? DEFAULT_OUTCOME })
      } catch (err) {
        await deps.locks.release(TRAIN_LOCK, jobId)
        throw err
      }
      return job
    },

    /** Runs a queued training job to its end (done or failed, recorded in the job document). */
    async runTraining (jobId: string, actor: string): Promise<void> {
      const job = await c.jobs.findOne({ _id: jobId, kind: 'train-model' })
      if (job === null || job.state !== 'queued') return
      const p = runJob(job, (job.params ?? {}) as TrainParams, actor, jobId).finally(() => { running.delete(p) })
      running.add(p)
      await p
    },

    /** Gives the training lock back for a job that will not run (it could not be handed to the job runner). */
    async abandonTraining (jobId: string): Promise<void> {
      await c.jobs.updateOne({ _id: jobId }, { $set: { state: 'failed', error: 'the job could not be queued', errorCode: 'LS_ERR_INTERNAL', updatedAt: now(), finishedAt: now() } })
      await deps.locks.release(TRAIN_LOCK, jobId)
    },

    async job (id: string): Promise<JobDoc | null> {
      const j = await c.jobs.findOne({ _id: id, kind: 'train-model' })
      // a job whose process died stays "running" with a stale heartbeat: report it as failed
      if (j !== null && (j.state === 'running' || j.state === 'queued') && now().getTime() - j.updatedAt.getTime() > 5 * LOCK_TTL_MS) {
        return { ...j, state: 'failed', error: 'the training process stopped', errorCode: 'LS_ERR_INTERNAL' }
      }
      return j
    },

    deployment,

    async deploy (id: string, role: 'champion' | 'challenger', share: number | undefined, actor: string): Promise<DeploymentDoc> {
      const m = await mustGet(id)
      const ref = { id: m._id, version: m.version }
      const dep = await registry.append((cur) => role === 'champion'
        ? { champion: ref, challenger: cur.challenger?.id === id ? null : cur.challenger, challengerShare: cur.challenger?.id === id ? 0 : cur.challengerShare, action: 'deploy' }
        : { champion: cur.champion?.id === id ? null : cur.champion, challenger: ref, challengerShare: share ?? (cur.challengerShare > 0 ? cur.challengerShare : 0.1), action: 'challenger' }, actor)
      await deps.audit(actor, role === 'champion' ? 'model.deploy' : 'model.challenger', id, { version: m.version, challengerShare: dep.challengerShare })
      await runtime.ensureFresh(true)
      return dep
    },

    /** Makes the champion before the current one the champion again (none, if the current one was the first). */
    async rollback (actor: string): Promise<DeploymentDoc> {
      if (rollbackTarget(await registry.history(100_000)) === undefined) throw new PredictiveError('no-rollback', 'There is no earlier champion to roll back to')
      const dep = await registry.append((cur, hist) => {
        const target = rollbackTarget(hist)
        const previous = target === undefined ? cur.champion : target
        return { champion: previous, challenger: cur.challenger?.id === previous?.id ? null : cur.challenger, challengerShare: cur.challenger?.id === previous?.id ? 0 : cur.challengerShare, action: 'rollback' }
      }, actor)
      await deps.audit(actor, 'model.rollback', dep.champion?.id ?? 'none', { champion: dep.champion })
      await runtime.ensureFresh(true)
      return dep
    },

    /** Ends the challenger's trial: promoted to champion, or simply stopped. */
    async endChallenger (promote: boolean, actor: string): Promise<DeploymentDoc> {
      const cur = await deployment()
      if (cur?.challenger == null) throw new PredictiveError('no-challenger', 'No challenger is deployed')
      const dep = await registry.append((d) => {
        if (d.challenger === null) return { ...d, action: 'end-challenger' }
        return promote
          ? { champion: d.challenger, challenger: null, challengerShare: 0, action: 'promote' }
          : { champion: d.champion, challenger: null, challengerShare: 0, action: 'end-challenger' }
      }, actor)
      await deps.audit(actor, promote ? 'model.promote' : 'model.challenger.end', cur.challenger.id, {})
      await runtime.ensureFresh(true)
      return dep
    },

    /** Stops accepting new work and waits (up to timeoutMs) for running training jobs to stop. */
    async stop (timeoutMs: number): Promise<void> {
      stopping = true
      if (running.size === 0) return
      let timer: NodeJS.Timeout | undefined
      await Promise.race([Promise.all([...running]), new Promise((r) => { timer = setTimeout(r, timeoutMs) })])
      clearTimeout(timer)
    },
  }
}

export type PredictiveService = ReturnType<typeof createPredictiveService>
