// Erasure and export of one lead (GDPR): everything stored about a lead, found, removed or redacted, or gathered into
// one document. Erasure is rare, so the collections that keep no index by lead (rejects, idempotency records, the live
// feed, source counters, uploads, model holdouts, the audit log) are read whole; on FerretDB so is any query by lead.
import type { Collection, Filter } from 'mongodb'
import type { Collections } from '../../infra/db.js'
import { idLists } from '../../infra/db.js'
import { LS_ERR_LEAD_NOT_FOUND } from '../../errors.js'
import type { AuditService } from '../audit.js'
import { ledgerRangeOf } from '../ids.js'
import { normalizeEmail } from '../events/normalize.js'
import { createEventStatus } from '../events/event-status.js'
import { summaryOf } from '../lead-views/summary.js'
import { underLeadLock, type WithLeadLock } from '../lead-lock.js'
import { escapeRegex } from '../../lib/escape-regex.js'
import type { BacktestJobDoc } from '../rulesets/backtest.js'
import type { AuditDoc, DeliveryDoc, EventDoc, LeadAliasDoc, LeadDoc, LedgerDoc, NotificationDoc, RejectDoc, SourceRecentError } from '../types.js'
import type { SuppressionList } from './suppression.js'
import { payloadOf } from '../live/live-feed.js'

const ERASED = '[erased]'

/** Per-event reject codes: such a reject's `raw` is one input (one lead); any other reject may hold a whole delivery. */
const PER_EVENT_CODES = /^LS_ERR_(EVENT_|LEAD_|TIMESTAMP_|UPLOAD_ROW_)/

export interface PrivacyDeps {
  c: Collections
  now: () => Date
  /** true on FerretDB, where a lead's ledger entries are read by `_id` range when they are keyed under its id. */
  ferret: boolean
  withLeadLock: WithLeadLock
  views: {
    eventsOfLead(leadId: string): Promise<Array<{ _id: string; occurredAt: Date; type: string; status: string }>>
    erasedEvents(events: ReadonlyArray<{ occurredAt: Date; type: string; status: string }>): Promise<void>
    rejectsStored(n: number): Promise<void>
    apply(changes: Array<{ before: ReturnType<typeof summaryOf> | null; after: ReturnType<typeof summaryOf> | null }>): Promise<void>
  }
  outbox: { eraseLead(leadId: string): Promise<void> }
  identity: { unlink(leadId: string, externalId: string | null): Promise<void> }
  suppressions: SuppressionList
  /** This process's source counters held in memory (the stored ones are rewritten here). */
  sourceStats?: { redact(rewrite: (s: string) => string): void }
  /** The audit log (the core's one service). */
  audit: AuditService
}

/** What an erasure removed or redacted, by place (counts only: it is kept in the audit log). */
export interface ErasureReport {
  leadId: string
  suppressed: number
  events: number
  ledger: number
  rejects: { deleted: number; redacted: number }
  idempotencyRecords: number
  liveMessages: number
  sourceStats: number
  uploads: number
  modelHoldoutRows: number
  backtests: number
  auditEntries: number
}

/** Everything stored about one lead (the raw documents; the route serializes the lead, events and ledger). */
export interface LeadExport {
  lead: LeadDoc
  events: EventDoc[]
  ledger: LedgerDoc[]
  aliases: LeadAliasDoc[]
  notifications: NotificationDoc[]
  deliveries: DeliveryDoc[]
  rejects: RejectDoc[]
  modelHoldouts: Array<{ modelId: string; rows: Array<{ p: number; y: number }> }>
  backtests: Array<{ jobId: string; version: number; baseVersion: number; mover: unknown }>
  audit: AuditDoc[]
}

/**
 * Finds and replaces a lead's identity in stored text, case and Unicode form ignored: its email and lead id anywhere
 * (both are distinctive); its external id, which may be as short as "42", only as a whole JSON string, or as a word
 * of plain text when it is at least 6 characters long.
 */
