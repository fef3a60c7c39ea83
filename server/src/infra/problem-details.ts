import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { MongoNetworkError, MongoNotConnectedError, MongoOperationTimeoutError, MongoServerClosedError, MongoServerError, MongoServerSelectionError, MongoTopologyClosedError } from 'mongodb'
import { titleOf, slugOf, ERROR_CODES, LS_ERR_SHUTTING_DOWN } from '../errors.js'
import { newId } from '../lib/ids.js'
import { redactUrl } from '../lib/redact-url.js'

interface ProblemExtras { errors?: Array<{ pointer: string; detail: string }>; [k: string]: unknown }

const FASTIFY_MAP: Record<string, { code: string; status: number }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'LS_ERR_BODY_TOO_LARGE', status: 413 },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'LS_ERR_UNSUPPORTED_MEDIA_TYPE', status: 415 },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'LS_ERR_VALIDATION', status: 400 },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'LS_ERR_MALFORMED_JSON', status: 400 },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'LS_ERR_MALFORMED_JSON', status: 400 },
  FST_ERR_CTP_EMPTY_TYPE: { code: 'LS_ERR_UNSUPPORTED_MEDIA_TYPE', status: 415 },
  FST_ERR_BAD_URL: { code: 'LS_ERR_VALIDATION', status: 400 },
  FST_ERR_INVALID_URL: { code: 'LS_ERR_VALIDATION', status: 400 },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'LS_ERR_URL_TOO_LONG', status: 414 },
  FST_ERR_ASYNC_CONSTRAINT: { code: 'LS_ERR_VALIDATION', status: 400 },
  // @fastify/multipart
  FST_INVALID_MULTIPART_CONTENT_TYPE: { code: 'LS_ERR_UNSUPPORTED_MEDIA_TYPE', status: 415 },
  FST_INVALID_JSON_FIELD_ERROR: { code: 'LS_ERR_MALFORMED_JSON', status: 400 },
  FST_PROTO_VIOLATION: { code: 'LS_ERR_FORBIDDEN_KEY', status: 400 },
  FST_PARTS_LIMIT: { code: 'LS_ERR_BODY_TOO_LARGE', status: 413 },
  FST_FILES_LIMIT: { code: 'LS_ERR_BODY_TOO_LARGE', status: 413 },
  FST_FIELDS_LIMIT: { code: 'LS_ERR_BODY_TOO_LARGE', status: 413 },
  FST_REQ_FILE_TOO_LARGE: { code: 'LS_ERR_BODY_TOO_LARGE', status: 413 },
}
// client errors without a mapping keep their status; the code says what kind of failure it is
const STATUS_FALLBACK: Record<number, string> = {
  400: 'LS_ERR_VALIDATION', 401: 'LS_ERR_UNAUTHORIZED', 403: 'LS_ERR_FORBIDDEN', 404: 'LS_ERR_NOT_FOUND', 408: 'LS_ERR_TIMEOUT',
  413: 'LS_ERR_BODY_TOO_LARGE', 414: 'LS_ERR_URL_TOO_LONG', 415: 'LS_ERR_UNSUPPORTED_MEDIA_TYPE', 429: 'LS_ERR_RATE_LIMITED',
  431: 'LS_ERR_HEADERS_TOO_LARGE',
}

/** Seconds a client should wait before retrying while the database is unreachable. */
export const DB_RETRY_AFTER_SECONDS = 2

// Driver errors that mean no database server can be used right now (not that the request was wrong). Names cover
// the classes the driver does not export (pool cleared, wait-queue timeout) and errors of another copy of the driver.
const UNREACHABLE_CLASSES = [MongoServerSelectionError, MongoNetworkError, MongoNotConnectedError, MongoTopologyClosedError, MongoServerClosedError, MongoOperationTimeoutError]
const UNREACHABLE_NAMES = new Set(['MongoServerSelectionError', 'MongoNetworkError', 'MongoNetworkTimeoutError', 'MongoNotConnectedError',
  'MongoPoolClearedError', 'MongoTopologyClosedError', 'MongoServerClosedError', 'MongoOperationTimeoutError', 'MongoWaitQueueTimeoutError'])
// server answers meaning it is stepping down or shutting down; they reach here only once db.ts's retries ran out
const UNAVAILABLE_SERVER_CODES = new Set([91, 189, 10107, 11600, 11602, 13435, 13436])

