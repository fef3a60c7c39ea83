import type { Collections } from '../../infra/db.js'
import { duplicateWriteErrors, findByIds, isDuplicateKey, isTransient, retryTransient, insertNewOnes } from '../../infra/db.js'
import type { EventDoc, LeadDoc, RejectDoc } from '../types.js'
import { newId } from '../../lib/ids.js'
import { leadIdOf, eventIdOf } from '../ids.js'
import { encodeKeys } from '../../lib/keys.js'
import { normalizeEvent, type NormalizedEvent, type NormalizeLimits, type RejectReason } from './normalize.js'
import { initialState } from '../scoring/model.js'
import type { RulesetSettings } from '../types.js'
import type { IdentityService } from '../identity.js'
import type { IngestJournal } from './ingest-journal.js'
import { mapLimit } from '../../lib/map-limit.js'
import { gaplessTop } from '../../lib/gapless-top.js'
import { MongoServerError, type Binary } from 'mongodb'
import type { CompiledPlan, Violation } from './tracking-plan.js'
import type { CountedViolation } from './violation-counters.js'
import { packProperties } from './stored-properties.js'

export type ItemStatus = 'accepted' | 'duplicate' | 'rejected'

/** The outcome of one submitted event. */
export interface ItemResult {
  index: number
  status: ItemStatus
  eventId?: string
  leadId?: string
  error?: { code: string; message: string; pointer?: string }
  /** An accepted event whose properties the tracking plan (mode warn) flagged: what did not match. */
  warnings?: Array<{ code: string; message: string; pointer: string }>
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
  /** The submission-wide index of each input (same order), stored with its reject; defaults to its position. */
  indexes?: readonly number[]
  /** The source line of each input (same order), stored with its reject. */
  lines?: readonly number[]
  /**
   * Look up the stored events duplicates repeat, to report their ids (default true; one query per request). A caller
   * that needs only the counts passes false: that query is by (sourceId, externalId), which FerretDB answers by
   * reading the events collection.
   */
  lookupDuplicates?: boolean
  /**
   * Name each reject `rj_<requestId>_<index>` instead of a fresh id, so storing the same inputs again (an upload
   * resumed from its checkpoint) does not store their rejects twice.
   */
  stableRejectIds?: boolean
  /** The request each input came with (same order), when inputs of several requests are stored together. */
  requestIds?: readonly string[]
  /**
   * A fresh id per input (same order), kept when the same inputs are stored again after a failed attempt: it names
   * the input's reject and marks its event, so an event the failed attempt stored counts as accepted, not as a
   * duplicate, and a reject is not stored twice.
   */
  attemptIds?: readonly string[]
}

export interface IngestDeps {
  c: Collections
  now: () => Date
  limits: NormalizeLimits
  /** Settings of the published ruleset, for the stage a new lead starts in. */
  initialSettings: () => Promise<RulesetSettings>
  /**
   * Makes sure each lead gets a scoring run. Called after the events are durably stored. `created`: the leads this
   * call inserted, which cannot have a scoring marker yet (see the scoring runner's `enqueue`).
   */
  enqueue: (leadIds: string[], created?: ReadonlySet<string>) => Promise<void>
  /** Records what a request is about to store until its leads are queued (a process dying in between leaves it). */
  journal?: IngestJournal
  /** Whether the database answers `_id: { $in }` from its index (see `Database.idIn`). */
  idIn: boolean
  /** Which lead carries an external id (aliases looked up by `_id`). */
  identity: IdentityService
  /** Told of each group commit: its source and how many requests it stored together. */
  onGroup?: (sourceId: string, requests: number) => void
  /** Counts accepted events (the stored-events counter behind /v1/stats): awaited before the call answers. */
  onStored?: (accepted: number) => Promise<void>
  /** Counts stored rejects (the rejects total of /v1/stats). */
  onRejectsStored?: (n: number) => Promise<void>
  /** Which of these identity keys are suppressed (leads erased on request): one `_id` list lookup per call. */
  suppressed?: (keys: readonly string[]) => Promise<Set<string>>
  /** The tracking plan events' properties are checked against (cached by its service; asked once per call). */
  trackingPlan?: () => Promise<CompiledPlan>
  /** Counts the plan violations of stored events (warned) and stored rejects (rejected), per type and source. */
  onViolations?: (violations: CountedViolation[]) => Promise<void>
}

