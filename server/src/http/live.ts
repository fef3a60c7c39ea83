import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import type { LiveFeed, LiveMessage } from '../domain/live/live-feed.js'
import { credentialKey, type LiveCredential } from '../domain/live/credentials.js'

const TOPIC_RE = /^(leaderboard|events|jobs|rulesets|webhooks|backtests|uploads|lead:[A-Za-z0-9_]{1,64}|job:[A-Za-z0-9_]{1,64}|backtest:[A-Za-z0-9_]{1,64}|upload:[A-Za-z0-9_]{1,64})$/
export const MAX_FRAME_BYTES = 64 * 1024
const MAX_TOPICS = 100
const SLOW_CONSUMER_BYTES = 4 * 1024 * 1024
const REPLAY_LIMIT = 5000
/** The close code of a connection whose credential ended (sign-out, expiry, user disabled, key revoked). */
export const CLOSE_UNAUTHORIZED = 4401

/** Of the credentials given, the credentialKeys of those still valid for the live feed. */
export type CredentialCheck = (creds: LiveCredential[]) => Promise<Set<string>>

export function validTopic (t: unknown): t is string {
  return typeof t === 'string' && TOPIC_RE.test(t)
}

interface Client { ws: WebSocket; credential: LiveCredential; topics: Set<string>; queue: LiveMessage[]; lastSeq: number; replaying: boolean }

/**
 * Fans the shared live feed out to this process's WebSocket clients. One poller per process reads new feed entries
 * and each client gets, once per tick, one batch frame with the messages of its topics (frames stay under 64 KB).
 */
export class LiveHub {
  private readonly clients = new Set<Client>()
  private cursor = -1
  private timer: NodeJS.Timeout | null = null
  private polling = false
  private check: CredentialCheck | null = null
  private checkTimer: NodeJS.Timeout | null = null
  private checking: Promise<void> | null = null
  private checkQueued: Promise<void> | null = null

  /** A poll was asked for while one ran: run another right after it. */
  private pollAgain = false

  constructor (private readonly feed: LiveFeed, private readonly log: FastifyInstance['log'], private readonly tickMs = 100) {
    // messages stored by this process (its own scoring batches) go out at once; others' wait for the next tick
    feed.onStored(() => { if (this.timer !== null) void this.poll() })
  }

  get size (): number { return this.clients.size }

  async start (): Promise<void> {
    this.cursor = await this.feed.top()
    this.timer = setInterval(() => { void this.poll() }, this.tickMs)
    this.timer.unref()
  }

  stop (): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    if (this.checkTimer !== null) clearInterval(this.checkTimer)
    this.checkTimer = null
    for (const c of this.clients) c.ws.close(1001, 'server shutting down')
    this.clients.clear()
  }

  private async poll (): Promise<void> {
    if (this.polling) { this.pollAgain = true; return }
    if (this.clients.size === 0) {
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
      if (this.pollAgain) { this.pollAgain = false; void this.poll() }
    }
  }

  /**
   * Re-checks every connection's credential with `check` every `everyMs`, and closes (4401) those whose credential
   * ended: a sign-out, a disabled user or a revoked key in another process shows up here within that bound.
   */
  guard (check: CredentialCheck, everyMs = 2000): void {
    this.check = check
    if (this.checkTimer !== null) clearInterval(this.checkTimer)
    this.checkTimer = setInterval(() => { void this.revalidate() }, everyMs)
    this.checkTimer.unref()
  }

  /**
   * Re-checks the credentials now (this process just ended some). Resolves after a check that started after the
   * call; calls while one runs share one more check after it.
   */
  async revalidate (): Promise<void> {
    if (this.checking === null) {
      this.checking = this.checkOnce().finally(() => { this.checking = null })
      return await this.checking
    }
    this.checkQueued ??= this.checking.then(async () => { this.checkQueued = null; await this.revalidate() })
    return await this.checkQueued
  }

  private async checkOnce (): Promise<void> {
    if (this.check === null || this.clients.size === 0) return
    const creds = new Map<string, LiveCredential>()
    for (const c of this.clients) creds.set(credentialKey(c.credential), c.credential)
    let valid: Set<string>
    try {
      valid = await this.check([...creds.values()])
    } catch (err) {
      // an unreachable database revokes nothing either; the next check tries again
      this.log.warn({ err }, 'live credential check failed')
      return
    }
    // only connections whose credential was checked: one that arrived meanwhile waits for the next check
    for (const c of this.clients) {
      const k = credentialKey(c.credential)
      if (creds.has(k) && !valid.has(k)) this.end(c, CLOSE_UNAUTHORIZED, 'the session or key is no longer valid; authenticate again')
    }
  }

  /** Closes a connection with a code and reason; one whose peer does not answer the close is dropped after 5 s. */
  private end (c: Client, code: number, reason: string): void {
    this.clients.delete(c)
    c.ws.close(code, reason)
    setTimeout(() => { c.ws.terminate() }, 5000).unref()
  }

  private send (c: Client, frame: Record<string, unknown>): void {
    if (c.ws.readyState !== c.ws.OPEN) return
    if (c.ws.bufferedAmount > SLOW_CONSUMER_BYTES) {
      // the close frame waits behind everything buffered; a client that never reads again is cut off for good
      this.end(c, 1008, 'slow consumer')
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

  /** Registers a connected socket, opened with `credential`, and handles its subscribe/unsubscribe/ping messages. */
  attach (ws: WebSocket, initial: { topics: string[]; since: number | null; credential: LiveCredential }): void {
    const client: Client = { ws, credential: initial.credential, topics: new Set(), queue: [], lastSeq: 0, replaying: false }
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
      else if (op === 'unsubscribe' && Array.isArray(topics)) {
        for (const t of topics) if (typeof t === 'string') client.topics.delete(t)
        this.send(client, { type: 'unsubscribed', topics: [...client.topics] })
      } else if (op === 'ping') this.send(client, { type: 'pong' })
      else this.send(client, { type: 'error', code: 'LS_ERR_VALIDATION', message: 'op must be subscribe, unsubscribe or ping' })
    })
    ws.on('close', () => { this.clients.delete(client) })
    ws.on('error', () => { this.clients.delete(client) })
    if (initial.topics.length > 0) void subscribe(initial.topics, initial.since ?? undefined).catch((err: unknown) => this.log.warn({ err }, 'subscribe failed'))
  }
}
