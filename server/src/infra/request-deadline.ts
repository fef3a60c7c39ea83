import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { titleOf, slugOf } from '../errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route streams a request body that may take longer than the request timeout to arrive (file uploads, read
     * as fast as they are stored); it guards against stalled clients itself.
     */
    streamingBody?: boolean
  }
}

/**
 * The time allowed to receive a whole request, per route. Node's own `requestTimeout` applies to every request of
 * the server and would cut a large upload that is read only as fast as its rows are stored; so the server runs with
 * it off and this hook applies the same limit to every other route: a body not complete in time is answered 408
 * (LS_ERR_TIMEOUT) and the connection closed, as Node does. Headers are still bounded by Node's `headersTimeout`.
 */
export default fp(async function requestDeadline (app: FastifyInstance, opts: { timeoutMs: number; problemBaseUrl: string }) {
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config.streamingBody === true) return
    const raw = req.raw
    if (raw.complete) return
    const timer = setTimeout(() => {
      if (raw.complete) return
      const socket = raw.socket as typeof raw.socket | null
      // a request made in process (`inject`) has a stand-in socket without a connection to end
      if (socket === null || socket.destroyed || typeof socket.end !== 'function' || typeof socket.destroySoon !== 'function') return
      req.log.info({ timeoutMs: opts.timeoutMs }, 'request body timed out')
      if (!raw.socket.writableEnded && !(req.raw as { res?: { headersSent?: boolean } }).res?.headersSent) {
        const body = JSON.stringify({
          type: `${opts.problemBaseUrl}/${slugOf('LS_ERR_TIMEOUT')}`, title: titleOf('LS_ERR_TIMEOUT'), status: 408,
          detail: 'The request body did not arrive in time', instance: req.url, code: 'LS_ERR_TIMEOUT', requestId: String(req.id),
        })
        socket.end(`HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/problem+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
      }
      socket.destroySoon()
    }, opts.timeoutMs)
    timer.unref()
    const clear = (): void => { clearTimeout(timer) }
    raw.once('end', clear)
    raw.once('close', clear)
    reply.raw.once('close', clear)
  })
}, { name: 'ls-request-deadline', fastify: '5.x' })
