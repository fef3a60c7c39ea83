import type { RuleProperties } from 'json-rules-engine'
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
  /** Engagement aggregates for predictive models (absent in states written before they existed). */
  activity?: ActivityView
}

/** A prediction as stored on the lead and on the ledger entry of the event it followed. */
export interface StoredPrediction extends PredictiveScore {
  /** Event time of the prediction point. */
  at: Date
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
  score: number
  scores: { engagement: number; fit: number; intent: number; predictive: number | null }
  sources: string[]
  nextSeq: number
  lastSeq: number
  lastOrd: string | null
  rev: number
  state: ScoreState
  lastBatch: LeadBatch | null
  /** When set, the next worker run replays every event with a canonical key above this one (full re-score: ''). */
  rescoreFrom: string | null
  lastEventAt: Date | null
  lastScoredAt: Date | null
  rulesetVersion: number | null
  /** The latest prediction of the deployed model (absent or null while no model is deployed). */
  predictive?: StoredPrediction | null
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
}

export type EventStatus = 'pending' | 'scored' | 'unmapped'

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
  properties: Record<string, unknown>
  status: EventStatus
  timestampAdjusted?: boolean
  requestId?: string
  /** Lead profile fields this event carried; the worker applies them to the lead in seq order. */
  leadProfile?: { name?: string; company?: string; externalId?: string; attributes?: Record<string, unknown> }
  /** Random per insert attempt: tells our own write apart from a concurrent duplicate after an ambiguous failure. */
  insertId?: string
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
  state: ScoreState
  rulesetVersion: number
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

export interface LiveDoc { _id: number; type: string; topics: string[]; payload: Record<string, unknown>; at: Date }

export interface AuditDoc { _id: string; at: Date; actor: string; action: string; target: string; details: Record<string, unknown> }

export interface JobDoc {
  _id: string
  kind: 'rescore-all' | 'train-model'
  state: 'queued' | 'running' | 'done' | 'failed'
  total: number
  done: number
  error: string | null
  /** Stable code of the failure (LS_ERR_*), when known. */
  errorCode?: string | null
  /** What the job is doing now. */
  phase?: string
  /** What the job produced (a trained model's id and version). */
  result?: Record<string, unknown> | null
  params?: Record<string, unknown>
  createdAt: Date
  updatedAt: Date
  finishedAt: Date | null
}
