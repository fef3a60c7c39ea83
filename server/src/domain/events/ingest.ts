import type { Collections } from '../../infra/db.js'
import { isDuplicateKey } from '../../infra/db.js'
import type { EventDoc, LeadDoc, RejectDoc } from '../types.js'
import { newId } from '../../lib/ids.js'
import { leadIdOf, eventIdOf } from '../ids.js'
import { encodeKeys, encodeKey } from '../../lib/keys.js'
import { normalizeEvent, type NormalizedEvent, type NormalizeLimits, type RejectReason } from './normalize.js'
import { initialState } from '../scoring/model.js'
import type { RulesetSettings } from '../types.js'
import type { Document } from 'mongodb'

export type ItemStatus = 'accepted' | 'duplicate' | 'rejected'

/** The outcome of one submitted event. */
export interface ItemResult {
  index: number
  status: ItemStatus
  eventId?: string
  leadId?: string
  error?: { code: string; message: string; pointer?: string }
}

/** The outcome of a submission; `submitted = accepted + duplicates + rejected` always holds. */
export interface IngestSummary {
  submitted: number
  accepted: number
  duplicates: number
  rejected: number
  results: ItemResult[]
}

export interface IngestContext {
  sourceId: string
  requestId: string
  /** Receive time; defaults to the service clock. */
  receivedAt?: Date
}

export interface IngestDeps {
  c: Collections
  now: () => Date
  limits: NormalizeLimits
  /** Settings of the published ruleset, for the stage a new lead starts in. */
  initialSettings: () => Promise<RulesetSettings>
  /** Makes sure each lead gets a scoring run. Called after the events are durably stored. */
  enqueue: (leadIds: string[]) => Promise<void>
}

const RAW_LIMIT = 64 * 1024
const MAX_SEQ_ATTEMPTS = 200

interface Pending { index: number; ev: NormalizedEvent; leadId?: string; doc?: EventDoc }

/**
 * The single way events enter the system. Validates, normalizes, upserts each lead, stores each event exactly once
 * (unique on source + external id) with a per-lead sequence number, stores every reject with its reason, and only
 * then asks for scoring.
 */
