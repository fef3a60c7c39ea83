/**
 * The public contract between Leadscore and its plugins. Plugins import only from `@leadscore/server/contracts`.
 * @packageDocumentation
 */
import type { TSchema, Static } from '@sinclair/typebox'
/** Parses JSON bytes as the server parses request bodies (depth checked before parsing, no prototype keys). */
export { parseJsonStrict } from '../lib/strict-json.js'
/** Reads a byte stream's first bytes (to sniff an encoding or a layout) and gives a stream that replays them first. */
export { peek } from '../lib/peek-stream.js'

export { LEAD_UPDATED, batchRow, isBatchRow, type BatchFile, type BatchRow } from './batch.js'
import type { BatchFile, BatchRow } from './batch.js'

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

/**
 * An input a push source could not turn into an event (its payload names no lead, or no type). Returned by a route's
 * `handle` in place of that event, it is stored as the event's reject with this code and reason, and counted and
 * answered like any rejected event (202: a sender does not retry what can never succeed). `raw` is stored with it.
 */
export interface RefusedInput { refused: { code: string; reason: string; raw?: unknown } }

/** A {@link RefusedInput}; `code` is an `LS_ERR_…` (or `<ID>_ERR_…`) code, `reason` says what was missing. */
export function refuseInput (code: string, reason: string, raw?: unknown): RefusedInput {
  return { refused: raw === undefined ? { code, reason } : { code, reason, raw } }
}

/** Whether a value returned by `handle` is a {@link RefusedInput} rather than an event. */
export function isRefusedInput (v: unknown): v is RefusedInput {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || Object.prototype.hasOwnProperty.call(v, 'lead')) return false
  const r = (v as { refused?: unknown }).refused
  return r !== null && typeof r === 'object' && typeof (r as { code?: unknown }).code === 'string' && typeof (r as { reason?: unknown }).reason === 'string'
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
  /** Only for events received within this duration (e.g. `90d`) of their `occurredAt`; older history is ignored. */
  within?: string
  /**
   * Points weighted by the event's age when it reached Leadscore (received − occurred): the first tier whose
   * `within` the age fits gives `percent`, older events get `otherwise` (0: the rule does not fire).
   */
  recency?: { tiers: Array<{ within: string; percent: number }>; otherwise: number }
  /**
   * `fit`: what a `fit rule` compiles to: its points are held while the rule matches the lead's attributes and taken
   * back at the first event where it does not. The core evaluates fit rules itself, on the attributes as of each
   * event; a plugin's contribution with this kind is ignored.
   */
  kind?: 'fit'
}

/**
 * Key-value persistence for one plugin instance (cursors, tokens, small bookkeeping). Keys are namespaced per
 * instance, so two instances of a plugin never see each other's entries. Keys are 1-200 characters; values are
 * strings of at most 64 KiB (store JSON for structured data). Writes are durable when the promise resolves.
 */
export interface KeyValueStore {
  /** The stored value, or null when the key was never set or was deleted. */
  get(key: string): Promise<string | null>
  /** Stores (or replaces) a value. */
  set(key: string, value: string): Promise<void>
  /** Removes a key; removing a missing key is not an error. */
  delete(key: string): Promise<void>
}

/** Minimal structured logger handed to plugins (pino-compatible). */
export interface PluginLogger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

/**
 * What a plugin instance may use: its config, a logger, an abort signal, a clock, a key-value store and its secrets
 * — nothing else. Plugins never get the web framework, the database or another plugin.
 */
export interface PluginContext<Cfg> {
  /** The instance's id. For a source it is also the `sourceId` its events are stored under. */
  readonly instanceId: string
  /** The instance's configuration, already validated against `manifest.config` (defaults applied). */
  readonly config: Readonly<Cfg>
  /** A child logger bound to `{ plugin, instanceId }`. Secrets and payloads belong at debug level only. */
  readonly log: PluginLogger
  /** Aborted when the server shuts down or the instance is disabled or deleted: pass it to network calls. */
  readonly signal: AbortSignal
  /** Persistence for this instance only (see {@link KeyValueStore}). */
  readonly state: KeyValueStore
  /** The current time. Always use this clock (never `Date.now()`): the host injects it, and tests move it. */
  now(): Date
  /**
   * Every currently valid value of the secret config key `name`, newest first. `config[name]` is the newest; after
   * a rotation the previous value stays valid here until its overlap period ends, so a plugin that verifies
   * signatures or tokens must accept any of these values. Empty for a key that is not a declared secret.
   */
  secrets(name: string): readonly string[]
}

