import createClient, { type Middleware } from 'openapi-fetch'
import type { paths } from './openapi.js'
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

let onUnauthorized: (() => void) | null = null
/** Called when a request answers 401 (the session expired or was signed out elsewhere). */
export function setUnauthorizedHandler (fn: (() => void) | null): void { onUnauthorized = fn }

/** A query string without its `?`; empty, null and undefined values are left out (the server's defaults apply). */
export function queryString (query?: Query): string {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined || v === null || v === '') continue
    params.set(k, String(v))
  }
  return params.toString()
}

// Every call sends the session cookie (same origin only) and the CSRF header the server requires on
// cookie-authenticated writes; any answer but a 2xx becomes a thrown ApiError, so a call resolves only to its data.
const session: Middleware = {
  onRequest ({ request }) {
    request.headers.set('accept', 'application/json')
    request.headers.set('x-leadscore-csrf', '1')
    return request
  },
  async onResponse ({ response, schemaPath }) {
    if (response.ok) return response
    const json = parseJsonBody(response.headers.get('content-type'), await response.text())
    throw failure(response.status, response.statusText, json, schemaPath)
  },
  onError ({ error }) {
    // a cancelled call is rethrown as it is, an AbortError (callers ignore those)
    if (error instanceof DOMException && error.name === 'AbortError') return undefined
    return new ApiError(0, null, 'The server could not be reached. Check your connection and try again.')
  },
}

/**
 * The API client, typed by the generated `paths` (./openapi.d.ts, `npm run api:generate`): a call names its route as
 * the OpenAPI document does (`http.GET('/v1/leads/{id}', { params: { path: { id } } })`); wrap it in {@link ok}.
 */
export const http = createClient<paths>({ baseUrl: '', credentials: 'same-origin', querySerializer: (q) => queryString(q as Query) })
http.use(session)

/** The data of a successful call's answer (undefined for 204); the middleware has thrown {@link ApiError} for any other. */
export async function ok<R extends { response: Response }> (call: Promise<R>): Promise<Data<R>> {
  const res = await call as R & { data?: Data<R> }
  return res.data as Data<R>
}
type Data<R> = R extends { data: infer D } ? D : never

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