function identityMatcher (lead: Pick<LeadDoc, '_id' | 'email' | 'externalId'>) {
  const anywhere = [lead.email, lead._id].filter((x): x is string => x !== null && x !== '')
  // the JSON form too: a stored payload escapes quotes and backslashes
  const parts = [...new Set(anywhere.flatMap((n) => [n, JSON.stringify(n).slice(1, -1)]))].sort((a, b) => b.length - a.length).map(escapeRegex)
  const ext = lead.externalId
  if (ext !== null && ext !== '') {
    parts.push(escapeRegex(JSON.stringify(ext)))
    if (ext.length >= 6) parts.push(`(?<![\\p{L}\\p{N}_-])${escapeRegex(ext)}(?![\\p{L}\\p{N}_-])`)
  }
  const re = new RegExp(parts.join('|'), 'giu')
  const norm = (s: string): string => s.normalize('NFC')
  return {
    hits: (s: string | null | undefined): boolean => typeof s === 'string' && s !== '' && new RegExp(re).test(norm(s)),
    redact: (s: string): string => norm(s).replace(new RegExp(re), (m) => m.startsWith('"') && m.endsWith('"') && m.length > 1 ? `"${ERASED}"` : ERASED),
  }
}

/** Whether a per-event reject's payload names this lead as its lead. */
function rejectIsTheLead (raw: string, lead: Pick<LeadDoc, 'email' | 'externalId'>): boolean {
  let v: unknown
  try { v = JSON.parse(raw) } catch { return false }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  const l = (v as { lead?: unknown }).lead
  if (l === null || typeof l !== 'object') return false
  const { email, externalId } = l as { email?: unknown; externalId?: unknown }
  if (typeof email === 'string' && lead.email !== null && normalizeEmail(email) === lead.email) return true
  return typeof externalId === 'string' && lead.externalId !== null && externalId.normalize('NFC').trim() === lead.externalId
}

