import { Type, type Static } from '@sinclair/typebox'

const Entry = Type.String({ maxLength: 200 })
const List = Type.Array(Entry, { maxItems: 200 })

/** One offer version: what is sold and to whom (the ICP). */
export const Offer = Type.Object({
  id: Type.String(), version: Type.Integer(), name: Type.String(),
  valuePropositions: Type.Array(Type.String()), useCases: Type.Array(Type.String()),
  icp: Type.Object({
    industries: Type.Array(Type.String()),
    adjacentIndustries: Type.Array(Type.String(), { description: 'The taxonomy\'s neighbours of the ICP industries plus adjacentAdditions, without the ICP industries.' }),
    adjacentAdditions: Type.Array(Type.String()),
    roles: Type.Object({ decisionMakers: Type.Array(Type.String()), influencers: Type.Array(Type.String()) }),
    locations: Type.Array(Type.String()),
  }),
  createdAt: Type.String(), createdBy: Type.String(),
  active: Type.Boolean({ description: 'This version is the one scoring uses.' }),
}, { $id: 'Offer' })
export type OfferT = Static<typeof Offer>

/** The body of `POST /v1/offers` and `PUT /v1/offers/{id}` (a new version). */
export const OfferInput = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  valuePropositions: Type.Optional(List),
  useCases: Type.Optional(List),
  icp: Type.Object({
    industries: List,
    adjacentAdditions: Type.Optional(Type.Array(Entry, { maxItems: 200, description: 'Industries to count as adjacent beyond the taxonomy.' })),
    roles: Type.Optional(Type.Object({
      decisionMakers: Type.Optional(Type.Array(Entry, { maxItems: 200, description: 'Role words; default CEO, CTO, VP, Director, Founder, Owner.' })),
      influencers: Type.Optional(Type.Array(Entry, { maxItems: 200, description: 'Role words; default Manager, Lead, Architect, Senior.' })),
    }, { additionalProperties: false })),
    locations: Type.Optional(List),
  }, { additionalProperties: false }),
}, { additionalProperties: false })

export const OfferSummary = Type.Object({
  id: Type.String(), name: Type.String(), latestVersion: Type.Integer(),
  activeVersion: Type.Union([Type.Integer(), Type.Null()]), createdAt: Type.String(), updatedAt: Type.String(),
})

export const OfferList = Type.Object({
  items: Type.Array(OfferSummary),
  active: Type.Union([Type.Object({ id: Type.String(), version: Type.Integer() }), Type.Null()]),
})

export const ActivateBody = Type.Object({
  version: Type.Optional(Type.Integer({ minimum: 1, description: 'Default: the latest version.' })),
  rescore: Type.Optional(Type.Boolean({ description: 'Re-score every lead against the offer in the background (as after publishing a ruleset).' })),
}, { additionalProperties: false })

export const ActivateResult = Type.Object({ offer: Type.Ref('Offer'), rescoreJobId: Type.Union([Type.String(), Type.Null()]) })

export const Taxonomy = Type.Object({
  version: Type.Integer(),
  industries: Type.Array(Type.Object({ name: Type.String(), adjacent: Type.Array(Type.String()) })),
})
