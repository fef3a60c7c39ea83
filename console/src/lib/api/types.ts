// Types of the API's payloads, taken from the server's TypeBox schemas (type-only: nothing of the server is bundled).
// Only server/src/schemas is imported. Relative paths with .js, so the same file also type-checks under the tests'
// NodeNext resolution.
import type { Static } from '@sinclair/typebox'
import type {
  ProblemDetailsT, LeadT, Event as EventSchema, EventInput as EventInputSchema, LedgerEntry as LedgerEntrySchema, Reason as ReasonSchema,
} from '../../../../server/src/schemas/common.js'
import type { LoginBodyT, SessionInfoT, UserT, UserCreateT, UserPatchT } from '../../../../server/src/schemas/users.js'
import type { ScoreDistributionT, StageFunnelT, ConversionByScoreT, EventsOverTimeT, TopSourcesT } from '../../../../server/src/schemas/analytics.js'
import type * as A from '../../../../server/src/schemas/analytics.js'
import type { LeadScoredDataT, LiveMessageT, LiveFrameT } from '../../../../server/src/schemas/live.js'
import type { LeadFilterQueryT, SortName as ServerSortName } from '../../../../server/src/schemas/leads.js'
import type { RulesetReplaceT } from '../../../../server/src/schemas/rulesets.js'
import type * as R from '../../../../server/src/schemas/rulesets.js'
import type * as U from '../../../../server/src/schemas/uploads.js'
import type * as M from '../../../../server/src/schemas/models.js'
import type { IngestResultT, RejectT } from '../../../../server/src/schemas/events.js'
import type { LeadExportT, SuppressionEntryT } from '../../../../server/src/schemas/privacy.js'
import type * as S from '../../../../server/src/schemas/sources.js'
import type { ApiKeyT, ApiKeyCreateT, ApiKeyCreatedT, AuditEntryT, JobT, StatsT } from '../../../../server/src/schemas/system.js'
import type { TrendT, TrendQuery } from '../../../../server/src/schemas/trends.js'

