import type { RuleProperties } from 'json-rules-engine'
import type { Binary } from 'mongodb'
import type { ActivityView, PredictiveScore } from '../contracts/index.js'

/** Scoring dimensions; the total is their sum, kept within the ruleset's caps and floors. */
export type Dimension = 'engagement' | 'fit' | 'intent'
export const DIMENSIONS: readonly Dimension[] = ['engagement', 'fit', 'intent']

export interface ScoreParts { total: number; engagement: number; fit: number; intent: number }

/** Everything replay needs to continue scoring a lead from a checkpoint. */
export interface ScoreState extends ScoreParts {
  /** Per rule id: how often it fired, and the event times (ms) of its latest firings (for windowed limits). */
  fired: Record<string, { n: number; recent: number[] }>
  stage: string
  lastActivityAt: number | null
  /** Engagement right after the last activity: the base inactivity decay is computed from (absent: no decay yet). */
  decayBase?: number
  /** Decay periods already applied since the last activity (by decay ticks). */
  decayPeriods?: number
  /** Grade at this point (from fit); absent in states written before grades were tracked per entry. */
  grade?: string
  /**
   * How often the lead has entered each stage and grade so far in its canonical history, keyed `stage:<name>` /
   * `grade:<name>` (names key-encoded). The n-th entry into a stage is that crossing's identity (see webhooks).
   */
  entered?: Record<string, number>
  /** Engagement aggregates for predictive models (absent in states written before they existed). */
  activity?: ActivityView
  /**
   * The fit rules that match the lead's attributes as of its latest event, with the points each holds (`of`: the
   * rule's points when they were granted; `note`: its reason). Absent when none match.
   */
  fitHeld?: Record<string, { points: number; of: number; note: string }>
  /**
   * The lead's attributes as the events so far carried them, folded in canonical order (keys encoded): what fit
   * rules read. Kept only under rulesets with fit rules; part of the state so a replay from a checkpoint sees the
   * attributes as of that point, not the lead's latest ones.
   */
  fitAttributes?: Record<string, unknown>
}

/** The parts of a score state kept packed when stored (see `StoredState`). */
export type PackedStateField = 'fired' | 'entered' | 'activity' | 'fitHeld' | 'fitAttributes'

/**
 * A score state as a lead or ledger entry stores it: the scores, stage, grade and decay fields as they are, the rest
 * (rule firings, stage entries, activity, fit) in `packed`, one BSON binary value that `loadState` unpacks. States
 * stored before they were packed hold every field and no `packed`; the type leaves those fields out so that nothing
 * reads them but `loadState`.
 */
export type StoredState = Omit<ScoreState, PackedStateField> & { packed?: Binary }

/** A prediction as stored on the lead and on the ledger entry of the event it followed. */
export interface StoredPrediction extends PredictiveScore {
  /** Event time of the prediction point. */
  at: Date
}

/** A lead external id carried by a lead whose key is its email: `_id` `ext:<external id>`. */
export interface LeadAliasDoc {
  _id: string
  leadId: string
  /** The lead's key, which events naming this external id take. */
  key: string
  createdAt: Date
}

export interface LeadDoc {
  _id: string
  key: string
  email: string | null
  externalId: string | null
  name: string | null
  company: string | null
  attributes: Record<string, unknown>
  status: string
  stage: string
  grade: string
  intentLabel?: string
  score: number
  scores: { engagement: number; fit: number; intent: number; predictive: number | null }
  sources: string[]
  nextSeq: number
  lastSeq: number
  lastOrd: string | null
  rev: number
  state: StoredState
  lastBatch: LeadBatch | null
  /** When set, the next worker run replays every event with a canonical key above this one (full re-score: ''). */
  rescoreFrom: string | null
  /**
   * The stage and grade webhook receivers were last told about (their view), kept in step by the scoring commit and
   * by the release of held notifications. Absent until the lead's first commit with webhooks.
   */
  notified?: { stage: string; grade: string }
  lastEventAt: Date | null
  lastScoredAt: Date | null
  rulesetVersion: number | null
  /** The latest prediction of the deployed model (absent or null while no model is deployed). */
  predictive?: StoredPrediction | null
  /** Scoring saw a conversion event (after the ruleset's aliases); see lead-views/summary.ts. */
  convertedByEvent?: boolean
  /** Counted in the lead views before its first commit (a lead created by the API); see the scoring commit. */
  inViews?: boolean
  /** Every ledger entry of the lead has an `_id` starting `<lead id>~` (leads first scored since that holds). */
  ledgerKeyed?: boolean
  createdAt: Date
  updatedAt: Date
}

