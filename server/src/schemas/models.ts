import { Type, type Static } from '@sinclair/typebox'

/** An ISO 8601 date-time (TypeBox's validator registers no formats, so a pattern stands in for `date-time`). */
const ISO = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2})$'
const Nullable = <T extends ReturnType<typeof Type.Number> | ReturnType<typeof Type.String> | ReturnType<typeof Type.Integer>>(t: T) => Type.Union([t, Type.Null()])
const AttrValue = Type.Union([Type.String({ maxLength: 200 }), Type.Number(), Type.Boolean()])

const outcomeVariants = [
  Type.Object({
    kind: Type.Literal('event'),
    eventTypes: Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { minItems: 1, maxItems: 20 }),
    horizonDays: Type.Integer({ minimum: 1, maximum: 3650 }),
  }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal('status'), values: Type.Array(Type.String({ minLength: 1, maxLength: 50 }), { minItems: 1, maxItems: 20 }) }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal('attribute'), name: Type.String({ minLength: 1, maxLength: 100 }), values: Type.Array(AttrValue, { minItems: 1, maxItems: 20 }) }, { additionalProperties: false }),
]
const outcomeDescription = 'event: a conversion event within horizonDays of the prediction point; status / attribute: a recorded outcome.'

/** What counts as a conversion (see docs/predictive.md); referenced by responses. */
export const OutcomeDefinition = Type.Union(outcomeVariants, { $id: 'OutcomeDefinition', description: outcomeDescription })

const FeatureSpecFields = {
  attributes: Type.Object({
    include: Type.Union([Type.Array(Type.String({ maxLength: 100 }), { maxItems: 500 }), Type.Null()]),
    exclude: Type.Array(Type.String({ maxLength: 100 }), { maxItems: 500 }),
  }),
  maxLevels: Type.Integer({ minimum: 1, maximum: 200 }),
  minLevelCount: Type.Integer({ minimum: 1, maximum: 100_000 }),
  missingValues: Type.Array(Type.String({ maxLength: 100 }), { maxItems: 100 }),
  eventTypes: Type.Union([Type.Array(Type.String({ maxLength: 100 }), { maxItems: 100 }), Type.Null()]),
  maxEventTypes: Type.Integer({ minimum: 0, maximum: 100 }),
  activity: Type.Boolean(),
  ruleScores: Type.Boolean(),
}

/** The declaration of a feature set. */
export const FeatureSpec = Type.Object(FeatureSpecFields, { $id: 'FeatureSpec' })

// every field optional, listed one by one so that the request's static type keeps them
const FeatureSpecInput = Type.Object({
  maxLevels: Type.Optional(FeatureSpecFields.maxLevels),
  minLevelCount: Type.Optional(FeatureSpecFields.minLevelCount),
  missingValues: Type.Optional(FeatureSpecFields.missingValues),
  eventTypes: Type.Optional(FeatureSpecFields.eventTypes),
  maxEventTypes: Type.Optional(FeatureSpecFields.maxEventTypes),
  activity: Type.Optional(FeatureSpecFields.activity),
  ruleScores: Type.Optional(FeatureSpecFields.ruleScores),
  attributes: Type.Optional(Type.Object({
    include: Type.Optional(FeatureSpecFields.attributes.properties.include),
    exclude: Type.Optional(FeatureSpecFields.attributes.properties.exclude),
  }, { additionalProperties: false })),
}, { additionalProperties: false })

export const Candidate = Type.Union([
  Type.Object({ algorithm: Type.Literal('logistic'), l2: Type.Number({ minimum: 0, maximum: 1e6 }) }, { additionalProperties: false }),
  Type.Object({
    algorithm: Type.Literal('gbm'),
    trees: Type.Integer({ minimum: 1, maximum: 2000 }),
    learningRate: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
    maxDepth: Type.Integer({ minimum: 1, maximum: 8 }),
    minLeaf: Type.Integer({ minimum: 1, maximum: 10_000 }),
    subsample: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
    colsample: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
    l2: Type.Number({ minimum: 0, maximum: 1e6 }),
  }, { additionalProperties: false }),
])