export type Problem = ProblemDetailsT
export type Lead = LeadT
export type LeadEvent = Static<typeof EventSchema>
export type EventInput = Static<typeof EventInputSchema>
export type LedgerEntry = Static<typeof LedgerEntrySchema>
export type LeadTrend = TrendT
export type LeadTrendQuery = Static<typeof TrendQuery>
export type Reason = Static<typeof ReasonSchema>
export type LeadFilter = LeadFilterQueryT
export type SortName = ServerSortName
export type Ruleset = Static<typeof R.Ruleset>
export type RulesetStatus = Ruleset['status']
export type RulesetReplace = RulesetReplaceT
export type ApiDiagnostic = Static<typeof R.Diagnostic>
// (members the schemas give as Type.Ref('Ruleset') / Type.Ref('Diagnostic') are typed here by what they refer to)
export type RulesetCatalog = Static<typeof R.Catalog>
export type RulesetValidation = Omit<Static<typeof R.ValidateResult>, 'diagnostics'> & { diagnostics: ApiDiagnostic[] }
export type RulesetCreate = Static<typeof R.DraftCreate>
export type RulesetUpdate = Static<typeof R.DraftUpdate>
export type RulesetPublishBody = Static<typeof R.PublishBody>
export type RulesetPublished = Omit<Static<typeof R.PublishResult>, 'ruleset'> & { ruleset: Ruleset }
export type RulesetDiff = Static<typeof R.RulesetDiff>
export type DiffLine = RulesetDiff['lines'][number]
export type DryRunBody = Static<typeof R.DryRunBody>
export type DryRunResult = Omit<Static<typeof R.DryRunResult>, 'diagnostics'> & { diagnostics: ApiDiagnostic[] }
export type DryRunEntry = DryRunResult['entries'][number]
export type BacktestBody = Static<typeof R.BacktestBody>
/** `POST /v1/rulesets/:version/backtest` → 202 (the route's own inline schema). */
export interface BacktestStarted { jobId: string }
export type Backtest = Static<typeof R.Backtest>
export type BacktestResult = NonNullable<Backtest['result']>
export type UploadReject = Static<typeof U.UploadReject>
// (rejects are given as Type.Ref('UploadReject') in the schema)
export type UploadReport = Omit<Static<typeof U.UploadReport>, 'rejects'> & { rejects: UploadReject[] }
export type UploadKind = UploadReport['kind']
export type UploadFormat = UploadReport['format']
export type Upload = Static<typeof U.Upload>
export type UploadRejectEntry = Static<typeof U.UploadRejectEntry>
export type IngestResult = IngestResultT
export type Reject = RejectT
export type Source = S.SourceT
export type SourceStats = Source['stats']
export type SourceEndpoint = Source['endpoints'][number]
export type SourceSecretInfo = Source['secrets'][number]
export type SourceCreate = S.SourceCreateT
export type SourceCreated = Static<typeof S.SourceCreated>
export type SourcePatch = S.SourcePatchT
export type SourceType = Static<typeof S.SourceType>
export type RotateSecret = S.RotateSecretT
export type RotatedSecret = Static<typeof S.RotatedSecret>
export type SourceError = S.SourceErrorT
export type PollResult = S.PollResultT
export type ApiKey = ApiKeyT
export type ApiKeyCreate = ApiKeyCreateT
export type ApiKeyCreated = ApiKeyCreatedT
export type AuditEntry = AuditEntryT
export type LeadExport = LeadExportT
export type SuppressionEntry = SuppressionEntryT
export type Job = JobT
export type Stats = StatsT
export type User = UserT
export type UserCreate = UserCreateT
export type UserPatch = UserPatchT
export type LoginBody = LoginBodyT
export type SessionInfo = SessionInfoT
export type ScoreDistribution = ScoreDistributionT
export type StageFunnel = StageFunnelT
export type ConversionByScore = ConversionByScoreT
export type EventsOverTime = EventsOverTimeT
export type Granularity = EventsOverTime['granularity']
/** The query of `GET /v1/analytics/events-over-time` (every field has a server default). */
export type EventsOverTimeQuery = Partial<Static<typeof A.EventsOverTimeQuery>>
export type TopSources = TopSourcesT
export type SourceSort = TopSources['sort']
export type TopSourcesQuery = Partial<Static<typeof A.TopSourcesQuery>>
export type LeadScoredData = LeadScoredDataT
export type LiveMessage = LiveMessageT
export type LiveFrame = LiveFrameT
export type Scope = ApiKeyCreate['scopes'][number]
export type Role = User['role']

/** A cursor-paginated list, as every list route answers. */
export interface Page<T> { items: T[]; nextCursor: string | null }

// ---- predictive models (server/src/schemas/models.ts); members given as Type.Ref(...) are typed by what they refer to
export type OutcomeDefinition = Static<typeof M.OutcomeDefinition>
export type FeatureSpec = Static<typeof M.FeatureSpec>
export type TrainBody = M.TrainBodyT
export type ModelJob = Static<typeof M.ModelJob>
export type ModelSummary = Omit<Static<typeof M.ModelSummary>, 'outcome'> & { outcome: OutcomeDefinition }
type ModelRaw = Static<typeof M.Model>
export type Model = Omit<ModelRaw, 'outcome' | 'featureSet'> & {
  outcome: OutcomeDefinition
  featureSet: Omit<ModelRaw['featureSet'], 'spec'> & { spec: FeatureSpec }
}
export type ModelMetrics = Model['metrics']
export type FeatureSource = Static<typeof M.FeatureSource>
export type Deployment = Static<typeof M.Deployment>
export type DeployBody = Static<typeof M.DeployBody>
export type DeploymentStatus = Omit<Static<typeof M.DeploymentStatus>, 'current' | 'history'> & { current: Deployment; history: Deployment[] }
export type ModelPerformance = Static<typeof M.Performance>
export type ModelDrift = Static<typeof M.Drift>
export type DriftItem = ModelDrift['prediction']
export type ModelBias = Static<typeof M.Bias>
export type BiasGroup = ModelBias['groups'][number]
export type ModelCompare = Omit<Static<typeof M.Compare>, 'a' | 'b'> & { a: ModelSummary; b: ModelSummary }
export type FeatureSetDeclaration = Omit<Static<typeof M.FeatureSetDeclaration>, 'spec' | 'outcome'> & { spec: FeatureSpec; outcome: OutcomeDefinition }
