import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import { Type } from '@sinclair/typebox'
import { LS_ERR_RATE_LIMITED } from '../errors.js'

/** The two budgets: ingest traffic comes in bursts of its own and must not starve the rest of the API, or be starved by it. */
export type LimitClass = 'ingest' | 'api'

export interface RateLimitOptions { ingestMax: number; apiMax: number; windowMs: number }

// the probes a load balancer or orchestrator polls: a limited probe would take a healthy process out of service
const EXEMPT = new Set(['/healthz', '/readyz'])

function classOf (method: string | readonly string[], url: string, scope: unknown): LimitClass | null {
  if (EXEMPT.has(url)) return null
  const post = method === 'POST' || (Array.isArray(method) && method.includes('POST'))
  if (post && (url === '/v1/events' || url === '/v1/uploads')) return 'ingest'
  // source plugins' delivery routes live under /v1/sources/:id/ and are authenticated by the plugin, not a scope
  if (url.startsWith('/v1/sources/:id/') && scope === undefined) return 'ingest'
  return 'api'
}

/** Which budget a request draws on, or null for the exempt probes. */
export function limitClassOf (req: FastifyRequest): LimitClass | null {
  return classOf(req.method, req.routeOptions.url ?? '', req.routeOptions.config.scope)
}

/**
 * Who a request is counted against: its API key, else its console user (all of a user's sessions share one
 * budget), else the client address. The limiter runs after authentication, so `principal` is known by then.
 */
export function clientOf (req: FastifyRequest): string {
  const p = req.principal
  if (p?.user !== undefined) return `user:${p.user.id}`
  if (p !== null && p !== undefined) return `key:${p.keyId}`
  return `ip:${normalizeIP(req.ip)}`
}

/**
 * Per-client request budgets per time window, in this process's memory (each process counts on its own). A client
 * over its budget is answered 429 LS_ERR_RATE_LIMITED with Retry-After. Register after auth and before the routes
 * (and before the OpenAPI generator, so the 429 answer is documented).
 */
export default fp(async function rateLimits (app: FastifyInstance, opts: RateLimitOptions) {
  const budget = (cls: LimitClass): number => cls === 'ingest' ? opts.ingestMax : opts.apiMax
  if (opts.ingestMax === 0 && opts.apiMax === 0) return
  app.addHook('onRoute', (route: RouteOptions) => {
    const cls = classOf(route.method, route.url, route.config?.scope)
    const response = route.schema?.response as Record<string, unknown> | undefined
    if (cls === null || budget(cls) === 0 || response === undefined) return
    route.schema = { ...route.schema, response: { ...response, 429: Type.Ref('ProblemDetails') } }
  })
  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    timeWindow: opts.windowMs,
    // distinct clients remembered; the least recently seen are forgotten first
    cache: 10_000,
    keyGenerator: (req) => `${limitClassOf(req) ?? 'exempt'}|${clientOf(req)}`,
    allowList: (req) => {
      const cls = limitClassOf(req)
      return cls === null || budget(cls) === 0
    },
    max: (req) => budget(limitClassOf(req) ?? 'api'),
    onExceeded: (req, key) => { req.log.info({ limitKey: key }, 'rate limit exceeded') },
    errorResponseBuilder: (_req, ctx) => new LS_ERR_RATE_LIMITED(String(Math.max(1, Math.ceil(ctx.ttl / 1000)))),
  })
}, { name: 'ls-rate-limit', fastify: '5.x', dependencies: ['ls-auth'] })
