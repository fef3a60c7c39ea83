// Calls of the /v1/models API (generated client), apart from ./index.ts so that only the Models view loads them.
import { http, ok } from './client.js'
import type { BodyOf, QueryOf } from './types.js'

export const modelsApi = {
  list: () => ok(http.GET('/v1/models')),
  get: (id: string) => ok(http.GET('/v1/models/{id}', { params: { path: { id } } })),
  featureSet: () => ok(http.GET('/v1/models/feature-set')),
  train: (body: BodyOf<'/v1/models/train', 'post'>) => ok(http.POST('/v1/models/train', { body })),
  job: (id: string) => ok(http.GET('/v1/models/jobs/{id}', { params: { path: { id } } })),
  deployment: () => ok(http.GET('/v1/models/deployment')),
  deploy: (id: string, body: BodyOf<'/v1/models/{id}/deploy', 'post'>) => ok(http.POST('/v1/models/{id}/deploy', { params: { path: { id } }, body })),
  rollback: () => ok(http.POST('/v1/models/rollback')),
  endChallenger: (promote: boolean) => ok(http.POST('/v1/models/challenger/end', { body: { promote } })),
  compare: (a: string, b: string) => ok(http.GET('/v1/models/compare', { params: { query: { a, b } } })),
  performance: (id: string) => ok(http.GET('/v1/models/{id}/performance', { params: { path: { id } } })),
  drift: (id: string, query: QueryOf<'/v1/models/{id}/drift', 'get'> = {}) => ok(http.GET('/v1/models/{id}/drift', { params: { path: { id }, query } })),
  bias: (id: string, query: QueryOf<'/v1/models/{id}/bias', 'get'>) => ok(http.GET('/v1/models/{id}/bias', { params: { path: { id }, query } })),
}
