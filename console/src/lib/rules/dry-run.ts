// The dry-run form's events text → request events (pure; tested by test/console/logic.test.ts).
import type { EventInput } from '../api/types.js'

/** Stands in for the lead of pasted events that name none (a dry run stores nothing). */
export const DRY_RUN_LEAD = { externalId: 'dry-run' } as const

export const EVENTS_EXAMPLE = JSON.stringify([
  { type: 'page_view', properties: { path: '/pricing' }, occurredAt: '2025-01-06T10:00:00Z' },
  { type: 'demo_request', occurredAt: '2025-01-07T09:30:00Z' },
], null, 2)

const MAX_EVENTS = 1000

/**
 * Events from a JSON array, a single JSON object, or NDJSON (one object per line). Each needs a `type`; a missing
 * `lead` becomes {@link DRY_RUN_LEAD}. Errors name the event (1-based) and what is wrong.
 */
export function parseEventsText (text: string): { events: EventInput[]; error: null } | { events: null; error: string } {
  const t = text.trim()
  if (t === '') return { events: null, error: 'Paste at least one event' }
  let values: unknown[]
  try {
    const v: unknown = JSON.parse(t)
    values = Array.isArray(v) ? v : [v]
  } catch (err) {
    const lines = t.split('\n').map((l) => l.trim()).filter((l) => l !== '')
    if (lines.length < 2) return { events: null, error: `Not valid JSON: ${(err as Error).message}` }
    values = []
    for (const [i, line] of lines.entries()) {
      try { values.push(JSON.parse(line)) } catch (e) { return { events: null, error: `Line ${i + 1} is not valid JSON: ${(e as Error).message}` } }
    }
  }
  if (values.length === 0) return { events: null, error: 'Paste at least one event' }
  if (values.length > MAX_EVENTS) return { events: null, error: `At most ${MAX_EVENTS} events per dry run (got ${values.length})` }
  const events: EventInput[] = []
  for (const [i, v] of values.entries()) {
    const n = `Event ${i + 1}`
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return { events: null, error: `${n} must be a JSON object` }
    const o = v as Record<string, unknown>
    if (typeof o.type !== 'string' || o.type.trim() === '') return { events: null, error: `${n} needs a "type" (a non-empty string)` }
    if (o.lead !== undefined && (o.lead === null || typeof o.lead !== 'object' || Array.isArray(o.lead))) return { events: null, error: `${n}: "lead" must be an object` }
    if (o.properties !== undefined && (o.properties === null || typeof o.properties !== 'object' || Array.isArray(o.properties))) return { events: null, error: `${n}: "properties" must be an object` }
    if (o.occurredAt !== undefined && (typeof o.occurredAt !== 'string' || Number.isNaN(Date.parse(o.occurredAt)))) return { events: null, error: `${n}: "occurredAt" must be an ISO date-time` }
    events.push({ ...o, lead: (o.lead as EventInput['lead'] | undefined) ?? { ...DRY_RUN_LEAD } } as EventInput)
  }
  return { events, error: null }
}
