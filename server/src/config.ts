import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { join, resolve } from 'node:path'
import { isIP } from 'node:net'
import { fileURLToPath } from 'node:url'
import { LS_ERR_CONFIG_INVALID } from './errors.js'
import type { IntentConfig } from './domain/intent/index.js'

/** Where `npm run intent:model` puts the default embedded intent model. */
const DEFAULT_LOCAL_MODEL = fileURLToPath(new URL('../../.tools/models/SmolLM2-135M-Instruct.Q4_1.gguf', import.meta.url))

const Bool = Type.Union([Type.Boolean(), Type.Transform(Type.String({ pattern: '^(0|1|true|false|yes|no|on|off)$' }))
  .Decode((v) => ['1', 'true', 'yes', 'on'].includes(v))
  .Encode((v) => String(v))])

const DELAY = '\\d{1,7}(ms|s|m|h|d)'
/** A comma-separated list of 0 to 30 durations, e.g. `5s,30s,2m,10m,1h`. */
const DELAY_LIST = `^(\\s*${DELAY}\\s*(,\\s*${DELAY}\\s*){0,29})?$`
const DELAY_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Milliseconds of each duration in a list like `5s,30s,2m` (already checked against DELAY_LIST). */
export function parseDelays (list: string): number[] {
  return list.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const m = /^(\d+)(ms|s|m|h|d)$/.exec(s)!
    return Number(m[1]) * DELAY_UNIT_MS[m[2]!]!
  })
}

/** LEADSCORE_TRUST_PROXY (already checked by its pattern) as Fastify's `trustProxy`; `1` is one hop. */
function parseTrustProxy (v: string): boolean | number | string[] {
  if (['true', 'yes', 'on'].includes(v)) return true
  if (['false', 'no', 'off', '0'].includes(v)) return false
  if (/^\d+$/.test(v)) return Number(v)
  const list = v.split(',').map((s) => s.trim())
  for (const item of list) {
    const [addr, bits, extra] = item.split('/')
    const max = isIP(addr ?? '') === 4 ? 32 : 128
    if (isIP(addr ?? '') === 0 || extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= max))) {
      throw new LS_ERR_CONFIG_INVALID(`LEADSCORE_TRUST_PROXY: ${JSON.stringify(item)} is not an IP address or CIDR`)
    }
  }
  return Object.freeze(list) as string[]
}

