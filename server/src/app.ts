import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import websocket from '@fastify/websocket'
import fastifyStatic from '@fastify/static'
import { existsSync } from 'node:fs'
import { resolve, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AppConfig } from './config.js'
import { openDatabase, type Database } from './infra/db.js'
import problemDetails, { handleError, clientErrorHandler } from './infra/problem-details.js'
import httpParsing from './infra/http-parsing.js'
import requestDeadline from './infra/request-deadline.js'
import auth, { redactUrl } from './http/auth.js'
import rateLimits from './infra/rate-limit.js'
import securityHeaders from './infra/security-headers.js'
import { createSecretBox, keyFromFile, parseSecretKey } from './lib/secret-box.js'
import { requestIdOf } from './lib/request-id.js'
import { LiveHub } from './http/live.js'
import { createCore, type Core, type CoreOptions } from './domain/core.js'
import { ProblemDetails, Lead, Event, EventInput, LedgerEntry } from './schemas/common.js'
import { Ruleset, Diagnostic, Backtest } from './schemas/rulesets.js'
import { IngestResult } from './schemas/events.js'
import { Webhook, Delivery } from './schemas/webhooks.js'
import { UploadReject, UploadReport, Upload } from './schemas/uploads.js'
import eventsRoutes from './routes/events.js'
import leadsRoutes from './routes/leads.js'
import rulesetsRoutes from './routes/rulesets.js'
import offersRoutes from './routes/offers.js'
import { Offer } from './schemas/offers.js'
import systemRoutes from './routes/system.js'
import exportsRoutes from './routes/exports.js'
import liveRoutes from './routes/live.js'
import sessionRoutes from './routes/session.js'
import usersRoutes from './routes/users.js'
import analyticsRoutes from './routes/analytics.js'
import webhooksRoutes from './routes/webhooks.js'
import sourcesRoutes from './routes/sources.js'
import { createSourceHost, createRegistry, importPlugins, mountScoringPlugins, type SourceHost } from './plugin-host/index.js'
import { pluginPackages } from './plugin-host/first-party.js'
import uploadsRoutes from './routes/uploads.js'
import modelsRoutes from './routes/models.js'
import { transformOpenapi } from './infra/openapi.js'
import privacyRoutes from './routes/privacy.js'
import intentRoutes from './routes/intent.js'
import { createIntentLayer, type IntentService } from './domain/intent/index.js'
import trackingPlanRoutes from './routes/tracking-plan.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: AppConfig
    mongo: Database
    core: Core
    live: LiveHub
    /** The AI intent layer (domain/intent/): classifies leads off the scoring path. */
    intent: IntentService
    /** Run-time configured sources and the plugins behind them. */
    sources: SourceHost
    /** The admin key generated on first start (shown once), or null. */
    initialAdminKey: string | null
    /** The console admin created on first start, with its password when generated (shown once), or null. */
    initialAdminUser: { email: string; password: string | null } | null
  }
}

export interface BuildOptions extends CoreOptions {
  /** An already open database (tests); otherwise one is opened from config.mongoUri and closed with the app. */
  database?: Database
  /** Pino options or false; defaults to the config's level with secrets redacted. */
  logger?: boolean | Record<string, unknown>
  /** Start Agenda workers and the sweeper (defaults to config.worker.enabled). */
  startWorkers?: boolean
  /** Plugins to install besides the first-party sources and LEADSCORE_PLUGINS (embedding, tests). */
  plugins?: readonly unknown[]
}

const here = dirname(fileURLToPath(import.meta.url))

/** Fastify's request log fields, with the URL's credentials redacted. */
function logRequest (req: FastifyRequest): Record<string, unknown> {
  return { method: req.method, url: redactUrl(req.url), version: req.headers['accept-version'], host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort }
}

/** Trusts the `hops` proxies nearest to the server, as proxy-addr does for a number. */
function trustHops (hops: number): (addr: string, i: number) => boolean {
  return (_addr, i) => i < hops
}

function consoleDir (config: AppConfig): string | null {
  const dir = config.consoleDir !== undefined ? resolve(config.consoleDir) : resolve(here, '..', '..', 'console', 'build')
  return existsSync(join(dir, 'index.html')) ? dir : null
}

