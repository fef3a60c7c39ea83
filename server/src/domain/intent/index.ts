import type { OfferService } from '../offers/types.js'
import { createIntentClassifier } from './classifier.js'
import { createLocalProvider } from './local-provider.js'
import { createOpenAiProvider } from './openai-provider.js'
import { createIntentService, mongoIntentCache, type IntentCollections, type IntentLogger, type IntentServiceDeps } from './service.js'
import type { IntentProvider } from './types.js'

/** The intent layer's part of the server configuration (LEADSCORE_INTENT_*, docs/configuration.md). */
export interface IntentConfig {
  provider: 'off' | 'openai' | 'local'
  /** OpenAI-compatible base URL (with `/v1`). */
  baseUrl: string
  /** The model name (openai) or GGUF file (local). */
  model: string
  apiKey: string | undefined
  timeoutMs: number
  retries: number
  threads: number
  pollMs: number
}

export function providerOf (config: IntentConfig): IntentProvider | null {
  if (config.provider === 'openai') return createOpenAiProvider({ baseUrl: config.baseUrl, model: config.model, apiKey: config.apiKey })
  if (config.provider === 'local') return createLocalProvider({ modelPath: config.model, threads: config.threads })
  return null
}

/** Builds the provider, the classifier (with its `_id`-keyed cache) and the service from the configuration. */
export function createIntentLayer (config: IntentConfig, deps: { c: IntentCollections; offers: OfferService | null; log: IntentLogger; now: () => Date } & Pick<IntentServiceDeps, 'ingest' | 'live'>) {
  const provider = providerOf(config)
  const classifier = createIntentClassifier({
    provider, cache: mongoIntentCache(deps.c.intentCache, deps.now), timeoutMs: config.timeoutMs, retries: config.retries, backoffMs: 500, log: deps.log,
  })
  return createIntentService({
    ...deps, classifier, pollMs: config.pollMs,
    configured: { provider: config.provider, model: provider?.model ?? null, problem: () => provider?.problem?.() ?? null },
  })
}

export type { IntentService } from './service.js'
