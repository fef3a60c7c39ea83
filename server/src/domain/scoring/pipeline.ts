import type { Contribution, ScoringPlugin, PluginContext, PredictiveScore } from '../../contracts/index.js'
import type { EventDoc, LeadDoc, Reason, ScoreState } from '../types.js'
import { decodeKeys } from '../../lib/keys.js'
import { applyContributions, applyDecay, applyFit } from './model.js'
import { mapEventType, type ActiveRuleset } from '../rulesets/ruleset-service.js'
import { foldActivity, emptyActivity } from '../predictive/activity.js'
import { computePluginFacts, rulesReadPluginFacts } from './plugin-vocabulary.js'

/**
 * The outcome of scoring one event. `mapped` is false for event types the ruleset does not know: their points are
 * not scored, but they still count as lead activity (in `state.activity`) and get a prediction.
 */
export interface EventOutcome { mapped: boolean; type: string; state: ScoreState; reasons: Reason[]; predictive: PredictiveScore | null }

/** What the worker knows about the lead beyond its stored document at this event. */
export interface EventContext {
  /** The lead's attributes as of this event (the stored ones plus those carried by the batch's events so far). */
  attributes?: Record<string, unknown>
}

export interface PipelineOptions {
  /** Called by the worker before each batch (for example to pick up a newly deployed model). */
  prepare?: () => Promise<void>
}

/** A scoring plugin together with the context it runs in. */
export interface MountedScoringPlugin { plugin: ScoringPlugin; ctx: PluginContext<unknown> }

export const MANUAL_SOURCE = 'manual'
export const ADJUSTMENT_TYPE = 'score_adjusted'
/** Inactivity decay ticks: system events that apply decay up to their time without counting as activity. */
export const SYSTEM_SOURCE = 'system'
export const DECAY_TICK_TYPE = 'decay_tick'

/**
 * The lead as rules see it while scoring one event: the stored lead with the profile that event carries laid over
 * it. The worker applies an event's profile to the lead document only when its batch commits, so without this a
 * `lead_updated` event (a row of a leads upload) would be scored against the attributes it replaces.
 */
function leadFacts (lead: LeadDoc, profile: EventDoc['leadProfile']): Record<string, unknown> {
  const attributes = decodeKeys(lead.attributes ?? {})
  if (profile?.attributes !== undefined) Object.assign(attributes, decodeKeys(profile.attributes))
  return {
    id: lead._id, email: lead.email, externalId: lead.externalId ?? profile?.externalId ?? null, name: profile?.name ?? lead.name,
    company: profile?.company ?? lead.company, attributes, status: lead.status, sources: lead.sources ?? [],
  }
}

const fitRulesets = new WeakMap<object, boolean>()
/** Whether the ruleset has fit rules (`kind: 'fit'`); computed once per ruleset version. */
function hasFitRules (ruleset: ActiveRuleset): boolean {
  let has = fitRulesets.get(ruleset.rules)
  if (has === undefined) {
    has = ruleset.rules.some((r) => (r.event?.params as { kind?: unknown } | undefined)?.kind === 'fit')
    fitRulesets.set(ruleset.rules, has)
  }
  return has
}

/** The state with this event's attributes folded into the attributes fit rules read (rulesets with fit rules only). */
function foldFitAttributes (state: ScoreState, event: EventDoc, ruleset: ActiveRuleset): ScoreState {
  if (!hasFitRules(ruleset)) return state
  const carried = event.leadProfile?.attributes
  if (carried === undefined && state.fitAttributes !== undefined) return state
  return { ...state, fitAttributes: { ...(state.fitAttributes ?? {}), ...(carried ?? {}) } }
}

/**
 * Scores events one at a time. Contributions come from the ruleset's rules (json-rules-engine semantics, compiled;
 * rules-plugin.ts offers them through the scoring-plugin contract) and then the scoring plugins' `score`; when the
 * rules read plugin facts, those are computed first. The model applies them (limits, multipliers, caps, floors,
 * stages) after its own two reconciliations, which are not contributions: inactivity decay (engagement recomputed
 * from its value at the last activity) and fit rules (points held while a rule matches the attributes). Predictions
 * come from the plugins' `predict`, the built-in predictive scorer first. Manual adjustments are events too, so
 * replay keeps them.
 */
