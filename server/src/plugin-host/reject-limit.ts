/**
 * Caps how many refused, unauthenticated deliveries (bad signature, missing headers) are stored per source and client
 * address in a window. Anyone can send those, so without a cap a flood fills the rejects collection; past the cap a
 * refusal is still counted in the source's counters, but not stored.
 */

/** Stored refusals per source and client address per window. */
export const REJECTS_PER_WINDOW = 20
export const REJECT_WINDOW_MS = 60_000
/** Most (source, address) windows remembered at once; past it, refusals from new addresses are not stored either. */
const MAX_KEYS = 10_000

interface Window { start: number; stored: number; dropped: number }

export interface RejectAdmission {
  /** Store this refusal. */
  store: boolean
  /** The first refusal not stored in its window (log it once). */
  firstDropped: boolean
}

export function createRejectLimiter (perWindow = REJECTS_PER_WINDOW, windowMs = REJECT_WINDOW_MS) {
  const windows = new Map<string, Window>()

  function prune (nowMs: number): void {
    for (const [k, w] of windows) if (nowMs - w.start >= windowMs) windows.delete(k)
  }

  return {
    admit (sourceId: string, address: string, nowMs: number): RejectAdmission {
      const key = `${sourceId}|${address}`
      let w = windows.get(key)
      if (w !== undefined && nowMs - w.start >= windowMs) { windows.delete(key); w = undefined }
      if (w === undefined) {
        if (windows.size >= MAX_KEYS) prune(nowMs)
        // a flood from very many addresses: keep the memory bounded and store nothing new until windows expire
        if (windows.size >= MAX_KEYS) return { store: false, firstDropped: false }
        w = { start: nowMs, stored: 0, dropped: 0 }
        windows.set(key, w)
      }
      if (w.stored < perWindow) { w.stored++; return { store: true, firstDropped: false } }
      w.dropped++
      return { store: false, firstDropped: w.dropped === 1 }
    },
  }
}