/** The manifest every plugin declares. The host checks it at boot and refuses the server start when it is invalid. */
export interface PluginManifest<C extends TSchema = TSchema> {
  /** lower_snake (`^[a-z][a-z0-9_]{1,49}$`), unique among installed plugins, never renamed: stored instances name it. */
  id: string
  /** The plugin's own version, semver (`1.2.3`). */
  version: string
  /** The contract version the plugin was built against; must equal {@link CONTRACT_VERSION}. */
  contract: typeof CONTRACT_VERSION
  /**
   * TypeBox schema of ONE instance's configuration (a plugin can run as many instances as an admin creates). It must
   * be a `Type.Object`; use `additionalProperties: false` so typos are refused, and `default`s for optional keys.
   * Instance configs are validated against it when created or changed through the API and again at every boot.
   */
  config: C
  /**
   * Config keys (top-level string properties of `config`) that are write-only in the API and redacted in logs. The
   * host generates a value when the admin supplies none (see {@link SourcePlugin.generateSecret}), shows it once,
   * and supports rotation with an overlap period (see {@link PluginContext.secrets}).
   */
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

/** The value types a {@link ScoringFact} may declare; the rules language type-checks comparisons against it. */
export type ScoringFactType = 'number' | 'string' | 'boolean' | 'string[]' | 'any'

/**
 * A value a scoring plugin computes for each event and rules can read as `plugin.<pluginId>.<name>` (in the DSL:
 * `plugin.email_domain.kind == "business"`). Computed only for rulesets that read a plugin fact, once per event,
 * before the rules run, from the same input {@link ScoringPlugin.score} gets.
 */
export interface ScoringFact<Cfg> {
  /** What `compute` returns (null and undefined are always allowed: "not known"). */
  type: ScoringFactType
  /** One line for the rules editor's completions. */
  doc?: string
  /** Pure, synchronous and cheap: no I/O, no clock, no randomness; the same input gives the same value. */
  compute(input: ScoringInput, ctx: PluginContext<Cfg>): unknown
}

/**
 * A rule operator: `factValue` is what the condition reads, `ruleValue` the value written in the rule. Pure and
 * synchronous; it returns whether the condition holds. One that throws fails the event's scoring, as a broken
 * built-in condition would, so return false for values it does not understand.
 */
export type RuleOperator = (factValue: unknown, ruleValue: unknown) => boolean

/**
 * A plugin that takes part in scoring every event. It can do three things, each optional:
 * - `score`: propose {@link Contribution}s for the event, applied after the ruleset's rules with the same limits,
 *   caps and floors; their rule ids are prefixed with the plugin id (`email_domain.business`) in the ledger.
 * - `facts`: contribute values rules read as `plugin.<pluginId>.<name>`.
 * - `operators`: contribute operators rules use as `<pluginId>.<name>` (in rules stored as JSON; the DSL has no
 *   syntax for them).
 * All of it must be pure: same inputs, same output, no I/O, no clock other than the event's times, and no mutation
 * of the input. Scores are replayed from events, so anything else makes a lead's score depend on when it was
 * computed. `@leadscore/server/testing` exports `runScoringConformance`, which checks exactly this.
 */
export interface ScoringPlugin<C extends TSchema = TSchema> {
  kind: 'scoring'
  manifest: PluginManifest<C>
  /**
   * Contributions for one event; each should carry a `reason` (the ledger shows it). May return a promise for
   * compatibility, but it must settle at once: the scoring worker awaits it for every event.
   */
  score?(input: ScoringInput, ctx: PluginContext<Static<C>>): Promise<Contribution[]> | Contribution[]
  /** Facts for rules, by name (lower_snake, `^[a-z][a-z0-9_]{0,49}$`). */
  facts?: Readonly<Record<string, ScoringFact<Static<C>>>>
  /** Operators for rules, by name (lower_snake); rules name them `<pluginId>.<name>`. */
  operators?: Readonly<Record<string, RuleOperator>>
  /**
   * Predicts the lead's outcome after each scored event (also events the ruleset does not score). Synchronous and
   * cheap: it runs once per event in the scoring worker. null when the plugin has nothing to say. When several
   * plugins predict, the last one's prediction is kept.
   */
  predict?(input: PredictInput, ctx: PluginContext<Static<C>>): PredictiveScore | null
}

/**
 * A request as seen by a push source. It is not Fastify's request: plugins do not couple to the web framework's
 * version. Header names are lower case.
 */
export interface InboundRequest {
  readonly method: 'POST' | 'PUT'
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly query: Readonly<Record<string, string | string[] | undefined>>
  /**
   * The parsed body when the request is JSON (`application/json` or `application/*+json`), parsed strictly (valid
   * UTF-8, no `__proto__`/`constructor` keys); otherwise `undefined`. A body that fails to parse, or does not match the
   * route's `body` schema, is answered 400 only AFTER `verify` accepted the request (so unsigned garbage is told
   * "unauthorized", never how it failed): `handle` only ever sees a parsed, matching body.
   */
  readonly body: unknown
  /** The exact bytes received: compute HMACs over these, never over a re-serialized `body`. */
  readonly rawBody: Buffer
}

/** One HTTP route of a push source, mounted at `/v1/sources/<instanceId><url>` in the plugin's own scope. */
export interface SourceRoute<Cfg> {
  method: 'POST' | 'PUT'
  /** Path below the instance prefix, e.g. `/webhook` or `/segment/track`: lower-case letters, digits, `-`, `_`, `/`. */
  url: string
  /** One line for the API reference. */
  summary?: string
  /** TypeBox schema the parsed JSON body must match (a mismatch is answered 400 after `verify`). */
  body?: TSchema
  /** Largest accepted body in bytes (413 above it); defaults to the server's body limit. */
  bodyLimit?: number
  /** Status of a successful answer: 202 (default) or 200 (for senders that expect exactly 200). */
  successStatus?: 200 | 202
  /**
   * Authenticates the request (signature, token). Throw {@link SourceAuthError} to refuse it (401). Routes without
   * `verify` are open to anyone who knows the instance id: verify unless the data is harmless.
   */
  verify?(req: InboundRequest, ctx: PluginContext<Cfg>): Promise<void>
  /**
   * Turns an authentic request into events. The host stores them through the same ingest as every other source
   * (validation, de-duplication on `(sourceId, externalId)`, per-event rejects with reasons) and answers with the
   * counts. Give every event a stable `externalId` (the sender's delivery or message id) so redeliveries are
   * recognised as duplicates. Throw {@link SourceInputError} for a request that can never become events (422);
   * return a {@link RefusedInput} for one event of it that cannot be mapped (a stored reject with your reason).
   */
  handle(req: InboundRequest, ctx: PluginContext<Cfg>): Promise<Array<EventInput | RefusedInput>>
}

/** The result of one poll. */
export interface PollResult {
  /** Events found since `cursor` (may be empty). */
  events: EventInput[]
  /**
   * The cursor to pass to the next fetch. The host stores it only AFTER `events` are durably ingested, so a crash
   * between the two repeats the fetch (at-least-once; the repeated events are recognised as duplicates).
   */
  cursor: string | null
  /** true when more is waiting right now: the host fetches again at once instead of waiting for the next period. */
  more?: boolean
}

/** Pull side of a source: the host schedules `fetch` per instance, one run at a time across all server processes. */
export interface SourcePoll<Cfg> {
  /** Period between polls: `500ms`, `30s`, `5m`, `1h` or `1d` (at least 1 s), or a function of the instance config. */
  every: string | ((config: Readonly<Cfg>) => string)
  /**
   * Fetches what is new since `cursor` (null on the first run). Throw {@link TransientSourceError} for a failure
   * worth retrying (retried with exponential backoff), {@link PermanentSourceError} or {@link SourceAuthError} for
   * one that is not (the instance's polling stops until its config is changed).
   */
  fetch(cursor: string | null, ctx: PluginContext<Cfg>): Promise<PollResult>
}

/**
 * Upload side of a source: `POST /v1/uploads` streams a file to the installed source whose `accepts` lists the
 * file's media type, and ingests what `parse` yields in batches, with the upload's resume, limits, counts and
 * progress.
 */
export interface SourceBatch<Cfg> {
  /** Media types this source reads, e.g. `text/csv` (lower case, no parameters). */
  accepts: readonly string[]
  /**
   * Reads the file's bytes (in chunks of any size) and yields its rows in file order: an {@link EventInput}, a
   * {@link RefusedInput} for a row that cannot become an event (stored as that row's reject, with your code and
   * reason), or either wrapped in a {@link BatchRow} to say which line it starts on. It must be deterministic: an
   * upload taken over after a restart parses the file again and skips the rows already stored, by position. Give
   * rows a stable `externalId` (or none: then one is hashed from the content) so a re-upload gives duplicates.
   * Throw {@link SourceInputError} (with a `code` and, if known, a `line`) for a problem that stops reading the file:
   * the rows yielded before it are kept. Errors thrown by `input` itself must pass through unchanged.
   */
  parse(input: AsyncIterable<Uint8Array>, ctx: PluginContext<Cfg>, file: BatchFile): AsyncIterable<EventInput | RefusedInput | BatchRow>
}

/**
 * A plugin that turns outside input into {@link EventInput}s: push (`http`), pull (`poll`), upload (`batch`), or
 * several of them. Sources never touch the database: they return events and the host ingests them.
 */
export interface SourcePlugin<C extends TSchema = TSchema> {
  kind: 'source'
  manifest: PluginManifest<C>
  /**
   * Generates a value for the secret config key `name` when the admin supplies none (default: 32 random bytes,
   * base64url). Return null for a secret only the admin can know (a mailbox password): creating an instance without
   * it is then refused.
   */
  generateSecret?(name: string): string | null
  /**
   * Checks what the config schema cannot express (rules across keys, secret formats). Returns the problems, each a
   * short sentence; an empty list means the config is fine. Runs after schema validation, wherever that runs.
   */
  checkConfig?(config: Readonly<Static<C>>): readonly string[]
  http?: { routes: ReadonlyArray<SourceRoute<Static<C>>> }
  poll?: SourcePoll<Static<C>>
  batch?: SourceBatch<Static<C>>
}

/** Any plugin the host can load. */
export type Plugin = SourcePlugin | ScoringPlugin

const ID_RE = /^[a-z][a-z0-9_]{1,49}$/

function checkManifest (fn: string, manifest: PluginManifest): void {
  if (manifest === null || typeof manifest !== 'object') throw new TypeError(`${fn}: manifest is required`)
  if (typeof manifest.id !== 'string' || !ID_RE.test(manifest.id)) throw new TypeError(`${fn}: manifest.id must be lower_snake (${String(ID_RE)})`)
  if (manifest.contract !== CONTRACT_VERSION) throw new TypeError(`${fn}: contract must be ${CONTRACT_VERSION}`)
}

/**
 * Identity helper that checks a scoring plugin's shape at definition time and gives type inference for its config.
 * @throws TypeError when the kind, id or contract version is wrong.
 */
export function defineScoringPlugin<C extends TSchema> (plugin: ScoringPlugin<C>): ScoringPlugin<C> {
  if (plugin.kind !== 'scoring') throw new TypeError('defineScoringPlugin: kind must be "scoring"')
  checkManifest('defineScoringPlugin', plugin.manifest)
  const why = scoringVocabularyProblem(plugin as unknown as ScoringPlugin)
  if (why !== null) throw new TypeError(`defineScoringPlugin: ${why}`)
  return plugin
}

const NAME_RE = /^[a-z][a-z0-9_]{0,49}$/
const FACT_TYPES: ReadonlySet<string> = new Set(['number', 'string', 'boolean', 'string[]', 'any'])

/** What is wrong with a scoring plugin's facts or operators, or null. The host checks the same at boot. */
export function scoringVocabularyProblem (plugin: ScoringPlugin): string | null {
  const { facts, operators } = plugin
  if (facts !== undefined) {
    if (facts === null || typeof facts !== 'object') return 'facts must be an object of named facts'
    for (const [name, f] of Object.entries(facts)) {
      if (!NAME_RE.test(name)) return `fact '${name}' must be lower_snake (${String(NAME_RE)})`
      if (f === null || typeof f !== 'object' || typeof f.compute !== 'function') return `fact '${name}' needs a compute function`
      if (!FACT_TYPES.has(f.type)) return `fact '${name}' has type ${JSON.stringify(f.type)}; use one of ${[...FACT_TYPES].join(', ')}`
    }
  }
  if (operators !== undefined) {
    if (operators === null || typeof operators !== 'object') return 'operators must be an object of named functions'
    for (const [name, fn] of Object.entries(operators)) {
      if (!NAME_RE.test(name)) return `operator '${name}' must be lower_snake (${String(NAME_RE)})`
      if (typeof fn !== 'function') return `operator '${name}' must be a function`
    }
  }
  return null
}

/**
 * Identity helper that checks a source plugin's shape at definition time and gives type inference for its config
 * (`ctx.config` is `Static<typeof manifest.config>`). A source needs at least one of `http`, `poll` or `batch`.
 * The host repeats these checks, and more (routes, secrets, schedule), at boot.
 * @throws TypeError when the kind, id or contract version is wrong or the source has no trigger.
 */
export function defineSourcePlugin<C extends TSchema> (plugin: SourcePlugin<C>): SourcePlugin<C> {
  if (plugin.kind !== 'source') throw new TypeError('defineSourcePlugin: kind must be "source"')
  checkManifest('defineSourcePlugin', plugin.manifest)
  if (plugin.http === undefined && plugin.poll === undefined && plugin.batch === undefined) {
    throw new TypeError('defineSourcePlugin: a source needs http, poll or batch')
  }
  return plugin
}

/** How the host treats a plugin error: `auth` 401, `input` 422, `transient` retried with backoff, `permanent` failed without retry. */
export type PluginErrorKind = 'auth' | 'input' | 'transient' | 'permanent'

const BRAND = Symbol.for('leadscore.plugin-error')
const CODE_RE = /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/

/** Options of every plugin error. */
export interface PluginErrorOptions {
  /** The underlying error, kept for the logs. */
  cause?: unknown
  /**
   * A stable code for the problem answer, `<PLUGIN_ID>_ERR_<WHAT>` in upper snake case (first-party plugins use
   * documented `LS_ERR_…` codes). Without one, the host uses its generic code for the error's kind.
   */
  code?: string
  /** For a file that cannot be read on (a batch source): the line of the file where the problem is. */
  line?: number
}

/**
 * Base of the errors a plugin may throw; the host maps each subclass to a documented outcome. Anything else a
 * plugin throws is a bug: answered 500 `LS_ERR_PLUGIN_FAILED` (HTTP) or retried with backoff (polls), and logged.
 * The host recognises these errors by a brand, not `instanceof`, so a plugin may bundle its own copy of this module.
 */
export class PluginError extends Error {
  /** The outcome the host applies. */
  readonly kind: PluginErrorKind
  /** The problem code, when the plugin gave a well-formed one. */
  readonly code: string | undefined
  /** The line of an uploaded file the problem is on, when the plugin gave one. */
  readonly line: number | undefined
  constructor (message: string, options: PluginErrorOptions = {}, kind: PluginErrorKind = 'permanent') {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined)
    this.name = new.target.name
    this.kind = kind
    this.code = typeof options.code === 'string' && CODE_RE.test(options.code) ? options.code : undefined
    this.line = Number.isSafeInteger(options.line) && options.line! > 0 ? options.line : undefined
    Object.defineProperty(this, BRAND, { value: true })
  }
}