const RAW_LIMIT = 64 * 1024
const MAX_SEQ_ATTEMPTS = 200
/** What ingest reads of an existing lead: where its events go (its identity, seq watermark and creation time). */
const LEAD_FIELDS = { _id: 1, key: 1, lastSeq: 1, createdAt: 1 } as const
type IngestLead = Pick<LeadDoc, '_id' | 'key' | 'lastSeq' | 'createdAt'>
/**
 * Most events stored together by one group commit, and how many groups of one source are stored at once. A group
 * costs a few writes whatever its size, and the embedded database runs one write at a time, so one group at a time
 * takes every request that arrived meanwhile; but a group is a chain of round trips (suppressions, leads, events,
 * counters), and while one waits on the database the server and the database are each half idle. So a second and third
 * group start beside it once PARALLEL_GROUP_EVENTS events wait: for single events half of the ingest bench's 16
 * connections (`npx tsx --conditions=leadscore-source bench/ingest.ts`, alternating runs): 8 made 1,291-1,794 events/s
 * (0.23-0.29x the raw insertOne loop), 100 (no second group for single events) 1,111-1,431 (0.20-0.22x), 16
 * 1,023-1,054, 2 (groups of one or two events) 841-849. Requests of 100 events start a group at once either way
 * (8,240 / 8,838 against 7,901 / 8,786 events/s with 10,000 events in such batches); three at a time measured best
 * for them (5,699-5,768 events/s against 4,594-5,027 for two, in an earlier round).
 */
const MAX_GROUP_EVENTS = 1000
const MAX_GROUPS = 3
/** Events waiting in the queue from which another group starts beside a running one. */
const PARALLEL_GROUP_EVENTS = 8
/** Requests of a failed group stored again one by one, this many at a time. */
const RETRY_CONCURRENCY = 2

interface Pending { index: number; ev: NormalizedEvent; leadId?: string; doc?: EventDoc; violations?: Violation[]; packed?: PackedParts }

/**
 * The single way events enter the system. Validates, normalizes, upserts each lead, stores each event exactly once
 * (unique on source + external id) with a per-lead sequence number, stores every reject with its reason, and only
 * then asks for scoring.
 */
