import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { problemResponses } from '../schemas/common.js'
import { LoginBody, SessionInfo } from '../schemas/users.js'
import { ROLE_SCOPES, userOut } from '../domain/auth/users.js'
import { checkCsrf, sessionCookie, sessionToken } from '../http/auth.js'
import { LS_ERR_UNAUTHORIZED } from '../errors.js'

/** Console sign-in: `POST` opens a session (cookie `ls_session`), `GET` tells who is signed in, `DELETE` signs out. */
const sessionRoutes: FastifyPluginAsyncTypebox = async function sessionRoutes (app) {
  const { core } = app
  const audit = core.audit

  app.post('/v1/session', {
    schema: {
      tags: ['auth'],
      summary: 'Sign in to the console with an email and password; sets the HttpOnly session cookie',
      description: 'Send the header `x-leadscore-csrf: 1`. Attempts are counted as they arrive: after 5 for one email (50 for any emails) from one address within 15 minutes, further ones are refused with 429 and `Retry-After`; so is a sign-in that arrives while too many are being checked at once (`Retry-After: 1`).',
      security: [],
      body: LoginBody,
      response: { 200: SessionInfo, 429: Type.Ref('ProblemDetails'), ...problemResponses },
    },
  }, async (req, reply) => {
    // a cross-site form must not sign the browser in to someone else's account either
    checkCsrf(req)
    let r
    try {
      r = await core.users.login(req.body.email, req.body.password, req.ip)
    } catch (err) {
      const retryAfter = (err as { retryAfter?: unknown }).retryAfter
      if (typeof retryAfter === 'number') void reply.header('retry-after', String(retryAfter))
      else core.metrics.authFailures.inc(1, { reason: 'login' })
      throw err
    }
    await audit.record(r.user.email, 'session.create', r.user._id)
    return reply
      .header('set-cookie', sessionCookie(req, r.token))
      .header('cache-control', 'no-store')
      .send({ user: userOut(r.user), scopes: [...ROLE_SCOPES[r.user.role]], expiresAt: r.expiresAt.toISOString() })
  })

  app.get('/v1/session', {
    schema: {
      tags: ['auth'], summary: 'The signed-in console user (from the session cookie)', security: [],
      response: { 200: SessionInfo, ...problemResponses },
    },
  }, async (req, reply) => {
    const token = sessionToken(req)
    const s = token === null ? null : await core.users.authenticate(token)
    if (s === null) throw new LS_ERR_UNAUTHORIZED('not signed in')
    return reply.header('cache-control', 'no-store').send({ user: userOut(s.user), scopes: [...ROLE_SCOPES[s.user.role]] })
  })

  app.delete('/v1/session', {
    schema: { tags: ['auth'], summary: 'Sign out: ends the session and clears the cookie', security: [], response: { 204: Type.Null(), ...problemResponses } },
  }, async (req, reply) => {
    const token = sessionToken(req)
    const s = token === null ? null : await core.users.authenticate(token)
    if (s !== null) {
      checkCsrf(req)
      await core.users.logout(token!)
      await audit.record(s.user.email, 'session.delete', s.user._id)
    }
    return reply.code(204).header('set-cookie', sessionCookie(req, null)).send(null)
  })
}

export default sessionRoutes
