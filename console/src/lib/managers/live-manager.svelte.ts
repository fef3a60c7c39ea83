import { backoffMs, freshMessages, liveUrl, parseFrame, type LiveEvents } from '../live.js'
import type { LiveMessage } from '../api/types.js'

type Status = 'idle' | 'connecting' | 'open' | 'reconnecting'
type Handler<K extends keyof LiveEvents> = (data: LiveEvents[K], message: LiveMessage) => void

/**
 * One WebSocket to /v1/live for the whole console. Views subscribe to topics (reference-counted) and listen to typed
 * message types. After a drop it reconnects with backoff and re-subscribes with `since` = the last seq it saw, so the
 * server replays what was missed; when the server can no longer replay (`reset`), `onReset` listeners reload.
 */
class LiveManager {
  status = $state<Status>('idle')
  lastSeq = $state(0)
  // the feed's newest seq when we first subscribed: where a reconnect resumes if no message came yet
  private anchor = 0
  private ws: WebSocket | null = null
  private attempt = 0
  private timer: ReturnType<typeof setTimeout> | null = null
  private readonly topics = new Map<string, number>()
  private readonly handlers = new Map<keyof LiveEvents, Set<(data: never, m: LiveMessage) => void>>()
  private readonly resetHandlers = new Set<() => void>()
  private wanted = false

  /** Listens to one message type; returns the function that stops listening. */
  on<K extends keyof LiveEvents> (type: K, fn: Handler<K>): () => void {
    let set = this.handlers.get(type)
    // a registry of listeners, not state any view renders: it need not be reactive
    // eslint-disable-next-line svelte/prefer-svelte-reactivity
    if (set === undefined) this.handlers.set(type, set = new Set())
    const h = fn as unknown as (data: never, m: LiveMessage) => void
    set.add(h)
    return () => { set.delete(h) }
  }

  /** Called when messages were lost for good (the view should reload its data). */
  onReset (fn: () => void): () => void {
    this.resetHandlers.add(fn)
    return () => { this.resetHandlers.delete(fn) }
  }

  /** Subscribes to topics while the returned function is not called; opens the socket if needed. */
  subscribe (topics: string[]): () => void {
    const added = topics.filter((t) => {
      const n = this.topics.get(t) ?? 0
      this.topics.set(t, n + 1)
      return n === 0
    })
    this.connect()
    if (added.length > 0) this.send({ op: 'subscribe', topics: added })
    let done = false
    return () => {
      if (done) return
      done = true
      const removed = topics.filter((t) => {
        const n = (this.topics.get(t) ?? 1) - 1
        if (n <= 0) this.topics.delete(t); else this.topics.set(t, n)
        return n <= 0
      })
      if (removed.length > 0) this.send({ op: 'unsubscribe', topics: removed })
    }
  }

  connect (): void {
    this.wanted = true
    if (this.ws !== null || this.timer !== null || typeof WebSocket === 'undefined') return
    this.status = this.attempt === 0 ? 'connecting' : 'reconnecting'
    const ws = new WebSocket(liveUrl(location))
    this.ws = ws
    ws.onopen = () => {
      this.attempt = 0
      this.status = 'open'
      const topics = [...this.topics.keys()]
      const since = Math.max(this.lastSeq, this.anchor)
      if (topics.length > 0) this.send({ op: 'subscribe', topics, ...(since > 0 ? { since } : {}) })
    }
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data !== 'string') return
      const frame = parseFrame(e.data)
      if (frame === null) return
      if (frame.type === 'subscribed') {
        if (this.anchor === 0) this.anchor = frame.lastSeq
      } else if (frame.type === 'reset') {
        for (const fn of this.resetHandlers) fn()
      } else if (frame.type === 'batch') {
        for (const m of freshMessages(frame.messages, this.lastSeq)) {
          this.lastSeq = m.seq
          const set = this.handlers.get(m.type as keyof LiveEvents)
          if (set !== undefined) for (const fn of set) fn(m.data as never, m)
        }
      }
    }
    ws.onclose = () => {
      if (this.ws === ws) this.ws = null
      if (!this.wanted) { this.status = 'idle'; return }
      this.status = 'reconnecting'
      this.timer = setTimeout(() => { this.timer = null; this.connect() }, backoffMs(this.attempt++))
    }
  }

  /** Closes the socket (on sign-out); subscriptions are kept for the next connect. */
  disconnect (): void {
    this.wanted = false
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.ws?.close(1000, 'signed out')
    this.ws = null
    this.status = 'idle'
    this.attempt = 0
    this.lastSeq = 0
    this.anchor = 0
  }

  private send (msg: Record<string, unknown>): void {
    if (this.ws !== null && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg))
  }
}

export const live = new LiveManager()
