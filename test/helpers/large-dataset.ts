// A large database in seconds: leads, their events, the lead index keys and the counters stored straight through the
// driver, exactly as the scoring commit would have left them (keys and counters computed by the same domain
// functions). Used by bench/scale.ts and the console's test at scale. The data is a pure function of the lead's
// number, the events per lead and `now`, so a test can compute what the pages must show with `leadAt`. No ledger
// entries are stored: a lead's ledger and score trend are empty.
import type { Database } from '../../server/src/infra/db.js'
import { leadIdOf, eventIdOf } from '../../server/src/domain/ids.js'
import { leadKeyOf, ordOf } from '../../server/src/domain/events/normalize.js'
import { initialState } from '../../server/src/domain/scoring/model.js'
import { summaryOf, type LeadSummary } from '../../server/src/domain/lead-views/summary.js'
import { keysOf } from '../../server/src/domain/lead-views/keys.js'
import { addLead, eventIncrements, LEADS_ID, STATUS_ID, type Increments } from '../../server/src/domain/lead-views/counters.js'
import type { EventDoc, LeadDoc } from '../../server/src/domain/types.js'

export const TYPES = ['page_view', 'email_open', 'form_submit', 'demo_request', 'purchase', 'webinar'] as const
/** The default ruleset's stages and their minimum scores. */
export const STAGES = [['Cold', 0], ['Nurture', 20], ['MQL', 50], ['SQL', 100]] as const
const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Radia', 'Linus', 'Margaret', 'John']
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Perlman', 'Torvalds', 'Hamilton', 'Backus']
export const DAY = 86_400_000

export interface LoadOptions {
  /** Events per lead (default 10). */
  perLead?: number
  /** The dates are laid out before this time (default: now): leads created 180 to 31 days before it. */
  now?: Date
  /** Called after each batch of leads is stored, with the number stored so far. */
  progress?: (stored: number) => void
}

export interface LoadResult {
  /** The id of the lead in the middle. */
  sampleLead: string
  leads: number
  events: number
  /** The `now` the dates were laid out from (pass it to `leadAt` to get the same leads). */
  now: Date
}

/** Lead number `l` of a dataset (its document and events), as `loadLeads` stores it. */
export function leadAt (l: number, opts: { perLead?: number; now: Date }): { doc: LeadDoc; events: EventDoc[]; summary: LeadSummary } {
  const perLead = opts.perLead ?? 10
  const base = opts.now.getTime() - 180 * DAY
  const email = `lead${l}@company${l % 997}.example`
  const id = leadIdOf(leadKeyOf(email, null))
  const score = (l * 7919) % 160 - 10
  const stage = [...STAGES].reverse().find(([, min]) => score >= min)?.[0] ?? 'Cold'
  const created = new Date(base + (l % 150) * DAY + l)
  const events: EventDoc[] = []
  for (let s = 1; s <= perLead; s++) {
    const occurredAt = new Date(created.getTime() + s * 3 * 3_600_000)
    const type = TYPES[(l + s * 5) % TYPES.length]!
    const externalId = `b-${l}-${s}`
    events.push({
      _id: eventIdOf(id, s), sourceId: l % 3 === 0 ? 'crm' : 'api', externalId, idSource: 'given', leadId: id, seq: s, type, occurredAt,
      receivedAt: occurredAt, ord: ordOf(occurredAt, 'api', externalId), properties: { path: '/pricing' }, status: 'scored',
    })
  }
  const last = events[events.length - 1]
  const doc: LeadDoc = {
    _id: id, key: leadKeyOf(email, null), email, externalId: null, name: `${FIRST[l % FIRST.length]!} ${LAST[(l * 5) % LAST.length]!} ${l}`,
    company: `Company ${l % 997}`, attributes: {}, status: l % 29 === 0 ? 'converted' : 'open', stage, grade: ['A', 'B', 'C', ''][l % 4]!, score,
    scores: { engagement: score, fit: 0, intent: 0, predictive: null }, sources: l % 3 === 0 ? ['crm'] : ['api'], nextSeq: perLead, lastSeq: perLead,
    lastOrd: last?.ord ?? null, rev: 1, state: initialState({}), lastBatch: null, rescoreFrom: null, lastEventAt: last?.occurredAt ?? null,
    lastScoredAt: created, ledgerKeyed: true, rulesetVersion: 1, createdAt: created, updatedAt: created, convertedByEvent: events.some((e) => e.type === 'purchase'),
  } as LeadDoc
  return { doc, events, summary: summaryOf(doc) }
}

/**
 * Stores `n` leads with their events, index keys and counters (in the counter slot `s0`), as scoring would have left
 * them, into a database with no leads yet (a running server on it is fine: it reads the views on each request).
 */
export async function loadLeads (db: Database, n: number, opts: LoadOptions = {}): Promise<LoadResult> {
  const now = opts.now ?? new Date()
  const counters = new Map<string, Increments>()
  const leadInc: Increments = {}
  let keys: Array<{ _id: string }> = []
  let leadDocs: LeadDoc[] = []
  let events: EventDoc[] = []
  let stored = 0
  let leadsStored = 0
  const flush = async (force: boolean): Promise<void> => {
    if (leadDocs.length >= 1000 || (force && leadDocs.length > 0)) {
      await db.c.leads.insertMany(leadDocs, { ordered: false })
      leadsStored += leadDocs.length
      leadDocs = []
      opts.progress?.(leadsStored)
    }
    if (events.length >= 2000 || (force && events.length > 0)) { await db.c.events.insertMany(events, { ordered: false }); stored += events.length; events = [] }
    if (keys.length >= 5000 || (force && keys.length > 0)) { await db.c.leadIndex.insertMany(keys, { ordered: false }); keys = [] }
  }
  let sampleLead = ''
  for (let l = 0; l < n; l++) {
    const { doc, events: evs, summary } = leadAt(l, { perLead: opts.perLead, now })
    if (l === Math.floor(n / 2)) sampleLead = doc._id
    addLead(leadInc, summary, 1)
    keys.push(...keysOf(summary).map((_id) => ({ _id })))
    eventIncrements(evs, 1, counters)
    leadDocs.push(doc)
    events.push(...evs)
    await flush(false)
  }
  await flush(true)
  counters.set(LEADS_ID, leadInc)
  counters.set(STATUS_ID, { stored, scored: stored })
  const ops = [...counters].map(([id, inc]) => ({ updateOne: { filter: { _id: `${id}:s0` }, update: { $inc: inc }, upsert: true } }))
  for (let i = 0; i < ops.length; i += 200) await db.c.aggregates.bulkWrite(ops.slice(i, i + 200) as never, { ordered: false })
  // a server started on the empty database has marked its views built already
  await db.c.aggregates.updateOne({ _id: 'meta' }, { $set: { builtAt: new Date(), leads: n, events: stored } }, { upsert: true })
  return { sampleLead, leads: n, events: stored, now }
}