/** The commit record of the latest scoring batch; lets a later run finish what a crash interrupted. */
export interface LeadBatch {
  token: string
  supersedeFrom: string | null
  reason: string | null
  seqFrom: number
  seqTo: number
  unmapped: string[]
  /** Number of ledger entries written, with ids `${token}:${i}`. */
  entries: number
  done: boolean
  /** Stage and grade crossings of this batch, recorded in the notification outbox when the batch is finalized. */
  notify?: BatchNotify
  /** The lowest seq among the events this batch scored (its new ones and, for a replay, those it replayed). */
  scoredFromSeq?: number
  /** The ledger entries this replay supersedes, when known by `_id` (else those after `supersedeFrom`, by query). */
  supersedeIds?: string[]
  /** The lead external id this batch gave the lead, recorded in `leadAliases` when the batch is finalized. */
  alias?: string
  /**
   * A small batch's ledger entries, carried by the commit itself and inserted (already `committed: true`) when the
   * batch is finalized; absent when the entries were inserted uncommitted before the commit (large batches). The last
   * entry leaves out its `state` when that is the lead's own (committed with it). Packed in one BSON binary value
   * (a plain array in batches committed before they were packed): read them with `carriedEntries`/`carriedLedger`.
   */
  ledger?: CarriedEntry[] | Binary
  /**
   * The `_id` of the revision claim this batch committed under (in `locks`), kept until the batch is finalized: while
   * it is there the batch is unfinished. Absent on batches committed before claims were kept so.
   */
  claim?: string
}

/** A ledger entry carried in a lead's `lastBatch`, whose state may be the lead's own (then left out). */
export type CarriedEntry = Omit<LedgerDoc, 'state'> & { state?: StoredState }

/** A stage or grade change found in a scoring batch, with its identity in the lead's canonical history. */
export interface Crossing {
  /** Deterministic notification id: `<leadId>.<kind>.<to>.<n>` (n = ordinal of this entry into `to`). */
  id: string
  kind: 'stage' | 'grade'
  from: string
  to: string
  n: number
  eventId: string | null
  occurredAt: Date
  score: number
}

export interface BatchNotify {
  crossings: Crossing[]
  /** The receivers' view before this batch, and the lead's stage and grade after it. */
  before: { stage: string; grade: string }
  after: { stage: string; grade: string }
  /** n of the final stage and grade (for the ids of corrections), and the score after the batch. */
  afterN: { stage: number; grade: number }
  score: number
  /** Id of the running re-score job that holds this batch's notifications, or null. */
  heldBy: string | null
  rev: number
  rulesetVersion: number
  lead: { email: string | null; name: string | null }
}

export type EventStatus = 'pending' | 'scored' | 'unmapped'

/**
 * An event's properties as stored: one BSON binary value (no query reads inside them, and the embedded database would
 * store a type schema for each of their fields), or a plain object in events stored before they were packed.
 */
export type StoredProperties = Binary | Record<string, unknown>

export interface EventDoc {
  _id: string
  sourceId: string
  externalId: string
  idSource: 'given' | 'content'
  leadId: string
  seq: number
  type: string
  occurredAt: Date
  receivedAt: Date
  ord: string
  /** Key-encoded; packed in one BSON binary value when stored (read it with `unpackProperties`). */
  properties: StoredProperties
  status: EventStatus
  timestampAdjusted?: boolean
  requestId?: string
  /** Lead profile fields this event carried; the worker applies them to the lead in seq order. */
  leadProfile?: { name?: string; company?: string; externalId?: string; attributes?: StoredProperties }
  /** Random per insert attempt: tells our own write apart from a concurrent duplicate after an ambiguous failure. */
  insertId?: string
  /** Set when the tracking plan warns about the event's properties: the plan version and what did not match it. */
  planViolations?: { planVersion: number; violations: Array<{ message: string; pointer: string }> }
}