/** Builds the whole application as a Fastify instance. It never listens: main.ts does. */
export async function buildApp (config: AppConfig, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const loggerOpts = typeof opts.logger === 'object' ? opts.logger : {
    level: config.logLevel,
    redact: ['req.headers.authorization', 'req.headers.cookie', '*.email', '*.secret', '*.key', '*.password'],
  }
  const app = Fastify({
    // every logger (a given one too) logs request URLs with credential-like query parameters (?ticket=, ?access_token=) redacted
    logger: opts.logger === false ? false : { ...loggerOpts, serializers: { ...loggerOpts.serializers as object, req: logRequest } },
    // the request id is stored on every event: a client's x-request-id is taken only when short and safe
    requestIdHeader: false,
    genReqId: requestIdOf,
    bodyLimit: config.limits.bodyLimit,
    // behind a TLS proxy: client address (throttles, logs) and protocol (Secure cookies) from x-forwarded-*; off by default
    // (a hop count as the function Fastify makes of one: its types take no number)
    trustProxy: typeof config.trustProxy === 'number' ? trustHops(config.trustProxy) : config.trustProxy,
    // off here and applied per route by infra/request-deadline.ts, so a file upload may take longer than it
    requestTimeout: 0,
    connectionTimeout: 0,
    // problem-details answers requests that arrive while closing (Fastify's own 503 is plain JSON), and the
    // errors Fastify meets before routing (bad URL, unparsable HTTP) with the same problem+json as every other
    return503OnClosing: false,
    frameworkErrors: handleError,
    clientErrorHandler: clientErrorHandler(config.problemBaseUrl),
    routerOptions: { maxParamLength: 200 },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  })
  app.decorate('config', config)

  // infra: database, domain services, error shape, parsing, auth
  const ownsDb = opts.database === undefined
  if (config.mongoUri === undefined && ownsDb) throw new Error('buildApp needs config.mongoUri or opts.database')
  // plugins are checked before anything is opened: a bad plugin set fails the boot at once
  // first-party plugins are packages too, imported by name through the same loader as LEADSCORE_PLUGINS
  const registry = createRegistry([...await importPlugins(pluginPackages(config.plugins)), ...(opts.plugins ?? [])])
  const database = opts.database ?? await openDatabase(config.mongoUri!, config.mongoDb)
  app.decorate('mongo', database)
  const scoringPlugins = mountScoringPlugins(registry.scoring, { state: database.c.sourceState, log: app.log, now: opts.now ?? (() => new Date()) })
  const core = createCore(config, database, app.log, { ...opts, scoringPlugins })
  // stored webhook and source secrets are sealed with LEADSCORE_SECRET_KEY, else with the data folder's key file
  const keyFile = resolve(config.dataDir, 'secret.key')
  const secrets = createSecretBox(config.secretKey !== undefined ? parseSecretKey(config.secretKey)! : keyFromFile(keyFile),
    config.previousSecretKeys.map((k) => parseSecretKey(k)!))
  if (config.secretKey === undefined) app.log.info({ keyFile }, 'stored secrets are sealed with the key file (set LEADSCORE_SECRET_KEY to use a key of your own)')
  core.subscriptions.useSecrets(secrets)
  const sources = createSourceHost({ core, registry, log: app.log, secrets })
  try {
    await sources.check()
    // secrets stored in plain text by an earlier version are sealed now; one sealed with another key stops the boot
    const sealed = await core.subscriptions.sealStored() + await sources.instances.sealStored()
    if (sealed > 0) app.log.info({ sealed }, 'stored secrets encrypted')
  } catch (err) {
    if (ownsDb) await database.close()
    throw err
  }
  core.privacy.useSourceStats(sources.stats)
  app.decorate('sources', sources)
  await core.rulesets.ensureDefault()
  await core.identity.backfillOnce()
  let initialAdminKey: string | null = null
  if (config.bootstrapApiKey !== undefined) {
    // a bootstrap key an admin revoked stays revoked: the env value alone must not bring a leaked key back
    if (await core.apiKeys.ensureBootstrap(config.bootstrapApiKey) === 'revoked') {
      app.log.warn('LEADSCORE_BOOTSTRAP_API_KEY names a key that was revoked: it stays revoked (remove the variable, or set a new key)')
    }
  } else if (!await core.apiKeys.hasAdmin()) {
    initialAdminKey = (await core.apiKeys.create('initial admin', ['admin'])).key
  }
  app.decorate('initialAdminKey', initialAdminKey)
  app.decorate('initialAdminUser', await core.users.ensureInitialAdmin(config.initialAdmin))
  await app.register(fp(async (a) => { a.decorate('core', core) }, { name: 'ls-core' }))
  const live = new LiveHub(core.live, app.log)
  // classifies leads against the active offer, off the scoring path (domain/intent/)
  const intent = createIntentLayer(config.intent, {
    c: database.c, ingest: core.ingest, live: core.live, offers: core.offers,
    log: app.log.child({ component: 'intent' }), now: opts.now ?? (() => new Date()),
  })
  app.decorate('intent', intent)
  app.decorate('live', live)
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown'
    core.metrics.httpRequests.inc(1, { method: req.method, route, status: String(reply.statusCode) })
    core.metrics.httpDuration.observe(reply.elapsedTime / 1000, { method: req.method, route })
  })
  await app.register(problemDetails)
  // CSP, frame-ancestors, nosniff, referrer policy on every answer, the API's too
  await app.register(securityHeaders, { consoleDir: consoleDir(config) })
  await app.register(requestDeadline, { timeoutMs: config.requestTimeoutMs, problemBaseUrl: config.problemBaseUrl })
  await app.register(httpParsing)
  // before auth: its onRequest hook marks upgrade requests so that a refused upgrade (401/403) destroys the socket;
  // registered after auth, a failed auth hook skipped it and the unauthenticated socket stayed open for good
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } })
  await app.register(auth)
  // after auth (budgets are per key or user) and before swagger (it documents the 429 answer)
  await app.register(rateLimits, config.rateLimit)

  // OpenAPI document from the route schemas
  // shared schemas are added here, at the root: a route plugin that adds its own schemas gets a fresh schema
  // controller that no longer uses the TypeBox validator compiler set by http-parsing
  for (const s of [ProblemDetails, Lead, Event, EventInput, LedgerEntry, Ruleset, Offer, Diagnostic, Backtest, IngestResult, Webhook, Delivery, UploadReject, UploadReport, Upload]) app.addSchema(s)
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Leadscore API', version: '0.1.0', description: 'Event-driven lead scoring. Errors are RFC 9457 problem+json with stable codes.' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'An API key (scopes: ingest, read, rules, admin)' },
          session: { type: 'apiKey', in: 'cookie', name: 'ls_session', description: 'A console session (POST /v1/session); writes also need the header x-leadscore-csrf: 1' },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _frag, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` },
    // OpenAPI 3.0 spelling of bounds, defaults not required, optional bodies, problem+json (infra/openapi.ts)
    transformObject: transformOpenapi,
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })

  // routes
  await app.register(systemRoutes)
  await app.register(eventsRoutes)
  await app.register(leadsRoutes)
  await app.register(privacyRoutes)
  await app.register(rulesetsRoutes)
  await app.register(offersRoutes)
  await app.register(trackingPlanRoutes)
  await app.register(exportsRoutes)
  await app.register(liveRoutes)
  await app.register(sessionRoutes)
  await app.register(usersRoutes)
  await app.register(analyticsRoutes)
  await app.register(webhooksRoutes)
  await app.register(sourcesRoutes)
  await sources.mount(app)
  await app.register(uploadsRoutes)
  await app.register(modelsRoutes)
  await app.register(intentRoutes)

  const ui = consoleDir(config)
  if (ui !== null) {
    await app.register(fastifyStatic, { root: ui, prefix: '/', wildcard: false, index: 'index.html' })
    app.get('/*', { schema: { hide: true } }, async (req, reply) => {
      // the API's paths are never console pages (a /problems/ slug over the parameter length limit lands here)
      if (req.url.startsWith('/v1/') || req.url.startsWith('/docs') || req.url.startsWith('/problems/')) return reply.callNotFound()
      return reply.sendFile('index.html')
    })
  } else {
    app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/docs'))
  }

  const startWorkers = opts.startWorkers ?? config.worker.enabled
  app.addHook('onReady', async () => {
    await live.start()
    // any process that takes uploads goes on with those a stopped process left on this host (an Agenda job per host)
    await core.jobs.startUploadRecovery()
    if (startWorkers) {
      await core.startWorkers()
      await sources.start()
      await intent.start()
    }
  })
  // before the server stops taking requests: running uploads checkpoint and give up their leases, so their requests
  // answer (503, continued later) instead of holding the shutdown
  app.addHook('preClose', async () => { await core.uploads.pause(15_000) })
  app.addHook('onClose', async () => {
    live.stop()
    await intent.stop()
    await sources.close()
    await core.stopWorkers(15_000)
    if (ownsDb) await database.close()
  })
  return app
}

export { loadConfig } from './config.js'
export type { AppConfig } from './config.js'
