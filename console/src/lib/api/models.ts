// Typed calls of the /v1/models API, apart from ./index.ts so that only the Models view loads them.
import { request } from './client.js'
import type {
  Deployment, DeployBody, DeploymentStatus, FeatureSetDeclaration, Model, ModelBias, ModelCompare, ModelDrift, ModelJob, ModelPerformance,
  ModelSummary, TrainBody,
} from './types.js'

const id = (s: string): string => encodeURIComponent(s)

export const modelsApi = {
  list: () => request<{ items: ModelSummary[] }>('GET', '/v1/models'),
  get: (modelId: string) => request<Model>('GET', `/v1/models/${id(modelId)}`),
  featureSet: () => request<FeatureSetDeclaration>('GET', '/v1/models/feature-set'),
  train: (body: TrainBody) => request<ModelJob>('POST', '/v1/models/train', { body }),
  job: (jobId: string) => request<ModelJob>('GET', `/v1/models/jobs/${id(jobId)}`),
  deployment: () => request<DeploymentStatus>('GET', '/v1/models/deployment'),
  deploy: (modelId: string, body: DeployBody) => request<Deployment>('POST', `/v1/models/${id(modelId)}/deploy`, { body }),
  rollback: () => request<Deployment>('POST', '/v1/models/rollback'),
  endChallenger: (promote: boolean) => request<Deployment>('POST', '/v1/models/challenger/end', { body: { promote } }),
  compare: (a: string, b: string) => request<ModelCompare>('GET', '/v1/models/compare', { query: { a, b } }),
  performance: (modelId: string) => request<ModelPerformance>('GET', `/v1/models/${id(modelId)}/performance`),
  drift: (modelId: string, q: { days?: number; warning?: number; alarm?: number } = {}) =>
    request<ModelDrift>('GET', `/v1/models/${id(modelId)}/drift`, { query: q }),
  bias: (modelId: string, q: { attribute: string; data?: 'holdout' | 'live' }) =>
    request<ModelBias>('GET', `/v1/models/${id(modelId)}/bias`, { query: q }),
}
