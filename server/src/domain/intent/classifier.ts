import type { Offer } from '../offers/types.js'
import { classifyByRules, RULES_MODEL } from './rules-fallback.js'
import { profileHash } from './profile.js'
import { sha256 } from '../../lib/ids.js'
import { IntentProviderError, RULES_FALLBACK, type IntentAnswer, type IntentProvider, type IntentResult, type LeadProfile } from './types.js'

/** Where answers of a provider are kept, keyed by (lead profile, offer version, model). */
export interface IntentCache {
  get (key: string): Promise<IntentAnswer | null>
  set (key: string, answer: IntentAnswer): Promise<void>
}

export interface ClassifierLogger { warn (o: object, m: string): void; debug (o: object, m: string): void }

export interface ClassifierOptions {
  /** null: no model configured; every lead gets the rule fallback. */
  provider: IntentProvider | null
  cache?: IntentCache
  timeoutMs: number
  /** Attempts after the first one, with exponential backoff from `backoffMs`. */
  retries: number
  backoffMs: number
  /** After this many leads in a row whose attempts all failed, the provider is skipped for `cooldownMs`. */
  breakerAfter?: number
  cooldownMs?: number
  log?: ClassifierLogger
  now?: () => number
  sleep?: (ms: number) => Promise<void>
}

export interface ProviderHealth {
  /** `ok`, `failing` (its last lead fell back) or `paused` (skipped until `pausedUntil`). */
  state: 'ok' | 'failing' | 'paused' | 'off'
  lastError: string | null
  lastErrorAt: Date | null
  pausedUntil: Date | null
  consecutiveFailures: number
}

export function cacheKeyOf (profile: LeadProfile, offer: Offer, provider: string, model: string): string {
  return sha256(JSON.stringify([profileHash(profile), offer.id, offer.version, provider, model]))
}

/**
 * Asks the provider with a time-out per attempt, retries with backoff, and falls back to the rule classifier when it
 * has no provider, the provider fails every attempt, or the provider is paused after failing lead after lead (so a
 * provider that is down costs one lead's attempts per cool-down, not every lead's).
 */
export function createIntentClassifier (opts: ClassifierOptions) {
  const now = opts.now ?? Date.now
  const sleep = opts.sleep ?? (async (ms: number) => await new Promise<void>((r) => setTimeout(r, ms)))
  const breakerAfter = opts.breakerAfter ?? 3
  const cooldownMs = opts.cooldownMs ?? 60_000
  const health: ProviderHealth = { state: opts.provider === null ? 'off' : 'ok', lastError: null, lastErrorAt: null, pausedUntil: null, consecutiveFailures: 0 }

  function fallback (profile: LeadProfile, offer: Offer, why: string): IntentResult {
    return { ...classifyByRules(profile, offer), provider: RULES_FALLBACK, model: RULES_MODEL, fallbackReason: why }
  }

  async function attempt (provider: IntentProvider, profile: LeadProfile, offer: Offer): Promise<IntentAnswer> {
    const ac = new AbortController()
    const timer = setTimeout(() => { ac.abort() }, opts.timeoutMs)
    try {
      // the race settles on time even when a provider ignores the signal
      return await Promise.race([
        provider.classify(profile, offer, ac.signal),
        new Promise<never>((_resolve, reject) => { ac.signal.addEventListener('abort', () => { reject(new IntentProviderError(`no answer within ${opts.timeoutMs} ms`, true)) }) }),
      ])
    } finally {
      clearTimeout(timer)
    }
  }

  return {
    health: (): ProviderHealth => ({ ...health, ...(health.pausedUntil !== null && health.pausedUntil.getTime() <= now() ? { state: 'failing' as const, pausedUntil: null } : {}) }),

    async classify (profile: LeadProfile, offer: Offer): Promise<IntentResult> {
      const provider = opts.provider
      if (provider === null) return fallback(profile, offer, 'no model is configured (LEADSCORE_INTENT_PROVIDER=off)')
      const key = cacheKeyOf(profile, offer, provider.name, provider.model)
      const hit = await opts.cache?.get(key)
      if (hit != null) return { ...hit, provider: provider.name, model: provider.model, cached: true }
      if (health.pausedUntil !== null && health.pausedUntil.getTime() > now()) {
        return fallback(profile, offer, `the ${provider.name} provider is paused after ${health.consecutiveFailures} failed leads: ${health.lastError ?? ''}`)
      }
      let last: Error | null = null
      for (let i = 0; i <= opts.retries; i++) {
        if (i > 0) await sleep(opts.backoffMs * 2 ** (i - 1))
        try {
          const answer = await attempt(provider, profile, offer)
          health.state = 'ok'
          health.consecutiveFailures = 0
          health.pausedUntil = null
          await opts.cache?.set(key, answer)
          return { ...answer, provider: provider.name, model: provider.model }
        } catch (err) {
          last = err as Error
          const retryable = !(err instanceof IntentProviderError) || err.retryable
          opts.log?.warn({ err, attempt: i + 1, provider: provider.name, model: provider.model, retryable }, 'intent provider attempt failed')
          if (!retryable) break
        }
      }
      health.consecutiveFailures++
      health.lastError = last?.message ?? 'unknown error'
      health.lastErrorAt = new Date(now())
      health.state = 'failing'
      if (health.consecutiveFailures >= breakerAfter) {
        health.state = 'paused'
        health.pausedUntil = new Date(now() + cooldownMs)
      }
      return fallback(profile, offer, `the ${provider.name} provider failed: ${health.lastError}`)
    },

    async close (): Promise<void> { await opts.provider?.close?.() },
  }
}

export type IntentClassifier = ReturnType<typeof createIntentClassifier>
