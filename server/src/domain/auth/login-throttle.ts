// Sign-in throttling. Attempts are counted when they start, before the password is hashed: an attempt still being
// checked counts like a failure, so a burst of parallel guesses is throttled as it arrives instead of being checked
// in full and counted afterwards.

export interface ThrottleLimits { perAccount: number; perAddress: number; windowMs: number }

/** 5 attempts per (client address, email) and 50 per client address within 15 minutes. */
export const LOGIN_LIMITS: Readonly<ThrottleLimits> = Object.freeze({ perAccount: 5, perAddress: 50, windowMs: 15 * 60_000 })

/** One admitted attempt; exactly one of its methods is called when it ends. */
export interface LoginAttempt {
  /** The password was wrong (or the user unknown or disabled): the attempt stays counted. */
  failed(): void
  /** Signed in: the email's earlier failures from this address are forgotten. */
  succeeded(): void
  /** The password was never checked (server busy, database error): the attempt does not count. */
  abandoned(): void
}

interface Entry { at: number; pending: boolean }

// past this many keys, expired ones are swept; the map stays bounded under a flood of addresses and emails
const MAX_KEYS = 50_000

/**
 * Counts sign-in attempts per (client address, email) and per client address over a sliding window. It lives in
 * memory: each server process throttles on its own, which bounds guessing per process without a shared store.
 */
export class LoginThrottle {
  private readonly entries = new Map<string, Entry[]>()
  constructor (private readonly clock: () => number, private readonly limits: ThrottleLimits = LOGIN_LIMITS) {}

  private keys (address: string, email: string): Array<[string, number]> {
    return [[`${address}|${email}`, this.limits.perAccount], [address, this.limits.perAddress]]
  }

  /** The key's attempts within the window, in start order (one still running after a whole window is forgotten). */
  private recent (key: string): Entry[] {
    const since = this.clock() - this.limits.windowMs
    const list = (this.entries.get(key) ?? []).filter((e) => e.at > since)
    if (list.length === 0) this.entries.delete(key)
    else this.entries.set(key, list)
    return list
  }

  private remove (key: string, drop: (e: Entry) => boolean): void {
    const list = this.entries.get(key)
    if (list === undefined) return
    const kept = list.filter((e) => !drop(e))
    if (kept.length === 0) this.entries.delete(key)
    else this.entries.set(key, kept)
  }

  /** Seconds the caller must wait before its next attempt, or 0. */
  retryAfter (address: string, email: string): number {
    let blocked = false
    let wait = 0
    for (const [key, max] of this.keys(address, email)) {
      const list = this.recent(key)
      if (list.length < max) continue
      blocked = true
      wait = Math.max(wait, list[list.length - max]!.at + this.limits.windowMs - this.clock())
    }
    return blocked ? Math.max(1, Math.ceil(wait / 1000)) : 0
  }

  /**
   * Admits an attempt and counts it at once, or answers how many seconds to wait. Admission and counting happen in
   * one synchronous step, so parallel requests cannot all pass the check before any of them is counted.
   */
  begin (address: string, email: string): LoginAttempt | { retryAfter: number } {
    const wait = this.retryAfter(address, email)
    if (wait > 0) return { retryAfter: wait }
    if (this.entries.size > MAX_KEYS) this.sweep()
    const keys = this.keys(address, email)
    const accountKey = keys[0]![0]
    const mine = new Map<string, Entry>()
    for (const [key] of keys) {
      const e: Entry = { at: this.clock(), pending: true }
      mine.set(key, e)
      this.entries.set(key, [...this.recent(key), e])
    }
    let ended = false
    const end = (fn: () => void): void => {
      if (ended) return
      ended = true
      fn()
    }
    return {
      failed: () => end(() => {
        for (const e of mine.values()) { e.pending = false; e.at = this.clock() }
      }),
      succeeded: () => end(() => {
        for (const [key, e] of mine) this.remove(key, (x) => x === e)
        // as before: a success forgets this email's failures from this address (attempts still running stay counted)
        this.remove(accountKey, (x) => !x.pending)
      }),
      abandoned: () => end(() => {
        for (const [key, e] of mine) this.remove(key, (x) => x === e)
      }),
    }
  }

  private sweep (): void {
    for (const key of [...this.entries.keys()]) this.recent(key)
    // still too many live keys: forget finished attempts rather than grow without bound
    if (this.entries.size > MAX_KEYS) for (const key of [...this.entries.keys()]) this.remove(key, (e) => !e.pending)
  }
}
