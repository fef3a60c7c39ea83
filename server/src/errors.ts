import createError, { type FastifyErrorConstructor } from '@fastify/error'

// Every LS_ERR_* code the product answers with. Codes are never reused; retired ones move to RETIRED_CODES.
// docs/errors.md documents each one (a test keeps the two in step).

// configuration and boot
export const LS_ERR_CONFIG_INVALID = createError('LS_ERR_CONFIG_INVALID', 'Invalid configuration: %s', 500)
export const LS_ERR_DB_UNAVAILABLE = createError('LS_ERR_DB_UNAVAILABLE', 'The database is not reachable: %s', 503)
export const LS_ERR_PLUGIN_INVALID = createError('LS_ERR_PLUGIN_INVALID', "Plugin '%s' is invalid: %s", 500)
export const LS_ERR_PLUGIN_CONFLICT = createError('LS_ERR_PLUGIN_CONFLICT', "Plugin '%s' conflicts: %s", 500)
export const LS_ERR_PLUGIN_FAILED = createError('LS_ERR_PLUGIN_FAILED', 'A plugin failed while handling the request', 500)

// requests
export const LS_ERR_VALIDATION = createError('LS_ERR_VALIDATION', 'The request is invalid: %s', 400)
export const LS_ERR_MALFORMED_JSON = createError('LS_ERR_MALFORMED_JSON', 'The body is not valid JSON: %s', 400)
export const LS_ERR_INVALID_ENCODING = createError('LS_ERR_INVALID_ENCODING', 'The body is not valid UTF-8', 400)
export const LS_ERR_FORBIDDEN_KEY = createError('LS_ERR_FORBIDDEN_KEY', "The body contains the forbidden key '%s'", 400)
export const LS_ERR_BODY_TOO_LARGE = createError('LS_ERR_BODY_TOO_LARGE', 'The body is larger than %s bytes', 413)
export const LS_ERR_UNSUPPORTED_MEDIA_TYPE = createError('LS_ERR_UNSUPPORTED_MEDIA_TYPE', "Content type '%s' is not supported here", 415)
export const LS_ERR_BATCH_TOO_LARGE = createError('LS_ERR_BATCH_TOO_LARGE', 'A batch holds at most %s events; this one has %s', 400)
export const LS_ERR_INVALID_CURSOR = createError('LS_ERR_INVALID_CURSOR', 'The pagination cursor is invalid', 400)
export const LS_ERR_NOT_FOUND = createError('LS_ERR_NOT_FOUND', 'Route %s %s not found', 404)
export const LS_ERR_TIMEOUT = createError('LS_ERR_TIMEOUT', 'The request took too long', 408)

// auth
export const LS_ERR_UNAUTHORIZED = createError('LS_ERR_UNAUTHORIZED', 'A valid API key or session is required: %s', 401)
export const LS_ERR_FORBIDDEN = createError('LS_ERR_FORBIDDEN', "This API key or user lacks the '%s' scope", 403)
export const LS_ERR_ORIGIN_FORBIDDEN = createError('LS_ERR_ORIGIN_FORBIDDEN', "Origin '%s' may not open this connection", 403)
export const LS_ERR_API_KEY_NOT_FOUND = createError('LS_ERR_API_KEY_NOT_FOUND', "API key '%s' not found", 404)
export const LS_ERR_LOGIN_FAILED = createError('LS_ERR_LOGIN_FAILED', 'The email or password is wrong', 401)
export const LS_ERR_LOGIN_THROTTLED = createError('LS_ERR_LOGIN_THROTTLED', 'Too many failed sign-ins; retry in %s seconds', 429)
export const LS_ERR_CSRF = createError('LS_ERR_CSRF', 'Cross-site request refused: %s', 403)
export const LS_ERR_USER_NOT_FOUND = createError('LS_ERR_USER_NOT_FOUND', "User '%s' not found", 404)
export const LS_ERR_USER_EXISTS = createError('LS_ERR_USER_EXISTS', "A user with the email '%s' already exists", 409)
export const LS_ERR_LAST_ADMIN = createError('LS_ERR_LAST_ADMIN', 'The last active admin cannot be removed, disabled or demoted', 409)

// idempotency
export const LS_ERR_IDEMPOTENCY_KEY_REUSED = createError('LS_ERR_IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request body', 422)
export const LS_ERR_IDEMPOTENCY_IN_FLIGHT = createError('LS_ERR_IDEMPOTENCY_IN_FLIGHT', 'A request with this Idempotency-Key is still being processed', 409)
export const LS_ERR_IDEMPOTENCY_KEY_INVALID = createError('LS_ERR_IDEMPOTENCY_KEY_INVALID', 'The Idempotency-Key header must be 1-255 printable ASCII characters', 400)

// leads, events, rulesets, jobs
export const LS_ERR_LEAD_NOT_FOUND = createError('LS_ERR_LEAD_NOT_FOUND', "Lead '%s' not found", 404)
export const LS_ERR_LEAD_BUSY = createError('LS_ERR_LEAD_BUSY', "Lead '%s' is being scored; retry shortly", 409)
export const LS_ERR_LEAD_EXISTS = createError('LS_ERR_LEAD_EXISTS', "A lead with identity '%s' already exists", 409)
export const LS_ERR_EVENT_NOT_FOUND = createError('LS_ERR_EVENT_NOT_FOUND', "Event '%s' not found", 404)
export const LS_ERR_RULESET_NOT_FOUND = createError('LS_ERR_RULESET_NOT_FOUND', "Ruleset version '%s' not found", 404)
export const LS_ERR_RULESET_INVALID = createError('LS_ERR_RULESET_INVALID', 'The ruleset is invalid: %s', 400)
export const LS_ERR_JOB_NOT_FOUND = createError('LS_ERR_JOB_NOT_FOUND', "Job '%s' not found", 404)

