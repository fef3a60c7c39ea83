import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { LS_ERR_ORIGIN_FORBIDDEN } from '../errors.js'
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

  app.get('/v1/live', {
    websocket: true,
    config: { scope: 'read' },
    schema: {
      tags: ['live'],
      summary: 'WebSocket of live updates. Send {"op":"subscribe","topics":["leaderboard","lead:<id>"],"since":<seq>}; receive {"type":"batch","messages":[...]}',
      querystring: Type.Object({
        topics: Type.Optional(Type.String({ maxLength: 4000 })),
        since: Type.Optional(Type.Integer({ minimum: 0 })),
        access_token: Type.Optional(Type.String({ maxLength: 200 })),
      }, { additionalProperties: false }),
    },
    preValidation: async (req) => {
      // a browser page from another site must not ride on a user's credentials
      const origin = req.headers.origin
      if (origin !== undefined) {
        const host = req.headers.host
        let sameHost = false
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
