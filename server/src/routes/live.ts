import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { LS_ERR_ORIGIN_FORBIDDEN } from '../errors.js'

const liveRoutes: FastifyPluginAsyncTypebox = async function liveRoutes (app) {
  const { live } = app
  const allowed = app.core.config.corsOrigin?.split(',').map((s) => s.trim()).filter(Boolean) ?? []

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
    live.attach(socket, { topics: q.topics !== undefined ? q.topics.split(',').filter(Boolean) : [], since: q.since ?? null })
  })
}

export default liveRoutes