/** The caller is not authentic (bad signature, bad token, stale timestamp): answered 401 and counted as a rejected delivery. */
export class SourceAuthError extends PluginError {
  constructor (message: string, options: PluginErrorOptions = {}) { super(message, options, 'auth') }
}

/** The input is authentic but can never become events: answered 422 (or the code's documented status) and counted. */
export class SourceInputError extends PluginError {
  constructor (message: string, options: PluginErrorOptions = {}) { super(message, options, 'input') }
}

/** A temporary failure (network, rate limit, server busy): the host retries with backoff (HTTP senders get 503). */
export class TransientSourceError extends PluginError {
  /** The wait the remote asked for (for example from its `Retry-After`), in milliseconds. */
  readonly retryAfterMs: number | undefined
  constructor (message: string, options: PluginErrorOptions & { retryAfterMs?: number } = {}) {
    super(message, options, 'transient')
    this.retryAfterMs = options.retryAfterMs
  }
}

/** A failure that retrying will not fix (bad credentials, a mailbox that does not exist): failed without retry. */
export class PermanentSourceError extends PluginError {
  constructor (message: string, options: PluginErrorOptions = {}) { super(message, options, 'permanent') }
}

/** The kind of a plugin error (from any copy of this module), or null when `err` is not one. */
export function pluginErrorKind (err: unknown): PluginErrorKind | null {
  if (err === null || typeof err !== 'object' || (err as Record<symbol, unknown>)[BRAND] !== true) return null
  const k = (err as { kind?: unknown }).kind
  return k === 'auth' || k === 'input' || k === 'transient' || k === 'permanent' ? k : null
}