export function createIngestService (deps: IngestDeps) {
  const { c, now } = deps
  // the last seq this process stored per lead, with the lead's creation time (a lead erased and created again is a
  // new one whose seqs start over): where the next insert starts (bounded, best effort)
  const seqHints = new Map<string, { seq: number; createdAt: number }>()
  const rememberSeq = (lead: IngestLead, seq: number): void => {
    if (seqHints.size > 50_000) seqHints.clear()
    const known = seqHints.get(lead._id)
    const createdAt = lead.createdAt.getTime()
    seqHints.set(lead._id, { seq: known !== undefined && known.createdAt === createdAt ? Math.max(seq, known.seq) : seq, createdAt })
  }

  const gates = new KeyGates()

  async function storeRejects (rejects: RejectDoc[]): Promise<void> {
    // reject ids are fresh, so a retried batch can only clash with its own earlier, partly stored attempt
    if (rejects.length > 0) {
      let stored = 0
      await retryTransient(async () => { stored += await insertNewOnes(c.ingestRejects, rejects) })
      await deps.onRejectsStored?.(stored)
    }
  }

  function newLeadDoc (_id: string, key: string, ev: NormalizedEvent, t: Date, settings: RulesetSettings): LeadDoc {
    return {
      _id, key, email: ev.lead.email, externalId: key.startsWith('ext:') ? ev.lead.externalId : null, name: null, company: null,
      attributes: {}, status: 'open', stage: initialState(settings).stage, grade: '', score: 0,
      scores: { engagement: 0, fit: 0, intent: 0, predictive: null }, sources: [], nextSeq: 0, lastSeq: 0, lastOrd: null, rev: 0,
      state: initialState(settings), lastBatch: null, rescoreFrom: null, lastEventAt: null, lastScoredAt: null, rulesetVersion: null,
      createdAt: t, updatedAt: t,
    }
  }

  /**
   * Makes sure each lead exists and returns it, with `created` true for the leads this call inserted. Only the
   * scoring worker (holding the lead's lock) updates a lead document: some MongoDB-protocol servers (FerretDB) apply
   * concurrent updates to one document by rewriting it whole, losing one of them. So ingest only inserts new leads;
   * the profile an event carries is stored with the event and applied by the worker, in seq order.
   * Most events are for leads that exist, so each lead is read first by `_id` (an index lookup on both servers; a
   * failed insert costs more, a write transaction rolled back on FerretDB), and only the missing ones are inserted,
   * in one unordered batch. A lead created meanwhile by another request makes its insert clash; it is read again.
   */
  async function ensureLeads (evs: readonly NormalizedEvent[], keyed: ReadonlyArray<{ _id: string; key: string }>, t: Date, settings: RulesetSettings): Promise<Array<{ lead: IngestLead; created: boolean }>> {
    const candidates = new Map<string, LeadDoc>()
    keyed.forEach((k, i) => { if (!candidates.has(k._id)) candidates.set(k._id, newLeadDoc(k._id, k.key, evs[i]!, t, settings)) })
    const existing = new Map<string, IngestLead>()
    const read = async (ids: readonly string[]): Promise<void> => {
      if (deps.idIn) {
        // one query for them all, answered from the _id index
        for (const lead of await findByIds<LeadDoc, IngestLead>(c.leads, ids, LEAD_FIELDS)) existing.set(lead._id, lead)
        return
      }
      // one lookup per lead, by `_id`: the one query a released FerretDB serves from an index (`$in` reads the whole
      // collection there)
      await mapLimit(ids, 16, async (id) => {
        const lead = await c.leads.findOne({ _id: id }, { projection: LEAD_FIELDS })
        if (lead !== null) existing.set(id, lead)
      })
    }
    await read([...candidates.keys()])
    const docs = [...candidates.values()].filter((d) => !existing.has(d._id))
    const created = new Set<string>()
    if (docs.length > 0) {
      let settled = false
      try {
        await c.leads.insertMany(docs, { ordered: false })
        for (const d of docs) created.add(d._id)
        settled = true
      } catch (err) {
        const failed = duplicateWriteErrors(err)
        if (failed !== null) {
          docs.forEach((d, i) => { if (!failed.has(i)) created.add(d._id) })
          settled = true
        } else if (!isTransient(err)) {
          throw err
        }
      }
      if (!settled) {
        // the batch may be partly stored: insert each one again (a clash may then be our own write, so it does not
        // count as created)
        await mapLimit(docs, 16, async (d) => {
          try {
            await c.leads.insertOne(d)
            created.add(d._id)
          } catch (err) {
            if (!isDuplicateKey(err)) throw err
          }
        })
      }
      await read(docs.filter((d) => !created.has(d._id)).map((d) => d._id))
    }
    for (const id of candidates.keys()) if (!created.has(id) && !existing.has(id)) throw new Error(`lead ${id} vanished while being created`)
    return keyed.map((k) => created.has(k._id) ? { lead: candidates.get(k._id)!, created: true } : { lead: existing.get(k._id)!, created: false })
  }

  /**
   * The key and id of the lead each event goes to. An event that names only an external id joins the lead that
   * already carries that id, whatever its key: one lookup by `_id` of the aliases for all of them.
   */
  async function leadKeys (evs: readonly NormalizedEvent[]): Promise<Array<{ _id: string; key: string }>> {
    const aliased = await deps.identity.keysOf(evs.filter((ev) => ev.lead.email === null && ev.lead.externalId !== null).map((ev) => ev.lead.externalId!))
    return evs.map((ev) => {
      const key = ev.lead.email === null && ev.lead.externalId !== null ? aliased.get(ev.lead.externalId) ?? ev.leadKey : ev.leadKey
      return { _id: leadIdOf(key), key }
    })
  }

  /**
   * Where a lead's next event goes (the seq it follows), without a lookup: 0 for a lead this call created; else the
   * last seq this process stored for this same lead (events are only ever deleted with their lead), or the lead's
   * scoring watermark; both are lower bounds of the top. A slot taken since by another writer makes the insert
   * clash and insertResolving finds the top. (Probing for the first free slot here instead would cost a round trip
   * per event.)
   */
  function startSeq (lead: IngestLead, created: boolean): number {
    if (created) return 0
    const mine = seqHints.get(lead._id)
    if (mine !== undefined && mine.createdAt === lead.createdAt.getTime() && mine.seq > lead.lastSeq) return mine.seq
    return lead.lastSeq
  }

  /** The highest stored seq of a lead, from a lower bound: slots are gapless, so gallop then bisect over `_id`s. */
  async function topSeq (leadId: string, known: number): Promise<number> {
    return await gaplessTop(async (seq) => seq <= 0 || await c.events.findOne({ _id: eventIdOf(leadId, seq) }, { projection: { _id: 1 } }) !== null, known)
  }

  /**
   * Inserts one event after a clash, at the next free per-lead seq. The event's `_id` is its (lead, seq) slot, so a
   * clash on a free slot can only be the (sourceId, externalId) key: a duplicate. A seq is always max+1 of the slots
   * visible at insert time, so it never becomes visible after a higher one. `clashed` says the first attempt failed
   * on a duplicate key (rather than ambiguously, where our own write may have landed).
   */
  async function insertResolving (doc: EventDoc, clashed: boolean): Promise<{ duplicate: false } | { duplicate: true; of: EventDoc | null }> {
    for (let attempt = 0; attempt < MAX_SEQ_ATTEMPTS; attempt++) {
      const slot = await c.events.findOne({ _id: doc._id })
      if (slot !== null) {
        if (slot.insertId !== undefined && slot.insertId === doc.insertId) return { duplicate: false } // our own write
        if (slot.sourceId === doc.sourceId && slot.externalId === doc.externalId) return { duplicate: true, of: slot }
        doc.seq = (await topSeq(doc.leadId, doc.seq)) + 1
        doc._id = eventIdOf(doc.leadId, doc.seq)
        clashed = false
        continue
      }
      // the slot is free, so the clash was the (sourceId, externalId) key: a duplicate (its stored twin is looked up
      // by the caller, for all of a request's duplicates at once)
      if (clashed) return { duplicate: true, of: null }
      try {
        await retryTransient(async () => await c.events.insertOne(doc))
        return { duplicate: false }
      } catch (err) {
        if (!isDuplicateKey(err)) throw err
        clashed = true
      }
      if (attempt > 5) await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt))
    }
    throw new Error(`could not allocate a sequence number for lead ${doc.leadId}`)
  }

  /** Ingests a list of raw (unvalidated) events from one source. */
  async function ingest (inputs: readonly unknown[], ctx: IngestContext): Promise<IngestSummary> {
    const receivedAt = ctx.receivedAt ?? now()
    const results: ItemResult[] = new Array(inputs.length)
    const rejects: RejectDoc[] = []
    const valid: Pending[] = []
    const reject = (index: number, raw: unknown, reason: RejectReason): void => {
      let text: string
      try { text = JSON.stringify(raw) ?? String(raw) } catch { text = String(raw) }
      const doc: RejectDoc = {
        _id: ctx.stableRejectIds === true ? `rj_${ctx.requestId}_${ctx.indexes?.[index] ?? index}` : ctx.attemptIds?.[index] !== undefined ? `rj_${ctx.attemptIds[index]}` : newId('rj'), sourceId: ctx.sourceId, requestId: ctx.requestIds?.[index] ?? ctx.requestId, index: ctx.indexes?.[index] ?? index, code: reason.code, reason: reason.message,
        raw: text.slice(0, RAW_LIMIT), rawTruncated: text.length > RAW_LIMIT, receivedAt,
      }
      const line = ctx.lines?.[index]
      if (line !== undefined) doc.line = line
      rejects.push(doc)
      results[index] = { index, status: 'rejected', error: reason }
    }
    const normalized: Pending[] = []
    inputs.forEach((raw, index) => {
      const r = normalizeEvent(raw, { sourceId: ctx.sourceId, receivedAt, limits: deps.limits })
      if (r.ok) normalized.push({ index, ev: r.event })
      else reject(index, raw, r.reason)
    })
    // events of an erased lead whose identity is suppressed: stored as rejects without the identity (only the type)
    const idKeys = (ev: NormalizedEvent): string[] => ev.lead.email !== null && ev.lead.externalId !== null ? [ev.leadKey, `ext:${ev.lead.externalId}`] : [ev.leadKey]
    const suppressed = deps.suppressed !== undefined && normalized.length > 0
      ? await deps.suppressed([...new Set(normalized.flatMap((p) => idKeys(p.ev)))])
      : new Set<string>()
    // the tracking plan: read once per call from its service's cache, so checking costs no database read per event
    const plan = deps.trackingPlan !== undefined && normalized.length > 0 ? await deps.trackingPlan() : null
    const counted: CountedViolation[] = []
    for (const p of normalized) {
      if (suppressed.size > 0 && idKeys(p.ev).some((k) => suppressed.has(k))) {
        reject(p.index, { redacted: 'suppressed identity', type: p.ev.type }, { code: 'LS_ERR_LEAD_SUPPRESSED', message: 'the lead was erased on request and its identity is suppressed', pointer: '#/lead' })
        continue
      }
      const checked = plan?.check(p.ev.type, p.ev.properties) ?? null
      if (checked !== null && checked.violations.length > 0) {
        const first = checked.violations[0]!
        if (checked.mode === 'enforce') {
          const more = checked.violations.length > 1 ? ` (and ${checked.violations.length - 1} more: ${checked.violations.slice(1).map((v) => v.message).join('; ')})` : ''
          reject(p.index, inputs[p.index], { code: 'LS_ERR_PROPERTIES_SCHEMA', message: `${first.message}${more} [tracking plan version ${plan!.version}]`, pointer: first.pointer })
          counted.push({ type: p.ev.type, sourceId: ctx.sourceId, outcome: 'rejected', message: first.message, pointer: first.pointer, planVersion: plan!.version })
          continue
        }
        p.violations = checked.violations
      }
      // packed here, so that an event too large to encode is its own reject and never fails its group
      const packed = packParts(p.ev)
      if ('code' in packed) {
        reject(p.index, inputs[p.index], packed)
        continue
      }
      p.packed = packed
      valid.push(p)
    }
    await storeRejects(rejects)

    // Requests of this process that share a lead take turns from here to the end of their inserts: the second
    // then starts from the seq the first stored instead of clashing on it and resolving each event alone.
    const touched = new Set<string>()
    const created = new Set<string>()
    const unresolved: Pending[] = []
    let journalEntry: string | null = null
    const refused: Array<{ p: Pending; reason: RejectReason }> = []
    await gates.run(valid.map((p) => p.ev.leadKey), async () => {
      // one upsert per distinct lead
      const settings = valid.length > 0 ? await deps.initialSettings() : {}
      const byKey = new Map<string, Pending[]>()
      for (const p of valid) {
        const list = byKey.get(p.ev.leadKey)
        if (list === undefined) byKey.set(p.ev.leadKey, [p])
        else list.push(p)
      }
      const groups = [...byKey.values()]
      const firsts = groups.map((g) => g[0]!.ev)
      const keyed = await leadKeys(firsts)
      // the journal entry only has to be stored before the events: it is written while the leads are read (a round
      // trip less before the answer)
      const ids = [...new Set(keyed.map((k) => k._id))]
      const [entry, ensured] = await Promise.all([
        deps.journal !== undefined && ids.length > 0 ? deps.journal.open(ids) : Promise.resolve(null),
        ensureLeads(firsts, keyed, receivedAt, settings),
      ])
      journalEntry = entry
      const leads = ensured.map((e) => e.lead)
      for (const e of ensured) if (e.created) created.add(e.lead._id)
      const hints = ensured.map(({ lead: l, created }) => startSeq(l, created))
      const lookupDuplicates = ctx.lookupDuplicates ?? true

      // waves: the i-th event of every lead goes in one unordered insertMany, so no lead ever has two seqs in flight
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
            type: p.ev.type, occurredAt: p.ev.occurredAt, receivedAt, ord: p.ev.ord, properties: p.packed!.properties,
            status: 'pending', requestId: ctx.requestIds?.[p.index] ?? ctx.requestId, insertId: ctx.attemptIds?.[p.index] ?? newId('in'),
          }
          const profile = profileOf(p.ev, p.packed!)
          if (profile !== null) p.doc.leadProfile = profile
          if (p.ev.timestampAdjusted) p.doc.timestampAdjusted = true
          if (p.violations !== undefined) p.doc.planViolations = { planVersion: plan!.version, violations: p.violations }
          wave.push(p)
        })
        // failed: the writes to settle one by one; clashed: whether each failed on a duplicate key (else ambiguously)
        const failed = new Set<number>()
        let clashed = false
        try {
          await c.events.insertMany(wave.map((p) => p.doc!), { ordered: false })
        } catch (err) {
          const dups = duplicateWriteErrors(err)
          if (dups !== null) {
            for (const i of dups) failed.add(i)
            clashed = true
          } else {
            // anything else (a transient failure, a document the database refuses, one the driver cannot encode):
            // part of the batch may be stored, so settle every document one by one (our own writes are recognised);
            // a document refused on its own becomes a reject there, and any other failure is thrown
            wave.forEach((_, i) => failed.add(i))
          }
        }
        await mapLimit(wave, 16, async (p, i) => {
          const doc = p.doc!
          if (failed.has(i)) {
            let r: Awaited<ReturnType<typeof insertResolving>>
            try {
              r = await insertResolving(doc, clashed)
            } catch (err) {
              const reason = unstorableReason(err)
              if (reason === null) throw err
              refused.push({ p, reason })
              return
            }
            if (r.duplicate) {
              results[p.index] = r.of !== null
                ? { index: p.index, status: 'duplicate', eventId: r.of._id, leadId: r.of.leadId }
                : { index: p.index, status: 'duplicate' }
              if (r.of === null && lookupDuplicates) unresolved.push(p)
              return
            }
          }
          seqHint.set(doc.leadId, doc.seq)
          touched.add(doc.leadId)
          results[p.index] = withWarnings({ index: p.index, status: 'accepted', eventId: doc._id, leadId: doc.leadId }, p)
        })
      }
      const leadById = new Map(leads.map((l) => [l._id, l]))
      for (const [id, seq] of seqHint) { const l = leadById.get(id); if (l !== undefined) rememberSeq(l, seq) }
    })
    if (refused.length > 0) {
      rejects.length = 0
      for (const { p, reason } of refused) reject(p.index, inputs[p.index], reason)
      await storeRejects(rejects)
    }
    if (unresolved.length > 0) {
      // FerretDB answers a (sourceId, externalId) query by reading the events collection, so a resent batch of
      // duplicates costs one such read here instead of one per event
      const twins = await c.events.find({ sourceId: ctx.sourceId, externalId: { $in: unresolved.map((p) => p.ev.externalId) } })
        .project<{ _id: string; leadId: string; externalId: string; insertId?: string }>({ _id: 1, leadId: 1, externalId: 1, insertId: 1 }).toArray()
      const byExternalId = new Map(twins.map((d) => [d.externalId, d]))
      for (const p of unresolved) {
        const twin = byExternalId.get(p.ev.externalId)
        if (twin === undefined) continue
        // stored by an earlier, failed attempt at these same inputs: accepted then, so accepted now
        const mine = twin.insertId !== undefined && twin.insertId === p.doc?.insertId
        results[p.index] = mine ? withWarnings({ index: p.index, status: 'accepted', eventId: twin._id, leadId: twin.leadId }, p) : { index: p.index, status: 'duplicate', eventId: twin._id, leadId: twin.leadId }
        if (mine) touched.add(twin.leadId)
      }
    }
    if (touched.size > 0) await deps.enqueue([...touched], created)
    // the answer does not wait for the entry's removal: one a failed removal leaves is an orphan, whose leads the
    // sweeper queues again later and finds scored
    if (journalEntry !== null) deps.journal!.close(journalEntry)
    // violations are counted for the events stored with a warning (a duplicate was counted when first stored) and for
    // the rejects; the counts are stored before the request is answered
    for (const p of valid) {
      if (p.violations === undefined || results[p.index]?.status !== 'accepted') continue
      counted.push({ type: p.ev.type, sourceId: ctx.sourceId, outcome: 'warned', message: p.violations[0]!.message, pointer: p.violations[0]!.pointer, planVersion: plan!.version })
    }
    if (counted.length > 0) await deps.onViolations?.(counted)
    // the accepted events are counted last (a step failing after it would have a group's requests stored and counted
    // again), once per call: a group of requests costs one counter write, not one per request
    const summary = summarize(results)
    if (summary.accepted > 0) await deps.onStored?.(summary.accepted)
    return summary
  }

  /**
   * Group commit for small requests: concurrent `submit` calls of one source are stored together, in one `ingest`
   * (one lead read per lead, one insert of all their events, one insert of their markers) instead of one each. There
   * is no waiting for company: a call that finds no group being stored starts one at once; calls arriving while a
   * group is stored form the next one, which starts beside it once they hold PARALLEL_GROUP_EVENTS events (see
   * MAX_GROUPS). Each caller gets the answer for its own events, as `ingest` would give it.
   */
  const groups = new Map<string, { queue: Array<{ inputs: readonly unknown[]; requestId: string; done: (r: IngestSummary | Error) => void }>; running: number }>()
  function drain (sourceId: string): void {
    const g = groups.get(sourceId)
    if (g === undefined) return
    const waiting = (): number => g.queue.reduce((n, call) => n + call.inputs.length, 0)
    while (g.queue.length > 0 && (g.running === 0 || (g.running < MAX_GROUPS && waiting() >= PARALLEL_GROUP_EVENTS))) {
      const taken: typeof g.queue = []
      let n = 0
      while (g.queue.length > 0 && (taken.length === 0 || n + g.queue[0]!.inputs.length <= MAX_GROUP_EVENTS)) {
        const call = g.queue.shift()!
        taken.push(call)
        n += call.inputs.length
      }
      g.running++
      deps.onGroup?.(sourceId, taken.length)
      const inputs: unknown[] = []
      const requestIds: string[] = []
      const indexes: number[] = []
      const attemptIds: string[] = []
      const attemptsOf: string[][] = []
      for (const call of taken) {
        const ids = call.inputs.map(() => newId('at'))
        attemptsOf.push(ids)
        call.inputs.forEach((raw, i) => { inputs.push(raw); requestIds.push(call.requestId); indexes.push(i); attemptIds.push(ids[i]!) })
      }
      ingest(inputs, { sourceId, requestId: taken[0]!.requestId, requestIds, indexes, attemptIds })
        .then((summary) => {
          let offset = 0
          for (const call of taken) {
            const results = summary.results.slice(offset, offset + call.inputs.length).map((r) => ({ ...r, index: r.index - offset }))
            offset += call.inputs.length
            call.done(summarize(results))
          }
        }, async (err: unknown) => {
          if (taken.length === 1) {
            taken[0]!.done(err instanceof Error ? err : new Error(String(err)))
            return
          }
          // a failure of the group is not every request's: store each request again on its own (with the same
          // attempt ids, so what the group stored counts as accepted), and only the ones that fail again fail
          await mapLimit(taken, RETRY_CONCURRENCY, async (call, i) => {
            try {
              call.done(await ingest(call.inputs, { sourceId, requestId: call.requestId, attemptIds: attemptsOf[i] }))
            } catch (e) {
              call.done(e instanceof Error ? e : new Error(String(e)))
            }
          })
        })
        .finally(() => {
          g.running--
          if (g.running === 0 && g.queue.length === 0) groups.delete(sourceId)
          else drain(sourceId)
        })
    }
  }

  /** Like `ingest` (for requests of up to MAX_GROUP_EVENTS events), stored together with concurrent calls of the source. */
  async function submit (inputs: readonly unknown[], ctx: { sourceId: string; requestId: string }): Promise<IngestSummary> {
    if (inputs.length > MAX_GROUP_EVENTS) return await ingest(inputs, ctx)
    const r = await new Promise<IngestSummary | Error>((resolve) => {
      let g = groups.get(ctx.sourceId)
      if (g === undefined) { g = { queue: [], running: 0 }; groups.set(ctx.sourceId, g) }
      g.queue.push({ inputs, requestId: ctx.requestId, done: resolve })
      drain(ctx.sourceId)
    })
    if (r instanceof Error) throw r
    return r
  }

  return { ingest, submit }
}

