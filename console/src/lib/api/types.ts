// Types of the API's payloads, taken from the generated ./openapi.d.ts (`npm run api:generate` writes it from the
// server's OpenAPI document). Only the live WebSocket's messages, which the document cannot describe, still come
// from the server's TypeBox schemas (type-only). Relative paths with .js, so the same file also type-checks under the
// tests' NodeNext resolution.
import type { components, paths } from './openapi.js'
import type { LeadScoredDataT, LiveMessageT, LiveFrameT } from '../../../../server/src/schemas/live.js'

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete'
type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>
type JsonOf<R> = R extends { content: { 'application/json': infer B } } ? B : never
/** The JSON a route answers on success. */
export type Ok<P extends keyof paths, M extends Method> = Operation<P, M> extends { responses: infer R }
  ? JsonOf<R[Extract<keyof R, 200 | 201 | 202>]> : never
/** The query parameters of a route. */
export type QueryOf<P extends keyof paths, M extends Method> = NonNullable<Operation<P, M>['parameters']['query']>
/** The JSON body of a route. */
export type BodyOf<P extends keyof paths, M extends Method> = JsonOf<NonNullable<Operation<P, M>['requestBody']>>
/** A schema the document declares once and refers to. */
export type Schema<N extends keyof components['schemas']> = components['schemas'][N]
type ItemOf<L> = L extends { items: Array<infer T> } ? T : never