/** Every environment variable the server reads. Unknown variables are ignored. */
export const Env = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ default: '127.0.0.1' }),
  MONGODB_URI: Type.Optional(Type.String({ pattern: '^mongodb(\\+srv)?://' })),
  MONGODB_DB: Type.String({ pattern: '^[A-Za-z0-9_-]{1,63}$', default: 'leadscore' }),
  LEADSCORE_DATA_DIR: Type.String({ default: '.data' }),
  LEADSCORE_FERRETDB_BIN: Type.Optional(Type.String()),
  LEADSCORE_EMBEDDED_DB_SYNC: Type.Union([Type.Literal('normal'), Type.Literal('full')], { default: 'normal' }),
  LEADSCORE_DEMO: Bool,
  LEADSCORE_BOOTSTRAP_API_KEY: Type.Optional(Type.String({ minLength: 16, maxLength: 200 })),
  LEADSCORE_ADMIN_EMAIL: Type.Optional(Type.String({ maxLength: 254, pattern: '^[^@\\s]+@[^@\\s]+$' })),
  LEADSCORE_ADMIN_PASSWORD: Type.Optional(Type.String({ minLength: 8, maxLength: 200 })),
  LEADSCORE_WORKER: Bool,
  LEADSCORE_WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 256, default: 4 }),
  LEADSCORE_SCORING_BATCH: Type.Integer({ minimum: 1, maximum: 1000, default: 200 }),
  LEADSCORE_INGEST_FIRST_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 5_000 }),
  LEADSCORE_LOCK_LIFETIME_MS: Type.Integer({ minimum: 500, default: 30_000 }),
  LEADSCORE_SWEEP_EVERY_MS: Type.Integer({ minimum: 100, default: 30_000 }),
  LEADSCORE_DECAY_TICK_MS: Type.Integer({ minimum: 100, default: 3_600_000 }),
  LEADSCORE_PROCESS_EVERY_MS: Type.Integer({ minimum: 20, default: 500 }),
  LEADSCORE_EVENTS_PER_RUN: Type.Integer({ minimum: 1, maximum: 100_000, default: 1_000 }),
  LEADSCORE_MAX_EVENT_BYTES: Type.Integer({ minimum: 1024, default: 32 * 1024 }),
  LEADSCORE_BODY_LIMIT: Type.Integer({ minimum: 1024, default: 1024 * 1024 }),
  LEADSCORE_EVENTS_BODY_LIMIT: Type.Integer({ minimum: 1024, default: 5 * 1024 * 1024 }),
  LEADSCORE_UPLOAD_MAX_BYTES: Type.Integer({ minimum: 1024, default: 512 * 1024 * 1024 }),
  LEADSCORE_UPLOAD_SPOOL_MAX_BYTES: Type.Integer({ minimum: 1024, default: 10 * 1024 * 1024 * 1024 }),
  LEADSCORE_UPLOADS_PER_PRINCIPAL: Type.Integer({ minimum: 1, maximum: 1000, default: 2 }),
  LEADSCORE_UPLOADS_CONCURRENT: Type.Integer({ minimum: 1, maximum: 10_000, default: 8 }),
  LEADSCORE_UPLOAD_MAX_ROW_BYTES: Type.Integer({ minimum: 256, maximum: 16 * 1024 * 1024, default: 64 * 1024 }),
  LEADSCORE_UPLOAD_MAX_COLUMNS: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
  LEADSCORE_UPLOAD_BATCH_ROWS: Type.Integer({ minimum: 1, maximum: 5000, default: 500 }),
  LEADSCORE_UPLOAD_IDLE_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 60_000 }),
  LEADSCORE_UPLOAD_DIR: Type.Optional(Type.String({ minLength: 1 })),
  LEADSCORE_UPLOAD_LEASE_MS: Type.Integer({ minimum: 1000, default: 30_000 }),
  LEADSCORE_REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 60_000 }),
  LEADSCORE_IDEMPOTENCY_TTL_HOURS: Type.Integer({ minimum: 1, default: 24 }),
  LEADSCORE_RATE_LIMIT_INGEST: Type.Integer({ minimum: 0, default: 60_000 }),
  LEADSCORE_RATE_LIMIT_API: Type.Integer({ minimum: 0, default: 30_000 }),
  LEADSCORE_RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1000, maximum: 86_400_000, default: 60_000 }),
  LEADSCORE_METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16, maxLength: 200, pattern: '^\\S+$' })),
  LEADSCORE_WEBHOOKS_ALLOW_PRIVATE: Type.Optional(Bool),
  LEADSCORE_WEBHOOKS_RETRY_SCHEDULE: Type.String({ pattern: DELAY_LIST, default: '5s,30s,2m,10m,1h,4h,12h,24h' }),
  LEADSCORE_WEBHOOKS_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
  LEADSCORE_WEBHOOKS_POLL_MS: Type.Integer({ minimum: 20, default: 30_000 }),
  LEADSCORE_WEBHOOKS_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
  LEADSCORE_CORS_ORIGIN: Type.Optional(Type.String()),
  // off, on, a hop count, or a comma-separated list of addresses/CIDRs (each checked by parseTrustProxy)
  LEADSCORE_TRUST_PROXY: Type.String({ default: 'false', pattern: '^(0|1|true|false|yes|no|on|off|\\d{1,2}|[0-9A-Fa-f:./]+(\\s*,\\s*[0-9A-Fa-f:./]+)*)$' }),
  LEADSCORE_CONSOLE_DIR: Type.Optional(Type.String()),
  // 32 bytes, hex or base64: seals stored secrets (lib/secret-box.ts); required when NODE_ENV=production
  LEADSCORE_SECRET_KEY: Type.Optional(Type.String({ pattern: '^\\s*([0-9a-fA-F]{64}|[A-Za-z0-9+/_-]{43}=?)\\s*$' })),
  // earlier keys (comma-separated): values they sealed still open, and are sealed again under LEADSCORE_SECRET_KEY at boot
  LEADSCORE_SECRET_KEY_PREVIOUS: Type.Optional(Type.String({ pattern: '^\\s*([0-9a-fA-F]{64}|[A-Za-z0-9+/_-]{43}=?)(\\s*,\\s*([0-9a-fA-F]{64}|[A-Za-z0-9+/_-]{43}=?)){0,9}\\s*$' })),
  LEADSCORE_PLUGINS: Type.String({ default: '', pattern: '^[^\\s,]*(,[^\\s,]+)*$' }),
  // AI intent (docs/intent.md): off (the rule fallback only), openai (any OpenAI-compatible server) or local (GGUF)
  LEADSCORE_INTENT_PROVIDER: Type.Union([Type.Literal('off'), Type.Literal('openai'), Type.Literal('local')], { default: 'off' }),
  LEADSCORE_INTENT_BASE_URL: Type.String({ pattern: '^https?://', default: 'https://api.openai.com/v1' }),
  LEADSCORE_INTENT_MODEL: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
  LEADSCORE_INTENT_API_KEY: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
  LEADSCORE_INTENT_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 20_000 }),
  LEADSCORE_INTENT_RETRIES: Type.Integer({ minimum: 0, maximum: 10, default: 2 }),
  LEADSCORE_INTENT_THREADS: Type.Integer({ minimum: 1, maximum: 64, default: 2 }),
  LEADSCORE_INTENT_POLL_MS: Type.Integer({ minimum: 50, default: 2_000 }),
  LOG_LEVEL: Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'),
    Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')], { default: 'info' }),
  PROBLEM_BASE_URL: Type.String({ default: '/problems' }),
}, { additionalProperties: true })

