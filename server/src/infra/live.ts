import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import type { LiveFeed, LiveMessage } from '../domain/live/live-feed.js'

const TOPIC_RE = /^(leaderboard|events|jobs|rulesets|webhooks|backtests|uploads|lead:[A-Za-z0-9_]{1,64}|job:[A-Za-z0-9_]{1,64}|backtest:[A-Za-z0-9_]{1,64}|upload:[A-Za-z0-9_]{1,64})$/
export const MAX_FRAME_BYTES = 64 * 1024
const MAX_TOPICS = 100
const SLOW_CONSUMER_BYTES = 4 * 1024 * 1024
const REPLAY_LIMIT = 5000

export function validTopic (t: unknown): t is string {
  return typeof t === 'string' && TOPIC_RE.test(t)
}

interface Client { ws: WebSocket; topics: Set<string>; queue: LiveMessage[]; lastSeq: number; replaying: boolean }

/**
 * Fans the shared live feed out to this process's WebSocket clients. One poller per process reads new feed entries
 * and each client gets, once per tick, one batch frame with the messages of its topics (frames stay under 64 KB).
 */
export class LiveHub {
  private readonly clients = new Set<Client>()
  private cursor = -1
  private timer: NodeJS.Timeout | null = null
  private polling = false

  constructor (private readonly feed: LiveFeed, private readonly log: FastifyInstance['log'], private readonly tickMs = 100) {}

  get size (): number { return this.clients.size }

  async start (): Promise<void> {
    this.cursor = await this.feed.top()
    this.timer = setInterval(() => { void this.poll() }, this.tickMs)
    this.timer.unref()
  }

