import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { isRefusedInput, pluginErrorKind, type InboundRequest, type PluginContext, type SourcePlugin, type SourceRoute } from '../contracts/index.js'
import { ERROR_CODES, LS_ERR_BATCH_TOO_LARGE, LS_ERR_SOURCE_DISABLED, LS_ERR_SOURCE_NOT_FOUND } from '../errors.js'
import { parseJsonStrict } from '../infra/http-parsing.js'
import { sendProblem } from '../infra/problem-details.js'
import type { IngestSummary, ItemResult } from '../domain/events/ingest.js'
import { IdParams } from '../schemas/common.js'
import { SourceDeliveryResult, type SourceDeliveryResultT } from '../schemas/sources.js'
import { createRejectLimiter, REJECT_WINDOW_MS, REJECTS_PER_WINDOW } from './reject-limit.js'

/** Most events one request may turn into (a plugin that returns more is answered 400). */
export const MAX_EVENTS_PER_REQUEST = 10_000

/** What the mounted routes need from the host: instances, ingest, and where rejected deliveries and counts go. */
export interface DeliveryHost {
  /** The instance `id` of plugin `type` with a context for this call, or null when there is none. */
  resolve(id: string, type: string): Promise<{ enabled: boolean; ctx: PluginContext<unknown> } | null>
  /** The product's ingest: validation, de-duplication on (sourceId, externalId), stored rejects. */
  ingest(events: readonly unknown[], meta: { sourceId: string; requestId: string; receivedAt: Date; indexes?: readonly number[] }): Promise<IngestSummary>
  /** Stores the rejects of inputs a plugin refused itself (`RefusedInput`), each at its index in the delivery. */
  rejectInputs(r: { sourceId: string; requestId: string; receivedAt: Date; rejects: ReadonlyArray<{ index: number; code: string; reason: string; raw: string; rawTruncated: boolean }> }): Promise<void>
  /**
   * Counts a delivery refused as a whole (bad signature, unusable body) and stores it with its reason, unless `store`
   * is false (unauthenticated refusals past the per-address cap: counted only).
   */
  rejectDelivery(r: { sourceId: string; requestId: string; code: string; reason: string; raw: string; receivedAt: Date; store?: boolean }): Promise<void>
  /** Counts an ingested delivery. */
  delivered(sourceId: string, summary: IngestSummary, at: Date, requestId: string): Promise<void>
  /** Notes a failure that was not the sender's fault (5xx): last error, not a rejected delivery. */
  failed(sourceId: string, code: string, message: string, at: Date, requestId: string): Promise<void>
  now(): Date
  /** Default body limit of source routes (bytes). */
  bodyLimit: number
}

const JSON_TYPE_RE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i
const REDACTED_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization'])

/** The headers of a refused delivery as stored with its reject: no credentials, no body. */
function deliveryRecord (req: FastifyRequest, raw: Buffer): string {
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue
    const text = Array.isArray(v) ? v.join(', ') : v
    headers[k] = REDACTED_HEADERS.has(k) ? '[redacted]' : text.slice(0, 1000)
  }
  return JSON.stringify({ method: req.method, url: req.url.split('?')[0], headers, bodyBytes: raw.length })
}

/** Most characters of a refused input stored with its reject (as ingest stores a rejected event). */
const REFUSED_RAW_LIMIT = 64 * 1024
const CODE_RE = /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/

/**
 * Ingests what `handle` returned: events go to ingest, inputs the plugin refused itself are stored as rejects with its
 * code and reason, and the answer counts both, each at its index in the delivery.
 */
async function ingestDelivery (host: DeliveryHost, items: readonly unknown[], meta: { sourceId: string; requestId: string; receivedAt: Date }): Promise<IngestSummary> {
  if (!items.some(isRefusedInput)) return await host.ingest(items, meta)
  const events: unknown[] = []
  const positions: number[] = []
  const rejects: Array<{ index: number; code: string; reason: string; raw: string; rawTruncated: boolean }> = []
  items.forEach((item, index) => {
    if (!isRefusedInput(item)) { events.push(item); positions.push(index); return }
    let raw: string
    try { raw = JSON.stringify(item.refused.raw) ?? '' } catch { raw = '' }
    const code = CODE_RE.test(item.refused.code) ? item.refused.code : 'LS_ERR_SOURCE_INPUT'
    rejects.push({ index, code, reason: item.refused.reason.slice(0, 1000), raw: raw.slice(0, REFUSED_RAW_LIMIT), rawTruncated: raw.length > REFUSED_RAW_LIMIT })
  })
  const ingested = events.length > 0 ? await host.ingest(events, { ...meta, indexes: positions }) : null
  await host.rejectInputs({ ...meta, rejects })
  const results: ItemResult[] = [
    ...(ingested?.results ?? []).map((r) => ({ ...r, index: positions[r.index]! })),
    ...rejects.map((r) => ({ index: r.index, status: 'rejected' as const, error: { code: r.code, message: r.reason } })),
  ].sort((a, b) => a.index - b.index)
  const count = (status: ItemResult['status']): number => results.filter((r) => r.status === status).length
  return { submitted: results.length, accepted: count('accepted'), duplicates: count('duplicate'), rejected: count('rejected'), results }
}

