// Test helpers of the AI intent layer: the labelled fixture, the embedded model (installed by the project's own
// script), and a real HTTP server that speaks OpenAI's chat-completions protocol, answered by that model.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import { parse } from 'csv-parse/sync'
import type { Offer } from '../../server/src/domain/offers/types.js'
import type { IntentLabel, LeadProfile } from '../../server/src/domain/intent/types.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const MODEL_PATH = resolve(ROOT, '.tools', 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf')

/** Installs the default local model with `scripts/install-intent-model.mjs` when it is missing; returns its path. */
export function ensureModel (): string {
  if (!existsSync(MODEL_PATH)) execFileSync(process.execPath, [resolve(ROOT, 'scripts', 'install-intent-model.mjs')], { stdio: 'inherit' })
  return MODEL_PATH
}

export interface LabelledLead { profile: LeadProfile; label: IntentLabel }

/** fixtures/intent: the offer and the hand-labelled leads. */
export function loadIntentFixtures (): { offer: Offer; leads: LabelledLead[] } {
  const raw = JSON.parse(readFileSync(resolve(ROOT, 'fixtures', 'intent', 'offer.json'), 'utf8')) as Offer & { createdAt: string }
  const offer: Offer = { ...raw, createdAt: new Date(raw.createdAt) }
  const rows = parse(readFileSync(resolve(ROOT, 'fixtures', 'intent', 'leads.csv')), { columns: true, skip_empty_lines: true }) as Array<Record<string, string>>
  const v = (s: string | undefined): string | null => s === undefined || s.trim() === '' ? null : s.trim()
  const leads = rows.map((r) => ({
    profile: { name: v(r.name), role: v(r.role), company: v(r.company), industry: v(r.industry), location: v(r.location), linkedinBio: v(r.linkedin_bio) },
    label: r.intent as IntentLabel,
  }))
  return { offer, leads }
}

export interface ChatServerOptions {
  /** Answer `response_format: json_schema` with 400, as servers that know only `json_object` do. */
  refuseJsonSchema?: boolean
  /** Wait this long before answering each request. */
  delayMs?: number
  /** Answer the first N requests with 503. */
  failFirst?: number
  threads?: number
}

export interface ChatServer {
  url: string
  requests: Array<{ headers: IncomingMessage['headers']; body: Record<string, unknown> }>
  close (): Promise<void>
}

async function readBody (req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * A small OpenAI-compatible server (POST /v1/chat/completions) answered by the embedded model through node-llama-cpp:
 * `response_format` json_schema becomes a grammar of that schema, json_object a JSON grammar, as llama.cpp's server
 * does. Faults (a delay, 503s, refusing json_schema) are the server's behaviour, configured per test.
 */
export async function startChatServer (opts: ChatServerOptions = {}): Promise<ChatServer> {
  const { getLlama, LlamaChatSession, LlamaLogLevel } = await import('node-llama-cpp')
  const llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, progressLogs: false, logLevel: LlamaLogLevel.error })
  const model = await llama.loadModel({ modelPath: ensureModel() })
  const context = await model.createContext({ contextSize: 2048, threads: opts.threads ?? 1, sequences: 1 })
  const session = new LlamaChatSession({ contextSequence: context.getSequence() })
  const requests: ChatServer['requests'] = []
  let failures = opts.failFirst ?? 0
  let queue: Promise<unknown> = Promise.resolve()

  const send = (res: import('node:http').ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }
  const error = (res: import('node:http').ServerResponse, status: number, message: string): void => { send(res, status, { error: { message, type: 'invalid_request_error' } }) }

  async function complete (body: Record<string, unknown>): Promise<string> {
    const messages = body.messages as Array<{ role: string; content: string }>
    const system = messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n')
    const user = messages.filter((m) => m.role === 'user').at(-1)?.content ?? ''
    const format = body.response_format as { type?: string; json_schema?: { schema?: unknown } } | undefined
    const grammar = format?.type === 'json_schema'
      ? await llama.createGrammarForJsonSchema(format.json_schema?.schema as Parameters<typeof llama.createGrammarForJsonSchema>[0])
      : format?.type === 'json_object' ? await llama.getGrammarFor('json') : undefined
    session.setChatHistory(system === '' ? [] : [{ type: 'system', text: system }])
    return await session.prompt(user, { ...(grammar !== undefined ? { grammar } : {}), maxTokens: Number(body.max_tokens ?? 300), temperature: Number(body.temperature ?? 0) })
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const text = await readBody(req)
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return error(res, 404, `no route ${req.method} ${req.url}`)
      let body: Record<string, unknown>
      try { body = JSON.parse(text) as Record<string, unknown> } catch { return error(res, 400, 'body is not JSON') }
      requests.push({ headers: req.headers, body })
      if (opts.delayMs !== undefined) await new Promise((r) => setTimeout(r, opts.delayMs))
      if (failures > 0) { failures--; return error(res, 503, 'overloaded') }
      if (!Array.isArray(body.messages) || typeof body.model !== 'string') return error(res, 400, 'model and messages are required')
      if (opts.refuseJsonSchema === true && (body.response_format as { type?: string } | undefined)?.type === 'json_schema') return error(res, 400, "response_format 'json_schema' is not supported")
      // one completion at a time: the context has one sequence
      const run = queue.then(async () => await complete(body))
      queue = run.catch(() => undefined)
      const content = await run
      send(res, 200, {
        id: `chatcmpl-${requests.length}`, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
      })
    })().catch((err: unknown) => { if (!res.headersSent) error(res, 500, (err as Error).message) })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    async close () {
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => { r() }))
      session.dispose()
      await context.dispose()
      await model.dispose()
      await llama.dispose()
    },
  }
}
