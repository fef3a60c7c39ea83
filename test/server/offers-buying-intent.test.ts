// Offers (issue 16 part A) end to end over HTTP and a real database: versioned CRUD with one active offer, errors,
// scopes and the audit log; the shipped "Buying intent" template scoring seed-style leads uploaded as CSV against the
// active offer (exact rule points, an intent_classified event per lead scored by the AI intent plugin into a ledger
// entry with the model's reasons, labels); the intent CSV export (reasons from the ledger); live scoring
// equal to dry runs and to a backtest; and a change of offer re-scoring leads.
import t from 'tap'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, waitForScoring, postEvents, AUTH } from '../helpers/harness.js'
import { upload } from '../helpers/upload-client.js'
import { packProperties, unpackProperties } from '../../server/src/domain/events/stored-properties.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

async function send (app: FastifyInstance, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = AUTH) {
  const res = await app.inject({ method, url, headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) })
  return { status: res.statusCode, body: res.body.length > 0 && /json/.test(String(res.headers['content-type'])) ? res.json() as Json : {}, text: res.body, headers: res.headers }
}

async function waitFor<T> (fn: () => Promise<T | null>, what: string, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== null) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

/** RFC 4180 rows (quoted cells, doubled quotes), enough for what the export writes. */
function parseCsv (text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []; let cell = ''; let quoted = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { cell += '"'; i++ } else if (ch === '"') quoted = false
      else cell += ch
    } else if (ch === '"') quoted = true
    else if (ch === ',') { row.push(cell); cell = '' } else if (ch === '\n') { row.push(cell); rows.push(row); row = []; cell = '' } else if (ch !== '\r') cell += ch
  }
  return rows
}

const OFFER = {
  name: 'Acme Revenue Cloud',
  valuePropositions: ['Forecasts pipeline from CRM activity'],
  useCases: ['Sales teams of B2B software companies'],
  icp: { industries: ['saas'], adjacentAdditions: ['Consulting'], locations: ['Europe'] },
}

// the seed's columns as they are: no email or id, so each lead is known by name and company
const CSV = [
  'name,role,company,industry,location,linkedin_bio',
  'Ada Lovelace,VP of Engineering,Analytical Engines,SaaS,London,Builds engines',
  'Bob Stone,Engineering Manager,Bobco,Software,Berlin,',
  'Cy Young,Senior Architect,Cyco,Retail,Paris,Designs stores',
  'Di Moss,Intern,Dico,consulting,Rome,Learns',
  'Ed Park,"Co-Founder & CEO",Edco,FinTech,New York,"Started Edco, sold it"',
].join('\r\n') + '\r\n'
/** The lead external id a name-only leads file gives (plugins/source-upload/src/mapping.ts). */
const ID: Record<string, string> = {
  ada: 'name:ada lovelace|analytical engines', bob: 'name:bob stone|bobco', cy: 'name:cy young|cyco', di: 'name:di moss|dico', ed: 'name:ed park|edco',
}

// rule layer: role tier + industry + complete profile (see the template)
const RULE_POINTS: Record<string, number> = {
  ada: 20 + 20 + 10, // decision maker (VP), ICP industry, complete
  bob: 10 + 10, // influencer (Manager), adjacent (Software), no bio
  cy: 10 + 0 + 10, // influencer (Senior, Architect), Retail is not adjacent, complete
  di: 0 + 10 + 10, // no tier, adjacent by the offer's addition, complete
  ed: 20 + 10 + 10, // decision maker (CEO, Founder), FinTech is next to SaaS in the taxonomy
}