interface Failure { status: number; code: string; message: string; rejected: boolean; retryAfter?: number; log: 'info' | 'warn' | 'error' }

/** Maps what a plugin threw to an answer. Only plugin errors reach the sender; anything else is logged, not returned. */
function failureOf (err: unknown): Failure {
  const kind = pluginErrorKind(err)
  const message = err instanceof Error ? err.message : String(err)
  if (kind === null) {
    // our own coded errors (parse failures) keep their code and status
    const code = (err as { code?: unknown }).code
    const status = (err as { statusCode?: unknown }).statusCode
    if (typeof code === 'string' && code in ERROR_CODES && typeof status === 'number' && status < 500) return { status, code, message, rejected: true, log: 'info' }
    return { status: 500, code: 'LS_ERR_PLUGIN_FAILED', message: 'A plugin failed while handling the request', rejected: false, log: 'error' }
  }
  const given = (err as { code?: string }).code
  const declared = given !== undefined ? ERROR_CODES[given] : undefined
  // a documented code with a 4xx status decides the status; otherwise the kind does
  const declaredStatus = declared !== undefined ? new declared('').statusCode : undefined
  switch (kind) {
    case 'auth':
      return { status: 401, code: given ?? 'LS_ERR_SOURCE_AUTH', message, rejected: true, log: 'info' }
    case 'input':
    case 'permanent':
      return { status: declaredStatus !== undefined && declaredStatus >= 400 && declaredStatus < 500 ? declaredStatus : 422, code: given ?? 'LS_ERR_SOURCE_INPUT', message, rejected: true, log: 'info' }
    case 'transient': {
      const ms = (err as { retryAfterMs?: unknown }).retryAfterMs
      return { status: 503, code: given ?? 'LS_ERR_SOURCE_UNAVAILABLE', message, rejected: false, retryAfter: typeof ms === 'number' && ms > 0 ? Math.ceil(ms / 1000) : 5, log: 'warn' }
    }
  }
}

function resultOf (sourceId: string, requestId: string, s: IngestSummary): SourceDeliveryResultT {
  const status = s.submitted === 0
    ? 'empty'
    : s.accepted === s.submitted ? 'accepted'
      : s.duplicates === s.submitted ? 'duplicate'
        : s.rejected === s.submitted ? 'rejected' : 'partial'
  return {
    sourceId, requestId, status, duplicate: status === 'duplicate',
    submitted: s.submitted, accepted: s.accepted, duplicates: s.duplicates, rejected: s.rejected, results: s.results,
  }
}

/**
 * Mounts a source plugin's HTTP routes at `/v1/sources/:id<url>` in a scope of its own (registered without
 * fastify-plugin, so nothing it sets up leaks into the rest of the server). In that scope every body is read raw —
 * plugins verify signatures over the exact bytes — and parsed as strict JSON only when first read (after verify()
 * unless verify() reads the body). Instances are resolved
 * per request, so instances created at run time are served without a restart.
 */
export async function mountSourcePlugin (app: FastifyInstance, plugin: SourcePlugin, host: DeliveryHost): Promise<void> {
  const routes = plugin.http?.routes ?? []
  if (routes.length === 0) return
  const pluginId = plugin.manifest.id
  const limiter = createRejectLimiter()
  await app.register(async function sourcePluginScope (scope) {
    scope.removeAllContentTypeParsers()
    // every body arrives as bytes; a request without a content type reaches the handler with an empty body
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, async (_req: FastifyRequest, body: Buffer) => body)
    for (const route of routes) mountRoute(scope, pluginId, route as SourceRoute<unknown>, host, limiter)
  })
}