export type IngestService = ReturnType<typeof createIngestService>

/** An accepted result with the tracking plan's warnings about its event, when there are any. */
function withWarnings (r: ItemResult, p: Pending): ItemResult {
  if (p.violations === undefined) return r
  return { ...r, warnings: p.violations.map((v) => ({ code: 'LS_ERR_PROPERTIES_SCHEMA', message: v.message, pointer: v.pointer })) }
}

/** The answer for a request's results: `submitted = accepted + duplicates + rejected`, counted from them. */
function summarize (results: ItemResult[]): IngestSummary {
  let accepted = 0; let duplicates = 0; let rejected = 0
  for (const r of results) {
    if (r.status === 'accepted') accepted++
    else if (r.status === 'duplicate') duplicates++
    else rejected++
  }
  return { submitted: results.length, accepted, duplicates, rejected, results }
}

// Server codes that refuse one document for its content: BadValue (FerretDB: infinities, nested arrays),
// DollarPrefixedFieldName, DottedFieldName, BSONObjectTooLarge and its cousins.
const REFUSED_CODES = new Set([2, 52, 57, 10334, 17419, 17420])
const TOO_LARGE_CODES = new Set([10334, 17419, 17420])

/**
 * Why the database (or the driver, encoding it) refused to store one event, or null when the failure is not about
 * the document (an outage, a lost connection): that one fails the request.
 */
