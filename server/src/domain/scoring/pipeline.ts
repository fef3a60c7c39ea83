import type { Contribution, EventView, LeadView, ScoringPlugin, PluginContext, PredictiveScore, ScoringInput } from '../../contracts/index.js'
import type { EventDoc, LeadDoc, Reason, ScoreState } from '../types.js'
import { decodeKeys } from '../../lib/keys.js'
import { applyContributions, applyDecay, applyFit } from './model.js'
import { mapEventType, type ActiveRuleset } from '../rulesets/ruleset-service.js'
import { foldActivity, emptyActivity } from '../predictive/activity.js'
import { computePluginFacts, rulesReadPluginFacts } from './plugin-vocabulary.js'
import { unpackProperties } from '../events/stored-properties.js'

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
function leadFacts (lead: LeadDoc, profile: EventDoc['leadProfile'], carried: Record<string, unknown> | undefined): Record<string, unknown> {
  const attributes = decodeKeys(lead.attributes ?? {})
  if (carried !== undefined) Object.assign(attributes, decodeKeys(carried))
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

/**
 * The state with the attributes this event carried (key-encoded) folded into the attributes fit rules read (rulesets
 * with fit rules only).
 */
function foldFitAttributes (state: ScoreState, carried: Record<string, unknown> | undefined, ruleset: ActiveRuleset): ScoreState {
  if (!hasFitRules(ruleset)) return state
  if (carried === undefined && state.fitAttributes !== undefined) return state
  return { ...state, fitAttributes: { ...(state.fitAttributes ?? {}), ...(carried ?? {}) } }
}

// a type literal (not the ScoreView interface), so that it is a fact value: Record<string, unknown>
type ScoreFacts = { total: number; engagement: number; fit: number; intent: number; stage: string }

/** The views plugins get of the lead, the event and the score: the same for `score` and `predict`. */
function leadView (lead: LeadDoc, attributes: Record<string, unknown>): LeadView {
  return { id: lead._id, email: lead.email, externalId: lead.externalId, name: lead.name, company: lead.company, attributes, status: lead.status, sources: lead.sources ?? [] }
}
function eventView (event: EventDoc, type: string, properties: Record<string, unknown>): EventView {
  return { id: event._id, sourceId: event.sourceId, type, occurredAt: event.occurredAt, properties }
}
function scoreFacts (state: ScoreState): ScoreFacts {
  return { total: state.total, engagement: state.engagement, fit: state.fit, intent: state.intent, stage: state.stage }
}

/** One mapped event being scored: what the steps read, and what each adds. */
interface EventScoring {
  readonly lead: LeadDoc
  readonly event: EventDoc
  readonly ruleset: ActiveRuleset
  /** The event type after the ruleset's aliases. */
  readonly type: string
  readonly properties: Record<string, unknown>
  /** The lead as rules read it (with the profile this event carries). */
  readonly lf: Record<string, unknown>
  readonly model: { at: number; receivedAt: number | undefined; ruleVersion: number; settings: ActiveRuleset['settings'] }
  state: ScoreState
  reasons: Reason[]
  /** Set by the facts step, after decay: what rules and plugins read. */
  eventFacts: Record<string, unknown>
  scoreFacts: ScoreFacts
  input: ScoringInput | null
  pluginFacts: Record<string, Record<string, unknown>> | null
  /** Proposed by the rules and the plugins, applied by the model step. */
  contributions: Contribution[]
}

/** One step of scoring a mapped event: a built-in scorer, or an installed plugin's `score`. Sync steps return nothing. */
interface ScoringStep { readonly id: string; run(s: EventScoring): void | Promise<void> }

/** Inactivity decay up to the event: engagement recomputed from its value at the last activity (not a contribution). */
const decayStep: ScoringStep = {
  id: 'decay',
  run (s) {
    const d = applyDecay(s.state, s.model)
    s.state = d.state
    for (const r of d.reasons) s.reasons.push(r)
  },
}

/** The ruleset's rules (compiled, json-rules-engine as the reference); their ids are the ruleset's own. */
const rulesStep: ScoringStep = {
  id: 'rules',
  async run (s) {
    s.contributions = await s.ruleset.evaluator.evaluate({ event: s.eventFacts, lead: s.lf, score: s.scoreFacts, offer: s.ruleset.offer?.facts ?? null, plugin: s.pluginFacts })
  },
}

/** An installed plugin's `score`: its contributions follow the rules', under ids prefixed with the plugin id. */
function pluginStep ({ plugin, ctx }: MountedScoringPlugin): ScoringStep {
  const id = plugin.manifest.id
  const add = (s: EventScoring, extra: Contribution[]): void => {
    for (const c of extra) s.contributions.push({ ...c, ruleId: `${id}.${c.ruleId}` })
  }
  return {
    id,
    run (s) {
      const out = plugin.score!(s.input!, ctx)
      // the contract allows a promise; a plain array needs no await on the hot path
      if (Array.isArray(out)) add(s, out)
      else return out.then((extra) => { add(s, extra) })
    },
  }
}

/**
 * Fit rules: they bring fit in line with the attributes as of this event (points held while a rule matches, given
 * back when it stops), before the event's contributions. They read the attributes the events carried up to this
 * one (the stored ones are the lead's latest, wrong for a replay). Not contributions: applyFit reconciles.
 */
const fitStep: ScoringStep = {
  id: 'fit',
  run (s) {
    // without fit rules, applyFit still gives back points held under an earlier ruleset version
    if (!hasFitRules(s.ruleset)) { reconcileFit(s, []); return }
    return s.ruleset.evaluator.evaluate({ event: s.eventFacts, lead: { ...s.lf, attributes: decodeKeys(s.state.fitAttributes ?? {}) }, score: s.scoreFacts, offer: s.ruleset.offer?.facts ?? null, plugin: s.pluginFacts })
      .then((cs) => { reconcileFit(s, cs.filter((c) => c.kind === 'fit' && c.action === 'add')) })
  },
}

function reconcileFit (s: EventScoring, matched: readonly Contribution[]): void {
  const fit = applyFit(s.state, matched, s.model)
  s.state = fit.state
  for (const r of fit.reasons) s.reasons.push(r)
}

/** The model: the contributions applied in order (limits, multipliers, caps, floors, stages), then the activity. */
const modelStep: ScoringStep = {
  id: 'model',
  run (s) {
    const r = applyContributions(s.state, s.contributions.filter((c) => c.kind !== 'fit'), s.model)
    s.state = withActivity(r.state, s.type, s.event, s.properties)
    for (const x of r.reasons) s.reasons.push(x)
  },
}

/** Every event other than manual adjustments and decay ticks is lead activity, whether or not the ruleset scores it. */
function withActivity (s: ScoreState, type: string, event: EventDoc, properties: Record<string, unknown>): ScoreState {
  return { ...s, activity: foldActivity(s.activity, type, event.occurredAt.getTime(), properties) }
}

/**
 * Scores events one at a time. A mapped event goes through one loop of steps: decay, the facts rules and plugins
 * read, the ruleset's rules, each scoring plugin's `score`, fit rules, and the model. The rules and the plugins
 * propose contributions (rules-plugin.ts offers the rules through the scoring-plugin contract too); decay and fit
 * rules are the model's own reconciliations, not contributions: decay recomputes engagement from its value at the
 * last activity, fit rules hold points while they match the attributes. Then the plugins' `predict`, the built-in
 * predictive scorer first. Manual adjustments are events too, so replay keeps them.
 */
export function createScoringPipeline (plugins: readonly MountedScoringPlugin[] = [], options: PipelineOptions = {}) {
  const predictors = plugins.filter((p) => p.plugin.predict !== undefined)
  const scorers = plugins.filter((p) => p.plugin.score !== undefined)
  const factSources = plugins.filter((p) => p.plugin.facts !== undefined)

  /** What rules and plugins read, from the state after decay; plugin input and facts only when something reads them. */
  const factsStep: ScoringStep = {
    id: 'facts',
    run (s) {
      const { lead, event, state, ruleset } = s
      s.eventFacts = { id: event._id, type: s.type, rawType: event.type, sourceId: event.sourceId, occurredAt: event.occurredAt.toISOString(), properties: s.properties }
      s.scoreFacts = scoreFacts(state)
      const readsPlugins = factSources.length > 0 && rulesReadPluginFacts(ruleset.rules)
      if (scorers.length > 0 || readsPlugins) {
        s.input = {
          lead: leadView(lead, s.lf.attributes as Record<string, unknown>),
          event: eventView(event, s.type, s.properties),
          score: s.scoreFacts,
          rulesetVersion: ruleset.version,
        }
      }
      if (readsPlugins) s.pluginFacts = computePluginFacts(factSources, s.input!)
    },
  }
  const steps: readonly ScoringStep[] = [decayStep, factsStep, rulesStep, ...scorers.map(pluginStep), fitStep, modelStep]

  /** The last non-null prediction of the predicting plugins for the state after this event. */
  function predict (lead: LeadDoc, attributes: Record<string, unknown>, event: EventDoc, type: string, properties: Record<string, unknown>, state: ScoreState): PredictiveScore | null {
    let out: PredictiveScore | null = null
    for (const { plugin, ctx } of predictors) {
      const p = plugin.predict!({
        lead: leadView(lead, attributes),
        event: eventView(event, type, properties),
        score: scoreFacts(state),
        activity: state.activity ?? emptyActivity(),
      }, ctx)
      if (p !== null) out = p
    }
    return out
  }

  return {
    prepare: options.prepare,

    async scoreEvent (lead: LeadDoc, event: EventDoc, state: ScoreState, ruleset: ActiveRuleset, ectx: EventContext = {}): Promise<EventOutcome> {
      const properties = decodeKeys(unpackProperties(event.properties))
      const model = { at: event.occurredAt.getTime(), receivedAt: event.receivedAt?.getTime(), ruleVersion: ruleset.version, settings: ruleset.settings }
      if (event.type === DECAY_TICK_TYPE && event.sourceId === SYSTEM_SOURCE) {
        const d = applyDecay(state, model)
        return { mapped: d.reasons.length > 0, type: event.type, ...d, predictive: null }
      }
      if (event.type === ADJUSTMENT_TYPE && event.sourceId === MANUAL_SOURCE) {
        const p = properties as { dimension?: 'engagement' | 'fit' | 'intent'; points?: number; note?: string; ruleId?: string }
        const c: Contribution = { ruleId: 'manual-adjustment', action: 'add', dimension: p.dimension ?? 'engagement', points: p.points ?? 0, reason: p.note ?? 'manual adjustment' }
        const d = applyDecay(state, model)
        const r = applyContributions(d.state, [c], model)
        return { mapped: true, type: event.type, state: r.state, reasons: [...d.reasons, ...r.reasons], predictive: null }
      }
      const { type, known } = mapEventType(event.type, ruleset.settings)
      // the attributes this event carried, unpacked once for the lead facts and the fit attributes
      const carried = event.leadProfile?.attributes === undefined ? undefined : unpackProperties(event.leadProfile.attributes)
      const lf = leadFacts(lead, event.leadProfile, carried)
      const attributes = ectx.attributes ?? lf.attributes as Record<string, unknown>
      // fit rules read the attributes the events carried up to this one, so replays and backtests see the same
      state = foldFitAttributes(state, carried, ruleset)
      if (!known) {
        const next = withActivity(state, type, event, properties)
        return { mapped: false, type, state: next, reasons: [], predictive: predict(lead, attributes, event, type, properties, next) }
      }
      const s: EventScoring = {
        lead, event, ruleset, type, properties, lf, model, state, reasons: [],
        eventFacts: EMPTY, scoreFacts: NO_SCORE, input: null, pluginFacts: null, contributions: [],
      }
      for (const step of steps) {
        const pending = step.run(s)
        if (pending !== undefined) await pending
      }
      return { mapped: true, type, state: s.state, reasons: s.reasons, predictive: predict(lead, attributes, event, type, properties, s.state) }
    },
  }
}

// placeholders until the facts step sets them (one shape for every EventScoring)
const EMPTY: Record<string, unknown> = Object.freeze({})
const NO_SCORE: ScoreFacts = Object.freeze({ total: 0, engagement: 0, fit: 0, intent: 0, stage: '' })

export type ScoringPipeline = ReturnType<typeof createScoringPipeline>
