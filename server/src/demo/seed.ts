import { readFileSync } from 'node:fs'
import { resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Core } from '../domain/core.js'

const here = dirname(fileURLToPath(import.meta.url))
/** fixtures/demo lives at the repository root. */
export const DEMO_FILE = resolve(here, '..', '..', '..', 'fixtures', 'demo', 'events.json')

interface DemoFile { leads: Array<{ email: string; name: string; company: string; attributes: Record<string, unknown> }>; events: Array<{ lead: number; type: string; daysAgo: number; minute: number; properties?: Record<string, unknown> }> }

/**
 * Seeds demo leads and a few days of events (times relative to now) when the database holds no leads yet.
 * Goes through the normal ingest path, so the demo is scored like real data. Returns the number of events ingested.
 */
export async function seedDemo (core: Core, file = DEMO_FILE): Promise<number> {
  if (await core.c.leads.estimatedDocumentCount() > 0) return 0
  const demo = JSON.parse(readFileSync(file, 'utf8')) as DemoFile
  const now = core.now().getTime()
  const inputs = demo.events.map((e, i) => {
    const l = demo.leads[e.lead]!
    return {
      externalId: `demo-${i}`,
      lead: { email: l.email, name: l.name, company: l.company, attributes: l.attributes },
      type: e.type,
      occurredAt: new Date(now - e.daysAgo * 86_400_000 - e.minute * 60_000).toISOString(),
      properties: e.properties ?? {},
    }
  })
  let n = 0
  for (let i = 0; i < inputs.length; i += 500) {
    const r = await core.ingest.ingest(inputs.slice(i, i + 500), { sourceId: 'demo', requestId: 'demo-seed' })
    n += r.accepted
  }
  return n
}