export function createIngestService (deps: IngestDeps) {
  const { c, now } = deps

  async function storeRejects (rejects: RejectDoc[]): Promise<void> {
    if (rejects.length > 0) await c.ingestRejects.insertMany(rejects, { ordered: false })
  }

  async function upsertLead (ev: NormalizedEvent, sourceId: string, t: Date, settings: RulesetSettings): Promise<LeadDoc> {
    let key = ev.leadKey
    if (ev.lead.email === null && ev.lead.externalId !== null) {
      // an event that names only an external id joins the lead that already carries that id, whatever its key
      const known = await c.leads.findOne({ externalId: ev.lead.externalId }, { projection: { key: 1 } })
      if (known !== null) key = known.key
    }
    const set: Document = { updatedAt: t }
    if (ev.lead.name !== undefined) set.name = ev.lead.name
    if (ev.lead.company !== undefined) set.company = ev.lead.company
    if (ev.lead.externalId !== null && key.startsWith('email:')) set.externalId = ev.lead.externalId
    const attrs = ev.lead.attributes !== undefined ? Object.entries(ev.lead.attributes) : []
    for (const [k, v] of attrs) set[`attributes.${encodeKey(k)}`] = encodeKeys(v)
    const onInsert: Document = {
      key, email: ev.lead.email, status: 'open', stage: initialState(settings).stage, grade: '', score: 0,
      scores: { engagement: 0, fit: 0, intent: 0, predictive: null }, nextSeq: 0, lastSeq: 0, lastOrd: null, rev: 0,
      state: initialState(settings), lastBatch: null, rescoreFrom: null, lastScoredAt: null, rulesetVersion: null, createdAt: t,
      lastEventAt: null,
    }
    if (!('name' in set)) onInsert.name = null
    if (!('company' in set)) onInsert.company = null
    if (!('externalId' in set)) onInsert.externalId = key.startsWith('ext:') ? ev.lead.externalId : null
    if (attrs.length === 0) onInsert.attributes = {}
    for (let attempt = 0; ; attempt++) {
      try {
        const lead = await c.leads.findOneAndUpdate({ _id: leadIdOf(key) }, { $set: set, $setOnInsert: onInsert, $addToSet: { sources: sourceId } }, { upsert: true, returnDocument: 'after' })
        if (lead === null) throw new Error('lead upsert returned nothing')
        return lead
      } catch (err) {
        // two first events for the same new lead raced; the loser retries as an update
        if (isDuplicateKey(err) && attempt < 3) continue
        throw err
      }
    }
  }

  /**
   * Inserts one event after a clash, at the next free per-lead seq. The event's `_id` is its (lead, seq) slot, so a
   * clash on a free slot can only be the (sourceId, externalId) key: a duplicate. A seq is always max+1 of the slots
   * visible at insert time, so it never becomes visible after a higher one.
   */
  async function insertResolving (doc: EventDoc): Promise<{ duplicateOf: EventDoc | null }> {
    for (let attempt = 0; attempt < MAX_SEQ_ATTEMPTS; attempt++) {
      const slot = await c.events.findOne({ _id: doc._id })
      if (slot !== null) {
        if (slot.sourceId === doc.sourceId && slot.externalId === doc.externalId) return { duplicateOf: slot }
        doc.seq += 1
        doc._id = eventIdOf(doc.leadId, doc.seq)
        continue
      }
      try {
        await c.events.insertOne(doc)
        return { duplicateOf: null }
      } catch (err) {
        if (!isDuplicateKey(err)) throw err
      }
      if (await c.events.findOne({ _id: doc._id }) === null) {
        const dup = await c.events.findOne({ sourceId: doc.sourceId, externalId: doc.externalId })
        if (dup !== null) return { duplicateOf: dup }
      }
      if (attempt > 5) await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt))
    }
    throw new Error(`could not allocate a sequence number for lead ${doc.leadId}`)
  }

  return {
    /** Ingests a list of raw (unvalidated) events from one source. */
    async ingest (inputs: readonly unknown[], ctx: IngestContext): Promise<IngestSummary> {
      const receivedAt = ctx.receivedAt ?? now()
      const results: ItemResult[] = new Array(inputs.length)
      const rejects: RejectDoc[] = []
      const valid: Pending[] = []
      const reject = (index: number, raw: unknown, reason: RejectReason): void => {
        let text: string
        try { text = JSON.stringify(raw) ?? String(raw) } catch { text = String(raw) }
        rejects.push({
          _id: newId('rj'), sourceId: ctx.sourceId, requestId: ctx.requestId, index, code: reason.code, reason: reason.message,
          raw: text.slice(0, RAW_LIMIT), rawTruncated: text.length > RAW_LIMIT, receivedAt,
        })
        results[index] = { index, status: 'rejected', error: reason }
      }
      inputs.forEach((raw, index) => {
        const r = normalizeEvent(raw, { sourceId: ctx.sourceId, receivedAt, limits: deps.limits })
        if (r.ok) valid.push({ index, ev: r.event })
        else reject(index, raw, r.reason)
      })
      await storeRejects(rejects)

      // one upsert per distinct lead
      const settings = valid.length > 0 ? await deps.initialSettings() : {}
      const byKey = new Map<string, Pending[]>()
      for (const p of valid) {
        const list = byKey.get(p.ev.leadKey)
        if (list === undefined) byKey.set(p.ev.leadKey, [p])
        else list.push(p)
      }
      const groups = [...byKey.values()]
      const leads = await mapLimit(groups, 16, async (g) => await upsertLead(g[0]!.ev, ctx.sourceId, receivedAt, settings))

      // waves: the i-th event of every lead goes in one unordered insertMany, so no lead ever has two seqs in flight
      const touched = new Set<string>()
      const seqHint = new Map<string, number>()
      const maxWave = Math.max(0, ...groups.map((g) => g.length))
      for (let w = 0; w < maxWave; w++) {
        const wave: Pending[] = []
        groups.forEach((g, gi) => {
          const p = g[w]
          if (p === undefined) return
          const lead = leads[gi]!
          const seq = (seqHint.get(lead._id) ?? lead.nextSeq) + 1
          p.leadId = lead._id
          p.doc = {
            _id: eventIdOf(lead._id, seq), sourceId: ctx.sourceId, externalId: p.ev.externalId, idSource: p.ev.idSource, leadId: lead._id, seq,
            type: p.ev.type, occurredAt: p.ev.occurredAt, receivedAt, ord: p.ev.ord, properties: encodeKeys(p.ev.properties),
            status: 'pending', requestId: ctx.requestId,
          }
          if (p.ev.timestampAdjusted) p.doc.timestampAdjusted = true
          wave.push(p)
        })
        const failed = new Set<number>()
        try {
          await c.events.insertMany(wave.map((p) => p.doc!), { ordered: false })
        } catch (err) {
          const writeErrors = (err as { writeErrors?: Array<{ index: number; code?: number; err?: { code?: number } }> | { index: number } }).writeErrors
          const list = Array.isArray(writeErrors) ? writeErrors : writeErrors !== undefined ? [writeErrors] : null
          if (list === null || !isDuplicateKey(err)) throw err
          for (const we of list) failed.add(we.index)
        }
        await mapLimit(wave, 16, async (p, i) => {
          const doc = p.doc!
          if (failed.has(i)) {
            const { duplicateOf } = await insertResolving(doc)
            if (duplicateOf !== null) {
              results[p.index] = { index: p.index, status: 'duplicate', eventId: duplicateOf._id, leadId: duplicateOf.leadId }
              return
            }
          }
          seqHint.set(doc.leadId, doc.seq)
          touched.add(doc.leadId)
          results[p.index] = { index: p.index, status: 'accepted', eventId: doc._id, leadId: doc.leadId }
        })
      }
      // keep the lead's seq hint and watermark inputs current (the sweeper compares nextSeq with lastSeq)
      if (seqHint.size > 0) {
        await c.leads.bulkWrite([...seqHint].map(([id, seq]) => ({ updateOne: { filter: { _id: id }, update: { $max: { nextSeq: seq } } } })), { ordered: false })
      }
      if (touched.size > 0) await deps.enqueue([...touched])

      let accepted = 0; let duplicates = 0; let rejected = 0
      for (const r of results) {
        if (r.status === 'accepted') accepted++
        else if (r.status === 'duplicate') duplicates++
        else rejected++
      }
      return { submitted: inputs.length, accepted, duplicates, rejected, results }
    },
  }
}

export type IngestService = ReturnType<typeof createIngestService>

async function mapLimit<T, R> (items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!, i)
    }
  })
  await Promise.all(workers)
  return out
}
