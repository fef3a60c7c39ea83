import type { Collection } from 'mongodb'
import type { LedgerDoc, LeadDoc } from '../types.js'
import { ledgerRangeOf } from '../ids.js'
import { intentLabelOfRule } from './plugin.js'
import type { Offer, OfferService } from '../offers/types.js'
import type { IngestContext, IngestSummary } from '../events/ingest.js'
import type { LiveFeed } from '../live/live-feed.js'
import { decodeKeys } from '../../lib/keys.js'
import { newId, sha256 } from '../../lib/ids.js'
import { isDuplicateKey } from '../../infra/db.js'
import { isClassifiable, profileHash, profileOf } from './profile.js'
import type { IntentClassifier, ProviderHealth } from './classifier.js'
import { INTENT_EVENT_TYPE, INTENT_SOURCE, type IntentAnswer, type IntentResult, type LeadProfile } from './types.js'

/** A lead waiting to be classified (`_id` the lead id): one document however often it is asked for. */
export interface IntentQueueDoc { _id: string; at: Date; why: 'profile' | 'offer' | 'request' }
/** A provider's answer for one (profile, offer version, model), `_id` their hash. */
export interface IntentCacheDoc extends IntentAnswer { _id: string; at: Date }
/**
 * The last classification of a lead (`_id` the lead id). `trigger` names the profile and offer version it was made
 * for: a lead is queued again only when that changes. The document `_id: ACTIVE_OFFER_ID` keeps the offer version
 * the leads were last queued for, in `trigger`.
 */
export interface IntentStateDoc {
  _id: string
  trigger: string
  result?: IntentResult
  offerId?: string
  offerVersion?: number
  eventId?: string | null
  at: Date
}

const ACTIVE_OFFER_ID = '~active-offer'

export interface IntentCollections {
  leads: Collection<LeadDoc>
  intentQueue: Collection<IntentQueueDoc>
  intentCache: Collection<IntentCacheDoc>
  intentState: Collection<IntentStateDoc>
  scoreHistory: Collection<LedgerDoc>
}

/** The AI intent plugin's reason in the ledger entry that scored a classification. */
export interface IntentLedgerEntry { entryId: string; ruleId: string; points: number; note: string; rulesetVersion: number }

export interface IntentLogger { info (o: object, m: string): void; warn (o: object, m: string): void; error (o: object, m: string): void; debug (o: object, m: string): void }

export interface IntentServiceDeps {
  c: IntentCollections
  ingest: { ingest (inputs: readonly unknown[], ctx: IngestContext): Promise<IngestSummary> }
  live: Pick<LiveFeed, 'after' | 'top'>
  /** The offers (issue 16 part A); null while the server has none, and then nothing is classified. */
  offers: OfferService | null
  classifier: IntentClassifier
  /** What the status says of the configured provider. */
  configured: { provider: 'off' | 'openai' | 'local'; model: string | null; problem?: () => string | null }
  log: IntentLogger
  now: () => Date
  pollMs: number
  /** Leads classified per poll. */
  batch?: number
}

const triggerOf = (profile: LeadProfile, offer: Offer): string => sha256(JSON.stringify([profileHash(profile), offer.id, offer.version]))

/** The cache of provider answers in `intentCache`, read and written by `_id` only. */
export function mongoIntentCache (col: Collection<IntentCacheDoc>, now: () => Date) {
  return {
    async get (key: string): Promise<IntentAnswer | null> {
      const d = await col.findOne({ _id: key })
      return d === null ? null : { intent: d.intent, reasons: d.reasons }
    },
    async set (key: string, a: IntentAnswer): Promise<void> {
      await col.replaceOne({ _id: key }, { intent: a.intent, reasons: a.reasons, at: now() }, { upsert: true })
    },
  }
}

/**
 * The AI intent layer, off the scoring path: it watches the live feed for scored leads, queues those whose profile
 * (or the active offer) changed since their last classification, classifies them one at a time, and ingests each
 * result as an `intent_classified` event, which the published ruleset scores like any other event. Every database
 * access is by `_id` (the embedded FerretDB reads a whole collection for any other query), except the small queue's
 * scan and one scan of the lead ids when the active offer changes.
 */