/** Whether an error (or what it wraps) says the database cannot be reached, rather than that the request failed. */
export function isDatabaseUnavailable (err: unknown): boolean {
  let cur: unknown = err
  for (let depth = 0; depth < 5 && cur !== null && typeof cur === 'object'; depth++) {
    if (UNREACHABLE_CLASSES.some((C) => cur instanceof C) || UNREACHABLE_NAMES.has(String((cur as Error).name))) return true
    if (cur instanceof MongoServerError && UNAVAILABLE_SERVER_CODES.has(Number(cur.code))) return true
    // a bulk write that failed on the connection carries the driver's error as its errorResponse
    const { errorResponse, cause } = cur as { errorResponse?: unknown; cause?: unknown }
    cur = errorResponse instanceof Error ? errorResponse : cause
  }
  return false
}

function problemBody (base: string, status: number, code: string, detail: string, instance: string, requestId: string, extras: ProblemExtras = {}): Record<string, unknown> {
  return { type: `${base}/${slugOf(code)}`, title: titleOf(code), status, detail, instance, code, requestId, ...extras }
}

/** Sends an RFC 9457 problem. */
export function sendProblem (req: FastifyRequest, reply: FastifyReply, status: number, code: string, detail: string, extras: ProblemExtras = {}): FastifyReply {
  const base = (req.server as FastifyInstance & { config: { problemBaseUrl: string } }).config.problemBaseUrl
  return reply.code(status).type('application/problem+json; charset=utf-8').send(problemBody(base, status, code, detail, redactUrl(req.url), String(req.id), extras))
}

function pointerOf (instancePath: string | undefined, params: Record<string, unknown> | undefined): string {
  let p = instancePath ?? ''
  if (params !== undefined && typeof params.missingProperty === 'string') p = `${p}/${params.missingProperty}`
  if (params !== undefined && typeof params.additionalProperty === 'string') p = `${p}/${params.additionalProperty}`
  return `#${p}`
}

type AppError = FastifyError & { errors?: unknown; problemExtras?: Record<string, unknown>; validation?: Array<{ instancePath?: string; message?: string; params?: Record<string, unknown> }> }

/** Answers any error of a request as a problem+json with a code. Also given to Fastify as `frameworkErrors`. */
export function handleError (error: AppError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error.validation !== undefined) {
    const errors = error.validation.map((v) => ({ pointer: pointerOf(v.instancePath, v.params), detail: v.message ?? 'invalid' }))
    req.log.info({ errors }, 'request failed validation')
    return sendProblem(req, reply, 400, 'LS_ERR_VALIDATION', `The request is invalid: ${errors.map((e) => `${e.pointer} ${e.detail}`).join('; ')}`, { errors })
  }
  const code = typeof error.code === 'string' ? error.code : ''
  // coded client errors, and coded 503s (temporary: answered with Retry-After), keep their code and detail
  if (code in ERROR_CODES && ((error.statusCode ?? 500) < 500 || (error.statusCode === 503 && code !== 'LS_ERR_DB_UNAVAILABLE'))) {
    // a coded error may carry RFC 9457 extension members (e.g. what an upload stored before it stopped)
    const ext = (error as { extensions?: unknown }).extensions
    const extras: ProblemExtras = { ...(error.problemExtras ?? {}), ...(ext !== null && typeof ext === 'object' ? ext as Record<string, unknown> : {}) }
    if (Array.isArray(error.errors)) extras.errors = error.errors as ProblemExtras['errors']
    req.log.info({ code }, error.message)
    if ((error.statusCode === 503 || code === 'LS_ERR_IDEMPOTENCY_IN_FLIGHT' || code === 'LS_ERR_LEAD_BUSY' || code === 'LS_ERR_RULESET_BUSY') && !reply.hasHeader('retry-after')) void reply.header('retry-after', '1')
    return sendProblem(req, reply, error.statusCode ?? 400, code, error.message, extras)
  }
  if (code === 'LS_ERR_DB_UNAVAILABLE' || isDatabaseUnavailable(error)) {
    req.log.error({ err: error }, 'database unavailable')
    void reply.header('retry-after', String(DB_RETRY_AFTER_SECONDS))
    return sendProblem(req, reply, 503, 'LS_ERR_DB_UNAVAILABLE', 'The database is not reachable; retry later')
  }
  const mapped = FASTIFY_MAP[code]
  if (mapped !== undefined) return sendProblem(req, reply, mapped.status, mapped.code, error.message)
  const status = error.statusCode ?? 500
  if (status >= 400 && status < 500) {
    return sendProblem(req, reply, status, STATUS_FALLBACK[status] ?? 'LS_ERR_VALIDATION', error.message)
  }
  req.log.error({ err: error }, 'request failed')
  return sendProblem(req, reply, 500, 'LS_ERR_INTERNAL', 'An internal error occurred; the request id identifies it in the logs')
}

