import type { RuleProperties } from 'json-rules-engine'

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

export interface LiveDoc { _id: number; type: string; topics: string[]; payload: Record<string, unknown>; at: Date }

export interface AuditDoc { _id: string; at: Date; actor: string; action: string; target: string; details: Record<string, unknown> }

export type UploadKind = 'events' | 'leads'
export type UploadFormat = 'csv' | 'json' | 'ndjson'

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
}

export interface JobDoc {
  _id: string
  kind: 'rescore-all'
  state: 'queued' | 'running' | 'done' | 'failed'
  total: number
  done: number
  error: string | null
  createdAt: Date
  updatedAt: Date
  finishedAt: Date | null
}