export type Problem = Schema<'ProblemDetails'>
export type Lead = Schema<'Lead'>
export type LeadEvent = Schema<'Event'>
export type EventInput = Schema<'EventInput'>
export type LedgerEntry = Schema<'LedgerEntry'>
export type LeadTrend = Ok<'/v1/leads/{id}/trend', 'get'>
export type LeadTrendQuery = QueryOf<'/v1/leads/{id}/trend', 'get'>
export type Reason = LedgerEntry['reasons'][number]
/** The filters of `GET /v1/leads` (its query without sort and paging). */
export type LeadFilter = Omit<QueryOf<'/v1/leads', 'get'>, 'sort' | 'limit' | 'cursor'>
export type SortName = NonNullable<QueryOf<'/v1/leads', 'get'>['sort']>
export type Ruleset = Schema<'Ruleset'>
export type RulesetStatus = Ruleset['status']
export type ApiDiagnostic = Schema<'Diagnostic'>
export type RulesetCatalog = Ok<'/v1/rulesets/catalog', 'get'>
export type RulesetValidation = Ok<'/v1/rulesets/validate', 'post'>
export type RulesetCreate = BodyOf<'/v1/rulesets', 'post'>
export type RulesetUpdate = BodyOf<'/v1/rulesets/{version}', 'put'>
export type RulesetReplace = RulesetUpdate
export type RulesetPublishBody = BodyOf<'/v1/rulesets/{version}/publish', 'post'>
export type RulesetPublished = Ok<'/v1/rulesets/{version}/publish', 'post'>
export type RulesetDiff = Ok<'/v1/rulesets/diff', 'get'>
export type DiffLine = RulesetDiff['lines'][number]
export type DryRunBody = BodyOf<'/v1/rulesets/dry-run', 'post'>
export type DryRunResult = Ok<'/v1/rulesets/dry-run', 'post'>
export type DryRunEntry = DryRunResult['entries'][number]
export type BacktestBody = BodyOf<'/v1/rulesets/{version}/backtest', 'post'>
export type BacktestStarted = Ok<'/v1/rulesets/{version}/backtest', 'post'>
export type Backtest = Schema<'Backtest'>
export type BacktestResult = NonNullable<Backtest['result']>
export type UploadReject = Schema<'UploadReject'>
export type UploadReport = Schema<'UploadReport'>
export type UploadKind = UploadReport['kind']
export type UploadFormat = UploadReport['format']
export type Upload = Schema<'Upload'>
export type UploadRejectEntry = ItemOf<Ok<'/v1/uploads/{id}/rejects', 'get'>>
export type IngestResult = Schema<'IngestResult'>
export type Reject = ItemOf<Ok<'/v1/rejects', 'get'>>
export type Source = Ok<'/v1/sources/{id}', 'get'>
export type SourceStats = Source['stats']
export type SourceEndpoint = Source['endpoints'][number]
export type SourceSecretInfo = Source['secrets'][number]
export type SourceCreate = BodyOf<'/v1/sources', 'post'>
export type SourceCreated = Ok<'/v1/sources', 'post'>
export type SourcePatch = BodyOf<'/v1/sources/{id}', 'patch'>
export type SourceType = ItemOf<Ok<'/v1/source-types', 'get'>>
export type RotateSecret = BodyOf<'/v1/sources/{id}/rotate-secret', 'post'>
export type RotatedSecret = Ok<'/v1/sources/{id}/rotate-secret', 'post'>
export type SourceError = ItemOf<Ok<'/v1/sources/{id}/errors', 'get'>>
export type PollResult = Ok<'/v1/sources/{id}/poll', 'post'>
export type ApiKey = ItemOf<Ok<'/v1/api-keys', 'get'>>
export type ApiKeyCreate = BodyOf<'/v1/api-keys', 'post'>
export type ApiKeyCreated = Ok<'/v1/api-keys', 'post'>
export type AuditEntry = ItemOf<Ok<'/v1/audit-log', 'get'>>
export type LeadExport = Ok<'/v1/leads/{id}/export', 'get'>
export type SuppressionEntry = ItemOf<Ok<'/v1/suppressions', 'get'>>
export type Job = Ok<'/v1/jobs/{id}', 'get'>
export type Stats = Ok<'/v1/stats', 'get'>
export type User = ItemOf<Ok<'/v1/users', 'get'>>
export type UserCreate = BodyOf<'/v1/users', 'post'>
export type UserPatch = BodyOf<'/v1/users/{id}', 'patch'>
export type LoginBody = BodyOf<'/v1/session', 'post'>
export type SessionInfo = Ok<'/v1/session', 'get'>
export type ScoreDistribution = Ok<'/v1/analytics/score-distribution', 'get'>
export type StageFunnel = Ok<'/v1/analytics/stages', 'get'>
export type ConversionByScore = Ok<'/v1/analytics/conversion-by-score', 'get'>
export type EventsOverTime = Ok<'/v1/analytics/events-over-time', 'get'>
export type Granularity = EventsOverTime['granularity']
/** The query of `GET /v1/analytics/events-over-time` (every field has a server default). */
export type EventsOverTimeQuery = QueryOf<'/v1/analytics/events-over-time', 'get'>
export type TopSources = Ok<'/v1/analytics/sources', 'get'>
export type SourceSort = TopSources['sort']
export type TopSourcesQuery = QueryOf<'/v1/analytics/sources', 'get'>
export type LeadScoredData = LeadScoredDataT
export type LiveMessage = LiveMessageT
export type LiveFrame = LiveFrameT
export type Scope = ApiKeyCreate['scopes'][number]
export type Role = User['role']

/** A cursor-paginated list, as every list route answers. */
export interface Page<T> { items: T[]; nextCursor: string | null }

// ---- predictive models
export type OutcomeDefinition = Schema<'OutcomeDefinition'>
export type FeatureSpec = Schema<'FeatureSpec'>
export type TrainBody = BodyOf<'/v1/models/train', 'post'>
export type ModelJob = Schema<'ModelJob'>
export type ModelSummary = Schema<'ModelSummary'>
export type Model = Schema<'Model'>
export type ModelMetrics = Model['metrics']
export type FeatureSource = Model['featureSet']['sources'][number]
export type Deployment = Schema<'Deployment'>
export type DeployBody = BodyOf<'/v1/models/{id}/deploy', 'post'>
export type DeploymentStatus = Ok<'/v1/models/deployment', 'get'>
export type ModelPerformance = Ok<'/v1/models/{id}/performance', 'get'>
export type ModelDrift = Ok<'/v1/models/{id}/drift', 'get'>
export type DriftItem = ModelDrift['prediction']
export type ModelBias = Ok<'/v1/models/{id}/bias', 'get'>
export type BiasGroup = ModelBias['groups'][number]
export type ModelCompare = Ok<'/v1/models/compare', 'get'>
export type FeatureSetDeclaration = Ok<'/v1/models/feature-set', 'get'>
