// Typed calls of the /v1/intent API (the AI intent layer), apart from ./index.ts so that only the pages using them
// load them. Types come from the server's TypeBox schemas (type-only).
import type { Static } from '@sinclair/typebox'
import type * as I from '../../../../server/src/schemas/intent.js'
import { request } from './client.js'

export type IntentStatus = Static<typeof I.IntentStatus>
export type LeadIntent = Static<typeof I.LeadIntent>

const id = (s: string): string => encodeURIComponent(s)

export const intentApi = {
  status: () => request<IntentStatus>('GET', '/v1/intent/status'),
  lead: (leadId: string) => request<LeadIntent>('GET', `/v1/intent/leads/${id(leadId)}`),
  classify: (leadId: string) => request<{ queued: boolean }>('POST', `/v1/intent/leads/${id(leadId)}/classify`),
}
