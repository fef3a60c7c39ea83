// An INDEPENDENT re-implementation of the default scoring model, written from the rules as stated (not imported from
// the server), plus event-stream generators and the checks that compare a lead's stored state and ledger with it.
import { createHash } from 'node:crypto'
import fc from 'fast-check'

/** Points per event type of the default ruleset; 'reset' sets every part to 0. */
export const RULE_POINTS: Record<string, number | 'reset'> = {
  email_open: 10,
  page_view: 5,
  form_submit: 20,
  demo_request: 50,
  purchase: 100,
  email_bounced: -10,
  marked_spam: -50,
  unsubscribed: 'reset',
}
export const EVENT_TYPES = Object.keys(RULE_POINTS)
export const CAP = 1000
export const FLOOR = 0

interface StageDef { name: string; min: number; exitBelow: number }
// Stages with hysteresis: a lead leaves a stage downwards only when the total falls below its exit threshold.
const STAGES: StageDef[] = [
  { name: 'Cold', min: 0, exitBelow: 0 },
  { name: 'Nurture', min: 20, exitBelow: 20 },
  { name: 'MQL', min: 50, exitBelow: 40 },
  { name: 'SQL', min: 100, exitBelow: 80 },
]

export function nextStage (total: number, current: string): string {
  let target = 0
  STAGES.forEach((s, i) => { if (total >= s.min) target = i })
  const cur = STAGES.findIndex((s) => s.name === current)
  if (cur > target) {
    // falling: stay as high as the exit thresholds allow
    for (let i = cur; i > target; i--) if (total >= STAGES[i]!.exitBelow) return STAGES[i]!.name
  }
  return STAGES[target]!.name
}

/** The canonical tie-break: sha256(sourceId + "\n" + externalId), first 20 hex characters. */
export function tieBreak (sourceId: string, externalId: string): string {
  return createHash('sha256').update(`${sourceId}\n${externalId}`).digest('hex').slice(0, 20)
}

export interface ModelEvent { key: string; type: string; occurredAt: Date; sourceId: string; externalId: string }
export interface ModelEntry { key: string; type: string; before: number; after: number; delta: number; stage: string }
export interface ModelResult { total: number; engagement: number; fit: number; intent: number; stage: string; entries: ModelEntry[]; capHits: number; floorHits: number; resets: number }

export function canonicalSort<T extends ModelEvent> (events: readonly T[]): T[] {
  const withKey = events.map((e) => ({ e, t: e.occurredAt.getTime(), tb: tieBreak(e.sourceId, e.externalId) }))
  withKey.sort((a, b) => a.t - b.t || (a.tb < b.tb ? -1 : a.tb > b.tb ? 1 : 0))
  return withKey.map((x) => x.e)
}

/** Scores a lead's unique events in canonical order. Every default rule adds to engagement; the total is bounded. */
export function scoreModel (events: readonly ModelEvent[]): ModelResult {
  let total = 0
  let stage = 'Cold'
  let capHits = 0; let floorHits = 0; let resets = 0
  const entries: ModelEntry[] = []
  for (const e of canonicalSort(events)) {
    const rule = RULE_POINTS[e.type]
    if (rule === undefined) continue
    const before = total
    if (rule === 'reset') {
      total = 0
      resets++
    } else {
      const wanted = total + rule
      total = Math.min(CAP, Math.max(FLOOR, wanted))
      if (wanted > CAP) capHits++
      if (wanted < FLOOR) floorHits++
    }
    stage = nextStage(total, stage)
    entries.push({ key: e.key, type: e.type, before, after: total, delta: total - before, stage })
  }
  return { total, engagement: total, fit: 0, intent: 0, stage, entries, capHits, floorHits, resets }
}

// ---------------------------------------------------------------------------------------------------------------
// Generated event streams

/** An event as generated: the JSON body to submit and a stable key identifying it in the test. */
export interface GenEvent { key: string; lead: string; body: { externalId?: string; lead: { email: string }; type: string; occurredAt: string; properties: Record<string, unknown> } }

const BASE = Date.UTC(2025, 0, 6, 0, 0, 0)

const typeArb = (profile: 'mixed' | 'buyer'): fc.Arbitrary<string> => profile === 'buyer'
  ? fc.oneof(
      { weight: 12, arbitrary: fc.constant('purchase') },
      { weight: 2, arbitrary: fc.constant('marked_spam') },
      { weight: 1, arbitrary: fc.constant('unsubscribed') },
      { weight: 3, arbitrary: fc.constantFrom('email_open', 'page_view', 'form_submit', 'demo_request', 'email_bounced') },
    )
  : fc.oneof(
      { weight: 4, arbitrary: fc.constant('purchase') },
      { weight: 3, arbitrary: fc.constantFrom('email_bounced', 'marked_spam') },
      { weight: 1, arbitrary: fc.constant('unsubscribed') },
      { weight: 8, arbitrary: fc.constantFrom('email_open', 'page_view', 'form_submit', 'demo_request') },
    )

