// Calls of the sources API (generated client). Kept apart from `api` so that only the sources pages load them.
import { http, ok } from './client.js'
import type { BodyOf } from './types.js'

export const sourcesApi = {
  types: () => ok(http.GET('/v1/source-types')),
  list: () => ok(http.GET('/v1/sources')),
  get: (id: string) => ok(http.GET('/v1/sources/{id}', { params: { path: { id } } })),
  errors: (id: string) => ok(http.GET('/v1/sources/{id}/errors', { params: { path: { id } } })),
  create: (body: BodyOf<'/v1/sources', 'post'>) => ok(http.POST('/v1/sources', { body })),
  update: (id: string, body: BodyOf<'/v1/sources/{id}', 'patch'>) => ok(http.PATCH('/v1/sources/{id}', { params: { path: { id } }, body })),
  remove: (id: string) => ok(http.DELETE('/v1/sources/{id}', { params: { path: { id } } })),
  rotateSecret: (id: string, body: BodyOf<'/v1/sources/{id}/rotate-secret', 'post'>) =>
    ok(http.POST('/v1/sources/{id}/rotate-secret', { params: { path: { id } }, body })),
  poll: (id: string) => ok(http.POST('/v1/sources/{id}/poll', { params: { path: { id } } })),
  /** The stored rejects of one delivery (or poll page). */
  rejects: (requestId: string) => ok(http.GET('/v1/rejects', { params: { query: { requestId, limit: 100 } } })),
}
