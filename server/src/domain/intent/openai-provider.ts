import type { Offer } from '../offers/types.js'
import { INTENT_JSON_SCHEMA, SYSTEM_PROMPT, parseAnswer, userPrompt } from './prompt.js'
import { IntentProviderError, type IntentAnswer, type IntentProvider, type LeadProfile } from './types.js'

export interface OpenAiProviderOptions {
  /** e.g. `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` (Ollama), `http://127.0.0.1:8080/v1` (llama.cpp). */
  baseUrl: string
  model: string
  /** Sent as a bearer token when set; local servers usually need none. */
  apiKey?: string | undefined
  maxTokens?: number
}

/**
 * Any server speaking OpenAI's chat completions: asks for the answer as `response_format: json_schema` and, when the
 * server refuses that (some accept only `json_object`), asks once more with `json_object` and keeps to it. Either
 * way the answer is parsed strictly (prompt.ts), so a server that ignores the format cannot slip a bad answer in.
 */
export function createOpenAiProvider (opts: OpenAiProviderOptions): IntentProvider {
  const url = `${opts.baseUrl.replace(/\/+$/, '')}/chat/completions`
  let format: 'json_schema' | 'json_object' = 'json_schema'

  async function post (profile: LeadProfile, offer: Offer, signal: AbortSignal): Promise<Response> {
    const body = {
      model: opts.model,
      temperature: 0,
      max_tokens: opts.maxTokens ?? 300,
      messages: [{ role: 'system', content: SYSTEM_PROMPT }, { role: 'user', content: userPrompt(profile, offer) }],
      response_format: format === 'json_schema'
        ? { type: 'json_schema', json_schema: { name: 'lead_intent', strict: true, schema: INTENT_JSON_SCHEMA } }
        : { type: 'json_object' },
    }
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' }
    if (opts.apiKey !== undefined && opts.apiKey !== '') headers.authorization = `Bearer ${opts.apiKey}`
    try {
      return await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal })
    } catch (err) {
      throw new IntentProviderError(`${url} could not be reached: ${(err as Error).message}`, true, { cause: err })
    }
  }

  return {
    name: 'openai',
    model: opts.model,
    async classify (profile, offer, signal): Promise<IntentAnswer> {
      let res = await post(profile, offer, signal)
      if (res.status === 400 && format === 'json_schema') {
        const text = await res.text()
        if (!/response_format|json_schema/i.test(text)) throw new IntentProviderError(`${url} answered 400: ${text.slice(0, 200)}`, false)
        format = 'json_object'
        res = await post(profile, offer, signal)
      }
      if (!res.ok) {
        const text = await res.text().catch(() => '')
        // 408, 409, 429 and 5xx may pass; anything else (401 bad key, 404 unknown model) will not
        const retryable = res.status === 408 || res.status === 409 || res.status === 429 || res.status >= 500
        throw new IntentProviderError(`${url} answered ${res.status}: ${text.slice(0, 200)}`, retryable)
      }
      let data: unknown
      try { data = await res.json() } catch (err) { throw new IntentProviderError(`${url} answered a body that is not JSON`, true, { cause: err }) }
      const content = (data as { choices?: Array<{ message?: { content?: unknown } }> }).choices?.[0]?.message?.content
      if (typeof content !== 'string') throw new IntentProviderError(`${url} answered no choices[0].message.content`, true)
      try {
        return parseAnswer(content)
      } catch (err) {
        throw new IntentProviderError(`the model's answer was refused: ${(err as Error).message}`, true, { cause: err })
      }
    },
  }
}