/** One lead's raw events: type, hour slot over four days (ties are common), ms jitter, whether the source gave an id. */
const leadArb = (minEvents: number, maxEvents: number) => fc.constantFrom<'mixed' | 'buyer'>('mixed', 'buyer').chain((profile) =>
  fc.array(fc.record({
    type: typeArb(profile),
    hour: fc.integer({ min: 0, max: 95 }),
    jitter: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 999 })),
    withId: fc.boolean(),
  }), { minLength: minEvents, maxLength: maxEvents }))

export interface Scenario { leads: Array<Array<{ type: string; hour: number; jitter: number; withId: boolean }>>; seed: number }

export function scenarioArb (opts: { minLeads?: number; maxLeads?: number; minEvents?: number; maxEvents?: number } = {}): fc.Arbitrary<Scenario> {
  return fc.record({
    leads: fc.array(leadArb(opts.minEvents ?? 5, opts.maxEvents ?? 60), { minLength: opts.minLeads ?? 3, maxLength: opts.maxLeads ?? 6 }),
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
  })
}

/** Turns a scenario into unique events; `prefix` keeps leads and ids distinct between runs on one database. */
export function materialize (s: Scenario, prefix: string): GenEvent[] {
  const out: GenEvent[] = []
  s.leads.forEach((evs, li) => {
    const email = `${prefix}-lead${li}@example.com`
    evs.forEach((e, i) => {
      const key = `${prefix}-l${li}-e${i}`
      const body: GenEvent['body'] = {
        lead: { email }, type: e.type, occurredAt: new Date(BASE + e.hour * 3_600_000 + e.jitter).toISOString(), properties: { n: i },
      }
      if (e.withId) body.externalId = key
      out.push({ key, lead: email, body })
    })
  })
  return out
}

/** A small deterministic PRNG (mulberry32), so shuffles and chunking follow the fast-check seed. */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function shuffle<T> (items: readonly T[], rnd: () => number): T[] {
  const a = [...items]
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    const x = a[i]!; a[i] = a[j]!; a[j] = x
  }
  return a
}

/** Shuffled, with ~20% of the events submitted a second time, cut into single-event and batch requests. */
export function plan (events: readonly GenEvent[], rnd: () => number, dupRate = 0.2): Array<GenEvent | GenEvent[]> {
  const withDups = [...events]
  for (const e of events) if (rnd() < dupRate) withDups.push(e)
  const order = shuffle(withDups, rnd)
  const requests: Array<GenEvent | GenEvent[]> = []
  let i = 0
  while (i < order.length) {
    if (rnd() < 0.35) { requests.push(order[i]!); i++; continue }
    const n = 1 + Math.floor(rnd() * 25)
    requests.push(order.slice(i, i + n))
    i += n
  }
  return requests
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R> (items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!, i)
    }
  }))
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Recency weights and fit rules, as the rules language states them (docs/dsl.md)

const DAY_MS = 86_400_000

/** `weighted P1% within D1, P2% within D2, …, Q%` for an event `ageDays` old on arrival: the points it scores. */
export function recencyModel (points: number, ageDays: number, tiers: ReadonlyArray<[percent: number, withinDays: number]>, otherwise = 0): number {
  const hit = tiers.find(([, d]) => ageDays * DAY_MS <= d * DAY_MS)
  return Math.round(points * (hit === undefined ? otherwise : hit[0]) / 100)
}

export interface FitModelRule { id: string; points: number; matches: (attributes: Record<string, unknown>) => boolean }

/**
 * Fit as a function of the attributes: events in event-time order each carry (or not) attributes that merge into
 * the lead's; after each, every fit rule holds its points exactly while it matches. Returns the fit change of each
 * event with the rules it added and removed (fit uncapped, no other rules).
 */
export function fitModel (events: ReadonlyArray<{ at: number; attributes?: Record<string, unknown> }>, rules: readonly FitModelRule[]): Array<{ delta: number; added: string[]; removed: string[] }> {
  let attributes: Record<string, unknown> = {}
  const holding = new Set<string>()
  return [...events].sort((a, b) => a.at - b.at).map((e) => {
    attributes = { ...attributes, ...(e.attributes ?? {}) }
    let delta = 0
    const added: string[] = []
    const removed: string[] = []
    for (const r of rules) {
      const now = r.matches(attributes)
      if (now && !holding.has(r.id)) { holding.add(r.id); delta += r.points; added.push(r.id) }
      if (!now && holding.has(r.id)) { holding.delete(r.id); delta -= r.points; removed.push(r.id) }
    }
    return { delta, added, removed }
  })
}