/**
 * Fastify's `clientErrorHandler`: a request Node could not parse (bad HTTP, headers too large, headers too slow)
 * never reaches the router, so its answer is written on the socket here, as a problem like every other.
 */
export function clientErrorHandler (problemBaseUrl: string) {
  return function onClientError (this: FastifyInstance, err: Error & { code?: string }, socket: Socket): void {
    // a reset connection has nobody to answer
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    const [status, code, detail] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'LS_ERR_TIMEOUT', 'The request headers did not arrive in time'] as const
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'LS_ERR_HEADERS_TOO_LARGE', 'The request line and headers are larger than the server accepts'] as const
        : [400, 'LS_ERR_VALIDATION', 'The request is not valid HTTP'] as const
    this.log.debug({ err }, 'client error')
    if (socket.writable) {
      const body = JSON.stringify(problemBody(problemBaseUrl, status, code, detail, '', newId('req')))
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/problem+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
    }
    socket.destroy(err)
  }
}

/**
 * The routes registered from now on, for 405 answers: `resourceOf(path)` gives the methods of the path's resource (the
 * most specific route patterns matching it: a static segment wins over a parameter, as in routing) and those patterns.
 */
function routeTable (app: FastifyInstance): (path: string) => { methods: string[]; urls: Set<string> } {
  const routes: Array<{ url: string; re: RegExp; rank: string; methods: Set<string> }> = []
  const byUrl = new Map<string, Set<string>>()
  const segment = (seg: string): string => seg.includes(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  app.addHook('onRoute', (r) => {
    if (r.url.includes('*')) return // the console's catch-all: any path, GET only
    let methods = byUrl.get(r.url)
    if (methods === undefined) {
      methods = new Set()
      byUrl.set(r.url, methods)
      const segs = r.url.split('/')
      routes.push({ url: r.url, re: new RegExp(`^${segs.map(segment).join('/')}/?$`), rank: segs.map((x) => x.includes(':') ? '0' : '1').join(''), methods })
    }
    for (const m of [r.method].flat()) methods.add(m)
  })
  return (path) => {
    const matching = routes.filter((r) => r.re.test(path))
    const best = matching.reduce((b, r) => r.rank > b ? r.rank : b, '')
    const top = matching.filter((r) => r.rank === best)
    return { methods: [...new Set(top.flatMap((r) => [...r.methods]))].sort(), urls: new Set(top.map((r) => r.url)) }
  }
}

/** One error handler and one not-found handler for the whole app: every failure is a problem+json with a code. */
export default fp(async function problemDetails (app: FastifyInstance) {
  app.setErrorHandler(handleError)
  app.setNotFoundHandler((req, reply) => sendProblem(req, reply, 404, 'LS_ERR_NOT_FOUND', `Route ${req.method} ${req.url.split('?')[0]} not found`))
  // A known path with a method it does not answer: 405 with the methods it does (RFC 9110), before anything else looks
  // at the request (Fastify refuses a QUERY without a Content-Type even on its way to the not-found handler). Also when
  // the method is routed to a parameter's route only because of it (PUT /v1/rulesets/validate is not PUT
  // /v1/rulesets/{version}: the path names the validate resource, which answers POST).
  const resourceOf = routeTable(app)
  app.addHook('onRequest', async (req, reply) => {
    const url = req.routeOptions.url
    // not found, or found by a catch-all (the console's GET /*, which leaves /v1/ paths to the not-found handler)
    const unrouted = req.is404 || url === undefined || url.includes('*')
    if (!unrouted && !url.includes(':')) return
    const path = req.url.split('?')[0]!
    const { methods, urls } = resourceOf(path)
    if (methods.length === 0 || (unrouted ? methods.includes(req.method) : urls.has(url))) return
    void reply.header('allow', methods.join(', '))
    return sendProblem(req, reply, 405, 'LS_ERR_METHOD_NOT_ALLOWED', `Method ${req.method} is not allowed on ${path}; allowed: ${methods.join(', ')}`)
  })
  // the server runs without Fastify's return503OnClosing (a plain JSON body): requests that still arrive while it
  // closes are answered here, so a client behind a load balancer sees a coded problem and retries elsewhere
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onRequest', async (_req, reply) => {
    if (!closing) return
    void reply.header('connection', 'close').header('retry-after', '1')
    throw new LS_ERR_SHUTTING_DOWN()
  })
}, { name: 'ls-problem-details', fastify: '5.x' })
