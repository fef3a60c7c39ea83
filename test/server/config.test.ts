// Configuration: every variable is documented, strings are converted, defaults apply, bad input is refused at once.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Env, loadConfig } from '../../server/src/config.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const docs = readFileSync(join(root, 'docs', 'configuration.md'), 'utf8')

t.test('every Env property is documented in docs/configuration.md', async (t) => {
  const names = Object.keys(Env.properties)
  t.ok(names.length > 10)
  for (const name of names) {
    t.match(docs, new RegExp(`^\\|\\s*\`${name}\`\\s*\\|`, 'm'), `${name} has a row in docs/configuration.md`)
  }
  // and the document names no variable the server does not read
  for (const m of docs.matchAll(/^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|/gm)) t.ok(names.includes(m[1]!), `${m[1]} is an Env property`)
})

t.test('loadConfig converts strings to integers and booleans', async (t) => {
  const c = loadConfig({
    PORT: '8080', LEADSCORE_WORKER_CONCURRENCY: '3', LEADSCORE_LOCK_LIFETIME_MS: '1500', LEADSCORE_SWEEP_EVERY_MS: '250',
    LEADSCORE_PROCESS_EVERY_MS: '40', LEADSCORE_EVENTS_PER_RUN: '77', LEADSCORE_INGEST_FIRST_MS: '0', LEADSCORE_MAX_EVENT_BYTES: '2048', LEADSCORE_BODY_LIMIT: '4096',
    LEADSCORE_EVENTS_BODY_LIMIT: '8192', LEADSCORE_IDEMPOTENCY_TTL_HOURS: '2', LEADSCORE_WORKER: 'off', LEADSCORE_DEMO: 'no',
    MONGODB_URI: 'mongodb://db:27017/', MONGODB_DB: 'ls_x', PROBLEM_BASE_URL: 'https://example.com/problems/', LOG_LEVEL: 'warn',
    LEADSCORE_RATE_LIMIT_INGEST: '0', LEADSCORE_RATE_LIMIT_API: '5', LEADSCORE_RATE_LIMIT_WINDOW_MS: '1000',
    LEADSCORE_METRICS_TOKEN: 'metrics-token-0123456789',
  })
  t.equal(c.port, 8080)
  t.same(c.worker, { enabled: false, concurrency: 3, batchLeads: 200, ingestFirstMs: 0, lockLifetimeMs: 1500, sweepEveryMs: 250, processEveryMs: 40, eventsPerRun: 77, decayTickMs: 3_600_000 })
  t.same(c.limits, { maxEventBytes: 2048, bodyLimit: 4096, eventsBodyLimit: 8192, maxBatchEvents: 1000 })
  t.equal(c.idempotencyTtlMs, 2 * 3_600_000)
  t.same(c.rateLimit, { ingestMax: 0, apiMax: 5, windowMs: 1000 })
  t.equal(c.metricsToken, 'metrics-token-0123456789')
  t.equal(c.demo, false)
  t.equal(c.mongoUri, 'mongodb://db:27017/')
  t.equal(c.mongoDb, 'ls_x')
  t.equal(c.logLevel, 'warn')
  t.equal(c.problemBaseUrl, 'https://example.com/problems')
  t.ok(Object.isFrozen(c), 'the config is frozen')
  for (const [v, expected] of [['1', true], ['true', true], ['yes', true], ['on', true], ['0', false], ['false', false]] as const) {
    t.equal(loadConfig({ LEADSCORE_WORKER: v }).worker.enabled, expected, `LEADSCORE_WORKER=${v}`)
  }
})

t.test('loadConfig applies defaults', async (t) => {
  const c = loadConfig({})
  t.equal(c.port, 3000)
  t.equal(c.host, '127.0.0.1')
  t.equal(c.mongoUri, undefined)
  t.equal(c.mongoDb, 'leadscore')
  t.equal(c.dataDir, '.data')
  t.equal(c.demo, true)
  t.equal(c.bootstrapApiKey, undefined)
  t.same(c.worker, { enabled: true, concurrency: 4, batchLeads: 200, ingestFirstMs: 5000, lockLifetimeMs: 30_000, sweepEveryMs: 30_000, processEveryMs: 500, eventsPerRun: 1000, decayTickMs: 3_600_000 })
  t.same(c.limits, { maxEventBytes: 32 * 1024, bodyLimit: 1024 * 1024, eventsBodyLimit: 5 * 1024 * 1024, maxBatchEvents: 1000 })
  t.equal(c.idempotencyTtlMs, 24 * 3_600_000)
  t.same(c.rateLimit, { ingestMax: 60_000, apiMax: 30_000, windowMs: 60_000 })
  t.equal(c.metricsToken, undefined)
  t.same(c.uploads, {
    maxBytes: 512 * 1024 * 1024, maxRowBytes: 64 * 1024, maxColumns: 500, batchRows: 500, idleTimeoutMs: 60_000, dir: resolve('.data', 'uploads'), leaseMs: 30_000,
    perPrincipal: 2, concurrent: 8, spoolMaxBytes: 10 * 1024 * 1024 * 1024,
  })
  t.equal(c.logLevel, 'info')
  t.equal(c.problemBaseUrl, '/problems')
  // an empty value counts as unset
  t.equal(loadConfig({ PORT: '', LEADSCORE_WORKER: '' }).port, 3000)
  t.equal(loadConfig({ PORT: '', LEADSCORE_WORKER: '' }).worker.enabled, true)
})

