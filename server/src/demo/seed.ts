import type { Core } from '../domain/core.js'
import { newId } from '../lib/ids.js'
import { DEMO_OFFER, DEMO_RULESET, DEMO_TRACKING_PLAN } from './demo-ruleset.js'
import { demoData } from './demo-data.js'

const ACTOR = 'demo'
const DEMO_LOCK = 'demo-seed'

/** What the seed made, logged as one line at startup. */
export interface DemoSummary {
  leads: number
  events: number
  converted: number
  /** Events the tracking plan flagged (warn mode). */
  flagged: number
  rulesetVersion: number
  offer: string
  model: { id: string; version: number; auc: number | null } | null
  /** Why no model was deployed, when training failed. */
  modelError?: string
  ms: number
}

/**
 * Seeds the demo into an empty database (no leads yet), through the product's own services, so every console page
 * shows what the product would have computed: an active offer, a published ruleset (fit, grades, stages, intent labels,
 * decay), a tracking plan in warn mode, leads with eight weeks of events, scored, some of them customers, and a
 * predictive model trained on them and deployed as champion. Intent classification follows on its own once the
 * workers start (the active offer is new to the intent layer, so it queues every lead). Returns null when the
 * database already had leads (or another process is seeding it).
 */
export async function seedDemo (core: Core): Promise<DemoSummary | null> {
  if (await core.c.leads.estimatedDocumentCount() > 0) return null
  // two servers started together on one empty database: one seeds, the other starts without
  const owner = newId('lk')
  if (!await core.locks.acquire(DEMO_LOCK, owner, 5 * 60_000)) return null
  try {
    return await seed(core)
  } finally {
    await core.locks.release(DEMO_LOCK, owner)
  }
}

async function seed (core: Core): Promise<DemoSummary | null> {
  if (await core.c.leads.estimatedDocumentCount() > 0) return null
  // The seed writes through ingest and scoring, which keep the lead views, so the empty database's views are marked
  // built first. Otherwise the workers, started after the seed, would take the seeded database for one from before
  // the views and rebuild them, and events stored during that rebuild (the first decay tick's) are counted twice:
  // /v1/stats then shows them pending for good.
  await core.views.markBuiltIfEmpty()
  const started = Date.now()
  // audit entries as the routes write them, so the audit page tells how the demo came to be
  const log = core.audit
  const audit = async (action: string, target: string, details: Record<string, unknown>): Promise<void> => { await log.record(ACTOR, action, target, details) }

  const offer = await core.offers.create(DEMO_OFFER, ACTOR)
  await audit('offer.create', `offer:${offer.id}@${offer.version}`, { name: offer.name })
  await core.offers.activate(offer.id, offer.version, ACTOR)
  await audit('offer.activate', `offer:${offer.id}@${offer.version}`, { rescore: false })

  const draft = await core.rulesets.createDraft({ source: DEMO_RULESET, note: 'Demo ruleset' }, ACTOR)
  const published = await core.rulesets.publish(draft.version, ACTOR)
  await audit('ruleset.publish', `ruleset:${published.version}`, { draft: draft.version, rescore: false })

  const plan = await core.trackingPlan.replace(DEMO_TRACKING_PLAN, ACTOR, 'Demo tracking plan')
  await audit('tracking-plan.replace', `tracking-plan:${plan.version}`, { types: plan.types.map((t) => `${t.type}:${t.mode}`) })

  const data = demoData(core.now().getTime())
  let accepted = 0
  let flagged = 0
  const leadIds = new Set<string>()
  for (let i = 0; i < data.events.length; i += 500) {
    const r = await core.ingest.ingest(data.events.slice(i, i + 500), { sourceId: 'demo', requestId: 'demo-seed' })
    accepted += r.accepted
    for (const item of r.results) {
      if (item.leadId !== undefined) leadIds.add(item.leadId)
      if (item.warnings !== undefined && item.warnings.length > 0) flagged++
    }
  }
  // scored here, not by the workers after start: the model below trains on the ledger
  const ids = [...leadIds]
  const batch = Math.max(1, core.config.worker.batchLeads)
  for (let i = 0; i < ids.length; i += batch) await core.processor.processMany(ids.slice(i, i + batch))

  const trained = await trainAndDeploy(core)
  const model = 'error' in trained ? null : trained
  if (model !== null) await audit('model.deploy', model.id, { version: model.version })
  // every lead gets the deployed model's prediction now, as `"rescore": true` on a deploy does; after the listen, in
  // the background (the job runs once the workers start)
  if (model !== null) await core.startRescoreAll(ACTOR)
  return {
    leads: ids.length, events: accepted, converted: data.converted.length, flagged, rulesetVersion: published.version,
    offer: `${offer.id}@${offer.version}`, model, ...('error' in trained ? { modelError: trained.error } : {}), ms: Date.now() - started,
  }
}

/** Trains a model on the demo's purchases (as POST /v1/models/train does) and deploys it as champion. */
async function trainAndDeploy (core: Core): Promise<{ id: string; version: number; auc: number | null } | { error: string }> {
  const job = await core.jobs.startTraining({
    name: 'Demo: purchase within 14 days',
    outcome: { kind: 'event', eventTypes: ['purchase'], horizonDays: 14 },
    seed: 1,
  }, ACTOR)
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    const j = await core.predictive.job(job._id)
    if (j === null || j.state === 'failed') return { error: j?.error ?? 'the training job is gone' }
    if (j.state === 'done' && j.model !== null && j.model !== undefined) {
      await core.predictive.deploy(j.model.id, 'champion', undefined, ACTOR)
      const m = await core.predictive.mustGet(j.model.id)
      return { id: m._id, version: m.version, auc: m.metrics.auc ?? null }
    }
  }
}