export interface Reason {
  ruleId: string
  ruleVersion: number
  dimension: Dimension | 'all'
  action: 'add' | 'set' | 'reset'
  requested: number
  points: number
  note: string
}

export interface LedgerDoc {
  _id: string
  leadId: string
  kind: 'event' | 'adjustment'
  eventId: string | null
  eventType: string | null
  seq: number | null
  ord: string
  occurredAt: Date
  before: ScoreParts
  after: ScoreParts
  delta: number
  reasons: Reason[]
  state: StoredState
  rulesetVersion: number
  /** `<offer id>@<version>` of the active offer the rules read, when one was active. */
  offer?: string
  batch: string
  committed: boolean
  superseded: boolean
  supersededReason?: string
  supersededBy?: string
  predictive?: StoredPrediction
  createdAt: Date
}

export interface RulesetSettings {
  caps?: Partial<ScoreParts>
  floors?: Partial<ScoreParts>
  stages?: Array<{ name: string; min: number; exitBelow?: number }>
  grades?: Array<{ name: string; min: number }>
  intentLabels?: Array<{ name: string; min: number }>
  decay?: Array<{ dimension: 'engagement'; percent: number; every: string; after?: string; curve?: 'linear' | 'exponential' }>
  eventTypes?: { known?: string[]; aliases?: Record<string, string> }
  [k: string]: unknown
}

export interface RulesetDoc {
  _id: string
  name: string
  version: number
  status: 'draft' | 'published' | 'archived'
  source: string | null
  rules: RuleProperties[]
  settings: RulesetSettings
  author: string
  note: string | null
  createdAt: Date
  publishedAt: Date | null
  /** The version a draft or rollback was made from. */
  basedOn?: number | null
  updatedAt?: Date
}

export interface RejectDoc {
  _id: string
  sourceId: string
  requestId: string
  index: number
  code: string
  reason: string
  raw: string
  rawTruncated: boolean
  receivedAt: Date
  /** Line in the uploaded file where the rejected row starts (uploads only). */
  line?: number
}

export interface IdempotencyDoc {
  _id: string
  bodyHash: string
  state: 'in_flight' | 'done'
  statusCode: number | null
  response: string | null
  createdAt: Date
  expiresAt: Date
}

export interface LockDoc { _id: string; owner: string; expiresAt: Date; acquiredAt: Date }

/** `rules` may change rulesets and start re-scores; `admin` may do everything. */
export type Scope = 'ingest' | 'read' | 'rules' | 'admin'
export interface ApiKeyDoc {
  _id: string
  name: string
  hash: string
  prefix: string
  scopes: Scope[]
  createdAt: Date
  lastUsedAt: Date | null
  revokedAt: Date | null
}

/** A console user's role; each maps to a fixed set of scopes (see domain/auth/users.ts). */
export type Role = 'admin' | 'author' | 'viewer'
export interface UserDoc {
  _id: string
  /** Lower-cased; unique. */
  email: string
  name: string
  role: Role
  /** `scrypt$<N>$<r>$<p>$<salt b64>$<hash b64>` */
  passwordHash: string
  disabled: boolean
  createdAt: Date
  updatedAt: Date
  lastLoginAt: Date | null
}

/** A signed-in console session; `_id` is the SHA-256 of the cookie's token, never the token itself. */
export interface SessionDoc {
  _id: string
  userId: string
  createdAt: Date
  lastSeenAt: Date
  expiresAt: Date
}

/** A live message as stored; its payload is packed (live/live-feed.ts), plain in messages stored before that. */
export interface LiveDoc { _id: number; type: string; topics: string[]; payload: Binary | Record<string, unknown>; at: Date }

export interface AuditDoc { _id: string; at: Date; actor: string; action: string; target: string; details: Record<string, unknown> }

export type UploadKind = 'events' | 'leads'
/** `csv`, `json`, `ndjson` (the upload plugin's formats), or the media type of a format another installed source reads. */
export type UploadFormat = string