function unstorableReason (err: unknown): RejectReason | null {
  const message = err instanceof Error ? err.message : String(err)
  if (err instanceof MongoServerError) {
    const code = Number(err.code)
    if (!REFUSED_CODES.has(code)) return null
    return TOO_LARGE_CODES.has(code)
      ? { code: 'LS_ERR_EVENT_TOO_LARGE', message: 'the event is too large to store' }
      : { code: 'LS_ERR_EVENT_INVALID', message: `the database refused to store the event: ${message.slice(0, 300)}` }
  }
  // the driver's own refusals, before anything is sent: a document over the size limit, or one BSON cannot encode
  const name = err instanceof Error ? err.name : ''
  const tooLarge = /larger than the maximum|too large|out of range/i.test(message)
  if (name === 'BSONError' || name === 'MongoInvalidArgumentError' || (err instanceof RangeError && tooLarge)) {
    return tooLarge
      ? { code: 'LS_ERR_EVENT_TOO_LARGE', message: 'the event is too large to store' }
      : { code: 'LS_ERR_EVENT_INVALID', message: `the event cannot be stored: ${message.slice(0, 300)}` }
  }
  return null
}

/** An event's properties and the lead attributes it carries, packed as events store them (see stored-properties.ts). */
interface PackedParts { properties: Binary; attributes?: Binary }

