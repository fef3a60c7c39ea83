// Typed calls of the sources API. Kept apart from `api` so that only the sources pages load them.
import { request } from './client.js'
import type { Page, PollResult, Reject, RotateSecret, RotatedSecret, Source, SourceCreate, SourceCreated, SourceError, SourcePatch, SourceType } from './types.js'

const id = (s: string): string => encodeURIComponent(s)

export const sourcesApi = {
  types: () => request<{ items: SourceType[] }>('GET', '/v1/source-types'),
  list: () => request<{ items: Source[] }>('GET', '/v1/sources'),
  get: (sourceId: string) => request<Source>('GET', `/v1/sources/${id(sourceId)}`),
  errors: (sourceId: string) => request<{ items: SourceError[] }>('GET', `/v1/sources/${id(sourceId)}/errors`),
  create: (body: SourceCreate) => request<SourceCreated>('POST', '/v1/sources', { body }),
  update: (sourceId: string, body: SourcePatch) => request<Source>('PATCH', `/v1/sources/${id(sourceId)}`, { body }),
  remove: (sourceId: string) => request<void>('DELETE', `/v1/sources/${id(sourceId)}`),
  rotateSecret: (sourceId: string, body: RotateSecret) => request<RotatedSecret>('POST', `/v1/sources/${id(sourceId)}/rotate-secret`, { body }),
  poll: (sourceId: string) => request<PollResult>('POST', `/v1/sources/${id(sourceId)}/poll`),
  /** The stored rejects of one delivery (or poll page). */
  rejects: (requestId: string) => request<Page<Reject>>('GET', '/v1/rejects', { query: { requestId, limit: 100 } }),
}