/** One file upload (`POST /v1/uploads`): written only by the request that streams the file, so it has one writer. */
export interface UploadDoc {
  _id: string
  status: 'running' | 'done' | 'failed'
  kind: UploadKind
  /** null until the first bytes tell (or a field names it). */
  format: UploadFormat | null
  filename: string | null
  contentType: string | null
  /** The events' source id: `upload` or `upload:<label>`. */
  sourceId: string
  /** Column (or JSON key) → field path, as given; CSV uploads store the resolved mapping of every column. */
  mapping: Record<string, string | null> | null
  /** The request's Content-Length, an upper bound of the file size (null when sent chunked). */
  expectedBytes: number | null
  bytes: number
  /** Rows read from the file so far; `rows` (= accepted + duplicates + rejected) counts those already stored. */
  rowsRead: number
  rows: number
  accepted: number
  duplicates: number
  rejected: number
  /** SHA-256 of the file's bytes, once it has been read to the end. */
  sha256: string | null
  /** A fingerprint of content + interpretation (kind, format, mapping, source): equal ones yield the same events. */
  fingerprint: string | null
  duplicateOf: string | null
  error: { code: string; message: string; line?: number } | null
  actor: string
  requestId: string
  startedAt: Date
  updatedAt: Date
  finishedAt: Date | null
  /** The process working on a running upload, and until when its lease holds (renewed while it works). */
  owner?: string
  leaseUntil?: Date
  /** Where the file's bytes are kept while the upload runs (deleted when it ends), and how to read them again. */
  spool?: UploadSpool | null
  /** Whether the whole file had arrived (false: the client or the server stopped while it was being sent). */
  received?: boolean
  /** Rows `[0, rowIndex)` are stored and counted as below: where a resumed upload goes on from. */
  checkpoint?: { rowIndex: number; accepted: number; duplicates: number; rejected: number } | null
  /** How many times the upload was taken over after the process working on it stopped. */
  resumes?: number
}

/** The spooled file of a running upload and the request's own choices (read again the same way on resume). */
export interface UploadSpool {
  path: string
  host: string
  input: { kind: UploadKind; format: UploadFormat | null; mapping: Record<string, string | null> | null; sourceId: string; filename: string | null; contentType: string | null }
}

export interface JobDoc {
  _id: string
  kind: 'rescore-all' | 'train-model' | 'rebuild-views'
  state: 'queued' | 'running' | 'done' | 'failed'
  total: number
  done: number
  error: string | null
  /** Stable code of the failure (LS_ERR_*), when known. */
  errorCode?: string | null
  /** What the job is doing now. */
  phase?: string
  /** The model a training job produced. */
  model?: { id: string; version: number } | null
  params?: Record<string, unknown>
  createdAt: Date
  updatedAt: Date
  finishedAt: Date | null
}

export type NotificationType = 'lead.stage_changed' | 'lead.grade_changed'

/**
 * The outbox: one document per notification, its `_id` derived from the crossing's identity. Inserting it is the
 * exactly-once decision (a duplicate key means the crossing was already recorded). Never scanned by the dispatcher.
 */
export interface NotificationDoc {
  _id: string
  leadId: string
  type: NotificationType
  kind: 'stage' | 'grade'
  /** `crossing`: from the lead's history; `correction`: the receivers' view was brought back in step with the lead. */
  origin: 'crossing' | 'correction'
  from: string
  to: string
  n: number
  occurredAt: Date
  data: { leadId: string; email: string | null; name: string | null; from: string; to: string; score: number; version: number; eventId: string | null }
  batch: string
  rev: number
  index: number
  status: 'held' | 'pending' | 'dispatched' | 'dropped'
  heldBy: string | null
  droppedReason?: string
  deliveries?: number
  createdAt: Date
  releasedAt?: Date
  dispatchedAt?: Date
}

/** Small work list of the dispatcher: notifications to fan out and deliveries due. Entries are removed when done. */
/** A fan-out or delivery due; a delivery names its lead, whose deliveries a pass sends one after another, in order. */
export interface WebhookQueueDoc { _id: string; kind: 'fanout' | 'delivery'; ref: string; dueAt: Date; leadId?: string | null }

