// Typed calls of the /v1/tracking-plan API, apart from ./index.ts so that only the pages using them load them. Types
// come from the server's TypeBox schemas (type-only).
import type { Static } from '@sinclair/typebox'
import type * as P from '../../../../server/src/schemas/tracking-plan.js'
import { request } from './client.js'

export type TrackingPlan = Static<typeof P.TrackingPlan>
export type PlanType = Static<typeof P.PlanType>
export type PlanMode = PlanType['mode']
export type PlanTypePut = Static<typeof P.PlanTypePut>
export type PlanVersions = Static<typeof P.PlanVersions>
export type PlanVersionSummary = PlanVersions['items'][number]
export type PlanViolations = Static<typeof P.PlanViolations>
export type PlanViolation = PlanViolations['items'][number]
export type PlanProperty = TrackingPlan['properties'][number]
export type PlanCheckBody = Static<typeof P.PlanCheckBody>
export type PlanCheckResult = Static<typeof P.PlanCheckResult>

const id = (s: string): string => encodeURIComponent(s)

export const trackingPlanApi = {
  get: () => request<TrackingPlan>('GET', '/v1/tracking-plan'),
  putType: (type: string, body: PlanTypePut) => request<TrackingPlan>('PUT', `/v1/tracking-plan/types/${id(type)}`, { body }),
  deleteType: (type: string) => request<TrackingPlan>('DELETE', `/v1/tracking-plan/types/${id(type)}`),
  versions: (q: { limit?: number; before?: number } = {}) => request<PlanVersions>('GET', '/v1/tracking-plan/versions', { query: q }),
  version: (version: number) => request<TrackingPlan>('GET', `/v1/tracking-plan/versions/${version}`),
  violations: () => request<PlanViolations>('GET', '/v1/tracking-plan/violations'),
  check: (body: PlanCheckBody) => request<PlanCheckResult>('POST', '/v1/tracking-plan/check', { body }),
}