export const TrainBody = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  // requests are validated by the TypeBox compiler, which resolves no references: the schema is inlined
  outcome: Type.Optional(Type.Union(outcomeVariants, { description: outcomeDescription })),
  asOf: Type.Optional(Type.String({ pattern: ISO, maxLength: 40, description: 'The cutoff: training uses nothing that happened after it (default: now).' })),
  from: Type.Optional(Type.String({ pattern: ISO, maxLength: 40, description: 'Earliest prediction point.' })),
  features: Type.Optional(FeatureSpecInput),
  candidates: Type.Optional(Type.Array(Candidate, { minItems: 1, maxItems: 10 })),
  folds: Type.Optional(Type.Integer({ minimum: 2, maximum: 10 })),
  testFraction: Type.Optional(Type.Number({ minimum: 0.05, maximum: 0.5 })),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 })),
  calibration: Type.Optional(Type.Union([Type.Literal('platt'), Type.Literal('isotonic')])),
  maxLeads: Type.Optional(Type.Integer({ minimum: 20, maximum: 1_000_000 })),
}, { additionalProperties: false })
export type TrainBodyT = Static<typeof TrainBody>

export const ModelJob = Type.Object({
  id: Type.String(), kind: Type.String(), state: Type.String(), phase: Type.String(), done: Type.Integer(), total: Type.Integer(),
  percent: Type.Number(), error: Nullable(Type.String()), errorCode: Nullable(Type.String()),
  modelId: Nullable(Type.String()), modelVersion: Nullable(Type.Integer()),
  createdAt: Type.String(), updatedAt: Type.String(), finishedAt: Nullable(Type.String()),
}, { $id: 'ModelJob' })

const Confusion = Type.Object({ tp: Type.Integer(), fp: Type.Integer(), tn: Type.Integer(), fn: Type.Integer() })

export const ModelMetrics = Type.Object({
  examples: Type.Integer(), positives: Type.Integer(), auc: Nullable(Type.Number()), brier: Type.Number(), brierUncalibrated: Type.Number(),
  logLoss: Type.Number(), ece: Type.Number(), threshold: Type.Number(), precision: Type.Number(), recall: Type.Number(), f1: Type.Number(),
  accuracy: Type.Number(), confusion: Confusion,
  roc: Type.Array(Type.Object({ fpr: Type.Number(), tpr: Type.Number(), threshold: Type.Number() })),
  calibration: Type.Array(Type.Object({ lower: Type.Number(), upper: Type.Number(), meanPredicted: Type.Number(), observedRate: Type.Number(), count: Type.Integer() })),
}, { description: 'Measured on the stratified holdout rows the model never saw; precision, recall and F1 at `threshold`.' })

const DeploymentRef = Type.Union([Type.Object({ id: Type.String(), version: Type.Integer() }), Type.Null()])

export const ModelSummary = Type.Object({
  id: Type.String(), version: Type.Integer(), name: Type.String(), algorithm: Type.String(), createdAt: Type.String(), createdBy: Type.String(),
  role: Type.Union([Type.Literal('champion'), Type.Literal('challenger'), Type.Null()]),
  outcome: Type.Ref('OutcomeDefinition'),
  window: Type.Object({ asOf: Type.String(), from: Nullable(Type.String()), firstPoint: Nullable(Type.String()), lastPoint: Nullable(Type.String()) }),
  data: Type.Object({
    leads: Type.Integer(), examples: Type.Integer(), positives: Type.Integer(), train: Type.Integer(), test: Type.Integer(), folds: Type.Integer(),
    excluded: Type.Record(Type.String(), Type.Integer()),
  }),
  featureSet: Type.Object({ version: Type.Integer(), hash: Type.String(), columns: Type.Integer() }),
  winner: Type.String(),
  auc: Nullable(Type.Number()), brier: Type.Number(), f1: Type.Number(), precision: Type.Number(), recall: Type.Number(),
}, { $id: 'ModelSummary', description: 'Headline holdout metrics: precision, recall and F1 at the model\'s threshold.' })