/**
 * The notifications held for one lead while a bulk re-score runs (`_id` `l:<leadId>`), written only under the
 * lead's lock. `before` is the receivers' view when the hold began; `holdId` names the hold (release corrections).
 */
export interface NotificationHoldDoc {
  _id: string
  leadId: string
  holdId: string
  before: { stage: string; grade: string }
  notificationIds: string[]
  jobId: string
  at: Date
}

export type WebhookEventType = NotificationType

export interface WebhookDoc {
  _id: string
  url: string
  events: WebhookEventType[]
  stages: string[] | null
  grades: string[] | null
  description: string | null
  status: 'active' | 'disabled'
  disabledReason: string | null
  disabledAt: Date | null
  secret: string
  previousSecret: string | null
  previousSecretExpiresAt: Date | null
  createdBy: string
  createdAt: Date
  updatedAt: Date
}

export interface DeliveryAttempt {
  n: number
  at: Date
  durationMs: number
  statusCode: number | null
  error: string | null
  /** The start of the receiver's answer (at most 200 characters), for diagnosis. */
  response: string | null
}

export interface DeliveryDoc {
  _id: string
  webhookId: string
  notificationId: string
  /** The lead the notification is about (null for pings); erasing a lead erases its deliveries. */
  leadId: string | null
  type: string
  /** The exact JSON body sent (the same on every attempt). */
  body: string
  state: 'pending' | 'delivered' | 'failed' | 'cancelled'
  attempts: DeliveryAttempt[]
  attemptCount: number
  nextAttemptAt: Date | null
  lastStatusCode: number | null
  lastError: string | null
  createdAt: Date
  updatedAt: Date
  deliveredAt: Date | null
}

/** One attempt of one delivery, claimed by inserting `<deliveryId>#<attempt>`: only one process sends it. */
export interface WebhookClaimDoc { _id: string; owner: string; at: Date; expiresAt: Date }

/** One value of a secret config key. `expiresAt` is set when a rotation replaced it (the overlap's end). */
export interface SecretVersion { id: string; value: string; createdAt: Date; expiresAt: Date | null }

/** A run-time configured source: one instance of an installed source plugin. Its `_id` is the events' `sourceId`. */
export interface PluginInstanceDoc {
  _id: string
  kind: 'source'
  /** The plugin's manifest id. */
  type: string
  name: string
  enabled: boolean
  /** Config without secret keys, keys encoded for storage (lib/keys.ts). */
  config: Record<string, unknown>
  /** Per secret key, newest first. */
  secrets: Record<string, SecretVersion[]>
  /** Bumped by every change; the poller re-arms a failed instance when it moves. */
  rev: number
  createdBy: string
  createdAt: Date
  updatedAt: Date
}

/** One key of a source instance's key-value store (`_id` = `<instanceId>/<key>`; `~`-prefixed keys belong to the host). */
export interface SourceStateDoc { _id: string; instanceId: string; key: string; value: string; updatedAt: Date }

export interface SourceErrorInfo { at: Date; code: string; message: string }
export interface SourcePollInfo { at: Date; status: 'ok' | 'retrying' | 'failed'; events: number; error: SourceErrorInfo | null; nextAt: Date | null }
/**
 * One recent problem of a source: a refused delivery, a rejected event, a failed delivery or a failed poll.
 * `requestId` (and `index`, for an event) find the stored reject in `GET /v1/rejects?requestId=`.
 */
export interface SourceRecentError {
  at: Date
  kind: 'delivery' | 'event' | 'failure' | 'poll'
  code: string
  message: string
  requestId: string | null
  index: number | null
}

/** Delivery counters of one source in one server process (`_id` = `<sourceId>|<processId>`; only that process writes it). */
export interface SourceStatsDoc {
  _id: string
  sourceId: string
  process: string
  deliveries: number
  rejectedDeliveries: number
  accepted: number
  duplicates: number
  rejected: number
  lastDeliveryAt: Date | null
  lastEventAt: Date | null
  lastError: SourceErrorInfo | null
  lastPoll: SourcePollInfo | null
  /** This process's most recent problems of the source, newest first (bounded; absent in documents from before). */
  recent?: SourceRecentError[]
  updatedAt: Date
}
