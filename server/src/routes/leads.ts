import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { problemResponses, Page, IdParams } from '../schemas/common.js'
import { LeadFilterQuery, LEAD_SORTS, type SortName } from '../schemas/leads.js'
import { LS_ERR_LEAD_EXISTS, LS_ERR_LEAD_NOT_FOUND, LS_ERR_LEAD_SUPPRESSED, LS_ERR_VALIDATION } from '../errors.js'
import { decodeStringCursor, pageOf } from '../lib/cursor.js'
import { encodeKeys, encodeKey, findForbiddenKey } from '../lib/keys.js'
import { newId } from '../lib/ids.js'
import { leadIdOf } from '../domain/ids.js'
import { createLeadStore } from '../domain/leads/lead-store.js'
import { leadOut, eventOut, ledgerOut } from './serialize.js'
import { normalizeEmail, leadKeyOf } from '../domain/events/normalize.js'
import { initialState } from '../domain/scoring/model.js'
import { isDuplicateKey } from '../infra/db.js'
import { summaryOf } from '../domain/lead-views/summary.js'
import { MANUAL_SOURCE, ADJUSTMENT_TYPE } from '../domain/scoring/pipeline.js'
import { LEAD_UPDATED } from '../contracts/index.js'
import { REST_SOURCE } from './events.js'
import type { LeadDoc } from '../domain/types.js'
import { underLeadLock } from '../domain/lead-lock.js'
import { identityKeysOf } from '../domain/privacy/suppression.js'
import { LeadExport } from '../schemas/privacy.js'
import { readLedger, ordAt } from '../domain/trends/ledger-reader.js'
import { leadAsOf, leaderboardAsOf, MAX_CHANGED_LEADS, type LeadAsOf } from '../domain/trends/as-of.js'
import { bucketStarts, defaultFrom, trendOf, MAX_BUCKETS, type BucketSize } from '../domain/trends/trend.js'
import { AsOfQuery, Trend, TrendQuery } from '../schemas/trends.js'

function parseJson (s: string): unknown {
  try { return JSON.parse(s) } catch { return s }
}

export { LeadFilterQuery } from '../schemas/leads.js'
export type { SortName } from '../schemas/leads.js'

/** Exports import the lead list's filter from here. */
export { leadFilter } from '../domain/leads/lead-filter.js'

const LeadCreate = Type.Object({
  email: Type.Optional(Type.String({ maxLength: 254 })),
  externalId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  name: Type.Optional(Type.String({ maxLength: 200 })),
  company: Type.Optional(Type.String({ maxLength: 200 })),
  status: Type.Optional(Type.String({ minLength: 1, maxLength: 50, pattern: '^[a-z][a-z0-9_]*$' })),
  attributes: Type.Optional(Type.Record(Type.String({ maxLength: 100 }), Type.Unknown())),
}, { additionalProperties: false })

const LeadPatch = Type.Object({
  name: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
  company: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
  status: Type.Optional(Type.String({ minLength: 1, maxLength: 50, pattern: '^[a-z][a-z0-9_]*$' })),
  attributes: Type.Optional(Type.Record(Type.String({ maxLength: 100 }), Type.Unknown())),
}, { additionalProperties: false })

/** Dates the as-of and trend parameters accept (the analytics range's bounds). */
const MIN_TIME = Date.parse('1970-01-01T00:00:00Z')
const MAX_TIME = Date.parse('9998-12-31T00:00:00Z')

function parseTime (name: string, v: string): Date {
  const ms = Date.parse(v)
  if (!Number.isFinite(ms) || ms < MIN_TIME || ms > MAX_TIME) throw new LS_ERR_VALIDATION(`${name} must be a date-time between 1970 and 9998`)
  return new Date(ms)
}

/** A lead answered as of a time: the lead's fields with its `asOf` mark. */
function asOfOut (l: LeadAsOf) {
  return { ...leadOut(l), asOf: { at: l.asOf.at.toISOString(), entryId: l.asOf.entryId, knownAt: l.asOf.knownAt?.toISOString() ?? null } }
}

/** Whether a lead is counted in the lead views yet (scoring counts a new lead at its first commit). */
const counted = (l: LeadDoc): boolean => l.rev > 0 || l.inViews === true

