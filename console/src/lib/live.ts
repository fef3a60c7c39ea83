// The /v1/live protocol on the client side (pure; tested by test/console/logic.test.ts).
import type { LeadScoredData, LiveFrame, LiveMessage } from './api/types.js'

/** Typed payloads per live message type. */
export interface LiveEvents {
  'lead.scored': LeadScoredData
  'ruleset.published': { version: number }
  /** Re-scores, backtests and model training (kind `train-model`, with its `phase`) send done/total; uploads (kind `upload`) send their counts instead (see uploadProgressOf). */
  'job.progress': { jobId: string; kind: string; done?: number; total?: number; state?: string; phase?: string }
}

/** Reconnect delay: exponential from 500 ms to 15 s, with ±25 % jitter so clients do not reconnect in step. */
export function backoffMs (attempt: number, random: () => number = Math.random): number {
  const base = Math.min(15_000, 500 * 2 ** Math.max(0, attempt))
  return Math.round(base * (0.75 + random() * 0.5))
}

export function parseFrame (text: string): LiveFrame | null {
  try {
    const v: unknown = JSON.parse(text)
    if (v === null || typeof v !== 'object' || typeof (v as { type?: unknown }).type !== 'string') return null
    return v as LiveFrame
  } catch {
    return null
  }
}

/** Messages of a batch that are new (seq above `lastSeq`), in order. */
export function freshMessages (messages: readonly LiveMessage[], lastSeq: number): LiveMessage[] {
  return messages.filter((m) => m.seq > lastSeq).sort((a, b) => a.seq - b.seq)
}

export function liveUrl (loc: { protocol: string; host: string }): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/v1/live`
}