export type EnvInput = Record<string, string | undefined>

/** Validated, frozen configuration of one server process. */
export interface AppConfig {
  port: number
  host: string
  mongoUri: string | undefined
  mongoDb: string
  dataDir: string
  ferretdbBin: string | undefined
  /** How the embedded database syncs its commits to disk (SQLite `synchronous` in WAL mode; see docs/configuration.md). */
  embeddedDbSync: 'normal' | 'full'
  demo: boolean
  bootstrapApiKey: string | undefined
  /** The first console admin, created at startup when no admin user exists (unset parts: admin@localhost, random). */
  initialAdmin: { email: string | undefined; password: string | undefined }
  /** `ingestFirstMs`: how long a scoring backlog lets this process's ingest go first (domain/workers/ingest-first.ts). */
  worker: { enabled: boolean; concurrency: number; batchLeads: number; ingestFirstMs: number; lockLifetimeMs: number; sweepEveryMs: number; processEveryMs: number; eventsPerRun: number; decayTickMs: number }
  limits: { maxEventBytes: number; bodyLimit: number; eventsBodyLimit: number; maxBatchEvents: number }
  /** Time allowed to receive a whole request (every route but file uploads, which have `uploads.idleTimeoutMs`). */
  requestTimeoutMs: number
  /**
   * Upload limits; `dir` holds the files of running uploads, `leaseMs` is how soon another process takes one over.
   * `perPrincipal` and `concurrent` bound the uploads running at once, `spoolMaxBytes` the bytes their files hold
   * together (`maxBytes` is never above it: a file that alone exceeds the spool could never be taken).
   */
  uploads: {
    maxBytes: number; maxRowBytes: number; maxColumns: number; batchRows: number; idleTimeoutMs: number; dir: string; leaseMs: number
    perPrincipal: number; concurrent: number; spoolMaxBytes: number
  }
  idempotencyTtlMs: number
  /**
   * Requests each client (API key, console user, else client address) may make per window: `ingestMax` on ingest
   * routes (events, source deliveries, uploads), `apiMax` on every other; 0 turns that limit off.
   */
  rateLimit: { ingestMax: number; apiMax: number; windowMs: number }
  /** Bearer token that may read GET /metrics besides admin keys and sessions; unset, only those may. */
  metricsToken: string | undefined
  /**
   * Outbound webhooks: whether private/loopback receiver addresses are allowed, the delay before each retry (so at
   * most `retryDelaysMs.length + 1` attempts), the request timeout, the dispatcher's poll interval and parallelism.
   */
  webhooks: { allowPrivate: boolean; retryDelaysMs: number[]; timeoutMs: number; pollMs: number; concurrency: number }
  corsOrigin: string | undefined
  /**
   * Fastify's `trustProxy`: false (the default: x-forwarded-* headers are ignored), true (trust every proxy), a hop
   * count, or the proxies' addresses/CIDRs. Then the client address and protocol come from x-forwarded-for/-proto.
   */
  trustProxy: boolean | number | string[]
  consoleDir: string | undefined
  /**
   * LEADSCORE_SECRET_KEY (32 bytes as hex or base64): the key stored secrets are sealed with. Without it, a key file in
   * the data folder is used (created at first start); with NODE_ENV=production the variable is required.
   */
  secretKey: string | undefined
  /** LEADSCORE_SECRET_KEY_PREVIOUS: keys stored secrets may still be sealed with (re-sealed under `secretKey` at boot). */
  previousSecretKeys: readonly string[]
  /** Plugin packages (module specifiers) imported at boot, in order. */
  plugins: readonly string[]
  /** The AI intent layer (LEADSCORE_INTENT_*): provider, endpoint, model, key (a secret: never logged), limits. */
  intent: IntentConfig
  logLevel: Static<typeof Env>['LOG_LEVEL']
  problemBaseUrl: string
}

