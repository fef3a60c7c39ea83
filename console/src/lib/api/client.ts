import type { ApiDiagnostic, Problem } from './types.js'

/** A failed API call; `problem` is the server's RFC 9457 body when it sent one. */
export class ApiError extends Error {
  constructor (readonly status: number, readonly problem: Problem | null, message: string) {
    super(message)
    this.name = 'ApiError'
  }

  get code (): string { return this.problem?.code ?? (this.status === 0 ? 'NETWORK' : `HTTP_${this.status}`) }
  /** Per-field problems (`pointer` is a JSON pointer into the request). */
  get errors (): Array<{ pointer: string; detail: string }> { return this.problem?.errors ?? [] }
  /** Rules-language diagnostics the server sent with LS_ERR_RULESET_INVALID (1-based line/column ranges). */
  get diagnostics (): ApiDiagnostic[] {
    const d = (this.problem as Record<string, unknown> | null)?.diagnostics
    return Array.isArray(d) ? d as ApiDiagnostic[] : []
  }
}

/** The message to show for any error thrown by a call. */
export function errorMessage (err: unknown): string {
  if (err instanceof ApiError) return err.problem?.detail ?? err.message
  if (err instanceof Error) return err.message
  return String(err)
}

type Query = Record<string, string | number | boolean | null | undefined>
export interface RequestOptions { query?: Query; body?: unknown; signal?: AbortSignal; headers?: Record<string, string> }

let onUnauthorized: (() => void) | null = null
/** Called when a request answers 401 (the session expired or was signed out elsewhere). */
export function setUnauthorizedHandler (fn: (() => void) | null): void { onUnauthorized = fn }

export function buildUrl (path: string, query?: Query): string {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined || v === null || v === '') continue
    params.set(k, String(v))
  }
  const qs = params.toString()
  return qs === '' ? path : `${path}?${qs}`
}

/**
 * One API call with the session cookie (same origin only) and the CSRF header the server requires on
 * cookie-authenticated writes. Resolves to the parsed JSON body (undefined for 204); rejects with {@link ApiError}.
 */
export async function request<T> (method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', 'x-leadscore-csrf': '1', ...opts.headers }
  let body: string | undefined
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(opts.body)
  }
  let res: Response
  try {
    res = await fetch(buildUrl(path, opts.query), { method, headers, body, credentials: 'same-origin', signal: opts.signal })
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err
    throw new ApiError(0, null, 'The server could not be reached. Check your connection and try again.')
  }
  if (res.status === 204) return undefined as T
  const text = await res.text()
  const json = parseJsonBody(res.headers.get('content-type'), text)
  if (!res.ok) throw failure(res.status, res.statusText, json, path)
  return json as T
}

/** The JSON of a response body, or null when it is not JSON. */
export function parseJsonBody (contentType: string | null, text: string): unknown {
  if (!/json/.test(contentType ?? '') || text === '') return null
  try { return JSON.parse(text) } catch { return null }
}

/** The {@link ApiError} of a failed response (and the sign-in redirect for a 401 outside /v1/session). */
export function failure (status: number, statusText: string, json: unknown, path: string): ApiError {
  const problem = json !== null && typeof json === 'object' && 'code' in json ? json as Problem : null
  if (status === 401 && !path.startsWith('/v1/session')) onUnauthorized?.()
  return new ApiError(status, problem, problem?.detail ?? `${status} ${statusText}`)
}
