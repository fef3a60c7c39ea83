import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { titleOf, slugOf, ERROR_CODES } from '../errors.js'

interface ProblemExtras { errors?: Array<{ pointer: string; detail: string }>; [k: string]: unknown }

const FASTIFY_MAP: Record<string, { code: string; status: number }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'LS_ERR_BODY_TOO_LARGE', status: 413 },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'LS_ERR_UNSUPPORTED_MEDIA_TYPE', status: 415 },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'LS_ERR_VALIDATION', status: 400 },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'LS_ERR_MALFORMED_JSON', status: 400 },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'LS_ERR_MALFORMED_JSON', status: 400 },
  FST_ERR_CTP_EMPTY_TYPE: { code: 'LS_ERR_UNSUPPORTED_MEDIA_TYPE', status: 415 },
  FST_ERR_BAD_URL: { code: 'LS_ERR_VALIDATION', status: 400 },
  FST_ERR_ASYNC_CONSTRAINT: { code: 'LS_ERR_VALIDATION', status: 400 },
}
const STATUS_FALLBACK: Record<number, string> = {
  400: 'LS_ERR_VALIDATION', 401: 'LS_ERR_UNAUTHORIZED', 403: 'LS_ERR_FORBIDDEN', 404: 'LS_ERR_NOT_FOUND', 408: 'LS_ERR_TIMEOUT',
  413: 'LS_ERR_BODY_TOO_LARGE', 415: 'LS_ERR_UNSUPPORTED_MEDIA_TYPE', 503: 'LS_ERR_DB_UNAVAILABLE',
}

/** Sends an RFC 9457 problem. */
export function sendProblem (req: FastifyRequest, reply: FastifyReply, status: number, code: string, detail: string, extras: ProblemExtras = {}): FastifyReply {
  const base = (req.server as FastifyInstance & { config: { problemBaseUrl: string } }).config.problemBaseUrl
  return reply.code(status).type('application/problem+json; charset=utf-8').send({
    type: `${base}/${slugOf(code)}`, title: titleOf(code), status, detail, instance: req.url, code, requestId: String(req.id), ...extras,
  })
}

function pointerOf (instancePath: string | undefined, params: Record<string, unknown> | undefined): string {
  let p = instancePath ?? ''
  if (params !== undefined && typeof params.missingProperty === 'string') p = `${p}/${params.missingProperty}`
  if (params !== undefined && typeof params.additionalProperty === 'string') p = `${p}/${params.additionalProperty}`
  return `#${p}`
}

/** One error handler and one not-found handler for the whole app: every failure is a problem+json with a code. */
export default fp(async function problemDetails (app: FastifyInstance) {
  app.setErrorHandler((error: FastifyError & { errors?: unknown; problemExtras?: Record<string, unknown>; validation?: Array<{ instancePath?: string; message?: string; params?: Record<string, unknown> }> }, req, reply) => {
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
    const mapped = FASTIFY_MAP[code]
    if (mapped !== undefined) return sendProblem(req, reply, mapped.status, mapped.code, error.message)
    const status = error.statusCode ?? 500
    if (status >= 400 && status < 500) {
      return sendProblem(req, reply, status, STATUS_FALLBACK[status] ?? 'LS_ERR_VALIDATION', error.message)
    }
    if (code === 'LS_ERR_DB_UNAVAILABLE' || /MongoServerSelectionError|MongoNetworkError|MongoNotConnectedError/.test(error.name)) {
      req.log.error({ err: error }, 'database unavailable')
      void reply.header('retry-after', '2')
      return sendProblem(req, reply, 503, 'LS_ERR_DB_UNAVAILABLE', 'The database is not reachable; retry later')
    }
    req.log.error({ err: error }, 'request failed')
    return sendProblem(req, reply, 500, 'LS_ERR_INTERNAL', 'An internal error occurred; the request id identifies it in the logs')
  })
  app.setNotFoundHandler((req, reply) => sendProblem(req, reply, 404, 'LS_ERR_NOT_FOUND', `Route ${req.method} ${req.url.split('?')[0]} not found`))
}, { name: 'ls-problem-details', fastify: '5.x' })