export const FeatureSource = Type.Object({
  name: Type.String(), group: Type.String(), type: Type.String(), key: Type.String(),
  stat: Type.Optional(Type.String()), transform: Type.Optional(Type.String()), fill: Type.Optional(Type.Number()),
  min: Type.Optional(Type.Number()), max: Type.Optional(Type.Number()), levels: Type.Optional(Type.Array(Type.String())),
  importance: Type.Number(),
})

export const Model = Type.Composite([Type.Omit(ModelSummary, ['featureSet']), Type.Object({
  rulesetVersion: Type.Integer(),
  options: Type.Object({ seed: Type.Integer(), folds: Type.Integer(), testFraction: Type.Number(), calibration: Type.String(), candidates: Type.Array(Type.Record(Type.String(), Type.Unknown())) }),
  cv: Type.Array(Type.Object({ name: Type.String(), auc: Type.Number(), aucSd: Type.Number(), foldAucs: Type.Array(Type.Number()), trees: Type.Optional(Type.Integer()) })),
  metrics: ModelMetrics,
  importance: Type.Object({
    features: Type.Array(Type.Object({ feature: Type.String(), importance: Type.Number() })),
    columns: Type.Array(Type.Object({ column: Type.String(), importance: Type.Number(), coefficient: Nullable(Type.Number()) })),
  }),
  featureSet: Type.Object({
    version: Type.Integer(), hash: Type.String(), spec: Type.Ref('FeatureSpec'),
    sources: Type.Array(FeatureSource),
    columns: Type.Array(Type.Object({ name: Type.String(), source: Type.String(), kind: Type.String() })),
    dropped: Type.Array(Type.Object({ name: Type.String(), reason: Type.String() })),
  }),
  calibration: Type.Object({ method: Type.String() }, { additionalProperties: true }),
  grades: Type.Array(Type.Object({ grade: Type.String(), min: Type.Number() })),
  trainingMs: Type.Integer(),
})], { $id: 'Model' })

export const Deployment = Type.Object({
  seq: Type.Integer(), champion: DeploymentRef, challenger: DeploymentRef, challengerShare: Type.Number(),
  action: Nullable(Type.String()), actor: Nullable(Type.String()), at: Nullable(Type.String()),
}, { $id: 'Deployment' })

export const DeployBody = Type.Object({
  role: Type.Optional(Type.Union([Type.Literal('champion'), Type.Literal('challenger')], { default: 'champion' })),
  challengerShare: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 0.5, description: 'Share of leads (by a hash of the lead id) scored by the challenger; default 0.1.' })),
  rescore: Type.Optional(Type.Boolean({ description: 'Re-score every lead in the background so that all carry the new prediction now.' })),
}, { additionalProperties: false })

const OutcomeSummary = {
  leads: Type.Integer(), matured: Type.Integer(), positives: Type.Integer(), conversionRate: Nullable(Type.Number()), meanProbability: Nullable(Type.Number()),
  auc: Nullable(Type.Number()), brier: Nullable(Type.Number()), precision: Nullable(Type.Number()), recall: Nullable(Type.Number()), f1: Nullable(Type.Number()),
}
const Arm = Type.Object({ arm: Type.String(), ...OutcomeSummary })

export const DeploymentStatus = Type.Object({
  current: Type.Ref('Deployment'),
  history: Type.Array(Type.Ref('Deployment')),
  arms: Type.Array(Type.Composite([Arm, Type.Object({ modelId: Type.String(), modelVersion: Type.Integer() })])),
  serving: Type.Object({ predictions: Type.Integer(), samples: Type.Integer(), p50Ms: Nullable(Type.Number()), p99Ms: Nullable(Type.Number()), maxMs: Nullable(Type.Number()) }),
})

