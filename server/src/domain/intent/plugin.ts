import { Type } from '@sinclair/typebox'
import { CONTRACT_VERSION, defineScoringPlugin, type Contribution, type ScoringPlugin } from '../../contracts/index.js'
import { INTENT_EVENT_TYPE, INTENT_LABELS, RULES_FALLBACK, type IntentLabel } from './types.js'

/**
 * The AI intent layer's scoring half. The background half (service.ts: the live-feed follower, the queue, the
 * providers with their time-outs, retries, cache and rule fallback) ingests one `intent_classified` event per
 * classification; this plugin's pure `score()` turns that event into the intent points of its ledger entry, with a
 * reason that carries the label, the model's reasons and who produced them. It never calls a provider: scoring and
 * replays stay as fast and as deterministic as the rules.
 */
export const INTENT_PLUGIN_ID = 'ai_intent'

/** The seed's AI layer: the label sets the intent dimension (at most 50). */
export const INTENT_POINTS: Readonly<Record<IntentLabel, number>> = { High: 50, Medium: 30, Low: 10 }

/** Between the note's "who" part and the model's reasons; kept out of the "who" part so the reasons can be read back. */
const SEP = ' — '
/** Between two reasons, as the intent export joins them. */
export const REASONS_JOIN = ' | '
const MAX_REASONS = 5
const MAX_REASON = 200
const MAX_WHO = 120

const clip = (s: string, n: number): string => s.length <= n ? s : `${s.slice(0, n - 1)}…`
// the "who" part must not hold the separator, or the reasons could not be found again
const plain = (v: unknown, n: number): string | null => {
  if (typeof v !== 'string' && typeof v !== 'number') return null
  const s = String(v).replace(/\s+/g, ' ').replace(/\s*—\s*/g, ' - ').trim()
  return s === '' ? null : clip(s, n)
}

/** The label an `intent_classified` event carries, or null when it carries none the layer knows. */
export function intentLabelOf (properties: Readonly<Record<string, unknown>>): IntentLabel | null {
  const v = properties.intent
  return typeof v === 'string' && (INTENT_LABELS as readonly string[]).includes(v) ? v as IntentLabel : null
}

/**
 * The ledger note of a classification: `AI intent High (openai, gpt-4o-mini) — reason | reason`, or with
 * `(rule fallback icp-rules-1: <why>)` when the rule fallback answered. Reasons are kept as given (at most 5, each
 * clipped to 200 characters); an event without reasons gives a note without the reasons part.
 */
export function intentNote (label: IntentLabel, properties: Readonly<Record<string, unknown>>): string {
  const provider = plain(properties.provider, MAX_WHO)
  const model = plain(properties.model, MAX_WHO)
  let who: string
  if (provider === RULES_FALLBACK) {
    const why = plain(properties.fallbackReason, MAX_WHO)
    who = `rule fallback${model !== null ? ` ${model}` : ''}${why !== null ? `: ${why}` : ''}`
  } else if (provider !== null || model !== null) {
    who = [provider, model].filter((x) => x !== null).join(', ')
  } else {
    who = 'provider not given'
  }
  const reasons = (Array.isArray(properties.reasons) ? properties.reasons : [])
    .filter((r): r is string => typeof r === 'string' && r.trim() !== '')
    .slice(0, MAX_REASONS)
    .map((r) => clip(r.trim().replace(/\s+/g, ' '), MAX_REASON))
  const head = `AI intent ${label} (${who})`
  return reasons.length === 0 ? head : `${head}${SEP}${reasons.join(REASONS_JOIN)}`
}

/** The model's reasons of a note made by {@link intentNote}, joined by ` | `; null when it has none. */
export function reasonsOfNote (note: string): string | null {
  const at = note.indexOf(SEP)
  return at < 0 ? null : note.slice(at + SEP.length)
}

/** The label a ledger reason of this plugin names (its rule id is `ai_intent.<label>`), or null for any other reason. */
export function intentLabelOfRule (ruleId: string): IntentLabel | null {
  if (!ruleId.startsWith(`${INTENT_PLUGIN_ID}.`)) return null
  const l = ruleId.slice(INTENT_PLUGIN_ID.length + 1)
  return INTENT_LABELS.find((x) => x.toLowerCase() === l) ?? null
}

/**
 * The scoring plugin the core mounts next to the predictive one. The pipeline hands it every event whose type the
 * published ruleset knows; it answers only `intent_classified` events with a known label: `set intent` to 50, 30 or
 * 10 (the latest classification replaces the one before it), under the rule id `ai_intent.<label>`.
 */
export function createIntentPlugin (): ScoringPlugin {
  return defineScoringPlugin({
    kind: 'scoring',
    manifest: { id: INTENT_PLUGIN_ID, version: '1.0.0', contract: CONTRACT_VERSION, config: Type.Object({}, { additionalProperties: false }) },
    score ({ event }): Contribution[] {
      if (event.type !== INTENT_EVENT_TYPE) return []
      const label = intentLabelOf(event.properties)
      if (label === null) return []
      return [{ ruleId: label.toLowerCase(), action: 'set', dimension: 'intent', points: INTENT_POINTS[label], reason: intentNote(label, event.properties) }]
    },
  })
}
