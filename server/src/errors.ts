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
export const LS_ERR_BODY_TOO_DEEP = createError('LS_ERR_BODY_TOO_DEEP', 'The body nests arrays and objects deeper than %s levels', 400)
export const LS_ERR_UNSUPPORTED_MEDIA_TYPE = createError('LS_ERR_UNSUPPORTED_MEDIA_TYPE', "Content type '%s' is not supported here", 415)
export const LS_ERR_BATCH_TOO_LARGE = createError('LS_ERR_BATCH_TOO_LARGE', 'A batch holds at most %s events; this one has %s', 400)
export const LS_ERR_INVALID_CURSOR = createError('LS_ERR_INVALID_CURSOR', 'The pagination cursor is invalid', 400)
export const LS_ERR_NOT_FOUND = createError('LS_ERR_NOT_FOUND', 'Route %s %s not found', 404)
export const LS_ERR_METHOD_NOT_ALLOWED = createError('LS_ERR_METHOD_NOT_ALLOWED', 'Method %s is not allowed on %s', 405)
export const LS_ERR_TIMEOUT = createError('LS_ERR_TIMEOUT', 'The request took too long', 408)
export const LS_ERR_URL_TOO_LONG = createError('LS_ERR_URL_TOO_LONG', 'A path segment of the URL is too long: %s', 414)
export const LS_ERR_HEADERS_TOO_LARGE = createError('LS_ERR_HEADERS_TOO_LARGE', 'The request headers are too large', 431)
export const LS_ERR_RATE_LIMITED = createError('LS_ERR_RATE_LIMITED', 'Too many requests; retry in %s seconds', 429)
export const LS_ERR_SHUTTING_DOWN = createError('LS_ERR_SHUTTING_DOWN', 'The server is shutting down', 503)

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
export const LS_ERR_LEAD_SUPPRESSED = createError('LS_ERR_LEAD_SUPPRESSED', 'The lead was erased on request and its identity is suppressed', 409)
export const LS_ERR_AS_OF_TOO_FAR = createError('LS_ERR_AS_OF_TOO_FAR', 'More than %s leads have events after asOf; a leaderboard as of then is not answered (pick a later asOf, or read leads one by one)', 422)
export const LS_ERR_SUPPRESSION_NOT_FOUND = createError('LS_ERR_SUPPRESSION_NOT_FOUND', "Suppression entry '%s' not found", 404)
export const LS_ERR_EVENT_NOT_FOUND = createError('LS_ERR_EVENT_NOT_FOUND', "Event '%s' not found", 404)
export const LS_ERR_RULESET_NOT_FOUND = createError('LS_ERR_RULESET_NOT_FOUND', "Ruleset version '%s' not found", 404)
export const LS_ERR_RULESET_INVALID = createError('LS_ERR_RULESET_INVALID', 'The ruleset is invalid: %s', 400)
export const LS_ERR_RULESET_NOT_DRAFT = createError('LS_ERR_RULESET_NOT_DRAFT', "Ruleset version '%s' is %s; only drafts can be edited or published", 409)
export const LS_ERR_RULESET_BUSY = createError('LS_ERR_RULESET_BUSY', 'Another ruleset change is being published; retry shortly', 409)
export const LS_ERR_OFFER_NOT_FOUND = createError('LS_ERR_OFFER_NOT_FOUND', "Offer '%s' not found", 404)
export const LS_ERR_OFFER_INVALID = createError('LS_ERR_OFFER_INVALID', 'The offer is invalid: %s', 400)
export const LS_ERR_OFFER_ACTIVE = createError('LS_ERR_OFFER_ACTIVE', "Offer '%s' is the active offer; activate another one or deactivate it first", 409)
export const LS_ERR_OFFER_BUSY = createError('LS_ERR_OFFER_BUSY', 'Another version of this offer is being saved; retry shortly', 409)
export const LS_ERR_TEMPLATE_NOT_FOUND = createError('LS_ERR_TEMPLATE_NOT_FOUND', "Ruleset template '%s' not found", 404)
export const LS_ERR_TRACKING_PLAN_INVALID = createError('LS_ERR_TRACKING_PLAN_INVALID', 'The tracking plan is invalid: %s', 400)
export const LS_ERR_TRACKING_PLAN_CONFLICT = createError('LS_ERR_TRACKING_PLAN_CONFLICT', 'The tracking plan changed meanwhile: edited version %s, the latest is %s', 409)
export const LS_ERR_TRACKING_PLAN_NOT_FOUND = createError('LS_ERR_TRACKING_PLAN_NOT_FOUND', 'Not in the tracking plan: %s', 404)
export const LS_ERR_JOB_NOT_FOUND = createError('LS_ERR_JOB_NOT_FOUND', "Job '%s' not found", 404)

