// Calls of the /v1/tracking-plan API (generated client), apart from ./index.ts so that only the pages using them load
// them.
import { http, ok } from './client.js'
import type { BodyOf, Ok, QueryOf } from './types.js'

export type TrackingPlan = Ok<'/v1/tracking-plan', 'get'>
export type PlanType = TrackingPlan['types'][number]
export type PlanMode = PlanType['mode']
export type PlanTypePut = BodyOf<'/v1/tracking-plan/types/{type}', 'put'>
export type PlanVersions = Ok<'/v1/tracking-plan/versions', 'get'>
export type PlanVersionSummary = PlanVersions['items'][number]
export type PlanViolations = Ok<'/v1/tracking-plan/violations', 'get'>
export type PlanViolation = PlanViolations['items'][number]
export type PlanProperty = TrackingPlan['properties'][number]
export type PlanCheckBody = BodyOf<'/v1/tracking-plan/check', 'post'>
export type PlanCheckResult = Ok<'/v1/tracking-plan/check', 'post'>

export const trackingPlanApi = {
  get: () => ok(http.GET('/v1/tracking-plan')),
  putType: (type: string, body: PlanTypePut) => ok(http.PUT('/v1/tracking-plan/types/{type}', { params: { path: { type } }, body })),
  deleteType: (type: string) => ok(http.DELETE('/v1/tracking-plan/types/{type}', { params: { path: { type } } })),
  versions: (query: QueryOf<'/v1/tracking-plan/versions', 'get'> = {}) => ok(http.GET('/v1/tracking-plan/versions', { params: { query } })),
  version: (version: number) => ok(http.GET('/v1/tracking-plan/versions/{version}', { params: { path: { version } } })),
  violations: () => ok(http.GET('/v1/tracking-plan/violations')),
  check: (body: PlanCheckBody) => ok(http.POST('/v1/tracking-plan/check', { body })),
}
