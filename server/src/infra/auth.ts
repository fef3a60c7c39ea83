import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Scope } from '../domain/types.js'
import { hasScope, type Principal } from '../domain/auth/api-keys.js'
import { LS_ERR_FORBIDDEN, LS_ERR_UNAUTHORIZED } from '../errors.js'

declare module 'fastify' {
  interface FastifyRequest { principal: Principal | null }
  interface FastifyContextConfig { scope?: Scope }
}

/** The bearer key of a request: `Authorization: Bearer <key>`, or `?access_token=` for WebSocket clients. */
export function presentedKey (req: FastifyRequest): string | null {
  const h = req.headers.authorization
  if (typeof h === 'string') {
    const m = /^Bearer\s+(\S+)$/i.exec(h)
    if (m !== null) return m[1]!
    return null
  }
  const q = (req.query as Record<string, unknown> | undefined)?.access_token
  return typeof q === 'string' ? q : null
}

/** Routes declare `config: { scope }`; this hook authenticates and authorizes them before any body is read. */
export default fp(async function auth (app: FastifyInstance) {
  app.decorateRequest('principal', null)
  app.addHook('onRequest', async (req) => {
    const scope = req.routeOptions.config.scope
    if (scope === undefined) return
    const key = presentedKey(req)
    if (key === null) {
      app.core.metrics.authFailures.inc(1, { reason: 'missing' })
      throw new LS_ERR_UNAUTHORIZED('send Authorization: Bearer <key>')
    }
    const p = await app.core.apiKeys.authenticate(key)
    if (p === null) {
      app.core.metrics.authFailures.inc(1, { reason: 'invalid' })
      throw new LS_ERR_UNAUTHORIZED('the key is unknown or revoked')
    }
    if (!hasScope(p, scope)) throw new LS_ERR_FORBIDDEN(scope)
    req.principal = p
  })
}, { name: 'ls-auth', fastify: '5.x', dependencies: ['ls-core'] })