const leadsRoutes: FastifyPluginAsyncTypebox = async function leadsRoutes (app) {
  const { core } = app
  const leads = createLeadStore(core)
  const audit = core.audit
  const ledgerDeps = leads.ledger

  /** Every change to a lead document happens under the lead's lock (see the lead processor). */
  const underLock = async <T>(leadId: string, fn: () => Promise<T>): Promise<T> => await underLeadLock(core.withLeadLock, leadId, fn)

  async function mustGet (id: string): Promise<LeadDoc> {
    const l = await leads.get(id)
    if (l === null) throw new LS_ERR_LEAD_NOT_FOUND(id)
    return l
  }

  app.get('/v1/leads', {
    config: { scope: 'read' },
    schema: {
      tags: ['leads'], summary: 'List leads with filters, sort and cursor pagination',
      description: 'Pages are read from the lead index (docs/architecture.md, "Lead views"). A filter the index does not order by (a stage, source or score range with a sort other than by score) is checked lead by lead; when it skips many leads a page may hold fewer than `limit` leads while `nextCursor` is not null: follow it for more.',
      querystring: Type.Composite([LeadFilterQuery, Type.Object({
        sort: Type.Union(LEAD_SORTS.map((k) => Type.Literal(k)), { default: 'score_desc' }),
        limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
        cursor: Type.Optional(Type.String({ maxLength: 500 })),
      })], { additionalProperties: false }),
      response: { 200: Page(Type.Ref('Lead')), ...problemResponses },
    },
  }, async (req) => {
    const q = req.query
    const page = await core.views.list({ ...q, sort: q.sort as SortName })
    return { items: page.items.map(leadOut), nextCursor: page.nextCursor }
  })

  app.post('/v1/leads', {
    config: { scope: 'ingest' },
    schema: { tags: ['leads'], summary: 'Create a lead', body: LeadCreate, response: { 201: Type.Ref('Lead'), 409: Type.Ref('ProblemDetails'), ...problemResponses } },
  }, async (req, reply) => {
    const b = req.body
    const forbidden = findForbiddenKey(b)
    if (forbidden !== null) throw new LS_ERR_VALIDATION(`the key '${forbidden}' is not allowed`)
    let email: string | null = null
    if (b.email !== undefined) {
      email = normalizeEmail(b.email)
      if (email === null) throw new LS_ERR_VALIDATION('email is not a valid email address')
    }
    const externalId = b.externalId?.trim() || null
    if (email === null && externalId === null) throw new LS_ERR_VALIDATION('a lead needs an email or an externalId')
    const key = leadKeyOf(email, externalId)
    if ((await core.suppressions.suppressed(identityKeysOf({ key, email, externalId }))).size > 0) throw new LS_ERR_LEAD_SUPPRESSED()
    const t = core.now()
    const settings = (await core.rulesets.active()).settings
    const doc: LeadDoc = {
      _id: leadIdOf(key), key, email, externalId, name: b.name?.trim() ?? null, company: b.company?.trim() ?? null,
      attributes: encodeKeys(b.attributes ?? {}), status: b.status ?? 'open', stage: initialState(settings).stage, grade: '', score: 0,
      scores: { engagement: 0, fit: 0, intent: 0, predictive: null }, sources: [], nextSeq: 0, lastSeq: 0, lastOrd: null, rev: 0,
      state: initialState(settings), lastBatch: null, rescoreFrom: null, lastEventAt: null, lastScoredAt: null, rulesetVersion: null,
      createdAt: t, updatedAt: t, inViews: true,
    }
    // the lead's index keys first, so it is never missing from the list; taken back if the lead exists already
    const change = { before: null, after: summaryOf(doc) }
    await core.views.prepare([change])
    try {
      await leads.insert(doc)
    } catch (err) {
      await core.views.settle([], [change])
      if (isDuplicateKey(err)) throw new LS_ERR_LEAD_EXISTS(email ?? externalId ?? '')
      throw err
    }
    await core.views.settle([change], [])
    // events that name only this external id join this lead
    if (email !== null && externalId !== null) await core.identity.link([{ externalId, leadId: doc._id, key }])
    return reply.code(201).send(leadOut(doc))
  })

  app.get('/v1/leads/:id', {
    config: { scope: 'read' },
    schema: {
      tags: ['leads'], summary: 'One lead, now or as of a past time',
      description: 'With `asOf`, the score fields (score, scores, stage, grade, intentLabel, predictive) are the state after the last ledger entry whose event time is at or before `asOf`, as the ledger holds it now (late events recorded since count); add `knownAt` to see only what had been recorded by then. 404 when the lead did not exist yet. See docs/trends.md.',
      params: IdParams,
      querystring: Type.Object(AsOfQuery, { additionalProperties: false }),
      response: { 200: Type.Ref('Lead'), ...problemResponses },
    },
  }, async (req) => {
    const l = await mustGet(req.params.id)
    const { asOf, knownAt } = req.query
    if (asOf === undefined) {
      if (knownAt !== undefined) throw new LS_ERR_VALIDATION('knownAt needs asOf')
      return leadOut(l)
    }
    const at = parseTime('asOf', asOf)
    const known = knownAt === undefined ? null : parseTime('knownAt', knownAt)
    const r = await leadAsOf(ledgerDeps, l, at, (await core.rulesets.active()).settings, known)
    if (r === null) throw new LS_ERR_LEAD_NOT_FOUND(`${l._id}' as of '${at.toISOString()}`)
    return asOfOut(r)
  })

  app.get('/v1/leads/:id/trend', {
    config: { scope: 'read' },
    schema: {
      tags: ['leads'], summary: 'The lead\'s score, dimensions, stage and grade per UTC hour, day, week or month, in event time',
      description: `Read from the lead's visible ledger (late events placed at their event time, decay ticks included). At most ${MAX_BUCKETS} buckets (a 400 problem beyond). See docs/trends.md.`,
      params: IdParams,
      querystring: TrendQuery,
      response: { 200: Trend, ...problemResponses },
    },
  }, async (req) => {
    const l = await mustGet(req.params.id)
    const size = (req.query.bucket ?? 'day') as BucketSize
    const to = req.query.to === undefined ? core.now() : parseTime('to', req.query.to)
    const from = req.query.from === undefined ? new Date(defaultFrom(to.getTime(), size)) : parseTime('from', req.query.from)
    if (from >= to) throw new LS_ERR_VALIDATION('from must be before to')
    const starts = bucketStarts(from.getTime(), to.getTime(), size)
    if (starts === null) throw new LS_ERR_VALIDATION(`the range holds more than ${MAX_BUCKETS} ${size} buckets (choose a shorter range or a larger bucket)`)
    const settings = (await core.rulesets.active()).settings
    const entries = await readLedger(ledgerDeps, l, { includeSuperseded: false, order: 'asc', ordBelow: ordAt(to) })
    const buckets = trendOf(entries, starts, size, initialState(settings), settings)
    return {
      leadId: l._id, bucket: size, from: new Date(starts[0]!).toISOString(), to: to.toISOString(),
      buckets: buckets.map((b) => ({ ...b, start: b.start.toISOString(), end: b.end.toISOString() })),
    }
  })

  app.patch('/v1/leads/:id', {
    config: { scope: 'ingest' },
    schema: { tags: ['leads'], summary: 'Update a lead\'s profile (attributes are merged; identity cannot change). An attributes change is also recorded as a lead_updated event, which rules score like any event', params: IdParams, body: LeadPatch, response: { 200: Type.Ref('Lead'), ...problemResponses } },
  }, async (req) => {
    const b = req.body
    const forbidden = findForbiddenKey(b)
    if (forbidden !== null) throw new LS_ERR_VALIDATION(`the key '${forbidden}' is not allowed`)
    const set: Record<string, unknown> = { updatedAt: core.now() }
    if (b.name !== undefined) set.name = b.name
    if (b.company !== undefined) set.company = b.company
    if (b.status !== undefined) set.status = b.status
    for (const [k, v] of Object.entries(b.attributes ?? {})) set[`attributes.${encodeKey(k)}`] = encodeKeys(v)
    if (b.attributes !== undefined) {
      // An attributes change is also a `lead_updated` event, so it is in the lead's history and rules re-evaluate on
      // it (fit rules on lead attributes); scoring applies the same attributes in seq order with the event. Name and
      // company are written here only: an event's copy would be trimmed, and a name is kept exactly as sent.
      const cur = await mustGet(req.params.id)
      const lead = { ...(cur.email !== null ? { email: cur.email } : { externalId: cur.externalId ?? '' }), attributes: b.attributes }
      const r = await core.ingest.ingest([{ externalId: newId('pt'), lead, type: LEAD_UPDATED }], { sourceId: REST_SOURCE, requestId: String(req.id) })
      const item = r.results[0]!
      if (item.status !== 'accepted') throw new LS_ERR_VALIDATION(item.error?.message ?? 'profile change rejected')
    }
    const l = await underLock(req.params.id, async () => {
      const { before, after } = await leads.update(req.params.id, set)
      if (before !== null && after !== null && counted(before)) await core.views.apply([{ before: summaryOf(before), after: summaryOf(after) }])
      return after
    })
    if (l === null) throw new LS_ERR_LEAD_NOT_FOUND(req.params.id)
    await audit.record(req.principal!.name, 'lead.update', l._id, { fields: Object.keys(b) })
    return leadOut(l)
  })

  app.delete('/v1/leads/:id', {
    config: { scope: 'admin' },
    schema: {
      tags: ['leads'], summary: 'Erase a lead everywhere it is stored (GDPR erasure), and by default suppress its identity',
      description: 'Deletes the lead, its events, ledger, aliases, notifications and deliveries, its own stored rejects and its holdout rows in trained models; redacts its identity where a document mixes several leads (stored request responses, rejected deliveries, source error samples, upload errors, audit details) and blanks its live feed messages. With `suppress=true` (the default) the hashes of its email and external id go on the suppression list: events for them are then refused (`LS_ERR_LEAD_SUPPRESSED`) until an admin lifts the entry. Audited (`lead.delete`, counts only). See docs/privacy.md.',
      params: IdParams,
      querystring: Type.Object({ suppress: Type.Boolean({ default: true }) }, { additionalProperties: false }),
      response: { 204: Type.Null(), ...problemResponses },
    },
  }, async (req, reply) => {
    await core.privacy.erase(req.params.id, { suppress: req.query.suppress ?? true, actor: req.principal!.name })
    return reply.code(204).send(null)
  })

  app.get('/v1/leads/:id/export', {
    config: { scope: 'admin' },
    schema: {
      tags: ['leads'], summary: 'Everything stored about one lead, in one JSON document (GDPR access request)',
      description: 'The lead, all its events, every ledger entry (superseded ones included), its aliases, notifications and webhook deliveries, the stored rejects that name it, its rows in trained models\' holdouts and the audit entries about it. Audited (`lead.export`). Reads the rejects, notifications, deliveries and model holdouts whole on FerretDB.',
      params: IdParams,
      response: { 200: LeadExport, ...problemResponses },
    },
  }, async (req, reply) => {
    const x = await core.privacy.exportLead(req.params.id, req.principal!.name)
    void reply.header('content-disposition', `attachment; filename="lead-${x.lead._id}.json"`)
    const iso = (d: Date): string => d.toISOString()
    return {
      exportedAt: iso(core.now()),
      lead: leadOut(x.lead),
      events: x.events.map(eventOut),
      ledger: x.ledger.map(ledgerOut) as never[],
      aliases: x.aliases.map((a) => ({ externalId: a._id.slice('ext:'.length), createdAt: iso(a.createdAt) })),
      notifications: x.notifications.map(({ _id, ...n }) => ({ id: _id, ...n })),
      deliveries: x.deliveries.map(({ _id, ...d }) => ({ id: _id, ...d, body: parseJson(d.body) })),
      rejects: x.rejects.map((r) => ({ id: r._id, sourceId: r.sourceId, requestId: r.requestId, code: r.code, reason: r.reason, raw: r.raw, receivedAt: iso(r.receivedAt) })),
      modelHoldouts: x.modelHoldouts,
      backtests: x.backtests,
      audit: x.audit.map((a) => ({ at: iso(a.at), actor: a.actor, action: a.action, details: a.details })),
    }
  })

  app.get('/v1/leads/:id/history', {
    config: { scope: 'read' },
    schema: {
      tags: ['leads'], summary: 'The lead\'s score ledger: one entry per scored event with reasons, newest first',
      params: IdParams,
      querystring: Type.Object({
        includeSuperseded: Type.Boolean({ default: false }),
        order: Type.Union([Type.Literal('desc'), Type.Literal('asc')], { default: 'desc' }),
        limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
        cursor: Type.Optional(Type.String({ maxLength: 500 })),
      }, { additionalProperties: false }),
      response: { 200: Page(Type.Ref('LedgerEntry')), ...problemResponses },
    },
  }, async (req) => {
    const l = await mustGet(req.params.id)
    const q = req.query
    const cur = decodeStringCursor(q.cursor)
    const docs = await readLedger(ledgerDeps, l, { includeSuperseded: q.includeSuperseded ?? false, order: q.order ?? 'desc', limit: q.limit + 1, after: cur === null ? null : { ord: cur.v, id: cur.id } })
    const page = pageOf(docs, q.limit, (last) => ({ v: last.ord, id: last._id }))
    return { items: page.items.map(ledgerOut) as never[], nextCursor: page.nextCursor }
  })

  app.get('/v1/leads/:id/events', {
    config: { scope: 'read' },
    schema: {
      tags: ['leads'], summary: 'The lead\'s events in canonical (event-time) order, newest first',
      params: IdParams,
      querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }), cursor: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }),
      response: { 200: Page(Type.Ref('Event')), ...problemResponses },
    },
  }, async (req) => {
    const l = await mustGet(req.params.id)
    const page = await leads.eventsPage(l, req.query)
    return { items: page.items.map(eventOut), nextCursor: page.nextCursor }
  })

  app.get('/v1/leaderboard', {
    config: { scope: 'read' },
    schema: {
      tags: ['leads'], summary: 'Top leads by score',
      description: `With \`asOf\`, the top leads by their score as of that time (event time; see \`GET /v1/leads/{id}\`): leads with no event since keep their current score, and the ledger of each lead with events after \`asOf\` is read. More than ${MAX_CHANGED_LEADS} such leads is a 422 problem (LS_ERR_AS_OF_TOO_FAR). See docs/trends.md.`,
      querystring: Type.Object({
        limit: Type.Integer({ minimum: 1, maximum: 500, default: 10 }),
        stage: Type.Optional(Type.String({ maxLength: 50 })),
        asOf: AsOfQuery.asOf,
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ items: Type.Array(Type.Ref('Lead')) }), 422: Type.Ref('ProblemDetails'), ...problemResponses },
    },
  }, async (req) => {
    if (req.query.asOf !== undefined) {
      const at = parseTime('asOf', req.query.asOf)
      const r = await leaderboardAsOf({ ...ledgerDeps, views: core.views }, { at, limit: req.query.limit, stage: req.query.stage, settings: (await core.rulesets.active()).settings })
      return { items: r.items.map(asOfOut) }
    }
    const page = await core.views.list({ sort: 'score_desc', limit: req.query.limit, stage: req.query.stage })
    return { items: page.items.map(leadOut) }
  })

  app.post('/v1/leads/:id/rescore', {
    config: { scope: 'admin' },
    schema: { tags: ['leads'], summary: 'Re-score a lead from its first event with the published ruleset', params: IdParams, response: { 202: Type.Object({ leadId: Type.String(), queued: Type.Boolean() }), ...problemResponses } },
  }, async (req, reply) => {
    const l = await mustGet(req.params.id)
    // the marker first: it stays until the lead is scored, so a stop right after the flag still leaves it queued
    await core.enqueue([l._id])
    await underLock(l._id, async () => { await leads.markRescore(l._id) })
    await audit.record(req.principal!.name, 'lead.rescore', l._id)
    return reply.code(202).send({ leadId: l._id, queued: true })
  })

  app.post('/v1/leads/:id/adjustments', {
    config: { scope: 'admin' },
    schema: {
      tags: ['leads'], summary: 'Adjust a lead\'s score by hand, with a note (kept in the ledger and replayed like any event)',
      params: IdParams,
      body: Type.Object({
        dimension: Type.Union([Type.Literal('engagement'), Type.Literal('fit'), Type.Literal('intent')], { default: 'engagement' }),
        points: Type.Integer({ minimum: -100000, maximum: 100000 }),
        note: Type.String({ minLength: 1, maxLength: 500 }),
      }, { additionalProperties: false }),
      response: { 202: Type.Object({ eventId: Type.String(), leadId: Type.String() }), ...problemResponses },
    },
  }, async (req, reply) => {
    const l = await mustGet(req.params.id)
    const lead = l.email !== null ? { email: l.email } : { externalId: l.externalId ?? '' }
    const r = await core.ingest.ingest([{
      externalId: newId('adj'), lead, type: ADJUSTMENT_TYPE,
      properties: { dimension: req.body.dimension ?? 'engagement', points: req.body.points, note: req.body.note, by: req.principal!.name },
    }], { sourceId: MANUAL_SOURCE, requestId: String(req.id) })
    const item = r.results[0]!
    if (item.status !== 'accepted') throw new LS_ERR_VALIDATION(item.error?.message ?? 'adjustment rejected')
    await audit.record(req.principal!.name, 'lead.adjust', l._id, { points: req.body.points, note: req.body.note })
    return reply.code(202).send({ eventId: item.eventId!, leadId: item.leadId! })
  })
}

export default leadsRoutes