  stop (): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    for (const c of this.clients) c.ws.close(1001, 'server shutting down')
    this.clients.clear()
  }

  private async poll (): Promise<void> {
    if (this.polling || this.clients.size === 0) {
      if (this.clients.size === 0 && !this.polling) this.cursor = -1 // re-anchor when someone connects again
      return
    }
    this.polling = true
    try {
      if (this.cursor < 0) this.cursor = await this.feed.top()
      for (let i = 0; i < 10; i++) {
        const msgs = await this.feed.after(this.cursor, 500)
        if (msgs.length === 0) break
        this.cursor = msgs[msgs.length - 1]!.seq
        for (const c of this.clients) for (const m of msgs) if (m.topics.some((t) => c.topics.has(t))) c.queue.push(m)
        if (msgs.length < 500) break
      }
      for (const c of this.clients) this.flush(c)
    } catch (err) {
      this.log.warn({ err }, 'live feed poll failed')
    } finally {
      this.polling = false
    }
  }

  private send (c: Client, frame: Record<string, unknown>): void {
    if (c.ws.readyState !== c.ws.OPEN) return
    if (c.ws.bufferedAmount > SLOW_CONSUMER_BYTES) {
      // the close frame waits behind everything buffered; a client that never reads again is cut off for good
      c.ws.close(1008, 'slow consumer')
      setTimeout(() => { c.ws.terminate() }, 5000).unref()
      this.clients.delete(c)
      return
    }
    c.ws.send(JSON.stringify(frame))
  }

  private flush (c: Client): void {
    if (c.queue.length === 0 || c.replaying) return
    // in seq order, each message once, never one the client already has
    const seen = new Set<number>()
    c.queue = c.queue.sort((a, b) => a.seq - b.seq).filter((m) => m.seq > c.lastSeq && !seen.has(m.seq) && seen.add(m.seq) !== undefined)
    let batch: LiveMessage[] = []
    let size = 0
    const emit = (): void => {
      if (batch.length === 0) return
      this.send(c, { type: 'batch', lastSeq: batch[batch.length - 1]!.seq, messages: batch })
      batch = []
      size = 0
    }
    for (const m of c.queue) {
      let msg = m
      let bytes = Buffer.byteLength(JSON.stringify(m))
      if (bytes > MAX_FRAME_BYTES - 200) {
        msg = { ...m, data: { truncated: true, leadId: m.data.leadId ?? null } }
        bytes = Buffer.byteLength(JSON.stringify(msg))
      }
      // count every message's real size (plus its separating comma): the envelope keeps 200 bytes of the 64 KB
      if (size + bytes + 1 > MAX_FRAME_BYTES - 200) emit()
      batch.push(msg)
      size += bytes + 1
      c.lastSeq = m.seq
    }
    emit()
    c.queue = []
  }

  /** Registers a connected socket and handles its subscribe/unsubscribe/ping messages. */
  attach (ws: WebSocket, initial: { topics: string[]; since: number | null }): void {
    const client: Client = { ws, topics: new Set(), queue: [], lastSeq: 0, replaying: false }
    this.clients.add(client)
    const subscribe = async (topics: unknown, since: unknown): Promise<void> => {
      if (!Array.isArray(topics) || topics.length > MAX_TOPICS || !topics.every(validTopic)) {
        this.send(client, { type: 'error', code: 'LS_ERR_VALIDATION', message: `topics must be up to ${MAX_TOPICS} of leaderboard, events, jobs, rulesets, webhooks, backtests, uploads, lead:<id>, job:<id>, backtest:<id>, upload:<id>` })
        return
      }
      const replay = typeof since === 'number' && Number.isInteger(since) && since >= 0
      if (this.cursor < 0) this.cursor = await this.feed.top()
      // From here to the replay's end, the poller queues this client's new messages without sending them. The topics
      // are set before the replay reads the feed, so every message is either read by the replay (it existed by then)
      // or dispatched by the poller afterwards; flush() sorts and drops the ones that arrive both ways.
      if (replay) client.replaying = true
      for (const t of topics) client.topics.add(t)
      const upto = this.cursor
      this.send(client, { type: 'subscribed', topics: [...client.topics], lastSeq: upto })
      if (!replay) return
      try {
        const oldest = await this.feed.oldest()
        if (oldest > since + 1) this.send(client, { type: 'reset', reason: 'messages after this seq are no longer kept; reload state', oldest })
        const missed = (await this.feed.after(since, REPLAY_LIMIT)).filter((m) => m.topics.some((t) => topics.includes(t)))
        client.queue.unshift(...missed)
      } finally {
        client.replaying = false
      }
      this.flush(client)
    }
    ws.on('message', (data, isBinary) => {
      if (isBinary) { this.send(client, { type: 'error', code: 'LS_ERR_VALIDATION', message: 'send JSON text frames' }); return }
      let msg: unknown
      try { msg = JSON.parse(data.toString()) } catch { this.send(client, { type: 'error', code: 'LS_ERR_MALFORMED_JSON', message: 'not JSON' }); return }
      if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) { this.send(client, { type: 'error', code: 'LS_ERR_VALIDATION', message: 'send an object with op' }); return }
      const { op, topics, since } = msg as Record<string, unknown>
      if (Object.prototype.hasOwnProperty.call(msg, '__proto__')) { this.send(client, { type: 'error', code: 'LS_ERR_FORBIDDEN_KEY', message: '__proto__ is not allowed' }); return }
      if (op === 'subscribe') void subscribe(topics, since).catch((err: unknown) => this.log.warn({ err }, 'subscribe failed'))
      else if (op === 'unsubscribe' && Array.isArray(topics)) { for (const t of topics) if (typeof t === 'string') client.topics.delete(t); this.send(client, { type: 'unsubscribed', topics: [...client.topics] }) }
      else if (op === 'ping') this.send(client, { type: 'pong' })
      else this.send(client, { type: 'error', code: 'LS_ERR_VALIDATION', message: 'op must be subscribe, unsubscribe or ping' })
    })
    ws.on('close', () => { this.clients.delete(client) })
    ws.on('error', () => { this.clients.delete(client) })
    if (initial.topics.length > 0) void subscribe(initial.topics, initial.since ?? undefined).catch((err: unknown) => this.log.warn({ err }, 'subscribe failed'))
  }
}
