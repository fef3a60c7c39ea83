/**
 * The public contract between Leadscore and its plugins. Plugins import only from `@leadscore/server/contracts`.
 * @packageDocumentation
 */
import type { TSchema, Static } from '@sinclair/typebox'

/** Version of this contract. The host refuses plugins built against another version. */
export const CONTRACT_VERSION = 1 as const

/** What every source produces: one behavioural event about one lead. */
export interface EventInput {
  /** The source's own id for the event (webhook-id, messageId, row id). Hashed from the content when absent. */
  externalId?: string
  /** Who the event is about: an email or an external lead id is required. */
  lead: {
    email?: string
    externalId?: string
    name?: string
    company?: string
    attributes?: Record<string, unknown>
  }
  /** Event type, e.g. `page_view`, `email_open`, `form_submit`, `demo_request`, `purchase`. */
  type: string
  /** ISO 8601 event time; defaults to the time the event was received. */
  occurredAt?: string
  /** Free-form event data; keys with `$` or `.` are allowed and round-trip. */
  properties?: Record<string, unknown>
}

/** A read-only view of a lead given to scoring plugins. */
export interface LeadView {
  id: string
  email: string | null
  externalId: string | null
  name: string | null
  company: string | null
  attributes: Readonly<Record<string, unknown>>
  status: string
  sources: readonly string[]
}

/** A read-only view of a stored event given to scoring plugins. */
export interface EventView {
  id: string
  sourceId: string
  type: string
  occurredAt: Date
  properties: Readonly<Record<string, unknown>>
}

/** The running score of a lead just before the event being scored. */
export interface ScoreView {
  total: number
  engagement: number
  fit: number
  intent: number
  stage: string
}

/** One scoring outcome proposed by a plugin. The core applies limits, multipliers, caps and floors. */
export interface Contribution {
  /** Stable id of the rule or model part that produced this contribution. */
  ruleId: string
  /** add points to a dimension, set a dimension to `points`, or reset every dimension to 0. */
  action: 'add' | 'set' | 'reset'
  dimension?: 'engagement' | 'fit' | 'intent'
  points?: number
  /** Human-readable explanation kept in the ledger. */
  reason?: string
  /** Fire at most `count` times (per `per` duration such as `30d`, or ever). */
  limit?: { count: number; per?: string }
  /** Beyond the `after`-th firing, points are multiplied by `factor`. */
  multiplier?: { factor: number; after: number }
}

/** Key-value persistence for a plugin instance (cursors, tokens). */
export interface KeyValueStore {
  get(key: string): Promise<string | null>
  set(key: string, value: string): Promise<void>
  delete(key: string): Promise<void>
}

/** Minimal structured logger handed to plugins (pino-compatible). */
export interface PluginLogger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

/** What a plugin instance may use: its config, a logger, an abort signal, a clock and a key-value store. */
export interface PluginContext<Cfg> {
  readonly instanceId: string
  readonly config: Readonly<Cfg>
  readonly log: PluginLogger
  readonly signal: AbortSignal
  readonly state: KeyValueStore
  now(): Date
}

/** The manifest every plugin declares. */
export interface PluginManifest<C extends TSchema = TSchema> {
  /** lower_snake, unique, never renamed. */
  id: string
  version: string
  contract: typeof CONTRACT_VERSION
  /** TypeBox schema of one instance's configuration. */
  config: C
  /** Config keys that are write-only through the API and redacted in logs. */
  secrets?: readonly string[]
}

/** Input of {@link ScoringPlugin.score}: everything a pure scoring function may look at. */
export interface ScoringInput {
  lead: LeadView
  event: EventView
  score: ScoreView
  /** The ruleset version being applied. */
  rulesetVersion: number
}

/**
 * Engagement aggregates of a lead's events up to and including the event being scored, folded in canonical
 * (event-time) order. Times are milliseconds since the epoch. Manual score adjustments are not counted.
 */
export interface ActivityView {
  /** Number of events. */
  n: number
  /** Time of the first and of the latest event. */
  first: number | null
  last: number | null
  /** Time between the last two events. */
  gap: number | null
  /** Seconds on the site, summed from event properties that report it (`timeOnSite`, `duration`, …). */
  tos: number
  /** Per event type: count, latest time, and counts decayed with 7- and 30-day time constants as of `last`. */
  types: ReadonlyArray<{ t: string; n: number; last: number; d7: number; d30: number }>
}