// predictive models
export const LS_ERR_MODEL_NOT_FOUND = createError('LS_ERR_MODEL_NOT_FOUND', "Model '%s' not found", 404)
export const LS_ERR_MODEL_TRAINING_BUSY = createError('LS_ERR_MODEL_TRAINING_BUSY', 'A model is already being trained; wait for its job to finish', 409)
export const LS_ERR_MODEL_TRAINING_DATA = createError('LS_ERR_MODEL_TRAINING_DATA', 'The data cannot train a model: %s', 422)
export const LS_ERR_MODEL_NO_ROLLBACK = createError('LS_ERR_MODEL_NO_ROLLBACK', 'There is no earlier champion to roll back to', 409)
export const LS_ERR_MODEL_NO_CHALLENGER = createError('LS_ERR_MODEL_NO_CHALLENGER', 'No challenger model is deployed', 409)

// per-event reject reasons (stored in ingestRejects and returned per item, never as a whole response)
export const LS_ERR_EVENT_INVALID = createError('LS_ERR_EVENT_INVALID', 'The event is invalid: %s', 422)
export const LS_ERR_EVENT_TOO_LARGE = createError('LS_ERR_EVENT_TOO_LARGE', 'The event is larger than %s bytes', 422)
export const LS_ERR_EVENT_TYPE_INVALID = createError('LS_ERR_EVENT_TYPE_INVALID', 'The event type is invalid: %s', 422)
export const LS_ERR_LEAD_IDENTITY_INVALID = createError('LS_ERR_LEAD_IDENTITY_INVALID', 'The lead identity is invalid: %s', 422)
export const LS_ERR_TIMESTAMP_INVALID = createError('LS_ERR_TIMESTAMP_INVALID', 'The timestamp is invalid: %s', 422)

export const LS_ERR_INTERNAL = createError('LS_ERR_INTERNAL', 'An internal error occurred', 500)

/** Codes once used and never to be reused. */
export const RETIRED_CODES: readonly string[] = []

/** All current error constructors, keyed by code. */
export const ERROR_CODES: Readonly<Record<string, FastifyErrorConstructor>> = Object.freeze({
  LS_ERR_CONFIG_INVALID, LS_ERR_DB_UNAVAILABLE, LS_ERR_PLUGIN_INVALID, LS_ERR_PLUGIN_CONFLICT, LS_ERR_PLUGIN_FAILED,
  LS_ERR_VALIDATION, LS_ERR_MALFORMED_JSON, LS_ERR_INVALID_ENCODING, LS_ERR_FORBIDDEN_KEY, LS_ERR_BODY_TOO_LARGE,
  LS_ERR_UNSUPPORTED_MEDIA_TYPE, LS_ERR_BATCH_TOO_LARGE, LS_ERR_INVALID_CURSOR, LS_ERR_NOT_FOUND, LS_ERR_TIMEOUT,
  LS_ERR_UNAUTHORIZED, LS_ERR_FORBIDDEN, LS_ERR_ORIGIN_FORBIDDEN, LS_ERR_API_KEY_NOT_FOUND,
  LS_ERR_LOGIN_FAILED, LS_ERR_LOGIN_THROTTLED, LS_ERR_CSRF, LS_ERR_USER_NOT_FOUND, LS_ERR_USER_EXISTS, LS_ERR_LAST_ADMIN,
  LS_ERR_IDEMPOTENCY_KEY_REUSED, LS_ERR_IDEMPOTENCY_IN_FLIGHT, LS_ERR_IDEMPOTENCY_KEY_INVALID,
  LS_ERR_LEAD_NOT_FOUND, LS_ERR_LEAD_BUSY, LS_ERR_LEAD_EXISTS, LS_ERR_EVENT_NOT_FOUND, LS_ERR_RULESET_NOT_FOUND, LS_ERR_RULESET_INVALID,
  LS_ERR_JOB_NOT_FOUND,
  LS_ERR_MODEL_NOT_FOUND, LS_ERR_MODEL_TRAINING_BUSY, LS_ERR_MODEL_TRAINING_DATA, LS_ERR_MODEL_NO_ROLLBACK, LS_ERR_MODEL_NO_CHALLENGER,
  LS_ERR_EVENT_INVALID, LS_ERR_EVENT_TOO_LARGE, LS_ERR_EVENT_TYPE_INVALID, LS_ERR_LEAD_IDENTITY_INVALID, LS_ERR_TIMESTAMP_INVALID,
  LS_ERR_INTERNAL,
})

/** Short human title per code (the RFC 9457 `title`). */
export function titleOf (code: string): string {
  return code.replace(/^LS_ERR_/, '').toLowerCase().split('_').map((w, i) => i === 0 ? w[0]!.toUpperCase() + w.slice(1) : w).join(' ')
}

/** kebab-case slug of a code, used in problem `type` URIs. */
export function slugOf (code: string): string {
  return code.replace(/^LS_ERR_/, '').toLowerCase().replaceAll('_', '-')
}
