import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { LS_ERR_ORIGIN_FORBIDDEN } from '../errors.js'
import { problemResponses } from '../schemas/common.js'
import { LiveTicket } from '../schemas/live.js'
import { credentialOf, stillAllowed } from '../domain/live/credentials.js'

const liveRoutes: FastifyPluginAsyncTypebox = async function liveRoutes (app) {
  const { live, core } = app
  const allowed = app.core.config.corsOrigin?.split(',').map((s) => s.trim()).filter(Boolean) ?? []

  // open connections live as long as their credential: re-checked every 2 s (changes made by any process), and at
  // once when this process signs a session out, disables or deletes a user, or revokes a key
  live.guard(async (creds) => await stillAllowed(core, creds, 'read'))
  const revalidate = (): void => { void live.revalidate() }
  const unlisten = [core.users.onSessionsEnded(revalidate), core.apiKeys.onRevoked(revalidate)]
  app.addHook('onClose', async () => { for (const fn of unlisten) fn() })

  app.post('/v1/live/tickets', {
    config: { scope: 'read' },
    schema: {
      tags: ['live'],
      summary: 'A single-use ticket that opens one /v1/live WebSocket (for browsers, which cannot send headers on it)',
      description: 'Authenticate this request with `Authorization: Bearer <key>` or the session cookie (then with `x-leadscore-csrf: 1`). ' +
        'Open `/v1/live?ticket=<ticket>` within `expiresIn` seconds; the ticket works once, and the connection stands on the key or session ' +
        'it was issued for: it is closed (code 4401) when that is revoked or ends.',
      response: { 200: LiveTicket, ...problemResponses },
    },
  }, async (req, reply) => {
    const { ticket, expiresAt } = await app.liveTickets.issue(credentialOf(req.principal!))
    return reply.header('cache-control', 'no-store')
      .send({ ticket, expiresAt: expiresAt.toISOString(), expiresIn: Math.round((expiresAt.getTime() - core.now().getTime()) / 1000) })
  })

  app.get('/v1/live', {
    websocket: true,
    config: { scope: 'read', urlCredentials: true },
    schema: {
      tags: ['live'],
      summary: 'WebSocket of live updates. Send {"op":"subscribe","topics":["leaderboard","lead:<id>"],"since":<seq>}; receive {"type":"batch","messages":[...]}',
      querystring: Type.Object({
        topics: Type.Optional(Type.String({ maxLength: 4000 })),
        since: Type.Optional(Type.Integer({ minimum: 0 })),
        ticket: Type.Optional(Type.String({ maxLength: 200, description: 'A ticket from POST /v1/live/tickets, for clients that cannot send headers' })),
        access_token: Type.Optional(Type.String({ maxLength: 200, deprecated: true, description: 'Deprecated: an API key in the URL; use a ticket or the Authorization header' })),
      }, { additionalProperties: false }),
    },
    preValidation: async (req) => {
      // a browser page from another site must not ride on a user's credentials
      const origin = req.headers.origin
      if (origin !== undefined) {
        const host = req.headers.host
        let sameHost: boolean
        try { sameHost = new URL(origin).host === host } catch { sameHost = false }
        if (!sameHost && !allowed.includes(origin)) throw new LS_ERR_ORIGIN_FORBIDDEN(origin)
      }
    },
  }, (socket, req) => {
    const q = req.query
    live.attach(socket, {
      topics: q.topics !== undefined ? q.topics.split(',').filter(Boolean) : [],
      since: q.since ?? null,
      credential: credentialOf(req.principal!),
    })
  })
}

export default liveRoutes
