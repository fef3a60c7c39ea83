import type { Collections } from '../../infra/db.js'
import { isDuplicateKey, isTransient, retryTransient } from '../../infra/db.js'
import type { EventDoc, LeadDoc, RejectDoc } from '../types.js'
import { newId } from '../../lib/ids.js'
import { leadIdOf, eventIdOf } from '../ids.js'
import { encodeKeys } from '../../lib/keys.js'
import { normalizeEvent, type NormalizedEvent, type NormalizeLimits, type RejectReason } from './normalize.js'
import { initialState } from '../scoring/model.js'
import type { RulesetSettings } from '../types.js'

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
  // the last seq this process stored per lead: where the next insert starts looking (bounded, best effort)
  const seqHints = new Map<string, number>()
  const rememberSeq = (id: string, seq: number): void => {
    if (seqHints.size > 50_000) seqHints.clear()
    seqHints.set(id, Math.max(seq, seqHints.get(id) ?? 0))
  }

  async function storeRejects (rejects: RejectDoc[]): Promise<void> {
    // reject ids are fresh, so a retried batch can only clash with its own earlier, partly stored attempt
    if (rejects.length > 0) {
      await retryTransient(async () => {
        try { await c.ingestRejects.insertMany(rejects, { ordered: false }) } catch (err) { if (!isDuplicateKey(err)) throw err }
      })
    }
  }

  /**
   * Makes sure the lead exists and returns it. Only the scoring worker (holding the lead's lock) updates a lead
   * document: some MongoDB-protocol servers (FerretDB) apply concurrent updates to one document by rewriting it
   * whole, losing one of them. So ingest only inserts new leads; the profile an event carries is stored with the
   * event and applied by the worker, in seq order.
   */
  async function ensureLead (ev: NormalizedEvent, t: Date, settings: RulesetSettings): Promise<LeadDoc> {
    let key = ev.leadKey
    if (ev.lead.email === null && ev.lead.externalId !== null) {
      // an event that names only an external id joins the lead that already carries that id, whatever its key
      const known = await c.leads.findOne({ externalId: ev.lead.externalId }, { projection: { key: 1 } })
      if (known !== null) key = known.key
    }
    const _id = leadIdOf(key)
    const existing = await c.leads.findOne({ _id })
    if (existing !== null) return existing
    const doc: LeadDoc = {
      _id, key, email: ev.lead.email, externalId: key.startsWith('ext:') ? ev.lead.externalId : null, name: null, company: null,
      attributes: {}, status: 'open', stage: initialState(settings).stage, grade: '', score: 0,
      scores: { engagement: 0, fit: 0, intent: 0, predictive: null }, sources: [], nextSeq: 0, lastSeq: 0, lastOrd: null, rev: 0,
      state: initialState(settings), lastBatch: null, rescoreFrom: null, lastEventAt: null, lastScoredAt: null, rulesetVersion: null,
      createdAt: t, updatedAt: t,
    }
    try {
      await c.leads.insertOne(doc)
      return doc
    } catch (err) {
      if (!isDuplicateKey(err)) throw err
    }
    const raced = await c.leads.findOne({ _id })
    if (raced === null) throw new Error(`lead ${_id} vanished while being created`)
    return raced
  }

  /** The highest stored seq of a lead, from a lower bound: slots are gapless, so gallop then bisect over `_id`s. */
  async function topSeq (leadId: string, known: number): Promise<number> {
    const exists = async (seq: number): Promise<boolean> => seq <= 0 || await c.events.findOne({ _id: eventIdOf(leadId, seq) }, { projection: { _id: 1 } }) !== null
    let lo = known
    if (!await exists(lo)) lo = 0
    let step = 1
    let hi = lo + step
    while (await exists(hi)) { lo = hi; step *= 2; hi = lo + step }
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2)
      if (await exists(mid)) lo = mid
      else hi = mid
    }
    return lo
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
        if (slot.insertId !== undefined && slot.insertId === doc.insertId) return { duplicateOf: null } // our own write
        if (slot.sourceId === doc.sourceId && slot.externalId === doc.externalId) return { duplicateOf: slot }
        doc.seq = (await topSeq(doc.leadId, doc.seq)) + 1
        doc._id = eventIdOf(doc.leadId, doc.seq)
        continue
      }
      try {
        await retryTransient(async () => await c.events.insertOne(doc))
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
      const leads = await mapLimit(groups, 16, async (g) => await ensureLead(g[0]!.ev, receivedAt, settings))
      const hints = await mapLimit(leads, 16, async (l) => await topSeq(l._id, seqHints.get(l._id) ?? l.lastSeq))

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
          const seq = (seqHint.get(lead._id) ?? hints[gi]!) + 1
          p.leadId = lead._id
          p.doc = {
            _id: eventIdOf(lead._id, seq), sourceId: ctx.sourceId, externalId: p.ev.externalId, idSource: p.ev.idSource, leadId: lead._id, seq,
            type: p.ev.type, occurredAt: p.ev.occurredAt, receivedAt, ord: p.ev.ord, properties: encodeKeys(p.ev.properties),
            status: 'pending', requestId: ctx.requestId, insertId: newId('in'),
          }
          const profile = profileOf(p.ev)
          if (profile !== null) p.doc.leadProfile = profile
          if (p.ev.timestampAdjusted) p.doc.timestampAdjusted = true
          wave.push(p)
        })
        const failed = new Set<number>()
        try {
          await c.events.insertMany(wave.map((p) => p.doc!), { ordered: false })
        } catch (err) {
          const writeErrors = (err as { writeErrors?: Array<{ index: number; code?: number; err?: { code?: number } }> | { index: number } }).writeErrors
          const list = Array.isArray(writeErrors) ? writeErrors : writeErrors !== undefined ? [writeErrors] : null
          if (list !== null && isDuplicateKey(err)) {
            for (const we of list) failed.add(we.index)
          } else if (isTransient(err) || (list !== null && list.length > 0)) {
            // part of the batch may be stored: settle every document one by one (our own writes are recognised)
            wave.forEach((_, i) => failed.add(i))
          } else {
            throw err
          }
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
      for (const [id, seq] of seqHint) rememberSeq(id, seq)
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

/** The lead profile an event carries (applied to the lead by the worker), or null when it carries none. */
function profileOf (ev: NormalizedEvent): EventDoc['leadProfile'] | null {
  const p: NonNullable<EventDoc['leadProfile']> = {}
  if (ev.lead.name !== undefined) p.name = ev.lead.name
  if (ev.lead.company !== undefined) p.company = ev.lead.company
  if (ev.lead.externalId !== null && ev.leadKey.startsWith('email:')) p.externalId = ev.lead.externalId
  if (ev.lead.attributes !== undefined && Object.keys(ev.lead.attributes).length > 0) p.attributes = encodeKeys(ev.lead.attributes)
  return Object.keys(p).length > 0 ? p : null
}

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
