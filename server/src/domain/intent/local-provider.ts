import { existsSync } from 'node:fs'
import type { Offer } from '../offers/types.js'
import { INTENT_JSON_SCHEMA, SYSTEM_PROMPT, parseAnswer, userPrompt } from './prompt.js'
import { IntentProviderError, type IntentAnswer, type IntentProvider, type LeadProfile } from './types.js'

export interface LocalProviderOptions {
  /** A GGUF file; `npm run intent:model` installs the default one. */
  modelPath: string
  /** CPU threads for inference (the server shares the machine with scoring). */
  threads: number
  contextSize?: number
  maxTokens?: number
}

type NodeLlamaCpp = typeof import('node-llama-cpp')
type Loaded = {
  session: InstanceType<NodeLlamaCpp['LlamaChatSession']>
  grammar: InstanceType<NodeLlamaCpp['LlamaGrammar']>
  dispose: () => Promise<void>
}

/**
 * The embedded model through node-llama-cpp (an optional dependency, imported only when this provider is used, with
 * its prebuilt CPU binaries: it never builds or downloads anything). The answer is constrained by a grammar made from
 * the answer's JSON schema, then parsed strictly all the same. One lead at a time: a context holds one sequence.
 */
export function createLocalProvider (opts: LocalProviderOptions): IntentProvider {
  let loading: Promise<Loaded> | null = null
  let queue: Promise<unknown> = Promise.resolve()

  async function load (): Promise<Loaded> {
    if (!existsSync(opts.modelPath)) throw new IntentProviderError(`the model file ${opts.modelPath} does not exist (npm run intent:model installs the default one)`, false)
    let lib: NodeLlamaCpp
    try {
      lib = await import('node-llama-cpp')
    } catch (err) {
      throw new IntentProviderError('node-llama-cpp is not installed (npm install node-llama-cpp@3.21.1)', false, { cause: err })
    }
    const llama = await lib.getLlama({ gpu: false, build: 'never', skipDownload: true, progressLogs: false, logLevel: lib.LlamaLogLevel.error })
    const model = await llama.loadModel({ modelPath: opts.modelPath })
    const context = await model.createContext({ contextSize: opts.contextSize ?? 2048, threads: opts.threads, sequences: 1 })
    const grammar = await llama.createGrammarForJsonSchema(INTENT_JSON_SCHEMA as unknown as Parameters<typeof llama.createGrammarForJsonSchema>[0])
    const session = new lib.LlamaChatSession({ contextSequence: context.getSequence(), systemPrompt: SYSTEM_PROMPT })
    return {
      session, grammar,
      dispose: async () => { session.dispose(); await context.dispose(); await model.dispose(); await llama.dispose() },
    }
  }

  async function run (profile: LeadProfile, offer: Offer, signal: AbortSignal): Promise<IntentAnswer> {
    loading ??= load()
    let m: Loaded
    try {
      m = await loading
    } catch (err) {
      // a failed load is not cached: the file may be installed later
      loading = null
      if (err instanceof IntentProviderError) throw err
      throw new IntentProviderError(`the local model could not be loaded: ${(err as Error).message}`, false, { cause: err })
    }
    if (signal.aborted) throw new IntentProviderError('timed out before the model was free', true)
    // each lead is judged on its own: no earlier lead stays in the chat history
    m.session.resetChatHistory()
    let text: string
    try {
      text = await m.session.prompt(userPrompt(profile, offer), { grammar: m.grammar, maxTokens: opts.maxTokens ?? 300, temperature: 0, signal })
    } catch (err) {
      throw new IntentProviderError(signal.aborted ? 'the local model timed out' : `the local model failed: ${(err as Error).message}`, true, { cause: err })
    }
    try {
      return parseAnswer(text)
    } catch (err) {
      throw new IntentProviderError(`the model's answer was refused: ${(err as Error).message}`, true, { cause: err })
    }
  }

  return {
    name: 'local',
    model: opts.modelPath.split(/[\\/]/).pop() ?? opts.modelPath,
    classify (profile, offer, signal) {
      const next = queue.then(async () => await run(profile, offer, signal))
      queue = next.catch(() => undefined)
      return next
    },
    problem () {
      return existsSync(opts.modelPath) ? null : `the model file ${opts.modelPath} does not exist (npm run intent:model installs the default one)`
    },
    async close () {
      const l = loading
      loading = null
      if (l !== null) await (await l.catch(() => null))?.dispose()
    },
  }
}
