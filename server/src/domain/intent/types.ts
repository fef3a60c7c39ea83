import type { Offer } from '../offers/types.js'

export const INTENT_LABELS = ['High', 'Medium', 'Low'] as const
export type IntentLabel = typeof INTENT_LABELS[number]

/** The event type the intent layer ingests for a lead; the "Buying intent" ruleset scores it. */
export const INTENT_EVENT_TYPE = 'intent_classified'
/** The source id of the events the intent layer ingests. */
export const INTENT_SOURCE = 'intent'
/** The provider name recorded when the deterministic rule classifier answered. */
export const RULES_FALLBACK = 'rules-fallback'

/** What the classifier reads of a lead: these six fields and nothing else leave the machine (docs/intent.md). */
export interface LeadProfile {
  name: string | null
  role: string | null
  company: string | null
  industry: string | null
  location: string | null
  linkedinBio: string | null
}

/** A provider's answer, already validated. */
export interface IntentAnswer { intent: IntentLabel; reasons: string[] }

/** A classification with where it came from. */
export interface IntentResult extends IntentAnswer {
  /** `openai`, `local` or `rules-fallback`. */
  provider: string
  model: string
  /** Why the rule fallback answered instead of the configured provider (absent when the provider answered). */
  fallbackReason?: string
  /** Whether the answer came from the cache. */
  cached?: boolean
}

/** A language-model backend. Implementations throw on any failure; the classifier retries and falls back. */
export interface IntentProvider {
  readonly name: 'openai' | 'local'
  readonly model: string
  classify (profile: LeadProfile, offer: Offer, signal: AbortSignal): Promise<IntentAnswer>
  close? (): Promise<void>
  /** What keeps the provider from answering that is known without asking it (a missing model file), or null. */
  problem? (): string | null
}

/** A provider failure; `retryable` false means asking again cannot help (a bad key, a missing model file). */
export class IntentProviderError extends Error {
  constructor (message: string, readonly retryable: boolean, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'IntentProviderError'
  }
}