export function createIntentService (deps: IntentServiceDeps) {
  const { c, log, now } = deps
  const batch = deps.batch ?? 10
  let cursor = -1
  let timer: NodeJS.Timeout | null = null
  let running: Promise<void> | null = null
  let stopping = false
  let lastOffer: { id: string; version: number } | null = null
  let lastTickError: string | null = null

  async function activeOffer (): Promise<Offer | null> {
    const o = deps.offers === null ? null : await deps.offers.active()
    lastOffer = o === null ? null : { id: o.id, version: o.version }
    return o
  }

  async function leadProfile (leadId: string): Promise<{ lead: Pick<LeadDoc, '_id' | 'key' | 'email' | 'externalId'>; profile: LeadProfile } | null> {
    const lead = await c.leads.findOne({ _id: leadId }, { projection: { _id: 1, key: 1, email: 1, externalId: 1, name: 1, company: 1, attributes: 1 } })
    if (lead === null) return null
    return { lead, profile: profileOf({ name: lead.name, company: lead.company, attributes: decodeKeys(lead.attributes ?? {}) }) }
  }

  async function enqueue (leadIds: readonly string[], why: IntentQueueDoc['why']): Promise<void> {
    for (const id of leadIds) await c.intentQueue.updateOne({ _id: id }, { $setOnInsert: { at: now(), why } }, { upsert: true })
  }

  /** Queues the leads whose profile or offer changed since their last classification. */
  async function consider (leadIds: readonly string[], offer: Offer): Promise<number> {
    let queued = 0
    for (const id of leadIds) {
      const p = await leadProfile(id)
      if (p === null || !isClassifiable(p.profile)) continue
      const state = await c.intentState.findOne({ _id: id }, { projection: { trigger: 1 } })
      if (state?.trigger === triggerOf(p.profile, offer)) continue
      await enqueue([id], 'profile')
      queued++
    }
    return queued
  }

  /** When the active offer is a new one, one process (the one whose compare-and-set wins) queues every lead. */
  async function followOffer (offer: Offer): Promise<void> {
    const key = `${offer.id}@${offer.version}`
    const meta = await c.intentState.findOne({ _id: ACTIVE_OFFER_ID })
    if (meta?.trigger === key) return
    let won = false
    if (meta === null) {
      try { await c.intentState.insertOne({ _id: ACTIVE_OFFER_ID, trigger: key, at: now() }); won = true } catch (err) { if (!isDuplicateKey(err)) throw err }
    } else {
      won = (await c.intentState.updateOne({ _id: ACTIVE_OFFER_ID, trigger: meta.trigger }, { $set: { trigger: key, at: now() } })).modifiedCount === 1
    }
    if (!won) return
    const ids: string[] = []
    for await (const l of c.leads.find({}).project<{ _id: string }>({ _id: 1 })) ids.push(l._id)
    log.info({ offerId: offer.id, offerVersion: offer.version, leads: ids.length }, 'active offer changed: every lead is queued for intent classification')
    await consider(ids, offer)
  }

  /** Scored leads since the last look, from the live feed (their own intent events excepted). */
  async function scoredLeads (): Promise<string[]> {
    const ids = new Set<string>()
    for (let page = 0; page < 20; page++) {
      const msgs = await deps.live.after(cursor, 500)
      if (msgs.length === 0) break
      cursor = msgs[msgs.length - 1]!.seq
      for (const m of msgs) {
        if (m.type !== 'lead.scored') continue
        const d = m.data as { leadId?: unknown; entries?: Array<{ type?: unknown }> }
        if (typeof d.leadId !== 'string') continue
        if (Array.isArray(d.entries) && d.entries.length > 0 && d.entries.every((e) => e.type === INTENT_EVENT_TYPE)) continue
        ids.add(d.leadId)
      }
      if (msgs.length < 500) break
    }
    return [...ids]
  }

  /** Classifies one lead against the offer and ingests the result; null when there is nothing to classify. */
  async function classifyLead (leadId: string, offer: Offer, force = false): Promise<IntentStateDoc | null> {
    const p = await leadProfile(leadId)
    if (p === null || !isClassifiable(p.profile)) return null
    const trigger = triggerOf(p.profile, offer)
    if (!force && (await c.intentState.findOne({ _id: leadId }, { projection: { trigger: 1 } }))?.trigger === trigger) return null
    const started = performance.now()
    const result = await deps.classifier.classify(p.profile, offer)
    const ms = Math.round(performance.now() - started)
    // with no model configured the fallback is the plan (said once at start), not a failure worth a line per lead
    if (result.fallbackReason !== undefined) log[deps.classifier.health().state === 'off' ? 'debug' : 'warn']({ leadId, provider: result.provider, why: result.fallbackReason }, 'intent classified by the rule fallback')
    else log.debug({ leadId, provider: result.provider, model: result.model, intent: result.intent, ms, cached: result.cached === true }, 'intent classified')
    const lead = p.lead.email !== null ? { email: p.lead.email } : { externalId: p.lead.externalId ?? p.lead.key.replace(/^ext:/, '') }
    // the same lead, profile, offer version and model make the same event: a repeated run stores it once
    const externalId = `intent:${sha256(JSON.stringify([p.lead.key, trigger, result.provider, result.model]))}`
    const properties: Record<string, unknown> = {
      intent: result.intent, reasons: result.reasons, provider: result.provider, model: result.model, offerId: offer.id, offerVersion: offer.version,
      ...(result.fallbackReason !== undefined ? { fallbackReason: result.fallbackReason } : {}),
    }
    const r = await deps.ingest.ingest([{ externalId, lead, type: INTENT_EVENT_TYPE, occurredAt: now().toISOString(), properties }], { sourceId: INTENT_SOURCE, requestId: newId('rq') })
    const item = r.results[0]
    if (item?.status === 'rejected') throw new Error(`the intent event was rejected: ${item.error?.code ?? ''} ${item.error?.message ?? ''}`)
    const { cached: _cached, ...stored } = result
    const state: IntentStateDoc = { _id: leadId, trigger, result: stored, offerId: offer.id, offerVersion: offer.version, eventId: item?.eventId ?? null, at: now() }
    await c.intentState.replaceOne({ _id: leadId }, state, { upsert: true })
    return state
  }

  /** Takes up to `batch` queued leads and classifies them; a lead is taken by deleting its queue document. */
  async function drain (offer: Offer): Promise<number> {
    const docs = await c.intentQueue.find({}).limit(batch).toArray()
    let done = 0
    for (const d of docs) {
      if (stopping) break
      const taken = await c.intentQueue.deleteOne({ _id: d._id })
      if (taken.deletedCount !== 1) continue
      try {
        if (await classifyLead(d._id, offer, d.why === 'request') !== null) done++
      } catch (err) {
        log.error({ err, leadId: d._id }, 'intent classification failed')
      }
    }
    return done
  }

  /** One round: follow the offer, queue changed leads, classify a batch. */
  async function tick (): Promise<number> {
    const offer = await activeOffer()
    const changed = await scoredLeads()
    if (offer === null) return 0
    await followOffer(offer)
    if (changed.length > 0) await consider(changed, offer)
    return await drain(offer)
  }

  return {
    tick,
    classifyLead,
    /** Asks for a classification of the lead even when its profile did not change (a retry after a fallback). */
    async request (leadId: string): Promise<void> { await enqueue([leadId], 'request') },
    /** The lead's last classification, or null. */
    async latest (leadId: string): Promise<IntentStateDoc | null> {
      if (leadId === ACTIVE_OFFER_ID) return null
      return await c.intentState.findOne({ _id: leadId })
    },
    /** Whether the lead exists. */
    async leadExists (leadId: string): Promise<boolean> {
      return await c.leads.findOne({ _id: leadId }, { projection: { _id: 1 } }) !== null
    },
    /** The AI intent plugin's reason in the lead's current ledger entry of the event, or null. */
    async scoredBy (leadId: string, eventId: string | null): Promise<IntentLedgerEntry | null> {
      if (eventId === null) return null
      const lead = await c.leads.findOne({ _id: leadId }, { projection: { ledgerKeyed: 1 } })
      if (lead === null) return null
      // by `_id` range when every entry of the lead is keyed under it (the embedded FerretDB scans for anything else)
      const cursor = c.scoreHistory.find((lead.ledgerKeyed === true ? ledgerRangeOf(leadId) : { leadId }) as never)
        .project<Pick<LedgerDoc, '_id' | 'eventId' | 'reasons' | 'rulesetVersion' | 'committed' | 'superseded'>>({ eventId: 1, reasons: 1, rulesetVersion: 1, committed: 1, superseded: 1 })
      for await (const e of cursor) {
        if (e.eventId !== eventId || !e.committed || e.superseded) continue
        const r = e.reasons.find((x) => intentLabelOfRule(x.ruleId) !== null)
        return r === undefined ? null : { entryId: e._id, ruleId: r.ruleId, points: r.points, note: r.note, rulesetVersion: e.rulesetVersion }
      }
      return null
    },
    async start (): Promise<void> {
      stopping = false
      cursor = await deps.live.top()
      const { provider, model } = deps.configured
      if (provider === 'off') log.warn({}, 'AI intent: no model is configured (LEADSCORE_INTENT_PROVIDER=off); leads are classified by the rule fallback')
      else {
        const problem = deps.configured.problem?.() ?? null
        if (problem !== null) log.warn({ provider, model, problem }, 'AI intent provider cannot answer; leads are classified by the rule fallback until it can')
        else log.info({ provider, model }, 'AI intent provider configured')
      }
      timer = setInterval(() => {
        if (running !== null) return
        running = tick().then(() => { lastTickError = null }, (err: unknown) => {
          lastTickError = (err as Error).message
          log.warn({ err }, 'intent round failed')
        }).finally(() => { running = null })
      }, deps.pollMs)
      timer.unref()
    },
    async stop (): Promise<void> {
      stopping = true
      if (timer !== null) clearInterval(timer)
      timer = null
      await running
      await deps.classifier.close()
    },
    async status () {
      const { provider, model } = deps.configured
      const health: ProviderHealth = deps.classifier.health()
      const problem = deps.configured.problem?.() ?? null
      return {
        provider, model, configured: provider !== 'off',
        message: provider === 'off'
          ? 'No model is configured (LEADSCORE_INTENT_PROVIDER=off): every lead is classified by the rule fallback.'
          : problem !== null ? `The ${provider} provider cannot answer: ${problem}. The rule fallback classifies meanwhile.`
            : health.state === 'paused' ? `The ${provider} provider is paused after repeated failures; the rule fallback answers meanwhile.` : `Leads are classified by ${provider} (${model ?? ''}).`,
        health: { ...health, lastErrorAt: health.lastErrorAt?.toISOString() ?? null, pausedUntil: health.pausedUntil?.toISOString() ?? null },
        offer: deps.offers === null ? null : lastOffer ?? await activeOffer(),
        queued: await c.intentQueue.countDocuments({}),
        running: timer !== null,
        lastError: lastTickError,
      }
    },
  }
}

export type IntentService = ReturnType<typeof createIntentService>