const DEFAULT_TRUE = ['LEADSCORE_DEMO', 'LEADSCORE_WORKER'] as const

/** Parses environment variables into an {@link AppConfig}; throws LS_ERR_CONFIG_INVALID listing every bad variable. */
export function loadConfig (env: EnvInput): AppConfig {
  const input: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') input[k] = v
  for (const k of DEFAULT_TRUE) if (input[k] === undefined) input[k] = 'true'
  const converted = Value.Convert(Env, Value.Default(Env, input)) as Record<string, unknown>
  // Value.Convert truncates '1.5' and '1e3' to 1; only plain decimal integers count as integers
  for (const [k, s] of Object.entries(Env.properties)) {
    const raw = env[k]
    if ((s as { type?: unknown }).type === 'integer' && typeof raw === 'string' && raw !== '' && !/^\s*[+-]?\d+\s*$/.test(raw)) converted[k] = raw
  }
  const errors = [...Value.Errors(Env, converted)]
  if (errors.length > 0) {
    throw new LS_ERR_CONFIG_INVALID(errors.map((e) => `${e.path.slice(1) || '(root)'}: ${e.message}`).join('; '))
  }
  const e = Value.Decode(Env, converted)
  if (env.NODE_ENV === 'production' && e.LEADSCORE_SECRET_KEY === undefined) {
    throw new LS_ERR_CONFIG_INVALID('LEADSCORE_SECRET_KEY: required when NODE_ENV=production (32 random bytes as hex, e.g. `openssl rand -hex 32`); it encrypts the stored webhook and source secrets')
  }
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    mongoUri: e.MONGODB_URI,
    mongoDb: e.MONGODB_DB,
    dataDir: e.LEADSCORE_DATA_DIR,
    ferretdbBin: e.LEADSCORE_FERRETDB_BIN,
    embeddedDbSync: e.LEADSCORE_EMBEDDED_DB_SYNC,
    demo: e.LEADSCORE_DEMO,
    bootstrapApiKey: e.LEADSCORE_BOOTSTRAP_API_KEY,
    initialAdmin: Object.freeze({ email: e.LEADSCORE_ADMIN_EMAIL, password: e.LEADSCORE_ADMIN_PASSWORD }),
    worker: Object.freeze({
      enabled: e.LEADSCORE_WORKER,
      concurrency: e.LEADSCORE_WORKER_CONCURRENCY,
      batchLeads: e.LEADSCORE_SCORING_BATCH,
      ingestFirstMs: e.LEADSCORE_INGEST_FIRST_MS,
      lockLifetimeMs: e.LEADSCORE_LOCK_LIFETIME_MS,
      sweepEveryMs: e.LEADSCORE_SWEEP_EVERY_MS,
      decayTickMs: e.LEADSCORE_DECAY_TICK_MS,
      processEveryMs: e.LEADSCORE_PROCESS_EVERY_MS,
      eventsPerRun: e.LEADSCORE_EVENTS_PER_RUN,
    }),
    limits: Object.freeze({
      maxEventBytes: e.LEADSCORE_MAX_EVENT_BYTES,
      bodyLimit: e.LEADSCORE_BODY_LIMIT,
      eventsBodyLimit: e.LEADSCORE_EVENTS_BODY_LIMIT,
      maxBatchEvents: 1000,
    }),
    requestTimeoutMs: e.LEADSCORE_REQUEST_TIMEOUT_MS,
    uploads: Object.freeze({
      maxBytes: Math.min(e.LEADSCORE_UPLOAD_MAX_BYTES, e.LEADSCORE_UPLOAD_SPOOL_MAX_BYTES),
      maxRowBytes: e.LEADSCORE_UPLOAD_MAX_ROW_BYTES,
      maxColumns: e.LEADSCORE_UPLOAD_MAX_COLUMNS,
      batchRows: e.LEADSCORE_UPLOAD_BATCH_ROWS,
      idleTimeoutMs: e.LEADSCORE_UPLOAD_IDLE_TIMEOUT_MS,
      dir: resolve(e.LEADSCORE_UPLOAD_DIR ?? join(e.LEADSCORE_DATA_DIR, 'uploads')),
      leaseMs: e.LEADSCORE_UPLOAD_LEASE_MS,
      perPrincipal: e.LEADSCORE_UPLOADS_PER_PRINCIPAL,
      concurrent: e.LEADSCORE_UPLOADS_CONCURRENT,
      spoolMaxBytes: e.LEADSCORE_UPLOAD_SPOOL_MAX_BYTES,
    }),
    idempotencyTtlMs: e.LEADSCORE_IDEMPOTENCY_TTL_HOURS * 3_600_000,
    rateLimit: Object.freeze({
      ingestMax: e.LEADSCORE_RATE_LIMIT_INGEST,
      apiMax: e.LEADSCORE_RATE_LIMIT_API,
      windowMs: e.LEADSCORE_RATE_LIMIT_WINDOW_MS,
    }),
    metricsToken: e.LEADSCORE_METRICS_TOKEN,
    webhooks: Object.freeze({
      allowPrivate: e.LEADSCORE_WEBHOOKS_ALLOW_PRIVATE ?? false,
      retryDelaysMs: Object.freeze(parseDelays(e.LEADSCORE_WEBHOOKS_RETRY_SCHEDULE)) as number[],
      timeoutMs: e.LEADSCORE_WEBHOOKS_TIMEOUT_MS,
      pollMs: e.LEADSCORE_WEBHOOKS_POLL_MS,
      concurrency: e.LEADSCORE_WEBHOOKS_CONCURRENCY,
    }),
    corsOrigin: e.LEADSCORE_CORS_ORIGIN,
    trustProxy: parseTrustProxy(e.LEADSCORE_TRUST_PROXY),
    consoleDir: e.LEADSCORE_CONSOLE_DIR,
    secretKey: e.LEADSCORE_SECRET_KEY?.trim(),
    previousSecretKeys: Object.freeze((e.LEADSCORE_SECRET_KEY_PREVIOUS ?? '').split(',').map((k) => k.trim()).filter((k) => k !== '')),
    plugins: Object.freeze(e.LEADSCORE_PLUGINS.split(',').filter((x) => x !== '')),
    intent: Object.freeze({
      provider: e.LEADSCORE_INTENT_PROVIDER,
      baseUrl: e.LEADSCORE_INTENT_BASE_URL,
      // the local default is the file `npm run intent:model` installs
      model: e.LEADSCORE_INTENT_MODEL ?? (e.LEADSCORE_INTENT_PROVIDER === 'local' ? DEFAULT_LOCAL_MODEL : 'gpt-4o-mini'),
      apiKey: e.LEADSCORE_INTENT_API_KEY,
      timeoutMs: e.LEADSCORE_INTENT_TIMEOUT_MS,
      retries: e.LEADSCORE_INTENT_RETRIES,
      threads: e.LEADSCORE_INTENT_THREADS,
      pollMs: e.LEADSCORE_INTENT_POLL_MS,
    }),
    logLevel: e.LOG_LEVEL,
    problemBaseUrl: e.PROBLEM_BASE_URL.replace(/\/$/, ''),
  })
}
