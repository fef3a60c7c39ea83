// Typed calls of the /v1/offers API and the ruleset templates, apart from ./index.ts so that only the pages using
// them load them. Types come from the server's TypeBox schemas (type-only).
import type { Static } from '@sinclair/typebox'
import type * as O from '../../../../server/src/schemas/offers.js'
import type * as R from '../../../../server/src/schemas/rulesets.js'
import { request } from './client.js'

export type Offer = Static<typeof O.Offer>
export type OfferInput = Static<typeof O.OfferInput>
export type OfferList = Static<typeof O.OfferList>
export type OfferSummary = OfferList['items'][number]
export type Taxonomy = Static<typeof O.Taxonomy>
export type RulesetTemplate = Static<typeof R.Template>

const id = (s: string): string => encodeURIComponent(s)

export const offersApi = {
  list: () => request<OfferList>('GET', '/v1/offers'),
  taxonomy: () => request<Taxonomy>('GET', '/v1/offers/taxonomy'),
  get: (offerId: string) => request<Offer>('GET', `/v1/offers/${id(offerId)}`),
  versions: (offerId: string) => request<{ items: Offer[] }>('GET', `/v1/offers/${id(offerId)}/versions`),
  create: (body: OfferInput) => request<Offer>('POST', '/v1/offers', { body }),
  update: (offerId: string, body: OfferInput) => request<Offer>('PUT', `/v1/offers/${id(offerId)}`, { body }),
  activate: (offerId: string, body: { version?: number; rescore?: boolean }) =>
    request<{ offer: Offer; rescoreJobId: string | null }>('POST', `/v1/offers/${id(offerId)}/activate`, { body }),
  deactivate: (rescore: boolean) => request<{ rescoreJobId: string | null }>('DELETE', '/v1/offers/active', { query: { rescore } }),
  archive: (offerId: string) => request<void>('DELETE', `/v1/offers/${id(offerId)}`),
}

export const templatesApi = {
  list: () => request<{ items: RulesetTemplate[] }>('GET', '/v1/rulesets/templates'),
}

/** The buying-intent CSV (the "Buying intent" template's view of leads), downloaded with the session cookie. */
export const INTENT_EXPORT_URL = '/v1/exports/intent?format=csv'