export function createPrivacyService (deps: PrivacyDeps) {
  const { c } = deps
  const { audit } = deps
  const statuses = createEventStatus(deps)
  let statsInMemory = deps.sourceStats
  // backtest runs are stored in `jobs` with a shape of their own (routes/rulesets.ts)
  const backtestJobs = (): Collection<BacktestJobDoc> => c.jobs as unknown as Collection<BacktestJobDoc>

  async function mustGet (id: string): Promise<LeadDoc> {
    const l = await c.leads.findOne({ _id: id })
    if (l === null) throw new LS_ERR_LEAD_NOT_FOUND(id)
    return l
  }

  const underLock = async <T>(leadId: string, fn: () => Promise<T>): Promise<T> => await underLeadLock(deps.withLeadLock, leadId, fn)

  /** The lead's ledger entries' ids (by `_id` range where they are keyed under the lead on FerretDB). */
  async function ledgerOf (l: LeadDoc): Promise<LedgerDoc[]> {
    if (l.ledgerKeyed === true && deps.ferret) {
      return await c.scoreHistory.find(ledgerRangeOf(l._id) as Filter<LedgerDoc>).toArray()
    }
    return await c.scoreHistory.find({ leadId: l._id }).toArray()
  }

  /** Rejects that carry the lead: its own single-event rejects are deleted, deliveries that mix leads are redacted. */
  async function eraseRejects (l: LeadDoc, m: ReturnType<typeof identityMatcher>): Promise<{ deleted: number; redacted: number }> {
    const del: string[] = []
    let redacted = 0
    for await (const r of c.ingestRejects.find({}, { projection: { _id: 1, raw: 1, reason: 1, code: 1 } })) {
      if (!m.hits(r.raw) && !m.hits(r.reason)) continue
      if (PER_EVENT_CODES.test(r.code) && rejectIsTheLead(r.raw, l)) { del.push(r._id); continue }
      await c.ingestRejects.updateOne({ _id: r._id }, { $set: { raw: m.redact(r.raw), reason: m.redact(r.reason) } })
      redacted++
    }
    let deleted = 0
    for (const part of idLists(del)) deleted += (await c.ingestRejects.deleteMany({ _id: { $in: part } })).deletedCount
    await deps.views.rejectsStored(-deleted)
    return { deleted: del.length, redacted }
  }

  async function redactElsewhere (l: LeadDoc): Promise<Omit<ErasureReport, 'leadId' | 'suppressed' | 'events' | 'ledger'>> {
    const m = identityMatcher(l)
    const rejects = await eraseRejects(l, m)

    // stored responses of idempotent requests: kept (a retry must still get its answer) without the identity
    let idempotencyRecords = 0
    for await (const d of c.idempotencyKeys.find({}, { projection: { _id: 1, response: 1 } })) {
      if (!m.hits(d.response)) continue
      await c.idempotencyKeys.updateOne({ _id: d._id }, { $set: { response: m.redact(d.response!) } })
      idempotencyRecords++
    }

    // live messages are blanked in place, not deleted: readers rely on gapless seqs; no topic means no client gets it
    let liveMessages = 0
    for await (const d of c.liveFeed.find({}, { projection: { _id: 1, topics: 1, payload: 1 } })) {
      if (!d.topics.includes(`lead:${l._id}`) && !m.hits(JSON.stringify(payloadOf(d)))) continue
      await c.liveFeed.updateOne({ _id: d._id }, { $set: { topics: [], payload: { erased: true } } })
      liveMessages++
    }

    // source error samples: this process's copy in memory, and every process's stored copy
    statsInMemory?.redact((s) => m.hits(s) ? m.redact(s) : s)
    let sourceStats = 0
    for await (const d of c.sourceStats.find({})) {
      const text = (s: string): string => m.hits(s) ? m.redact(s) : s
      const recent: SourceRecentError[] = (d.recent ?? []).map((r) => ({ ...r, message: text(r.message) }))
      const lastError = d.lastError === null ? null : { ...d.lastError, message: text(d.lastError.message) }
      const lastPoll = d.lastPoll === null || d.lastPoll.error === null ? d.lastPoll : { ...d.lastPoll, error: { ...d.lastPoll.error, message: text(d.lastPoll.error.message) } }
      if (JSON.stringify([recent, lastError, lastPoll]) === JSON.stringify([d.recent ?? [], d.lastError, d.lastPoll])) continue
      await c.sourceStats.updateOne({ _id: d._id }, { $set: { recent, lastError, lastPoll } })
      sourceStats++
    }

    let uploads = 0
    for await (const u of c.uploads.find({}, { projection: { _id: 1, error: 1, filename: 1 } })) {
      const set: Record<string, unknown> = {}
      if (u.error != null && m.hits(u.error.message)) set['error.message'] = m.redact(u.error.message)
      if (m.hits(u.filename)) set.filename = m.redact(u.filename!)
      if (Object.keys(set).length === 0) continue
      await c.uploads.updateOne({ _id: u._id }, { $set: set })
      uploads++
    }

    // the holdout rows models were evaluated on (a model's parameters aggregate many leads and are kept)
    let modelHoldoutRows = 0
    for await (const e of c.modelEvaluations.find({})) {
      const rows = e.rows.filter((r) => r.leadId !== l._id)
      if (rows.length === e.rows.length) continue
      modelHoldoutRows += e.rows.length - rows.length
      await c.modelEvaluations.updateOne({ _id: e._id }, { $set: { rows } })
    }

    // backtest reports list the leads whose score moved (id, name, email) and may be scoped to lead ids: the lead's
    // rows go, the totals (aggregates over many leads) stay
    let backtests = 0
    for await (const b of backtestJobs().find({ kind: 'backtest' })) {
      const movers = b.result?.movers ?? []
      const keptMovers = movers.filter((x) => x.leadId !== l._id)
      const ids = b.scope?.leadIds ?? null
      const keptIds = ids === null ? null : ids.filter((id) => id !== l._id)
      if (keptMovers.length === movers.length && (ids === null || keptIds!.length === ids.length)) continue
      const set: Record<string, unknown> = { 'scope.leadIds': keptIds }
      if (b.result != null) set['result.movers'] = keptMovers
      await c.jobs.updateOne({ _id: b._id }, { $set: set })
      backtests++
    }

    // audit entries stay (who did what, to which lead id); their details lose the identity
    const auditEntries = await audit.rewriteDetails((details) => {
      const text = JSON.stringify(details)
      return m.hits(text) ? JSON.parse(m.redact(text)) as Record<string, unknown> : null
    })
    return { rejects, idempotencyRecords, liveMessages, sourceStats, uploads, modelHoldoutRows, backtests, auditEntries }
  }

  return {
    /** Wires the plugin host's source counters (created after the core), so erasure redacts this process's copy. */
    useSourceStats (stats: NonNullable<PrivacyDeps['sourceStats']>): void { statsInMemory = stats },

    /**
     * Erases a lead everywhere it is stored. With `suppress`, its identities are put on the suppression list first, so
     * an event arriving meanwhile is refused rather than creating the lead again. Audited (counts only).
     */
    async erase (leadId: string, opts: { suppress: boolean; actor: string }): Promise<ErasureReport> {
      const l = await mustGet(leadId)
      const report = await underLock(l._id, async () => {
        const cur = await mustGet(l._id)
        const suppressed = opts.suppress ? (await deps.suppressions.add(cur, opts.actor)).length : 0
        // the lead's events by `_id` (its seqs are gapless), so their counts can be taken out of the aggregates
        const events = await deps.views.eventsOfLead(l._id)
        for (const part of idLists(events.map((e) => e._id))) await c.events.deleteMany({ _id: { $in: part } })
        const ledger = (await ledgerOf(cur)).map((e) => e._id)
        for (const part of idLists(ledger)) await c.scoreHistory.deleteMany({ _id: { $in: part } })
        await deps.outbox.eraseLead(l._id)
        await deps.identity.unlink(l._id, cur.externalId ?? null)
        await c.leads.deleteOne({ _id: l._id })
        await c.pendingLeads.deleteOne({ _id: l._id })
        await deps.views.erasedEvents(events)
        if (cur.rev > 0 || cur.inViews === true) await deps.views.apply([{ before: summaryOf(cur), after: null }])
        return { leadId: l._id, suppressed, events: events.length, ledger: ledger.length }
      })
      const rest = await redactElsewhere(l)
      const full: ErasureReport = { ...report, ...rest }
      await audit.record(opts.actor, 'lead.delete', l._id, { ...full, suppress: opts.suppress } as unknown as Record<string, unknown>)
      return full
    },

    /** Everything stored about a lead, in one document. Audited. */
    async exportLead (leadId: string, actor: string): Promise<LeadExport> {
      const l = await mustGet(leadId)
      const m = identityMatcher(l)
      const stored: EventDoc[] = []
      const ids = (await deps.views.eventsOfLead(l._id)).map((e) => e._id)
      for (const part of idLists(ids)) stored.push(...await c.events.find({ _id: { $in: part } }).toArray())
      const events = (await statuses.resolve(stored)).sort((a, b) => a.seq - b.seq)
      const ledger = (await ledgerOf(l)).sort((a, b) => a.ord < b.ord ? -1 : a.ord > b.ord ? 1 : a._id < b._id ? -1 : 1)
      const aliases = l.externalId !== null ? await c.leadAliases.find({ _id: `ext:${l.externalId}`, leadId: l._id }).toArray() : []
      const notifications = await c.notifications.find({ leadId: l._id }).toArray()
      const deliveries = await c.webhookDeliveries.find({ leadId: l._id }).toArray()
      const rejects: RejectDoc[] = []
      for await (const r of c.ingestRejects.find({})) if (m.hits(r.raw) || m.hits(r.reason)) rejects.push(r)
      const modelHoldouts: LeadExport['modelHoldouts'] = []
      for await (const e of c.modelEvaluations.find({})) {
        const rows = e.rows.filter((r) => r.leadId === l._id).map((r) => ({ p: r.p, y: r.y }))
        if (rows.length > 0) modelHoldouts.push({ modelId: e._id, rows })
      }
      const backtests: LeadExport['backtests'] = []
      for await (const b of backtestJobs().find({ kind: 'backtest' })) {
        const mover = b.result?.movers.find((x) => x.leadId === l._id)
        if (mover !== undefined) backtests.push({ jobId: b._id, version: b.version, baseVersion: b.baseVersion, mover })
      }
      const entries = await audit.about(l._id)
      await audit.record(actor, 'lead.export', l._id, { events: events.length, ledger: ledger.length, rejects: rejects.length })
      return { lead: l, events, ledger, aliases, notifications, deliveries, rejects, modelHoldouts, backtests, audit: entries }
    },
  }
}

export type PrivacyService = ReturnType<typeof createPrivacyService>
