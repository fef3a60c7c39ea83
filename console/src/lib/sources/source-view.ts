// How the Sources pages describe a source: its status, its type, its problems (pure; tested by
// test/console/sources-logic.test.ts).
import type { Source, SourceError, SourceType } from '../api/types.js'

export type Tone = 'success' | 'warning' | 'danger' | 'muted'

/** One word or two for the state of a source, and its colour. */
export function sourceStatus (s: Pick<Source, 'enabled' | 'stats'>): { label: string; tone: Tone } {
  if (!s.enabled) return { label: 'Disabled', tone: 'muted' }
  const { lastPoll, lastError, lastEventAt, lastDeliveryAt } = s.stats
  if (lastPoll?.status === 'failed') return { label: 'Polling stopped', tone: 'danger' }
  if (lastPoll?.status === 'retrying') return { label: 'Retrying', tone: 'warning' }
  if (lastError !== null && (lastEventAt === null || lastError.at > lastEventAt)) return { label: 'Refusing', tone: 'warning' }
  if (lastEventAt === null && lastDeliveryAt === null && lastPoll === null) return { label: 'Waiting', tone: 'muted' }
  return { label: 'Active', tone: 'success' }
}

const TYPE_TITLES: Record<string, string> = {
  webhook: 'Webhook',
  segment: 'Segment-compatible API',
  imap: 'IMAP mailbox',
}

const TYPE_SUMMARIES: Record<string, string> = {
  webhook: 'Signed deliveries from Standard Webhooks senders, Stripe or GitHub.',
  segment: 'Segment SDKs and the HTTP tracking API (track, identify, page, batch…), with a write key.',
  imap: 'Polls a mailbox and turns replies from leads into events.',
}

export function typeTitle (type: string): string {
  return TYPE_TITLES[type] ?? type
}

/** A sentence about a source type: ours are described, others by what they do. */
export function typeSummary (t: Pick<SourceType, 'id' | 'endpoints' | 'polls' | 'batch'>): string {
  const known = TYPE_SUMMARIES[t.id]
  if (known !== undefined) return known
  const parts: string[] = []
  if (t.endpoints.length > 0) parts.push(`receives ${t.endpoints.map((e) => `${e.method} …${e.url.replace('/v1/sources/{id}', '')}`).join(', ')}`)
  if (t.polls !== null) parts.push(`polls (${t.polls})`)
  if (t.batch.length > 0) parts.push(`reads files (${t.batch.join(', ')})`)
  return parts.length === 0 ? '' : parts.join('; ').replace(/^./, (c) => c.toUpperCase()) + '.'
}

/** The type as shown in lists: the webhook's signature scheme with it. */
export function typeLabel (s: Pick<Source, 'type' | 'config'>): string {
  const adapter = s.type === 'webhook' && typeof s.config.adapter === 'string' ? s.config.adapter : null
  return adapter === null ? typeTitle(s.type) : `${typeTitle(s.type)} · ${adapter}`
}

export const PROBLEM_KINDS: Record<SourceError['kind'], string> = {
  delivery: 'Refused delivery',
  event: 'Rejected event',
  failure: 'Failed delivery',
  poll: 'Failed poll',
}

/** Whether a problem has a stored reject to look at. */
export const hasStoredReject = (p: SourceError): boolean => p.requestId !== null && (p.kind === 'delivery' || p.kind === 'event')

/** How long the previous secret keeps working after a rotation. */
export const OVERLAPS: ReadonlyArray<{ seconds: number; label: string }> = [
  { seconds: 0, label: 'Stop it at once (a leaked secret)' },
  { seconds: 3600, label: '1 hour' },
  { seconds: 86_400, label: '1 day' },
  { seconds: 7 * 86_400, label: '7 days' },
]
export const DEFAULT_OVERLAP = 86_400

/** A stored reject's raw text, pretty-printed when it is JSON. */
export function prettyRaw (raw: string): string {
  try { return JSON.stringify(JSON.parse(raw), null, 2) } catch { return raw }
}