function mountRoute (scope: FastifyInstance, pluginId: string, route: SourceRoute<unknown>, host: DeliveryHost, limiter: ReturnType<typeof createRejectLimiter>): void {
  const check = route.body !== undefined ? TypeCompiler.Compile(route.body) : null
  const problem = Type.Ref('ProblemDetails')
  scope.route<{ Params: Static<typeof IdParams> }>({
    method: route.method,
    url: `/v1/sources/:id${route.url}`,
    bodyLimit: route.bodyLimit ?? host.bodyLimit,
    schema: {
      tags: ['sources'],
      summary: route.summary ?? `${pluginId} source: ${route.method} ${route.url}`,
      description: `Served by the \`${pluginId}\` source plugin for the source instance \`id\`. Authenticated by the plugin (signature or key), not by an API key. The body is read raw.`,
      security: [],
      params: IdParams,
      response: {
        200: SourceDeliveryResult, 202: SourceDeliveryResult,
        400: problem, 401: problem, 404: problem, 413: problem, 415: problem, 422: problem, 500: problem, 503: problem,
      },
    },
    handler: async (req: FastifyRequest<{ Params: Static<typeof IdParams> }>, reply: FastifyReply) => {
      const receivedAt = host.now()
      const sourceId = req.params.id
      const requestId = String(req.id)
      const found = await host.resolve(sourceId, pluginId)
      if (found === null) throw new LS_ERR_SOURCE_NOT_FOUND(sourceId)
      if (!found.enabled) {
        void reply.header('retry-after', '60')
        throw new LS_ERR_SOURCE_DISABLED(sourceId)
      }
      const { ctx } = found
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
      // Parsed on first read: a plugin that verifies a signature over rawBody never reads body in verify(), so an
      // unsigned body is never parsed; one that finds its key in the body (Segment) parses it there.
      const isJson = raw.length > 0 && JSON_TYPE_RE.test(req.headers['content-type'] ?? '')
      let parsed = false
      let body: unknown
      let parseError: unknown = null
      const parse = (): unknown => {
        if (!parsed) {
          parsed = true
          if (isJson) {
            try { body = parseJsonStrict(raw) } catch (err) { parseError = err }
          }
        }
        return body
      }
      const inbound: InboundRequest = Object.freeze({
        method: route.method, headers: Object.freeze({ ...req.headers }), query: Object.freeze({ ...(req.query as Record<string, string>) }),
        get body () { return parse() },
        rawBody: raw,
      })

      const fail = async (err: unknown, stage: string): Promise<FastifyReply> => {
        const f = failureOf(err)
        const at = host.now()
        if (f.rejected) {
          // refusals before verify() passed come from anyone: only a few per source and address are stored
          const admit = stage === 'verify' ? limiter.admit(sourceId, req.ip, at.getTime()) : { store: true, firstDropped: false }
          if (admit.firstDropped) {
            req.log.warn({ plugin: pluginId, sourceId, address: req.ip, cap: REJECTS_PER_WINDOW, windowMs: REJECT_WINDOW_MS }, 'source refusals over the cap: counted, not stored, until the window ends')
          }
          await host.rejectDelivery({ sourceId, requestId, code: f.code, reason: f.message, raw: deliveryRecord(req, raw), receivedAt: at, store: admit.store })
        } else {
          await host.failed(sourceId, f.code, f.message, at, requestId)
        }
        req.log[f.log]({ plugin: pluginId, sourceId, stage, code: f.code, ...(f.log === 'info' ? {} : { err }) }, 'source delivery refused')
        if (f.retryAfter !== undefined) void reply.header('retry-after', String(f.retryAfter))
        return sendProblem(req, reply, f.status, f.code, f.message)
      }

      try {
        if (route.verify !== undefined) await route.verify(inbound, ctx)
      } catch (err) {
        return await fail(err, 'verify')
      }
      parse()
      if (parseError !== null) return await fail(parseError, 'parse')
      if (check !== null && !check.Check(body)) {
        const detail = [...check.Errors(body)].slice(0, 10).map((e) => `${e.path === '' ? '#' : `#${e.path}`} ${e.message}`).join('; ')
        return await fail(Object.assign(new Error(`The request is invalid: ${detail}`), { code: 'LS_ERR_VALIDATION', statusCode: 400 }), 'validate')
      }
      let events: unknown
      try {
        events = await route.handle(inbound, ctx)
      } catch (err) {
        return await fail(err, 'handle')
      }
      if (!Array.isArray(events)) return await fail(new Error(`handle() of ${pluginId} returned no array`), 'handle')
      if (events.length > MAX_EVENTS_PER_REQUEST) return await fail(new LS_ERR_BATCH_TOO_LARGE(MAX_EVENTS_PER_REQUEST, events.length), 'handle')
      const summary = await ingestDelivery(host, events, { sourceId, requestId, receivedAt })
      await host.delivered(sourceId, summary, receivedAt, requestId)
      const result = resultOf(sourceId, requestId, summary)
      const code = route.successStatus ?? (result.status === 'duplicate' || result.status === 'empty' ? 200 : 202)
      return await reply.code(code).send(result)
    },
  })
}
