// Calls of the /v1/intent API (the AI intent layer; generated client), apart from ./index.ts so that only the pages
// using them load them.
import { http, ok } from './client.js'
import type { Ok } from './types.js'

export type IntentStatus = Ok<'/v1/intent/status', 'get'>
export type LeadIntent = Ok<'/v1/intent/leads/{id}', 'get'>

export const intentApi = {
  status: () => ok(http.GET('/v1/intent/status')),
  lead: (id: string) => ok(http.GET('/v1/intent/leads/{id}', { params: { path: { id } } })),
  classify: (id: string) => ok(http.POST('/v1/intent/leads/{id}/classify', { params: { path: { id } } })),
}
