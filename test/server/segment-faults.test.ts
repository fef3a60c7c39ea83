// Segment's official Node client through a fault proxy (RELIABILITY case 7): 30% of requests answered 503 without
// reaching the server, 5% of connections reset after the server answered (so the batch was stored and the client
// sends it again), 5% delayed by 2 s. 10,000 track and identify calls across 500 users must still be exactly 10,000
// events, the client must report no failed delivery, and every resent batch must come back as duplicates.
import t from 'tap'
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Analytics } from '@segment/analytics-node'
import { buildTestApp } from '../helpers/harness.js'
import { createSource, listen, waitForStats } from '../helpers/sources.js'
import { prng } from '../helpers/model.js'

const CALLS = 10_000
const USERS = 500

interface FaultCounts { requests: number; unavailable: number; resets: number; delayed: number; forwarded: number }

/** An HTTP proxy to `target` that injects the faults above, drawn from a seeded generator. */
async function faultProxy (target: string, seed: number): Promise<{ url: string; counts: FaultCounts; close: () => Promise<void> }> {
  const rnd = prng(seed)
  const counts: FaultCounts = { requests: 0, unavailable: 0, resets: 0, delayed: 0, forwarded: 0 }
  const up = new URL(target)
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    counts.requests++
    const roll = rnd()
    const chunks: Buffer[] = []
    req.on('data', (b: Buffer) => chunks.push(b))
    req.on('end', () => {
      if (roll < 0.30) {
        counts.unavailable++
        res.writeHead(503, { 'content-type': 'text/plain', connection: 'close' }).end('fault proxy: unavailable')
        return
      }
      const reset = roll < 0.35
      const delay = roll >= 0.35 && roll < 0.40 ? 2000 : 0
      if (delay > 0) counts.delayed++
      setTimeout(() => {
        counts.forwarded++
        const headers = { ...req.headers, host: up.host }
        const out = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers }, (upRes) => {
          const body: Buffer[] = []
          upRes.on('data', (b: Buffer) => body.push(b))
          upRes.on('end', () => {
            if (reset) {
              // the server has answered (its write is durable): the client never learns it
              counts.resets++
              req.socket.resetAndDestroy()
              return
            }
            res.writeHead(upRes.statusCode ?? 502, upRes.headers).end(Buffer.concat(body))
          })
        })
        out.on('error', (err) => { res.writeHead(502).end(`fault proxy: ${err.message}`) })
        out.end(Buffer.concat(chunks))
      }, delay)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    close: async () => { server.closeAllConnections(); await new Promise<void>((resolve) => server.close(() => resolve())) },
  }
}

t.test('10,000 Segment calls through 503s, post-commit resets and delays are exactly 10,000 events', { timeout: 600_000 }, async (t) => {
  // scoring off: this is about what arrives (segment.test.ts covers the scoring of Segment events)
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const base = await listen(app)
  const proxy = await faultProxy(base, 7)
  t.teardown(proxy.close)
  const src = await createSource(app, { type: 'segment', name: 'website' })
  const analytics = new Analytics({
    writeKey: src.secretValues.writeKey as string, host: proxy.url, path: `/v1/sources/${src.id as string}/segment/v1/batch`,
    // with 35% of attempts failing, a batch needs more than the default 3 retries to be all but certain to land
    flushAt: 250, httpRequestTimeout: 180_000, maxRetries: 12,
  })
  const failures: unknown[] = []
  analytics.on('error', (err) => { failures.push(err) })
  let delivered = 0
  const counts = { track: 0, identify: 0 }
  for (let i = 0; i < CALLS; i++) {
    const u = i % USERS
    const userId = `user-${u}`
    const done = (err?: unknown): void => { if (err === undefined || err === null) delivered++ }
    if (i % 5 === 0) {
      analytics.identify({ userId, traits: { email: `user${u}@faults.example`, plan: u % 2 === 0 ? 'pro' : 'free' } }, done)
      counts.identify++
    } else {
      analytics.track({ userId, event: 'Email Opened', properties: { i }, context: { traits: { email: `user${u}@faults.example` } } }, done)
      counts.track++
    }
  }
  const flushStarted = Date.now()
  await analytics.closeAndFlush({ timeout: 500_000 })
  const f = proxy.counts
  t.comment(`closeAndFlush took ${Date.now() - flushStarted} ms; proxy: ${f.requests} requests, ${f.unavailable} answered 503, ${f.resets} reset after the server answered, ${f.delayed} delayed 2 s`)
  t.equal(failures.length, 0, `the client reported no failed delivery${failures.length > 0 ? ` (${failures.length}; the first: ${String(failures[0]).slice(0, 300)})` : ''}`)
  t.equal(delivered, CALLS, `every call was acknowledged to the client (${delivered})`)
  t.ok(f.unavailable > 0 && f.resets > 0 && f.delayed > 0, 'every kind of fault happened')

  const stored = await db.c.events.countDocuments({ sourceId: src.id })
  t.equal(stored, CALLS, `${CALLS} calls, ${stored} events stored`)
  t.equal((await db.c.events.distinct('externalId', { sourceId: src.id })).length, CALLS, 'one event per messageId (L1)')
  t.equal(await db.c.ingestRejects.countDocuments({ sourceId: src.id }), 0, 'nothing rejected')
  t.equal(await db.c.events.countDocuments({ sourceId: src.id, type: 'identify' }), counts.identify, 'identify calls')
  t.equal(await db.c.leads.countDocuments({}), USERS, 'one lead per user')
  // every reset batch was stored, then sent again in full: its events come back as duplicates
  const stats = await waitForStats(app, src.id as string, (s) => s.accepted === CALLS)
  t.equal(stats.accepted, CALLS, 'the source accepted each call once')
  t.equal(stats.rejected, 0)
  t.ok(stats.duplicates >= f.resets, `duplicates (${stats.duplicates as number}) at least the post-commit resets (${f.resets})`)
})
