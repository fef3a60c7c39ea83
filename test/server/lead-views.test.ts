// The lead views kept at write time — the lead index behind lists and the leaderboard, and the counters behind
// analytics and /v1/stats — must say what a full recomputation from the leads and events says, after a shuffled,
// duplicated stream with late events over two sources, a lead edit, a lead created by hand, an erase and a re-score
// of every lead; and a rebuild from scratch must give the same answers.
import t from 'tap'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'
import type { FastifyInstance } from 'fastify'
import type { Database } from '../../server/src/infra/db.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

// a small deterministic generator, so a failure can be replayed
function rng (seed: number): () => number {
  let s = seed
  return () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648 }
}

const TYPES = ['page_view', 'email_open', 'form_submit', 'demo_request', 'purchase', 'pageview', 'order_completed', 'webinar_joined']
const DAY = 86_400_000

async function get (app: FastifyInstance, url: string): Promise<Json> {
  const res = await app.inject({ url, headers: AUTH })
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`)
  return res.json<Json>()
}

async function waitJob (app: FastifyInstance, id: string): Promise<Json> {
  for (let i = 0; i < 1200; i++) {
    const j = await get(app, `/v1/jobs/${id}`)
    if (j.state === 'done' || j.state === 'failed') return j
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`job ${id} did not finish`)
}

/** Everything the views answer, recomputed from the raw collections with the documented meanings. */
async function recompute (db: Database, aliases: Record<string, string>) {
  const leads = await db.c.leads.find({}).toArray()
  const events = await db.c.events.find({}).toArray()
  const canon = (type: string): string => aliases[type] ?? type
  const convertedByEvent = new Set(events.filter((e) => canon(e.type) === 'purchase').map((e) => e.leadId))
  const converted = (l: Json): boolean => l.status === 'converted' || convertedByEvent.has(l._id)
  const stages: Record<string, number> = {}
  const hist: Record<string, { leads: number; converted: number }> = {}
  const sources: Record<string, { leads: number; converted: number; scoreSum: number }> = {}
  for (const l of leads) {
    stages[l.stage] = (stages[l.stage] ?? 0) + 1
    const band = String(Math.floor(l.score / 10) * 10)
    const h = hist[band] ??= { leads: 0, converted: 0 }
    h.leads++
    if (converted(l)) h.converted++
    for (const s of new Set(l.sources)) {
      const f = sources[s] ??= { leads: 0, converted: 0, scoreSum: 0 }
      f.leads++
      f.scoreSum += l.score
      if (converted(l)) f.converted++
    }
  }
  const perDay: Record<string, number> = {}
  for (const e of events) {
    const d = e.occurredAt.toISOString().slice(0, 10)
    const k = `${d}|${e.type}`
    perDay[k] = (perDay[k] ?? 0) + 1
  }
  const byScore = [...leads].sort((a, b) => b.score - a.score || (a._id < b._id ? -1 : 1)).map((l) => l._id)
  const perSource = Object.fromEntries(Object.entries(sources).map(([k, f]) => [k, { leads: f.leads, converted: f.converted, avgScore: Math.round((f.scoreSum / f.leads) * 100) / 100 }]))
  return { leads: leads.length, events: events.length, rejects: await db.c.ingestRejects.countDocuments({}), stages, hist, sources: perSource, perDay, byScore }
}

/** The same figures, as the API answers them. */
async function viewsSay (app: FastifyInstance, from: string, to: string) {
  const funnel = await get(app, '/v1/analytics/stages')
  const stages: Record<string, number> = {}
  for (const s of [...funnel.stages, ...funnel.other]) if (s.count > 0) stages[s.name] = s.count
  const conv = await get(app, '/v1/analytics/conversion-by-score?bucket=10')
  const hist: Record<string, { leads: number; converted: number }> = {}
  for (const b of conv.buckets) if (b.leads > 0) hist[String(b.from)] = { leads: b.leads, converted: b.converted }
  const src = await get(app, '/v1/analytics/sources?sort=leads&limit=100')
  const sources: Record<string, { leads: number; converted: number; avgScore: number }> = {}
  for (const s of src.sources) sources[s.sourceId] = { leads: s.leads, converted: s.converted, avgScore: s.avgScore }
  const eot = await get(app, `/v1/analytics/events-over-time?granularity=day&from=${from}&to=${to}&top=20`)
  const perDay: Record<string, number> = {}
  for (const s of eot.series) s.counts.forEach((n: number, i: number) => { if (n > 0) perDay[`${(eot.buckets[i] as string).slice(0, 10)}|${s.type as string}`] = n })
  const stats = await get(app, '/v1/stats')
  const byScore: string[] = []
  let cursor: string | null = null
  do {
    const page: Json = await get(app, `/v1/leads?sort=score_desc&limit=7${cursor !== null ? `&cursor=${cursor}` : ''}`)
    byScore.push(...(page.items as Json[]).map((l) => l.id as string))
    cursor = page.nextCursor
  } while (cursor !== null)
  return { leads: conv.total, events: stats.events.total, pending: stats.events.pending, rejects: stats.rejects.total, stages, hist, sources, perDay, byScore }
}

t.test('the lead views equal a recomputation after a shuffled, duplicated, late stream, an erase and a re-score', async (t) => {
  const { app, db } = await buildTestApp(t)
  const rand = rng(42)
  const base = Date.parse('2024-05-01T00:00:00Z')
  const all: Json[] = []
  for (let i = 0; i < 300; i++) {
    const lead = i % 7 === 0 ? { externalId: `crm-${i % 23}` } : { email: `p${i % 37}@example.com` }
    all.push({ externalId: `e${i}`, lead, type: TYPES[Math.floor(rand() * TYPES.length)], occurredAt: new Date(base + Math.floor(rand() * 10 * DAY)).toISOString() })
  }
  // shuffled, one in five sent twice, in concurrent requests over two sources
  const stream = [...all, ...all.filter(() => rand() < 0.2)].sort(() => rand() - 0.5)
  // an event always comes through the same source (a duplicate is the same source's redelivery)
  const viaCrm = (e: Json): boolean => Number((e.externalId as string).slice(1)) % 3 === 0
  const chunks: Array<{ crm: boolean; events: Json[] }> = []
  for (const crm of [true, false]) {
    const part = stream.filter((e) => viaCrm(e) === crm)
    for (let i = 0; i < part.length; i += 25) chunks.push({ crm, events: part.slice(i, i + 25) })
  }
  const results = await Promise.all(chunks.sort(() => rand() - 0.5).map(async ({ crm, events }, i) => crm
    ? await app.core.ingest.ingest(events, { sourceId: 'crm', requestId: `rq${i}` })
    : (await postEvents(app, { events })).json<Json>()))
  t.equal(results.reduce((n, r) => n + (r.accepted as number), 0), all.length, 'each event stored once')
  // bad events are stored rejects, counted too
  const bad = await postEvents(app, { events: [{ externalId: 'bad1', lead: { email: 'p1@example.com' } }, { externalId: 'bad2', type: 'page_view' }] })
  t.equal(bad.json<Json>().rejected, 2)
  await waitForScoring(db)

  // a lead created by hand, one edited to converted, one erased
  t.equal((await app.inject({ method: 'POST', url: '/v1/leads', headers: AUTH, payload: { email: 'manual@example.com', name: 'Zoë Manual' } })).statusCode, 201)
  const list = (await get(app, '/v1/leads?sort=score_asc&limit=3')).items as Json[]
  t.equal((await app.inject({ method: 'PATCH', url: `/v1/leads/${list[0]!.id as string}`, headers: AUTH, payload: { status: 'converted' } })).statusCode, 200)
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/leads/${list[1]!.id as string}`, headers: AUTH })).statusCode, 204)

  const aliases = (await app.core.rulesets.active()).settings.eventTypes?.aliases ?? {}
  const from = '2024-04-30T00:00:00Z'
  const to = '2024-05-12T00:00:00Z'
  const check = async (what: string): Promise<void> => {
    const want = await recompute(db, aliases)
    const got = await viewsSay(app, from, to)
    t.equal(got.leads, want.leads, `${what}: leads`)
    t.equal(got.events, want.events, `${what}: stored events`)
    t.equal(got.rejects, want.rejects, `${what}: stored rejects`)
    t.equal(got.pending, 0, `${what}: nothing pending`)
    t.same(got.stages, want.stages, `${what}: leads per stage`)
    t.same(got.hist, want.hist, `${what}: leads and conversions per score band`)
    t.same(got.sources, want.sources, `${what}: per source`)
    t.same(got.perDay, want.perDay, `${what}: events per type per day`)
    t.same(got.byScore, want.byScore, `${what}: the lead list by score, page by page`)
  }
  await check('live')

  // a re-score of every lead changes nothing the views show
  const job = await app.inject({ method: 'POST', url: '/v1/rescore', headers: AUTH })
  t.equal((await waitJob(app, job.json<Json>().id as string)).state, 'done')
  await waitForScoring(db)
  await check('after re-score')

  // a rebuild from the collections gives the same answers
  const rebuild = await app.inject({ method: 'POST', url: '/v1/views/rebuild', headers: AUTH })
  t.equal(rebuild.statusCode, 202)
  t.equal((await waitJob(app, rebuild.json<Json>().id as string)).state, 'done')
  await check('after rebuild')

  // search by a word of the name, accents aside, and by the email's domain
  t.same(((await get(app, '/v1/leads?q=zoe')).items as Json[]).map((l) => l.email), ['manual@example.com'])
  t.equal(((await get(app, '/v1/leads?q=example.com&limit=500')).items as Json[]).length, (await db.c.leads.countDocuments({ email: { $ne: null } })))
})