// outbound webhooks
export const LS_ERR_WEBHOOK_NOT_FOUND = createError('LS_ERR_WEBHOOK_NOT_FOUND', "Webhook subscription '%s' not found", 404)
export const LS_ERR_WEBHOOK_URL_INVALID = createError('LS_ERR_WEBHOOK_URL_INVALID', 'The webhook URL is not allowed: %s', 400)
// sources (plugin instances) and their deliveries
export const LS_ERR_SOURCE_NOT_FOUND = createError('LS_ERR_SOURCE_NOT_FOUND', "Source '%s' not found", 404)
export const LS_ERR_SOURCE_TYPE_UNKNOWN = createError('LS_ERR_SOURCE_TYPE_UNKNOWN', "No source plugin '%s' is installed", 400)
export const LS_ERR_SOURCE_CONFIG_INVALID = createError('LS_ERR_SOURCE_CONFIG_INVALID', 'The source configuration is invalid: %s', 400)
export const LS_ERR_SOURCE_SECRET_INVALID = createError('LS_ERR_SOURCE_SECRET_INVALID', 'The secret cannot be rotated: %s', 400)
export const LS_ERR_SOURCE_HOST_PRIVATE = createError('LS_ERR_SOURCE_HOST_PRIVATE', 'The source host is refused: %s', 400)
export const LS_ERR_SOURCE_SECRET_REQUIRED = createError('LS_ERR_SOURCE_SECRET_REQUIRED', 'The secret must be given again: %s', 400)
export const LS_ERR_SOURCE_NOT_POLLED = createError('LS_ERR_SOURCE_NOT_POLLED', "Source '%s' is of type '%s', which does not poll", 409)
export const LS_ERR_SOURCE_DISABLED = createError('LS_ERR_SOURCE_DISABLED', "Source '%s' is disabled", 503)
export const LS_ERR_SOURCE_AUTH = createError('LS_ERR_SOURCE_AUTH', 'The source refused the request: %s', 401)
export const LS_ERR_SOURCE_INPUT = createError('LS_ERR_SOURCE_INPUT', 'The source cannot use the request: %s', 422)
export const LS_ERR_SOURCE_UNAVAILABLE = createError('LS_ERR_SOURCE_UNAVAILABLE', 'The source is temporarily unavailable: %s', 503)
export const LS_ERR_WEBHOOK_HEADER_MISSING = createError('LS_ERR_WEBHOOK_HEADER_MISSING', 'A webhook header is missing: %s', 401)
export const LS_ERR_WEBHOOK_HEADER_INVALID = createError('LS_ERR_WEBHOOK_HEADER_INVALID', 'A webhook header is malformed: %s', 401)
export const LS_ERR_WEBHOOK_TIMESTAMP = createError('LS_ERR_WEBHOOK_TIMESTAMP', 'The webhook timestamp is outside the tolerance: %s', 401)
export const LS_ERR_WEBHOOK_SIGNATURE = createError('LS_ERR_WEBHOOK_SIGNATURE', 'No valid webhook signature: %s', 401)
export const LS_ERR_IMAP_LOGIN = createError('LS_ERR_IMAP_LOGIN', 'The IMAP server refused the login', 401)
export const LS_ERR_IMAP_MAILBOX = createError('LS_ERR_IMAP_MAILBOX', "The mailbox '%s' does not exist", 422)
export const LS_ERR_IMAP_TLS = createError('LS_ERR_IMAP_TLS', "The IMAP server's TLS certificate was refused: %s", 422)
export const LS_ERR_IMAP_CONNECTION = createError('LS_ERR_IMAP_CONNECTION', 'The IMAP server could not be reached: %s', 503)
export const LS_ERR_IMAP_INSECURE = createError('LS_ERR_IMAP_INSECURE', 'The IMAP server offers no TLS; the password is not sent in clear: %s', 422)
// uploads (POST /v1/uploads)
export const LS_ERR_UPLOAD_NOT_FOUND = createError('LS_ERR_UPLOAD_NOT_FOUND', "Upload '%s' not found", 404)
export const LS_ERR_UPLOAD_FORMAT = createError('LS_ERR_UPLOAD_FORMAT', 'The file is not in a supported shape: %s', 400)
export const LS_ERR_UPLOAD_HEADER = createError('LS_ERR_UPLOAD_HEADER', 'The CSV header is invalid: %s', 400)
export const LS_ERR_UPLOAD_MAPPING = createError('LS_ERR_UPLOAD_MAPPING', 'The column mapping is invalid: %s', 400)
export const LS_ERR_UPLOAD_PARSE = createError('LS_ERR_UPLOAD_PARSE', 'The file cannot be read from line %s on: %s', 400)
export const LS_ERR_UPLOAD_TOO_LARGE = createError('LS_ERR_UPLOAD_TOO_LARGE', 'The file is larger than %s bytes', 413)
export const LS_ERR_UPLOAD_INTERRUPTED = createError('LS_ERR_UPLOAD_INTERRUPTED', 'The upload was interrupted here and goes on in the background: %s', 503)
export const LS_ERR_UPLOAD_ABORTED = createError('LS_ERR_UPLOAD_ABORTED', 'The upload ended before the whole file arrived: %s', 400)
export const LS_ERR_UPLOAD_LIMIT = createError('LS_ERR_UPLOAD_LIMIT', 'Too many uploads are running: %s; retry in %s seconds', 429)
export const LS_ERR_UPLOAD_SPOOL_FULL = createError('LS_ERR_UPLOAD_SPOOL_FULL', 'The server has no room for this file now: %s', 413)
export const LS_ERR_UPLOAD_CANCELLED = createError('LS_ERR_UPLOAD_CANCELLED', 'The upload was cancelled: %s', 409)
export const LS_ERR_UPLOAD_NOT_RUNNING = createError('LS_ERR_UPLOAD_NOT_RUNNING', "Upload '%s' has already ended (%s)", 409)
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
export const LS_ERR_PROPERTIES_SCHEMA = createError('LS_ERR_PROPERTIES_SCHEMA', 'The event properties do not match the tracking plan: %s', 422)
export const LS_ERR_UPLOAD_ROW_INVALID = createError('LS_ERR_UPLOAD_ROW_INVALID', 'The row is invalid: %s', 422)
export const LS_ERR_UPLOAD_ROW_TOO_LARGE = createError('LS_ERR_UPLOAD_ROW_TOO_LARGE', 'The row is larger than %s bytes', 422)

