// The model registry (`models`), the deployment history (`modelDeployments`, insert-only) and the holdout rows each
// model was evaluated on (`modelEvaluations`). Versions and deployment steps are claimed by inserting a unique key,
// so concurrent writers never both win (conditional updates are not atomic on every MongoDB-protocol server).
import type { Collection } from 'mongodb'
import { isDuplicateKey } from '../../infra/db.js'
import type { OutcomeDefinition, DatasetStats } from './dataset.js'
import type { FittedFeatureSet } from './features.js'
import type { ModelArtifact, Algorithm } from './predictor.js'
import type { CandidateResult, HoldoutReport, Importance, Candidate } from './trainer.js'

export interface ModelDoc {
  _id: string
  version: number
  name: string
  algorithm: Algorithm
  createdAt: Date
  createdBy: string
  jobId: string
  outcome: OutcomeDefinition
  /** The data the model was trained on: the cutoff, the earliest allowed prediction point, and what was found. */
  window: { asOf: Date; from: Date | null; firstPoint: Date | null; lastPoint: Date | null }
  data: DatasetStats & { train: number; test: number; folds: number }
  options: { seed: number; folds: number; testFraction: number; calibration: 'platt' | 'isotonic'; candidates: Candidate[] }
  rulesetVersion: number
  winner: string
  cv: CandidateResult[]
  metrics: HoldoutReport
  importance: Importance
  featureSet: FittedFeatureSet
  artifact: Omit<ModelArtifact, 'featureSet'>
  predictionBaseline: { edges: number[]; shares: number[] }
  trainingMs: number
}

export interface DeploymentRef { id: string; version: number }

/** One step of the deployment history; the step with the highest seq is the current deployment. */
export interface DeploymentDoc {
  _id: string
  seq: number
  champion: DeploymentRef | null
  challenger: DeploymentRef | null
  /** Share of leads (by a hash of the lead id) scored by the challenger. */
  challengerShare: number
  action: 'deploy' | 'challenger' | 'rollback' | 'promote' | 'end-challenger'
  actor: string
  at: Date
}

/** The holdout rows of a model: lead, calibrated probability, outcome, and attribute values at the prediction point. */
export interface EvaluationDoc { _id: string; groupKeys: string[]; rows: Array<{ leadId: string; p: number; y: number; g: Array<string | null> }> }

export const NO_DEPLOYMENT: Omit<DeploymentDoc, '_id' | 'at' | 'actor' | 'action'> = { seq: 0, champion: null, challenger: null, challengerShare: 0 }

export function createModelRegistry (deps: { models: Collection<ModelDoc>; deployments: Collection<DeploymentDoc>; evaluations: Collection<EvaluationDoc>; now: () => Date }) {
  const { models, deployments, evaluations } = deps

  async function current (): Promise<DeploymentDoc | null> {
    return await deployments.find({}).sort({ seq: -1 }).limit(1).next()
  }

  return {
    current,

    /** Stores a new model under the next free version number. */
    async insert (doc: Omit<ModelDoc, 'version' | 'name'> & { name?: string }, holdout: EvaluationDoc['rows'], groupKeys: string[]): Promise<ModelDoc> {
      for (let attempt = 0; attempt < 50; attempt++) {
        const top = await models.find({}).sort({ version: -1 }).limit(1).project<{ version: number }>({ version: 1 }).next()
        const version = (top?.version ?? 0) + 1
        const full: ModelDoc = { ...doc, version, name: doc.name ?? `model-v${version}` }
        try {
          await models.insertOne(full)
          await evaluations.insertOne({ _id: full._id, groupKeys, rows: holdout.slice(0, 50_000) })
          return full
        } catch (err) {
          if (!isDuplicateKey(err)) throw err
        }
      }
      throw new Error('could not allocate a model version')
    },

    async get (id: string): Promise<ModelDoc | null> {
      return await models.findOne({ _id: id })
    },

    async list (): Promise<ModelDoc[]> {
      return await models.find({}, { projection: { artifact: 0, 'featureSet.sources': 0, 'metrics.roc': 0, 'metrics.calibration': 0, 'importance.columns': 0 } }).sort({ version: -1 }).limit(500).toArray()
    },

    async holdout (id: string): Promise<EvaluationDoc> {
      return (await evaluations.findOne({ _id: id })) ?? { _id: id, groupKeys: [], rows: [] }
    },

    /** The last `limit` deployment steps, newest first. */
    async history (limit = 20): Promise<DeploymentDoc[]> {
      return await deployments.find({}).sort({ seq: -1 }).limit(limit).toArray()
    },

    /**
     * Appends a deployment step computed from the current one. Returns null when another writer appended first
     * (the caller retries with the new current step).
     */
    async append (next: (cur: Omit<DeploymentDoc, '_id' | 'at' | 'actor' | 'action'>, history: DeploymentDoc[]) => Omit<DeploymentDoc, '_id' | 'seq' | 'at' | 'actor'>, actor: string): Promise<DeploymentDoc> {
      for (let attempt = 0; attempt < 20; attempt++) {
        const hist = await deployments.find({}).sort({ seq: -1 }).toArray()
        const cur = hist[0] ?? NO_DEPLOYMENT
        const step = next(cur, hist)
        const seq = cur.seq + 1
        const doc: DeploymentDoc = { _id: `dep_${String(seq).padStart(9, '0')}`, seq, ...step, actor, at: deps.now() }
        try {
          await deployments.insertOne(doc)
          return doc
        } catch (err) {
          if (!isDuplicateKey(err)) throw err
        }
      }
      throw new Error('could not append a deployment step')
    },
  }
}

export type ModelRegistry = ReturnType<typeof createModelRegistry>
