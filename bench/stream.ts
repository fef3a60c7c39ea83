// What the scoring benchmarks send and what they hold scoring to, shared so that bench/scoring.ts and bench/floor.ts
// measure against the same raw limit: the stream's events (as a client sends them) and a raw `insertMany` of as many
// event-sized documents in batches of 100, 4 at a time.
import { randomBytes } from 'node:crypto'
import { openDatabase } from '../server/src/infra/db.js'

export const TYPES = ['page_view', 'email_open', 'form_submit'] as const
/** Events per request and requests at once, for the streams and for the raw limit. */
export const BATCH = 100
export const CONCURRENCY = 4

/** Who a stream's events name: `leads` leads, known only by an external id or by email. */
export interface StreamShape { leads: number; identity: 'externalId' | 'email' }

/** The `i`-th event of a stream, as a client sends it to /v1/events. */
export function streamEvent (run: string, i: number, s: StreamShape): Record<string, unknown> {
  const lead = i % s.leads
  return {
    externalId: `${run}-${i}`,
    lead: s.identity === 'email' ? { email: `lead${lead}@bench.example`, name: `Lead ${lead}` } : { externalId: `crm-${lead}` },
    type: TYPES[i % TYPES.length],
    occurredAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    properties: { path: '/pricing', campaign: 'spring', utm: { source: 'newsletter', medium: 'email' } },
  }
}

/** Raw `insertMany` of `n` event-sized documents of stream `s` (documents per second): the limit scoring is held to. */
export async function rawInsertMany (uri: string, n: number, s: StreamShape): Promise<number> {
  const db = await openDatabase(uri, `bench_raw_${randomBytes(4).toString('hex')}`)
  try {
    const col = db.db.collection('raw')
    const docs = Array.from({ length: n }, (_, i) => ({ _id: `r${i}`, ...streamEvent('raw', i, s), leadId: `ld_${i % 1000}`, seq: i, status: 'pending', receivedAt: new Date() }))
    const t0 = performance.now()
    let next = 0
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < docs.length) {
        const part = docs.slice(next, next + BATCH)
        next += BATCH
        await col.insertMany(part as never, { ordered: false })
      }
    }))
    return n / ((performance.now() - t0) / 1000)
  } finally {
    await db.db.dropDatabase().catch(() => undefined)
    await db.close()
  }
}