export function createScoringPipeline (plugins: readonly MountedScoringPlugin[] = [], options: PipelineOptions = {}) {
  const predictors = plugins.filter((p) => p.plugin.predict !== undefined)
  const scorers = plugins.filter((p) => p.plugin.score !== undefined)
  const factSources = plugins.filter((p) => p.plugin.facts !== undefined)

  /** The last non-null prediction of the predicting plugins for the state after this event. */
  function predict (lead: LeadDoc, attributes: Record<string, unknown>, event: EventDoc, type: string, properties: Record<string, unknown>, state: ScoreState): PredictiveScore | null {
    let out: PredictiveScore | null = null
    for (const { plugin, ctx } of predictors) {
      const p = plugin.predict!({
        lead: { id: lead._id, email: lead.email, externalId: lead.externalId, name: lead.name, company: lead.company, attributes, status: lead.status, sources: lead.sources ?? [] },
        event: { id: event._id, sourceId: event.sourceId, type, occurredAt: event.occurredAt, properties },
        score: { total: state.total, engagement: state.engagement, fit: state.fit, intent: state.intent, stage: state.stage },
        activity: state.activity ?? emptyActivity(),
      }, ctx)
      if (p !== null) out = p
    }
    return out
  }

  return {
    prepare: options.prepare,

    async scoreEvent (lead: LeadDoc, event: EventDoc, state: ScoreState, ruleset: ActiveRuleset, ectx: EventContext = {}): Promise<EventOutcome> {
      const properties = decodeKeys(event.properties ?? {})
      const ctx = { at: event.occurredAt.getTime(), receivedAt: event.receivedAt?.getTime(), ruleVersion: ruleset.version, settings: ruleset.settings }
      if (event.type === DECAY_TICK_TYPE && event.sourceId === SYSTEM_SOURCE) {
        const d = applyDecay(state, ctx)
        return { mapped: d.reasons.length > 0, type: event.type, ...d, predictive: null }
      }
      if (event.type === ADJUSTMENT_TYPE && event.sourceId === MANUAL_SOURCE) {
        const p = properties as { dimension?: 'engagement' | 'fit' | 'intent'; points?: number; note?: string; ruleId?: string }
        const c: Contribution = { ruleId: 'manual-adjustment', action: 'add', dimension: p.dimension ?? 'engagement', points: p.points ?? 0, reason: p.note ?? 'manual adjustment' }
        const d = applyDecay(state, ctx)
        const r = applyContributions(d.state, [c], ctx)
        return { mapped: true, type: event.type, state: r.state, reasons: [...d.reasons, ...r.reasons], predictive: null }
      }
      const { type, known } = mapEventType(event.type, ruleset.settings)
      const lf = leadFacts(lead, event.leadProfile)
      const attributes = ectx.attributes ?? lf.attributes as Record<string, unknown>
      // every event other than manual adjustments and decay ticks is lead activity, whether or not the ruleset scores it
      const withActivity = (s: ScoreState): ScoreState => ({ ...s, activity: foldActivity(s.activity, type, event.occurredAt.getTime(), properties) })
      // fit rules read the attributes the events carried up to this one, so replays and backtests see the same
      state = foldFitAttributes(state, event, ruleset)
      if (!known) {
        const next = withActivity(state)
        return { mapped: false, type, state: next, reasons: [], predictive: predict(lead, attributes, event, type, properties, next) }
      }
      const decayed = applyDecay(state, ctx)
      state = decayed.state
      const eventFacts = { id: event._id, type, rawType: event.type, sourceId: event.sourceId, occurredAt: event.occurredAt.toISOString(), properties }
      const scoreFacts = { total: state.total, engagement: state.engagement, fit: state.fit, intent: state.intent, stage: state.stage }
      // what plugins see; built only when one of them scores or the rules read a plugin fact
      const readsPlugins = factSources.length > 0 && rulesReadPluginFacts(ruleset.rules)
      const input = scorers.length > 0 || readsPlugins
        ? {
            lead: { id: lead._id, email: lead.email, externalId: lead.externalId, name: lead.name, company: lead.company, attributes: lf.attributes as Record<string, unknown>, status: lead.status, sources: lead.sources ?? [] },
            event: { id: event._id, sourceId: event.sourceId, type, occurredAt: event.occurredAt, properties },
            score: scoreFacts,
            rulesetVersion: ruleset.version,
          }
        : null
      const pluginFacts = readsPlugins ? computePluginFacts(factSources, input!) : null
      const contributions = await ruleset.evaluator.evaluate({ event: eventFacts, lead: lf, score: scoreFacts, offer: ruleset.offer?.facts ?? null, plugin: pluginFacts })
      for (const { plugin, ctx } of scorers) {
        const extra = await plugin.score!(input!, ctx)
        for (const c of extra) contributions.push({ ...c, ruleId: `${plugin.manifest.id}.${c.ruleId}` })
      }
      // fit rules first: they bring fit in line with the attributes as of this event, then the event's rules score it.
      // They run again on the folded attributes (the stored ones are the lead's latest, wrong for a replay).
      const fitFacts = hasFitRules(ruleset)
        ? await ruleset.evaluator.evaluate({ event: eventFacts, lead: { ...lf, attributes: decodeKeys(state.fitAttributes ?? {}) }, score: scoreFacts, offer: ruleset.offer?.facts ?? null, plugin: pluginFacts })
        : []
      const fit = applyFit(state, fitFacts.filter((c) => c.kind === 'fit' && c.action === 'add'), ctx)
      const r = applyContributions(fit.state, contributions.filter((c) => c.kind !== 'fit'), ctx)
      const next = withActivity(r.state)
      return { mapped: true, type, state: next, reasons: [...decayed.reasons, ...fit.reasons, ...r.reasons], predictive: predict(lead, attributes, event, type, properties, next) }
    },
  }
}

export type ScoringPipeline = ReturnType<typeof createScoringPipeline>