t.test('offers: versions, one active offer, errors, scopes and the audit log', { timeout: 120_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const tax = await send(app, 'GET', '/v1/offers/taxonomy')
  t.equal(tax.status, 200)
  t.ok(tax.body.industries.length >= 40, `a maintained taxonomy (${tax.body.industries.length} industries)`)
  const saas = tax.body.industries.find((i: Json) => i.name === 'SaaS')
  t.ok(saas.adjacent.includes('Software') && saas.adjacent.includes('IT Services') && saas.adjacent.includes('Cloud Computing'), 'SaaS is next to Software, IT Services, Cloud Computing')
  t.ok(tax.body.industries.find((i: Json) => i.name === 'Software').adjacent.includes('SaaS'), 'adjacency is symmetric')

  t.same((await send(app, 'GET', '/v1/offers')).body, { items: [], active: null })
  t.equal((await send(app, 'GET', '/v1/offers/active')).body.code, 'LS_ERR_OFFER_NOT_FOUND')

  const v1 = await send(app, 'POST', '/v1/offers', OFFER)
  t.equal(v1.status, 201, v1.text.slice(0, 300))
  const id = v1.body.id as string
  t.equal(v1.headers.location, `/v1/offers/${id}`)
  t.match(v1.body, { version: 1, active: false, name: OFFER.name, icp: { industries: ['SaaS'], adjacentAdditions: ['Consulting'], locations: ['Europe'] } })
  t.same(v1.body.icp.roles, { decisionMakers: ['CEO', 'CTO', 'VP', 'Director', 'Founder', 'Owner'], influencers: ['Manager', 'Lead', 'Architect', 'Senior'] }, 'the seed roles by default')
  const adj = v1.body.icp.adjacentIndustries as string[]
  for (const x of ['Software', 'IT Services', 'FinTech', 'Consulting']) t.ok(adj.includes(x), `${x} is adjacent`)
  t.notOk(adj.includes('SaaS'), 'an ICP industry is not adjacent to itself')

  const v2 = await send(app, 'PUT', `/v1/offers/${id}`, { ...OFFER, name: 'Acme Revenue Cloud 2' })
  t.equal(v2.status, 201)
  t.match(v2.body, { id, version: 2, active: false, name: 'Acme Revenue Cloud 2' })
  t.same((await send(app, 'GET', `/v1/offers/${id}/versions`)).body.items.map((o: Json) => o.version), [2, 1])
  t.equal((await send(app, 'GET', `/v1/offers/${id}/versions/1`)).body.name, OFFER.name, 'versions never change')
  t.equal((await send(app, 'GET', `/v1/offers/${id}`)).body.version, 2, 'GET names the latest version')

  // versions saved at the same moment each get their own number (a unique _id decides)
  const racing = await Promise.all([0, 1, 2, 3].map(async (i) => await send(app, 'PUT', `/v1/offers/${id}`, { ...OFFER, name: `Race ${i}` })))
  t.same(racing.map((r) => r.status), [201, 201, 201, 201])
  t.same(racing.map((r) => r.body.version).sort(), [3, 4, 5, 6], 'four concurrent saves: four versions, no gaps')
  t.equal((await send(app, 'GET', `/v1/offers/${id}`)).body.version, 6, 'the latest is the highest')
  const v6 = racing.find((r) => r.body.version === 6)!.body.name as string
  t.equal((await send(app, 'GET', '/v1/offers')).body.items.find((o: Json) => o.id === id).name, v6, 'the list names the latest version')
  t.equal((await send(app, 'GET', `/v1/offers/${id}/versions/2`)).body.name, 'Acme Revenue Cloud 2')

  const act = await send(app, 'POST', `/v1/offers/${id}/activate`, { version: 1 })
  t.equal(act.status, 200)
  t.match(act.body, { offer: { id, version: 1, active: true }, rescoreJobId: null })
  const other = await send(app, 'POST', '/v1/offers', { name: 'Other', icp: { industries: ['Retail'] } })
  await send(app, 'POST', `/v1/offers/${other.body.id as string}/activate`, {})
  t.equal((await send(app, 'GET', '/v1/offers/active')).body.id, other.body.id, 'activating another offer replaces the active one')
  await send(app, 'POST', `/v1/offers/${id}/activate`, {})
  const list = await send(app, 'GET', '/v1/offers')
  t.same(list.body.active, { id, version: 6 }, 'one active offer: the latest activation, latest version by default')
  t.same(list.body.items.filter((o: Json) => o.activeVersion !== null).map((o: Json) => o.id), [id])

  // errors
  t.match((await send(app, 'POST', '/v1/offers', { name: '   ', icp: { industries: [] } })).body, { status: 400, code: 'LS_ERR_OFFER_INVALID' })
  t.match((await send(app, 'POST', '/v1/offers', { name: 'x', icp: { industries: ['a'.repeat(201)] } })).body, { status: 400 })
  t.match((await send(app, 'POST', '/v1/offers/of_missing/activate', {})).body, { status: 404, code: 'LS_ERR_OFFER_NOT_FOUND' })
  t.match((await send(app, 'POST', `/v1/offers/${id}/activate`, { version: 9 })).body, { status: 404, code: 'LS_ERR_OFFER_NOT_FOUND' })
  t.match((await send(app, 'DELETE', `/v1/offers/${id}`)).body, { status: 409, code: 'LS_ERR_OFFER_ACTIVE' })
  t.equal((await send(app, 'DELETE', `/v1/offers/${other.body.id as string}`)).status, 204)
  t.same((await send(app, 'GET', '/v1/offers')).body.items.map((o: Json) => o.id), [id], 'an archived offer is not listed')
  t.equal((await send(app, 'GET', `/v1/offers/${other.body.id as string}`)).status, 200, 'an archived offer stays readable by id')

  // scopes: reading needs read, writing needs admin
  const key = await send(app, 'POST', '/v1/api-keys', { name: 'rules-editor', scopes: ['read', 'rules'] })
  const editor = { authorization: `Bearer ${key.body.key as string}` }
  t.equal((await send(app, 'GET', '/v1/offers/active', undefined, editor)).status, 200)
  t.equal((await send(app, 'POST', '/v1/offers', OFFER, editor)).body.code, 'LS_ERR_FORBIDDEN')
  t.equal((await send(app, 'POST', `/v1/offers/${id}/activate`, {}, editor)).body.code, 'LS_ERR_FORBIDDEN')

  const actions = (await db.c.auditLog.find({ action: /^offer\./ }).toArray()).map((a) => `${a.action} ${a.target}`)
  for (const a of [`offer.create offer:${id}@1`, `offer.version offer:${id}@2`, `offer.activate offer:${id}@1`, `offer.activate offer:${id}@6`, `offer.archive offer:${other.body.id as string}`]) {
    t.ok(actions.includes(a), `audited: ${a}`)
  }
})