/** The packed parts of an event, or why BSON cannot encode them (past its 16 MB limit, above all). */
function packParts (ev: NormalizedEvent): PackedParts | RejectReason {
  try {
    const properties = packProperties(encodeKeys(ev.properties))
    const attributes = ev.lead.attributes !== undefined && Object.keys(ev.lead.attributes).length > 0 ? packProperties(encodeKeys(ev.lead.attributes)) : undefined
    return attributes === undefined ? { properties } : { properties, attributes }
  } catch (err) {
    const reason = unstorableReason(err)
    if (reason === null) throw err
    return reason
  }
}

/** The lead profile an event carries (applied to the lead by the worker), or null when it carries none. */
function profileOf (ev: NormalizedEvent, packed: PackedParts): EventDoc['leadProfile'] | null {
  const p: NonNullable<EventDoc['leadProfile']> = {}
  if (ev.lead.name !== undefined) p.name = ev.lead.name
  if (ev.lead.company !== undefined) p.company = ev.lead.company
  if (ev.lead.externalId !== null && ev.leadKey.startsWith('email:')) p.externalId = ev.lead.externalId
  if (packed.attributes !== undefined) p.attributes = packed.attributes
  return Object.keys(p).length > 0 ? p : null
}

/**
 * In-process turns per key: `run(keys, fn)` waits until no other run holds any of `keys`, then runs `fn`. Keys are
 * taken one at a time in sorted order, so two runs never wait on each other in a cycle.
 */
class KeyGates {
  private readonly tails = new Map<string, Promise<void>>()

  async run<T> (keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const releases: Array<() => void> = []
    try {
      for (const key of [...new Set(keys)].sort()) {
        const before = this.tails.get(key)
        let release!: () => void
        const mine = new Promise<void>((resolve) => { release = resolve })
        const tail = before === undefined ? mine : before.then(async () => await mine)
        this.tails.set(key, tail)
        releases.push(() => { release(); if (this.tails.get(key) === tail) this.tails.delete(key) })
        if (before !== undefined) await before
      }
      return await fn()
    } finally {
      for (const r of releases) r()
    }
  }
}
