import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ROLE_SCOPES } from '../domain/auth/users.js'
import { LS_ERR_FORBIDDEN, LS_ERR_UNAUTHORIZED } from '../errors.js'
import { presentedKey, sessionToken } from './auth.js'

// compared as digests: equal lengths for timingSafeEqual, and no early exit that tells how much of a guess matched
const digest = (s: string): Buffer => createHash('sha256').update(s).digest()

/**
 * The access check of GET /metrics (an onRequest hook): `Authorization: Bearer <LEADSCORE_METRICS_TOKEN>` when one is
 * configured, or an API key or console session with the admin scope. The route has no `scope` of its own because the
 * auth hook would refuse the metrics token, which is not an API key.
 */
export function metricsAccess (app: FastifyInstance): (req: FastifyRequest) => Promise<void> {
  const token = app.config.metricsToken
  const tokenDigest = token === undefined ? null : digest(token)
  return async function checkMetricsAccess (req) {
    const key = presentedKey(req)
    if (key !== null && tokenDigest !== null && timingSafeEqual(digest(key), tokenDigest)) return
    let scopes: readonly string[]
    if (key === null && req.headers.authorization === undefined && sessionToken(req) !== null) {
      const s = await app.core.users.authenticate(sessionToken(req)!)
      if (s === null) {
        app.core.metrics.authFailures.inc(1, { reason: 'session' })
        throw new LS_ERR_UNAUTHORIZED('the session expired or was signed out; sign in again')
      }
      scopes = ROLE_SCOPES[s.user.role]
    } else {
      const p = key === null ? null : await app.core.apiKeys.authenticate(key)
      if (p === null) {
        app.core.metrics.authFailures.inc(1, { reason: key === null ? 'missing' : 'invalid' })
        throw new LS_ERR_UNAUTHORIZED(tokenDigest === null
          ? 'send Authorization: Bearer <admin API key>, or sign in as an admin'
          : 'send Authorization: Bearer <metrics token or admin API key>, or sign in as an admin')
      }
      scopes = p.scopes
    }
    if (!scopes.includes('admin')) throw new LS_ERR_FORBIDDEN('admin')
  }
}