export const LS_ERR_INTERNAL = createError('LS_ERR_INTERNAL', 'An internal error occurred', 500)

/** Codes once used and never to be reused. */
export const RETIRED_CODES: readonly string[] = []

/** All current error constructors, keyed by code. */
export const ERROR_CODES: Readonly<Record<string, FastifyErrorConstructor>> = Object.freeze({
  LS_ERR_CONFIG_INVALID, LS_ERR_DB_UNAVAILABLE, LS_ERR_PLUGIN_INVALID, LS_ERR_PLUGIN_CONFLICT, LS_ERR_PLUGIN_FAILED,
  LS_ERR_VALIDATION, LS_ERR_MALFORMED_JSON, LS_ERR_INVALID_ENCODING, LS_ERR_FORBIDDEN_KEY, LS_ERR_BODY_TOO_LARGE, LS_ERR_BODY_TOO_DEEP,
  LS_ERR_UNSUPPORTED_MEDIA_TYPE, LS_ERR_BATCH_TOO_LARGE, LS_ERR_INVALID_CURSOR, LS_ERR_NOT_FOUND, LS_ERR_METHOD_NOT_ALLOWED, LS_ERR_TIMEOUT,
  LS_ERR_URL_TOO_LONG, LS_ERR_HEADERS_TOO_LARGE, LS_ERR_RATE_LIMITED, LS_ERR_SHUTTING_DOWN,
  LS_ERR_UNAUTHORIZED, LS_ERR_FORBIDDEN, LS_ERR_ORIGIN_FORBIDDEN, LS_ERR_API_KEY_NOT_FOUND,
  LS_ERR_LOGIN_FAILED, LS_ERR_LOGIN_THROTTLED, LS_ERR_CSRF, LS_ERR_USER_NOT_FOUND, LS_ERR_USER_EXISTS, LS_ERR_LAST_ADMIN,
  LS_ERR_IDEMPOTENCY_KEY_REUSED, LS_ERR_IDEMPOTENCY_IN_FLIGHT, LS_ERR_IDEMPOTENCY_KEY_INVALID,
  LS_ERR_LEAD_NOT_FOUND, LS_ERR_LEAD_BUSY, LS_ERR_LEAD_EXISTS, LS_ERR_LEAD_SUPPRESSED, LS_ERR_AS_OF_TOO_FAR, LS_ERR_SUPPRESSION_NOT_FOUND, LS_ERR_EVENT_NOT_FOUND, LS_ERR_RULESET_NOT_FOUND, LS_ERR_RULESET_INVALID,
  LS_ERR_RULESET_NOT_DRAFT, LS_ERR_RULESET_BUSY, LS_ERR_OFFER_NOT_FOUND, LS_ERR_OFFER_INVALID, LS_ERR_OFFER_ACTIVE, LS_ERR_OFFER_BUSY,
  LS_ERR_TEMPLATE_NOT_FOUND, LS_ERR_JOB_NOT_FOUND, LS_ERR_WEBHOOK_NOT_FOUND, LS_ERR_WEBHOOK_URL_INVALID,
  LS_ERR_SOURCE_NOT_FOUND, LS_ERR_SOURCE_TYPE_UNKNOWN, LS_ERR_SOURCE_CONFIG_INVALID, LS_ERR_SOURCE_SECRET_INVALID, LS_ERR_SOURCE_NOT_POLLED, LS_ERR_SOURCE_DISABLED,
  LS_ERR_SOURCE_HOST_PRIVATE, LS_ERR_SOURCE_SECRET_REQUIRED,
  LS_ERR_SOURCE_AUTH, LS_ERR_SOURCE_INPUT, LS_ERR_SOURCE_UNAVAILABLE,
  LS_ERR_WEBHOOK_HEADER_MISSING, LS_ERR_WEBHOOK_HEADER_INVALID, LS_ERR_WEBHOOK_TIMESTAMP, LS_ERR_WEBHOOK_SIGNATURE,
  LS_ERR_IMAP_LOGIN, LS_ERR_IMAP_MAILBOX, LS_ERR_IMAP_TLS, LS_ERR_IMAP_CONNECTION, LS_ERR_IMAP_INSECURE,
  LS_ERR_UPLOAD_NOT_FOUND, LS_ERR_UPLOAD_FORMAT, LS_ERR_UPLOAD_HEADER, LS_ERR_UPLOAD_MAPPING, LS_ERR_UPLOAD_PARSE, LS_ERR_UPLOAD_TOO_LARGE,
  LS_ERR_UPLOAD_ABORTED, LS_ERR_UPLOAD_INTERRUPTED, LS_ERR_UPLOAD_LIMIT, LS_ERR_UPLOAD_SPOOL_FULL, LS_ERR_UPLOAD_CANCELLED, LS_ERR_UPLOAD_NOT_RUNNING,
  LS_ERR_MODEL_NOT_FOUND, LS_ERR_MODEL_TRAINING_BUSY, LS_ERR_MODEL_TRAINING_DATA, LS_ERR_MODEL_NO_ROLLBACK, LS_ERR_MODEL_NO_CHALLENGER,
  LS_ERR_EVENT_INVALID, LS_ERR_EVENT_TOO_LARGE, LS_ERR_EVENT_TYPE_INVALID, LS_ERR_LEAD_IDENTITY_INVALID, LS_ERR_TIMESTAMP_INVALID,
  LS_ERR_UPLOAD_ROW_INVALID, LS_ERR_UPLOAD_ROW_TOO_LARGE,
  LS_ERR_TRACKING_PLAN_INVALID, LS_ERR_TRACKING_PLAN_CONFLICT, LS_ERR_TRACKING_PLAN_NOT_FOUND, LS_ERR_PROPERTIES_SCHEMA,
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
