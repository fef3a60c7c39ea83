import type { Offer } from '../offers/types.js'
import { INTENT_LABELS, type IntentAnswer, type IntentLabel, type LeadProfile } from './types.js'

export const MAX_REASONS = 3
export const MAX_REASON_CHARS = 160

/** The answer's JSON schema: sent as `response_format` to OpenAI-compatible servers, a grammar for the local model. */
export const INTENT_JSON_SCHEMA = {
  type: 'object',
  properties: {
    intent: { type: 'string', enum: [...INTENT_LABELS] },
    reasons: { type: 'array', items: { type: 'string', minLength: 3, maxLength: MAX_REASON_CHARS }, minItems: 1, maxItems: MAX_REASONS },
  },
  required: ['intent', 'reasons'],
  additionalProperties: false,
} as const

export const SYSTEM_PROMPT = [
  'You are a B2B sales analyst. You judge how likely a lead is to buy the offer described, from their profile only.',
  'High: a decision maker (founder, owner, C-level, VP, director) in an industry the offer is built for, with needs the offer meets.',
  'Medium: a partial fit: an influencer (manager, lead, architect, senior) in a target industry, or a decision maker in a related industry.',
  'Low: no fit: unrelated industry, junior or unrelated role, or too little information.',
  'Answer with JSON only: {"intent": "High" | "Medium" | "Low", "reasons": [one to three short reasons that cite the lead profile]}.',
].join('\n')

const line = (label: string, v: string | null | undefined): string => `${label}: ${v ?? 'unknown'}`

/** The user message: the offer, then the lead's six profile fields (nothing else about the lead is sent). */
export function userPrompt (profile: LeadProfile, offer: Offer): string {
  return [
    `Offer: ${offer.name}`,
    line('Value propositions', offer.valuePropositions.join('; ')),
    line('Use cases', offer.useCases.join('; ')),
    line('Target industries', offer.icp.industries.join(', ')),
    line('Related industries', offer.icp.adjacentIndustries.join(', ')),
    line('Buyer roles', [...offer.icp.roles.decisionMakers, ...offer.icp.roles.influencers].join(', ')),
    '',
    'Lead:',
    line('Name', profile.name),
    line('Role', profile.role),
    line('Company', profile.company),
    line('Industry', profile.industry),
    line('Location', profile.location),
    line('LinkedIn bio', profile.linkedinBio),
    '',
    'Classify this lead\'s buying intent for the offer.',
  ].join('\n')
}

/** Thrown when an answer is not exactly the JSON the schema asks for. */
export class IntentAnswerError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'IntentAnswerError'
  }
}

/**
 * Parses a model's answer strictly: one JSON object, `intent` one of the labels, `reasons` 1–4 non-empty strings, no
 * other keys. A model that wraps the JSON in a Markdown fence is forgiven that fence, nothing else.
 */
export function parseAnswer (raw: string): IntentAnswer {
  const body = raw.trim().replace(/^```(?:json)?\s*([\s\S]*?)\s*```$/, '$1')
  let v: unknown
  try { v = JSON.parse(body) } catch { throw new IntentAnswerError(`the answer is not JSON: ${JSON.stringify(raw.slice(0, 120))}`) }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new IntentAnswerError('the answer is not a JSON object')
  const o = v as Record<string, unknown>
  const extra = Object.keys(o).filter((k) => k !== 'intent' && k !== 'reasons')
  if (extra.length > 0) throw new IntentAnswerError(`the answer has unknown keys: ${extra.join(', ')}`)
  if (!INTENT_LABELS.includes(o.intent as IntentLabel)) throw new IntentAnswerError(`intent must be High, Medium or Low, not ${JSON.stringify(o.intent)}`)
  if (!Array.isArray(o.reasons) || o.reasons.length < 1 || o.reasons.length > MAX_REASONS) throw new IntentAnswerError(`reasons must be an array of 1 to ${MAX_REASONS} strings`)
  const reasons = o.reasons.map((r) => typeof r === 'string' ? r.replace(/\s+/g, ' ').trim() : '')
  if (reasons.some((r) => r.length === 0 || r.length > MAX_REASON_CHARS)) throw new IntentAnswerError(`each reason must be a non-empty string of at most ${MAX_REASON_CHARS} characters`)
  return { intent: o.intent as IntentLabel, reasons }
}