t.test('the Buying intent template scores uploaded leads against the active offer; export, dry run and backtest agree', { timeout: 400_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port

  const tpl = await send(app, 'GET', '/v1/rulesets/templates')
  t.ok(tpl.body.items.some((x: Json) => x.id === 'default'), 'the default ruleset is a template')
  const buying = tpl.body.items.find((x: Json) => x.id === 'buying-intent')
  t.match(buying, { name: 'Buying intent', source: /cap fit 50/ })
  t.same((await send(app, 'GET', '/v1/rulesets/templates/buying-intent')).body, buying)
  t.match((await send(app, 'GET', '/v1/rulesets/templates/nope')).body, { status: 404, code: 'LS_ERR_TEMPLATE_NOT_FOUND' })
  const draft = await send(app, 'POST', '/v1/rulesets', { source: buying.source, note: 'from the Buying intent template' })
  t.equal(draft.status, 201, draft.text.slice(0, 500))
  t.equal((await send(app, 'POST', `/v1/rulesets/${draft.body.version as number}/publish`, {})).status, 200)

  const offer = await send(app, 'POST', '/v1/offers', OFFER)
  const offerId = offer.body.id as string
  await send(app, 'POST', `/v1/offers/${offerId}/activate`, {})

  const up = await upload(port, { file: CSV, fields: { kind: 'leads' }, filename: 'seed.csv' })
  t.equal(up?.status, 201, up?.text.slice(0, 300) ?? 'no answer')
  t.match(up?.body, { rows: 5, accepted: 5, rejected: 0 })
  await waitForScoring(db)

  const leadOf = async (who: string): Promise<Json> => (await db.c.leads.findOne({ externalId: ID[who] }))!
  t.equal(await db.c.leads.countDocuments({}), 5, 'one lead per row')
  for (const [who, fit] of Object.entries(RULE_POINTS)) {
    const l = await leadOf(who)
    t.equal(l.scores.fit, fit, `${who}: ${fit} rule points`)
  }
  const entry = await db.c.scoreHistory.findOne({ leadId: (await leadOf('ada'))._id, committed: true })
  t.equal(entry?.offer, `${offerId}@1`, 'ledger entries record the offer version the rules read')
  const history = await send(app, 'GET', `/v1/leads/${(await leadOf('ada'))._id as string}/history`)
  t.equal(history.body.items[0].offer, `${offerId}@1`, 'and the lead history shows it')

  // The AI layer arrives as events; the latest classification (in event time) is the one kept. The intent layer
  // may classify these leads too (with the rule fallback, at the current time): ours are later, so they are kept.
  const at = (minutes: number): string => new Date(Date.now() + minutes * 60_000).toISOString()
  const classified = (who: string, intent: string, minutes: number, reasons: string[]) => ({
    lead: { externalId: ID[who] }, type: 'intent_classified', externalId: `intent-${who}-${minutes}`, occurredAt: at(minutes),
    properties: { intent, reasons, provider: 'test', model: 'hand-labelled', offerVersion: 1 },
  })
  const res = await postEvents(app, {
    events: [
      classified('ada', 'High', 2, ['Runs engineering at a SaaS company', '=HYPERLINK("http://x")']),
      classified('bob', 'Medium', 2, ['=1+1 manages a software team']),
      classified('cy', 'Low', 2, ['Retail is outside the ICP']),
      classified('di', 'Low', 2, ['An intern']),
      classified('ed', 'Low', 4, ['Later: budget frozen']),
      classified('ed', 'High', 3, ['Founder of a fintech']),
    ],
  })
  t.equal(res.statusCode, 202, res.body.slice(0, 300))
  await waitForScoring(db)

  const expected: Record<string, { ai: number; label: string }> = {
    ada: { ai: 50, label: 'High' }, // 50 + 50
    bob: { ai: 30, label: 'Medium' }, // 20 + 30
    cy: { ai: 10, label: 'Low' }, // 20 + 10
    di: { ai: 10, label: 'Low' }, // 20 + 10
    ed: { ai: 10, label: 'Medium' }, // 40 + 10: the Low at +4 min replaces the High at +3 min
  }
  for (const [who, e] of Object.entries(expected)) {
    const l = await leadOf(who)
    t.match(l, { score: RULE_POINTS[who]! + e.ai, stage: e.label, scores: { fit: RULE_POINTS[who], intent: e.ai } }, `${who}: ${RULE_POINTS[who]} + ${e.ai} = ${e.label}`)
  }

  // the AI layer is the AI intent plugin's, not the template's: each classification's ledger entry holds exactly one
  // reason, the plugin's `set intent`, whose note carries the label, provider/model and the model's reasons
  const posted = (res.json().results as Array<{ eventId: string }>).map((r) => r.eventId)
  const entryOf = async (who: string, eventId: string): Promise<Json> => {
    const h = await send(app, 'GET', `/v1/leads/${(await leadOf(who))._id as string}/history?limit=1000`)
    const entry = (h.body.items as Json[]).find((x) => x.eventId === eventId)
    t.ok(entry, `${who}: the classification ${eventId} has a ledger entry`)
    return entry ?? {}
  }
  // (the intent layer may have classified the lead before, at the current time: the points are the change from that)
  const scored = (e: Json, ruleId: string, intent: number, note: string | RegExp): void => {
    t.match(e, { eventType: 'intent_classified', after: { intent }, reasons: [{ ruleId, dimension: 'intent', action: 'set', note }] }, `${ruleId}: intent set to ${intent}`)
    t.equal(e.reasons?.length, 1, 'one reason: no rule scores the classification a second time')
    t.equal(e.reasons?.[0]?.points, intent - (e.before?.intent as number), 'its points take intent from what it was to the label\'s points')
  }
  scored(await entryOf('ada', posted[0]!), 'ai_intent.high', 50, 'AI intent High (test, hand-labelled) — Runs engineering at a SaaS company | =HYPERLINK("http://x")')
  scored(await entryOf('bob', posted[1]!), 'ai_intent.medium', 30, 'AI intent Medium (test, hand-labelled) — =1+1 manages a software team')
  scored(await entryOf('cy', posted[2]!), 'ai_intent.low', 10, /— Retail is outside the ICP$/)
  // Ed's High (+3 min) then Low (+4 min) in event time: each sets intent, the Low takes the High's 50 down to 10
  scored(await entryOf('ed', posted[5]!), 'ai_intent.high', 50, /— Founder of a fintech$/)
  const edLow = await entryOf('ed', posted[4]!)
  scored(edLow, 'ai_intent.low', 10, /— Later: budget frozen$/)
  t.match(edLow, { before: { intent: 50 }, reasons: [{ requested: -40, points: -40 }] })
  // whatever classified these leads (the intent layer's own rule-fallback events too), only the plugin scored it
  for (const who of Object.keys(expected)) {
    const h = await send(app, 'GET', `/v1/leads/${(await leadOf(who))._id as string}/history?limit=1000`)
    for (const x of (h.body.items as Json[]).filter((x) => x.eventType === 'intent_classified')) {
      t.ok(x.reasons.length === 1 && /^ai_intent\.(high|medium|low)$/.test(x.reasons[0].ruleId), `${who}: ${JSON.stringify(x.reasons.map((r: Json) => r.ruleId))} scores its classification`)
    }
  }
  // the intent API shows the same ledger reason next to the lead's last classification by the intent layer
  await waitFor(async () => (await send(app, 'GET', `/v1/intent/leads/${(await leadOf('cy'))._id as string}`)).body.ledger ?? null, 'the intent layer\'s classification of Cy, scored')
  const cyIntent = await send(app, 'GET', `/v1/intent/leads/${(await leadOf('cy'))._id as string}`)
  t.match(cyIntent.body, { provider: 'rules-fallback', ledger: { ruleId: `ai_intent.${(cyIntent.body.intent as string).toLowerCase()}`, note: /^AI intent (High|Medium|Low) \(rule fallback icp-rules-1: no model is configured/ } })
  t.ok((cyIntent.body.ledger.note as string).endsWith(` — ${(cyIntent.body.reasons as string[]).join(' | ')}`), 'with the fallback\'s reasons')
  await waitForScoring(db)

  // the export: one row per lead with both layers, the label and the latest classification, formula-safe
  const csv = await send(app, 'GET', '/v1/exports/intent')
  t.equal(csv.status, 200)
  t.match(csv.headers['content-type'], /^text\/csv/)
  const [header, ...rows] = parseCsv(csv.text)
  t.same(header, ['id', 'email', 'externalId', 'name', 'company', 'role', 'industry', 'location', 'rulePoints', 'aiPoints', 'score', 'label', 'aiIntent', 'aiReasons', 'provider', 'model', 'offerVersion', 'classifiedAt'])
  const byName = new Map(rows.map((r) => [r[3]!.split(' ')[0]!.toLowerCase(), Object.fromEntries(header!.map((h, i) => [h, r[i]]))]))
  t.equal(byName.size, 5)
  t.match(byName.get('ada'), {
    name: 'Ada Lovelace', company: 'Analytical Engines', role: 'VP of Engineering', industry: 'SaaS', rulePoints: '50', aiPoints: '50', score: '100',
    label: 'High', aiIntent: 'High', provider: 'test', model: 'hand-labelled', offerVersion: '1',
  })
  t.equal(byName.get('ada')!.aiReasons, 'Runs engineering at a SaaS company | =HYPERLINK("http://x")', 'reasons joined')
  t.equal(byName.get('bob')!.aiReasons, "'=1+1 manages a software team", 'a cell that starts like a formula is not exported as one')
  t.match(byName.get('ed'), { role: 'Co-Founder & CEO', aiIntent: 'Low', aiReasons: 'Later: budget frozen', score: '50', label: 'Medium' })
  t.match(byName.get('di'), { aiIntent: 'Low', aiReasons: 'An intern', score: '30', label: 'Low' })
  t.same(rows.map((r) => Number(r[10])), [100, 50, 50, 30, 30], 'highest score first')
  // the reasons are the ledger entry's: what the event says now does not change them
  const edited = (await db.c.events.findOne({ _id: posted[0]! }))!
  await db.c.events.updateOne({ _id: edited._id }, { $set: { properties: packProperties({ ...unpackProperties(edited.properties), reasons: ['edited after scoring'] }) } })
  const again = parseCsv((await send(app, 'GET', '/v1/exports/intent')).text)
  t.equal(again.find((r) => r[3] === 'Ada Lovelace')![13], 'Runs engineering at a SaaS company | =HYPERLINK("http://x")', 'the export reads the reasons from the ledger entry')

  // live scoring = dry run, lead by lead (same ruleset, same active offer)
  for (const who of Object.keys(expected)) {
    const l = await leadOf(who)
    const dry = await send(app, 'POST', '/v1/rulesets/dry-run', { leadId: l._id })
    t.equal(dry.status, 200)
    t.match(dry.body.final, { total: l.score, fit: l.scores.fit, intent: l.scores.intent, stage: l.stage }, `${who}: dry run = live`)
  }
  // and unsaved source reads the offer too
  const unsaved = await send(app, 'POST', '/v1/rulesets/dry-run', { source: buying.source, leadId: (await leadOf('ada'))._id })
  t.match(unsaved.body.final, { total: 100, stage: 'High' })

  // live = backtest: replaying every lead with the published version gives the live stages and totals
  const start = await send(app, 'POST', `/v1/rulesets/${draft.body.version as number}/backtest`, {})
  t.equal(start.status, 202)
  const done = await waitFor(async () => {
    const j = await send(app, 'GET', `/v1/backtests/${start.body.jobId as string}`)
    return j.body.status === 'done' || j.body.status === 'failed' ? j.body : null
  }, 'backtest')
  t.equal(done.status, 'done', done.error ?? '')
  const live = await db.c.leads.find({}).toArray()
  for (const s of done.result.stages as Json[]) {
    t.equal(s.after, live.filter((l) => l.stage === s.stage).length, `backtest: ${s.stage} count = live`)
  }
  const liveTotals = live.map((l) => l.score).sort((a, b) => a - b)
  const btTotals = (done.result.distribution as Json[]).flatMap((b) => Array.from({ length: b.after as number }, () => b.min as number))
  t.equal(btTotals.length, liveTotals.length)
  t.equal(done.result.changed, 0, 'the published version against itself: nothing moves')

  // a new offer version is like a new ruleset: activating it with rescore re-scores every lead against it
  const v2 = await send(app, 'PUT', `/v1/offers/${offerId}`, { ...OFFER, icp: { industries: ['Retail'] } })
  const act = await send(app, 'POST', `/v1/offers/${offerId}/activate`, { version: v2.body.version, rescore: true })
  t.type(act.body.rescoreJobId, 'string', 'a re-score job started')
  await waitFor(async () => {
    const j = await send(app, 'GET', `/v1/jobs/${act.body.rescoreJobId as string}`)
    return j.body.state === 'done' ? j.body : null
  }, 'rescore')
  await waitForScoring(db)
  const cy = await leadOf('cy')
  t.match(cy, { score: 10 + 20 + 10 + 10, stage: 'Medium', scores: { fit: 40 } }, 'Retail is now the ICP industry: Cy moves up')
  const ada = await leadOf('ada')
  t.equal(ada.scores.fit, 20 + 10, 'SaaS is neither the ICP industry nor next to Retail now: Ada keeps her role and profile points')
  const latest = await db.c.scoreHistory.find({ leadId: cy._id, committed: true, superseded: false }).toArray()
  t.ok(latest.length > 0 && latest.every((e) => e.offer === `${offerId}@2`), 'the re-scored entries name the new offer version')
})
