// Typed calls of the Leadscore API, one per route the console uses.
import { request } from './client.js'
import type {
  ApiKey, ApiKeyCreate, ApiKeyCreated, AuditEntry, EventInput, IngestResult, Job, Lead, LeadEvent, LeadFilter, LedgerEntry,
  LoginBody, Page, Ruleset, RulesetReplace, ScoreDistribution, Stats, SessionInfo, SortName, StageFunnel, User, UserCreate, UserPatch,
} from './types.js'

export { ApiError, errorMessage } from './client.js'
export type * from './types.js'

const id = (s: string): string => encodeURIComponent(s)

export const api = {
  session: {
    get: () => request<SessionInfo>('GET', '/v1/session'),
    create: (body: LoginBody) => request<SessionInfo>('POST', '/v1/session', { body }),
    delete: () => request<void>('DELETE', '/v1/session'),
  },
  leads: {
    list: (q: LeadFilter & { sort?: SortName; limit?: number; cursor?: string | null }, signal?: AbortSignal) =>
      request<Page<Lead>>('GET', '/v1/leads', { query: q, ...(signal !== undefined ? { signal } : {}) }),
    get: (leadId: string) => request<Lead>('GET', `/v1/leads/${id(leadId)}`),
    history: (leadId: string, q: { includeSuperseded?: boolean; order?: 'asc' | 'desc'; limit?: number; cursor?: string | null }) =>
      request<Page<LedgerEntry>>('GET', `/v1/leads/${id(leadId)}/history`, { query: q }),
    events: (leadId: string, q: { limit?: number; cursor?: string | null } = {}) =>
      request<Page<LeadEvent>>('GET', `/v1/leads/${id(leadId)}/events`, { query: q }),
    adjust: (leadId: string, body: { dimension: 'engagement' | 'fit' | 'intent'; points: number; note: string }) =>
      request<{ eventId: string; leadId: string }>('POST', `/v1/leads/${id(leadId)}/adjustments`, { body }),
    rescore: (leadId: string) => request<{ leadId: string; queued: boolean }>('POST', `/v1/leads/${id(leadId)}/rescore`),
  },
  leaderboard: (q: { limit: number; stage?: string }) => request<{ items: Lead[] }>('GET', '/v1/leaderboard', { query: q }),
  events: {
    submit: (body: EventInput) => request<IngestResult>('POST', '/v1/events', { body }),
  },
  rulesets: {
    list: () => request<{ items: Ruleset[] }>('GET', '/v1/rulesets'),
    active: () => request<Ruleset>('GET', '/v1/rulesets/active'),
    replace: (body: RulesetReplace) => request<Ruleset>('PUT', '/v1/rulesets/active', { body }),
  },
  rescoreAll: () => request<Job>('POST', '/v1/rescore'),
  job: (jobId: string) => request<Job>('GET', `/v1/jobs/${id(jobId)}`),
  stats: () => request<Stats>('GET', '/v1/stats'),
  analytics: {
    scoreDistribution: (q: { bucket: number; stage?: string }) => request<ScoreDistribution>('GET', '/v1/analytics/score-distribution', { query: q }),
    stages: () => request<StageFunnel>('GET', '/v1/analytics/stages'),
  },
  apiKeys: {
    list: () => request<{ items: ApiKey[] }>('GET', '/v1/api-keys'),
    create: (body: ApiKeyCreate) => request<ApiKeyCreated>('POST', '/v1/api-keys', { body }),
    revoke: (keyId: string) => request<void>('DELETE', `/v1/api-keys/${id(keyId)}`),
  },
  auditLog: (limit: number) => request<{ items: AuditEntry[] }>('GET', '/v1/audit-log', { query: { limit } }),
  users: {
    list: () => request<{ items: User[] }>('GET', '/v1/users'),
    create: (body: UserCreate) => request<User>('POST', '/v1/users', { body }),
    update: (userId: string, body: UserPatch) => request<User>('PATCH', `/v1/users/${id(userId)}`, { body }),
    delete: (userId: string) => request<void>('DELETE', `/v1/users/${id(userId)}`),
  },
}