/** Input of {@link ScoringPlugin.predict}: the lead right after the event, with its rule scores applied. */
export interface PredictInput {
  /** The lead, with the attributes it has as of this event. */
  lead: LeadView
  event: EventView
  /** The score after this event's rules. */
  score: ScoreView
  activity: ActivityView
}

/** One explained factor of a prediction: a feature and its push on the log-odds. */
export interface PredictiveFactor { feature: string; value: string | number | null; contribution: number }

/** A model's prediction for a lead, stored with the lead and the ledger entry of the event. */
export interface PredictiveScore {
  /** Calibrated probability of the outcome (0–1). */
  probability: number
  /** round(100 × probability). */
  score: number
  grade: 'A' | 'B' | 'C' | 'D'
  /** How much of what the model relies on was known for this lead (0–1). */
  confidence: number
  model: { id: string; version: number; arm: 'champion' | 'challenger' }
  factors: { positive: PredictiveFactor[]; negative: PredictiveFactor[] }
}

/** A plugin that proposes score contributions for each event. It must be pure: same inputs, same output. */
export interface ScoringPlugin<C extends TSchema = TSchema> {
  kind: 'scoring'
  manifest: PluginManifest<C>
  score?(input: ScoringInput, ctx: PluginContext<Static<C>>): Promise<Contribution[]> | Contribution[]
  /**
   * Predicts the lead's outcome after each scored event (also events the ruleset does not score). Synchronous and
   * cheap: it runs once per event in the scoring worker. null when the plugin has nothing to say. When several
   * plugins predict, the last one's prediction is kept.
   */
  predict?(input: PredictInput, ctx: PluginContext<Static<C>>): PredictiveScore | null
}

/** A request as seen by a push source (not Fastify's request: plugins do not couple to the web framework). */
export interface InboundRequest {
  headers: Readonly<Record<string, string | string[] | undefined>>
  query: Readonly<Record<string, string | string[] | undefined>>
  body: unknown
  rawBody: Buffer
}

/** A plugin that turns outside input into {@link EventInput}s (push, pull or upload). */
export interface SourcePlugin<C extends TSchema = TSchema> {
  kind: 'source'
  manifest: PluginManifest<C>
  http?: {
    routes: ReadonlyArray<{
      method: 'POST' | 'PUT'
      url: string
      body?: TSchema
      verify?(req: InboundRequest, ctx: PluginContext<Static<C>>): Promise<void>
      handle(req: InboundRequest, ctx: PluginContext<Static<C>>): Promise<EventInput[]>
    }>
  }
  poll?: {
    every: string
    fetch(cursor: string | null, ctx: PluginContext<Static<C>>): Promise<{ events: EventInput[]; cursor: string | null }>
  }
  batch?: {
    accepts: readonly string[]
    parse(input: AsyncIterable<Uint8Array>, ctx: PluginContext<Static<C>>): AsyncIterable<EventInput>
  }
}

/** Identity helper that checks a scoring plugin's shape at definition time. */
export function defineScoringPlugin<C extends TSchema> (plugin: ScoringPlugin<C>): ScoringPlugin<C> {
  if (plugin.kind !== 'scoring') throw new TypeError('defineScoringPlugin: kind must be "scoring"')
  if (plugin.manifest.contract !== CONTRACT_VERSION) throw new TypeError(`defineScoringPlugin: contract must be ${CONTRACT_VERSION}`)
  return plugin
}

/** Identity helper that checks a source plugin's shape; a source needs at least one of http, poll or batch. */
export function defineSourcePlugin<C extends TSchema> (plugin: SourcePlugin<C>): SourcePlugin<C> {
  if (plugin.kind !== 'source') throw new TypeError('defineSourcePlugin: kind must be "source"')
  if (plugin.manifest.contract !== CONTRACT_VERSION) throw new TypeError(`defineSourcePlugin: contract must be ${CONTRACT_VERSION}`)
  if (plugin.http === undefined && plugin.poll === undefined && plugin.batch === undefined) {
    throw new TypeError('defineSourcePlugin: a source needs http, poll or batch')
  }
  return plugin
}

/** Base of the errors a plugin may throw; the host maps each subclass to a documented outcome. */
export class PluginError extends Error {
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
  }
}
/** The caller is not authentic (bad signature, bad token): answered 401. */
export class SourceAuthError extends PluginError {}
/** The input is well-formed but unusable: answered 422. */
export class SourceInputError extends PluginError {}
/** A temporary failure (network, rate limit): the host retries with backoff. */
export class TransientSourceError extends PluginError {}
/** A failure that retrying will not fix: the job fails without retry. */
export class PermanentSourceError extends PluginError {}
