// Calls of the /v1/offers API and the ruleset templates (generated client), apart from ./index.ts so that only the
// pages using them load them.
import { http, ok } from './client.js'
import type { BodyOf, Ok } from './types.js'

export type Offer = Ok<'/v1/offers/{id}', 'get'>
export type OfferInput = BodyOf<'/v1/offers', 'post'>
export type OfferList = Ok<'/v1/offers', 'get'>
export type OfferSummary = OfferList['items'][number]
export type Taxonomy = Ok<'/v1/offers/taxonomy', 'get'>
export type RulesetTemplate = Ok<'/v1/rulesets/templates', 'get'>['items'][number]

export const offersApi = {
  list: () => ok(http.GET('/v1/offers')),
  taxonomy: () => ok(http.GET('/v1/offers/taxonomy')),
  get: (id: string) => ok(http.GET('/v1/offers/{id}', { params: { path: { id } } })),
  versions: (id: string) => ok(http.GET('/v1/offers/{id}/versions', { params: { path: { id } } })),
  create: (body: OfferInput) => ok(http.POST('/v1/offers', { body })),
  update: (id: string, body: BodyOf<'/v1/offers/{id}', 'put'>) => ok(http.PUT('/v1/offers/{id}', { params: { path: { id } }, body })),
  activate: (id: string, body: BodyOf<'/v1/offers/{id}/activate', 'post'>) => ok(http.POST('/v1/offers/{id}/activate', { params: { path: { id } }, body })),
  deactivate: (rescore: boolean) => ok(http.DELETE('/v1/offers/active', { params: { query: { rescore } } })),
  archive: (id: string) => ok(http.DELETE('/v1/offers/{id}', { params: { path: { id } } })),
}

export const templatesApi = {
  list: () => ok(http.GET('/v1/rulesets/templates')),
}

/** The buying-intent CSV (the "Buying intent" template's view of leads), downloaded with the session cookie. */
export const INTENT_EXPORT_URL = '/v1/exports/intent?format=csv'
