import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Scope } from '../domain/types.js'
import { hasScope, type Principal } from '../domain/auth/api-keys.js'
import { sessionPrincipal } from '../domain/auth/users.js'
import { resolveCredentials, credentialKey } from '../domain/live/credentials.js'
import { createLiveTicketService, type LiveTicketDoc, type LiveTicketService } from '../domain/live/tickets.js'
import { LS_ERR_CSRF, LS_ERR_FORBIDDEN, LS_ERR_UNAUTHORIZED } from '../errors.js'

declare module 'fastify' {
  interface FastifyRequest { principal: Principal | null }
  interface FastifyContextConfig {
    scope?: Scope
    /**
     * The route is a WebSocket a browser opens without headers: it also takes a credential in the URL (`?ticket=`,
     * and the deprecated `?access_token=`). No other route reads one there.
     */
    urlCredentials?: boolean
  }
  interface FastifyInstance { liveTickets: LiveTicketService }
}

/** The console's session cookie. */
export const SESSION_COOKIE = 'ls_session'
/** Cookie-authenticated writes must carry `x-leadscore-csrf: 1`; a cross-site form or image cannot set a header. */
export const CSRF_HEADER = 'x-leadscore-csrf'
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** The bearer key of a request: `Authorization: Bearer <key>`. */
export function presentedKey (req: FastifyRequest): string | null {
  const h = req.headers.authorization
  if (typeof h !== 'string') return null
  const m = /^Bearer\s+(\S+)$/i.exec(h)
  return m !== null ? m[1]! : null
}

/** A query parameter as a single string, or null. */
function queryParam (req: FastifyRequest, name: string): string | null {
  const v = (req.query as Record<string, unknown> | undefined)?.[name]
  return typeof v === 'string' ? v : null
}

export { redactUrl } from '../lib/redact-url.js'

/** The session token from the `ls_session` cookie, or null. */
export function sessionToken (req: FastifyRequest): string | null {
  const header = req.headers.cookie
  if (typeof header !== 'string') return null
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) {
      const v = part.slice(eq + 1).trim()
      return v === '' ? null : v
    }
  }
  return null
}

/** The `Set-Cookie` value that stores (or, with null, clears) the session token. */
export function sessionCookie (req: FastifyRequest, token: string | null): string {
  const attrs = [`${SESSION_COOKIE}=${token ?? ''}`, 'Path=/', 'HttpOnly', 'SameSite=Strict']
  if (token === null) attrs.push('Max-Age=0')
  if (req.protocol === 'https') attrs.push('Secure')
  return attrs.join('; ')
}

/**
 * Refuses a cookie-authenticated write that may come from another site: it must carry `x-leadscore-csrf: 1`, and
 * its Origin, when sent, must be this server's own host.
 */
export function checkCsrf (req: FastifyRequest): void {
  if (req.headers[CSRF_HEADER] !== '1') throw new LS_ERR_CSRF(`send the header ${CSRF_HEADER}: 1`)
  const origin = req.headers.origin
  if (origin !== undefined) {
    let same: boolean
    try {
      // compare as URLs, so an explicit default port on either side does not matter
      const o = new URL(origin)
      same = (o.protocol === 'http:' || o.protocol === 'https:') && o.host === new URL(`${o.protocol}//${req.headers.host ?? ''}`).host
    } catch { same = false }
    if (!same) throw new LS_ERR_CSRF(`origin '${origin}' is not this server`)
  }
}

/**
 * Routes declare `config: { scope }`; this hook authenticates and authorizes them before any body is read. A request
 * that sends an API key is judged by the key alone; otherwise a valid session cookie authenticates it as its user,
 * whose role gives the scopes. Credentials in the URL are read only on `urlCredentials` routes (the WebSocket): a
 * ticket, or (deprecated) a key as `?access_token=`; elsewhere they are ignored, so a key in a URL is refused there.
 */
export default fp(async function auth (app: FastifyInstance) {
  app.decorateRequest('principal', null)
  // the collection is not one of db.ts's: tickets are this plugin's own, and short-lived
  app.decorate('liveTickets', createLiveTicketService(app.mongo.db.collection<LiveTicketDoc>('liveTickets'), app.core.now))
  app.addHook('onRequest', async (req) => {
    const scope = req.routeOptions.config.scope
    if (scope === undefined) return
    const inUrl = req.routeOptions.config.urlCredentials === true && req.headers.authorization === undefined
    const ticket = inUrl ? queryParam(req, 'ticket') : null
    const key = presentedKey(req) ?? (inUrl && ticket === null ? queryParam(req, 'access_token') : null)
    let p: Principal | null
    if (ticket !== null) {
      // the credential the ticket was issued for, if it is still valid now
      const cred = await app.liveTickets.redeem(ticket)
      p = cred === null ? null : (await resolveCredentials(app.core, [cred])).get(credentialKey(cred)) ?? null
      if (p === null) {
        app.core.metrics.authFailures.inc(1, { reason: 'ticket' })
        throw new LS_ERR_UNAUTHORIZED('the ticket is unknown, used or expired; request a new one (POST /v1/live/tickets)')
      }
    } else if (key === null && req.headers.authorization === undefined && sessionToken(req) !== null) {
      const s = await app.core.users.authenticate(sessionToken(req)!)
      if (s === null) {
        app.core.metrics.authFailures.inc(1, { reason: 'session' })
        throw new LS_ERR_UNAUTHORIZED('the session expired or was signed out; sign in again')
      }
      if (!SAFE_METHODS.has(req.method)) checkCsrf(req)
      p = sessionPrincipal(s.user, s.sessionId)
    } else {
      if (key === null) {
        app.core.metrics.authFailures.inc(1, { reason: 'missing' })
        throw new LS_ERR_UNAUTHORIZED(queryParam(req, 'access_token') !== null
          ? 'API keys are not accepted in the URL; send Authorization: Bearer <key>'
          : 'send Authorization: Bearer <key>, or sign in')
      }
      p = await app.core.apiKeys.authenticate(key)
      if (p === null) {
        app.core.metrics.authFailures.inc(1, { reason: 'invalid' })
        throw new LS_ERR_UNAUTHORIZED('the key is unknown or revoked')
      }
    }
    if (!hasScope(p, scope)) throw new LS_ERR_FORBIDDEN(scope)
    req.principal = p
  })
}, { name: 'ls-auth', fastify: '5.x', dependencies: ['ls-core'] })
