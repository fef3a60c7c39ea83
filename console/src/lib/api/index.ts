// Typed calls of the Leadscore API, one per route the console uses.
import { request } from './client.js'
import type {
  ApiKey, ApiKeyCreate, ApiKeyCreated, AuditEntry, Backtest, BacktestBody, BacktestStarted, DryRunBody, DryRunResult, EventInput,
  IngestResult, Job, Lead, LeadEvent, LeadTrend, LeadTrendQuery, LeadExport, SuppressionEntry, LeadFilter, LedgerEntry, LoginBody, Page, Ruleset, RulesetCatalog, RulesetCreate, RulesetDiff,
  RulesetPublishBody, RulesetPublished, RulesetUpdate, RulesetValidation, ScoreDistribution, Stats, SessionInfo, SortName, StageFunnel,
  ConversionByScore, EventsOverTime, EventsOverTimeQuery, TopSources, TopSourcesQuery,
  Upload, UploadRejectEntry, User, UserCreate, UserPatch,
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
    get: (leadId: string, q: { asOf?: string } = {}) => request<Lead>('GET', `/v1/leads/${id(leadId)}`, { query: q }),
    trend: (leadId: string, q: LeadTrendQuery) => request<LeadTrend>('GET', `/v1/leads/${id(leadId)}/trend`, { query: q }),
    history: (leadId: string, q: { includeSuperseded?: boolean; order?: 'asc' | 'desc'; limit?: number; cursor?: string | null }) =>
      request<Page<LedgerEntry>>('GET', `/v1/leads/${id(leadId)}/history`, { query: q }),
    events: (leadId: string, q: { limit?: number; cursor?: string | null } = {}) =>
      request<Page<LeadEvent>>('GET', `/v1/leads/${id(leadId)}/events`, { query: q }),
    adjust: (leadId: string, body: { dimension: 'engagement' | 'fit' | 'intent'; points: number; note: string }) =>
      request<{ eventId: string; leadId: string }>('POST', `/v1/leads/${id(leadId)}/adjustments`, { body }),
    rescore: (leadId: string) => request<{ leadId: string; queued: boolean }>('POST', `/v1/leads/${id(leadId)}/rescore`),
    exportData: (leadId: string) => request<LeadExport>('GET', `/v1/leads/${id(leadId)}/export`),
    erase: (leadId: string, suppress: boolean) => request<void>('DELETE', `/v1/leads/${id(leadId)}`, { query: { suppress } }),
  },
  suppressions: {
    list: () => request<{ items: SuppressionEntry[] }>('GET', '/v1/suppressions'),
    lift: (entryId: string) => request<void>('DELETE', `/v1/suppressions/${id(entryId)}`),
    liftIdentity: (body: { email: string } | { externalId: string }) => request<{ id: string }>('POST', '/v1/suppressions/lift', { body }),
  },
  leaderboard: (q: { limit: number; stage?: string; asOf?: string }) => request<{ items: Lead[] }>('GET', '/v1/leaderboard', { query: q }),
  events: {
    submit: (body: EventInput) => request<IngestResult>('POST', '/v1/events', { body }),
  },
  rulesets: {
    list: () => request<{ items: Ruleset[] }>('GET', '/v1/rulesets'),
    active: () => request<Ruleset>('GET', '/v1/rulesets/active'),
    get: (version: number) => request<Ruleset>('GET', `/v1/rulesets/${version}`),
    catalog: () => request<RulesetCatalog>('GET', '/v1/rulesets/catalog'),
    validate: (source: string) => request<RulesetValidation>('POST', '/v1/rulesets/validate', { body: { source } }),
    create: (body: RulesetCreate) => request<Ruleset>('POST', '/v1/rulesets', { body }),
    update: (version: number, body: RulesetUpdate) => request<Ruleset>('PUT', `/v1/rulesets/${version}`, { body }),
    publish: (version: number, body: RulesetPublishBody) => request<RulesetPublished>('POST', `/v1/rulesets/${version}/publish`, { body }),
    rollback: (version: number, body: RulesetPublishBody) => request<RulesetPublished>('POST', `/v1/rulesets/${version}/rollback`, { body }),
    diff: (from: number, to: number, signal?: AbortSignal) =>
      request<RulesetDiff>('GET', '/v1/rulesets/diff', { query: { from, to }, ...(signal !== undefined ? { signal } : {}) }),
    dryRun: (body: DryRunBody) => request<DryRunResult>('POST', '/v1/rulesets/dry-run', { body }),
    backtest: (version: number, body: BacktestBody) => request<BacktestStarted>('POST', `/v1/rulesets/${version}/backtest`, { body }),
  },
  backtest: (jobId: string) => request<Backtest>('GET', `/v1/backtests/${id(jobId)}`),
  uploads: {
    get: (uploadId: string) => request<Upload>('GET', `/v1/uploads/${id(uploadId)}`),
    rejects: (uploadId: string, q: { limit?: number; cursor?: string | null } = {}) =>
      request<Page<UploadRejectEntry>>('GET', `/v1/uploads/${id(uploadId)}/rejects`, { query: q }),
  },
  rescoreAll: () => request<Job>('POST', '/v1/rescore'),
  job: (jobId: string) => request<Job>('GET', `/v1/jobs/${id(jobId)}`),
  stats: () => request<Stats>('GET', '/v1/stats'),
  analytics: {
    scoreDistribution: (q: { bucket: number; stage?: string }) => request<ScoreDistribution>('GET', '/v1/analytics/score-distribution', { query: q }),
    stages: () => request<StageFunnel>('GET', '/v1/analytics/stages'),
    conversionByScore: (q: { bucket: number; stage?: string }) => request<ConversionByScore>('GET', '/v1/analytics/conversion-by-score', { query: q }),
    eventsOverTime: (q: EventsOverTimeQuery) => request<EventsOverTime>('GET', '/v1/analytics/events-over-time', { query: q }),
    sources: (q: TopSourcesQuery) => request<TopSources>('GET', '/v1/analytics/sources', { query: q }),
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