export const Performance = Type.Object({
  modelId: Type.String(), threshold: Type.Number(), ...OutcomeSummary,
  calibration: ModelMetrics.properties.calibration,
  arms: Type.Array(Arm),
})

const DriftItem = Type.Object({ feature: Type.String(), psi: Type.Number(), status: Type.String(), bins: Type.Array(Type.Object({ bin: Type.String(), baseline: Type.Number(), current: Type.Number() })) })
export const Drift = Type.Object({
  modelId: Type.String(),
  window: Type.Object({ from: Type.String(), to: Type.String(), leads: Type.Integer() }),
  thresholds: Type.Object({ warning: Type.Number(), alarm: Type.Number() }),
  status: Type.String(),
  prediction: DriftItem,
  features: Type.Array(DriftItem),
})

export const Bias = Type.Object({
  modelId: Type.String(), attribute: Type.String(), data: Type.String(), threshold: Type.Number(), leads: Type.Integer(),
  groups: Type.Array(Type.Object({
    group: Type.String(), leads: Type.Integer(), share: Type.Number(), meanProbability: Type.Number(), predictedPositiveRate: Type.Number(),
    actualRate: Type.Number(), truePositiveRate: Nullable(Type.Number()), falsePositiveRate: Nullable(Type.Number()),
    falseNegativeRate: Nullable(Type.Number()), precision: Nullable(Type.Number()), auc: Nullable(Type.Number()), brier: Type.Number(),
  })),
  disparateImpact: Nullable(Type.Number()), equalOpportunityGap: Nullable(Type.Number()), falsePositiveRateGap: Nullable(Type.Number()),
})

export const Compare = Type.Object({
  a: Type.Ref('ModelSummary'),
  b: Type.Ref('ModelSummary'),
  sameOutcome: Type.Boolean(),
  sameFeatureSet: Type.Boolean(),
  metrics: Type.Array(Type.Object({ metric: Type.String(), a: Nullable(Type.Number()), b: Nullable(Type.Number()), delta: Nullable(Type.Number()) })),
  features: Type.Object({ onlyA: Type.Array(Type.String()), onlyB: Type.Array(Type.String()) }),
  importance: Type.Array(Type.Object({ feature: Type.String(), a: Type.Number(), b: Type.Number() })),
  live: Type.Object({ a: Type.Object(OutcomeSummary), b: Type.Object(OutcomeSummary) }),
})

export const FeatureSetDeclaration = Type.Object({
  version: Type.Integer(),
  spec: Type.Ref('FeatureSpec'),
  groups: Type.Array(Type.Object({ group: Type.String(), description: Type.String() })),
  outcome: Type.Ref('OutcomeDefinition'),
  candidates: Type.Array(Type.Record(Type.String(), Type.Unknown())),
})

/** A prediction as shown on a lead and on a ledger entry. */
export const PredictiveOut = Type.Object({
  probability: Type.Number(), score: Type.Integer(), grade: Type.String(), confidence: Type.Number(), at: Type.String({ format: 'date-time' }),
  model: Type.Object({ id: Type.String(), version: Type.Integer(), arm: Type.String() }),
  factors: Type.Object({
    positive: Type.Array(Type.Object({ feature: Type.String(), value: Type.Union([Type.String(), Type.Number(), Type.Null()]), contribution: Type.Number() })),
    negative: Type.Array(Type.Object({ feature: Type.String(), value: Type.Union([Type.String(), Type.Number(), Type.Null()]), contribution: Type.Number() })),
  }),
}, { description: 'The deployed model\'s prediction after the lead\'s latest event: probability of the outcome, 0–100 score, grade, confidence and the top factors (log-odds contributions).' })
