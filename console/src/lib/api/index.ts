// The console's calls of the Leadscore API, grouped by resource. Each is one call of the generated client (`http`,
// typed by ./openapi.d.ts): its path, method, parameters, body and answer are checked against the server's OpenAPI
// document, so a route that changes shape fails the console's type-check instead of a page at run time.
import { http, ok } from './client.js'
import type { BodyOf, QueryOf } from './types.js'

export { ApiError, errorMessage, http, ok } from './client.js'
export type * from './types.js'

const sig = (signal?: AbortSignal): { signal?: AbortSignal } => signal !== undefined ? { signal } : {}
/** A paged query whose cursor may be null (the first page): the client leaves a null value out of the query. */
type Paged<Q> = Omit<Q, 'cursor'> & { cursor?: string | null }
const paged = <Q>(q: Paged<Q>): Q => q as Q

export const api = {
  session: {
    get: () => ok(http.GET('/v1/session')),
    create: (body: BodyOf<'/v1/session', 'post'>) => ok(http.POST('/v1/session', { body })),
    delete: () => ok(http.DELETE('/v1/session')),
  },
  leads: {
    list: (query: Paged<QueryOf<'/v1/leads', 'get'>>, signal?: AbortSignal) => ok(http.GET('/v1/leads', { params: { query: paged(query) }, ...sig(signal) })),
    get: (id: string, query: QueryOf<'/v1/leads/{id}', 'get'> = {}) => ok(http.GET('/v1/leads/{id}', { params: { path: { id }, query } })),
    trend: (id: string, query: QueryOf<'/v1/leads/{id}/trend', 'get'>) => ok(http.GET('/v1/leads/{id}/trend', { params: { path: { id }, query } })),
    history: (id: string, query: Paged<QueryOf<'/v1/leads/{id}/history', 'get'>>) => ok(http.GET('/v1/leads/{id}/history', { params: { path: { id }, query: paged(query) } })),
    events: (id: string, query: Paged<QueryOf<'/v1/leads/{id}/events', 'get'>> = {}) => ok(http.GET('/v1/leads/{id}/events', { params: { path: { id }, query: paged(query) } })),
    adjust: (id: string, body: BodyOf<'/v1/leads/{id}/adjustments', 'post'>) => ok(http.POST('/v1/leads/{id}/adjustments', { params: { path: { id } }, body })),
    rescore: (id: string) => ok(http.POST('/v1/leads/{id}/rescore', { params: { path: { id } } })),
    exportData: (id: string) => ok(http.GET('/v1/leads/{id}/export', { params: { path: { id } } })),
    erase: (id: string, suppress: boolean) => ok(http.DELETE('/v1/leads/{id}', { params: { path: { id }, query: { suppress } } })),
  },
  suppressions: {
    list: () => ok(http.GET('/v1/suppressions')),
    lift: (id: string) => ok(http.DELETE('/v1/suppressions/{id}', { params: { path: { id } } })),
    liftIdentity: (body: BodyOf<'/v1/suppressions/lift', 'post'>) => ok(http.POST('/v1/suppressions/lift', { body })),
  },
  leaderboard: (query: QueryOf<'/v1/leaderboard', 'get'>) => ok(http.GET('/v1/leaderboard', { params: { query } })),
  events: {
    submit: (body: BodyOf<'/v1/events', 'post'>) => ok(http.POST('/v1/events', { body })),
  },
  rulesets: {
    list: () => ok(http.GET('/v1/rulesets')),
    active: () => ok(http.GET('/v1/rulesets/active')),
    get: (version: number) => ok(http.GET('/v1/rulesets/{version}', { params: { path: { version } } })),
    catalog: () => ok(http.GET('/v1/rulesets/catalog')),
    validate: (source: string) => ok(http.POST('/v1/rulesets/validate', { body: { source } })),
    create: (body: BodyOf<'/v1/rulesets', 'post'>) => ok(http.POST('/v1/rulesets', { body })),
    update: (version: number, body: BodyOf<'/v1/rulesets/{version}', 'put'>) => ok(http.PUT('/v1/rulesets/{version}', { params: { path: { version } }, body })),
    publish: (version: number, body: BodyOf<'/v1/rulesets/{version}/publish', 'post'>) =>
      ok(http.POST('/v1/rulesets/{version}/publish', { params: { path: { version } }, body })),
    rollback: (version: number, body: BodyOf<'/v1/rulesets/{version}/rollback', 'post'>) =>
      ok(http.POST('/v1/rulesets/{version}/rollback', { params: { path: { version } }, body })),
    diff: (from: number, to: number, signal?: AbortSignal) => ok(http.GET('/v1/rulesets/diff', { params: { query: { from, to } }, ...sig(signal) })),
    dryRun: (body: BodyOf<'/v1/rulesets/dry-run', 'post'>) => ok(http.POST('/v1/rulesets/dry-run', { body })),
    backtest: (version: number, body: BodyOf<'/v1/rulesets/{version}/backtest', 'post'>) =>
      ok(http.POST('/v1/rulesets/{version}/backtest', { params: { path: { version } }, body })),
  },
  backtest: (id: string) => ok(http.GET('/v1/backtests/{id}', { params: { path: { id } } })),
  uploads: {
    get: (id: string) => ok(http.GET('/v1/uploads/{id}', { params: { path: { id } } })),
    rejects: (id: string, query: Paged<QueryOf<'/v1/uploads/{id}/rejects', 'get'>> = {}) => ok(http.GET('/v1/uploads/{id}/rejects', { params: { path: { id }, query: paged(query) } })),
  },
  rescoreAll: () => ok(http.POST('/v1/rescore')),
  job: (id: string) => ok(http.GET('/v1/jobs/{id}', { params: { path: { id } } })),
  stats: () => ok(http.GET('/v1/stats')),
  analytics: {
    scoreDistribution: (query: QueryOf<'/v1/analytics/score-distribution', 'get'>) => ok(http.GET('/v1/analytics/score-distribution', { params: { query } })),
    stages: () => ok(http.GET('/v1/analytics/stages')),
    conversionByScore: (query: QueryOf<'/v1/analytics/conversion-by-score', 'get'>) => ok(http.GET('/v1/analytics/conversion-by-score', { params: { query } })),
    eventsOverTime: (query: QueryOf<'/v1/analytics/events-over-time', 'get'>) => ok(http.GET('/v1/analytics/events-over-time', { params: { query } })),
    sources: (query: QueryOf<'/v1/analytics/sources', 'get'>) => ok(http.GET('/v1/analytics/sources', { params: { query } })),
  },
  apiKeys: {
    list: () => ok(http.GET('/v1/api-keys')),
    create: (body: BodyOf<'/v1/api-keys', 'post'>) => ok(http.POST('/v1/api-keys', { body })),
    revoke: (id: string) => ok(http.DELETE('/v1/api-keys/{id}', { params: { path: { id } } })),
  },
  auditLog: (limit: number) => ok(http.GET('/v1/audit-log', { params: { query: { limit } } })),
  users: {
    list: () => ok(http.GET('/v1/users')),
    create: (body: BodyOf<'/v1/users', 'post'>) => ok(http.POST('/v1/users', { body })),
    update: (id: string, body: BodyOf<'/v1/users/{id}', 'patch'>) => ok(http.PATCH('/v1/users/{id}', { params: { path: { id } }, body })),
    delete: (id: string) => ok(http.DELETE('/v1/users/{id}', { params: { path: { id } } })),
  },
}