t.test('upload limits: converted, and the file-size limit never above the spool quota', async (t) => {
  const c = loadConfig({ LEADSCORE_UPLOADS_PER_PRINCIPAL: '3', LEADSCORE_UPLOADS_CONCURRENT: '5', LEADSCORE_UPLOAD_SPOOL_MAX_BYTES: '100000', LEADSCORE_UPLOAD_DIR: '/tmp/spool' })
  t.same(c.uploads, {
    maxBytes: 100_000, maxRowBytes: 64 * 1024, maxColumns: 500, batchRows: 500, idleTimeoutMs: 60_000, dir: '/tmp/spool', leaseMs: 30_000,
    perPrincipal: 3, concurrent: 5, spoolMaxBytes: 100_000,
  })
  t.equal(loadConfig({ LEADSCORE_UPLOAD_MAX_BYTES: '5000', LEADSCORE_UPLOAD_SPOOL_MAX_BYTES: '100000' }).uploads.maxBytes, 5000)
  for (const v of ['0', '-1', 'x']) t.throws(() => loadConfig({ LEADSCORE_UPLOADS_PER_PRINCIPAL: v }), { code: 'LS_ERR_CONFIG_INVALID' }, `LEADSCORE_UPLOADS_PER_PRINCIPAL=${v}`)
  t.throws(() => loadConfig({ LEADSCORE_UPLOADS_CONCURRENT: '0' }), { code: 'LS_ERR_CONFIG_INVALID' })
  t.throws(() => loadConfig({ LEADSCORE_UPLOAD_SPOOL_MAX_BYTES: '10' }), { code: 'LS_ERR_CONFIG_INVALID' })
})

t.test('loadConfig throws LS_ERR_CONFIG_INVALID listing every bad variable', async (t) => {
  const bad: Record<string, string> = {
    PORT: 'abc', LEADSCORE_WORKER_CONCURRENCY: '0', MONGODB_URI: 'http://db', LEADSCORE_DEMO: 'maybe', LOG_LEVEL: 'loud',
    LEADSCORE_LOCK_LIFETIME_MS: '1.5', LEADSCORE_EVENTS_PER_RUN: '1e3', MONGODB_DB: 'has space', LEADSCORE_BOOTSTRAP_API_KEY: 'short',
    LEADSCORE_RATE_LIMIT_API: '-1', LEADSCORE_RATE_LIMIT_WINDOW_MS: '10', LEADSCORE_METRICS_TOKEN: 'short',
  }
  let caught: unknown
  try { loadConfig({ ...bad, HOST: '0.0.0.0' }) } catch (err) { caught = err }
  t.ok(caught instanceof Error, 'it throws')
  const err = caught as Error & { code?: string; statusCode?: number }
  t.equal(err.code, 'LS_ERR_CONFIG_INVALID')
  for (const name of Object.keys(bad)) t.match(err.message, new RegExp(`(^|[ ;:])${name}: `), `the message names ${name}`)
  t.notMatch(err.message, /HOST/, 'valid variables are not listed')
  for (const v of ['1.5', '1e3', '0x10', '80abc', '-']) {
    t.throws(() => loadConfig({ PORT: v }), { code: 'LS_ERR_CONFIG_INVALID' }, `PORT=${v} is not an integer`)
  }
  t.throws(() => loadConfig({ PORT: '65536' }), { code: 'LS_ERR_CONFIG_INVALID' }, 'PORT above 65535')
})

t.test('the embedded database syncs at checkpoints by default; full and normal are the only choices', async (t) => {
  t.equal(loadConfig({}).embeddedDbSync, 'normal')
  t.equal(loadConfig({ LEADSCORE_EMBEDDED_DB_SYNC: 'full' }).embeddedDbSync, 'full')
  t.equal(loadConfig({ LEADSCORE_EMBEDDED_DB_SYNC: '' }).embeddedDbSync, 'normal', 'empty is unset')
  for (const v of ['off', 'FULL']) t.throws(() => loadConfig({ LEADSCORE_EMBEDDED_DB_SYNC: v }), { code: 'LS_ERR_CONFIG_INVALID' }, `LEADSCORE_EMBEDDED_DB_SYNC=${JSON.stringify(v)}`)
})
