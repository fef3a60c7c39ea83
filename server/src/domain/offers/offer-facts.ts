import type { Offer } from './types.js'

/** The active offer as scoring used it: which version, and the `offer` fact rules read. */
export interface OfferSnapshot {
  /** `<offer id>@<version>`, recorded with ledger entries; null when no offer is active. */
  ref: string | null
  version: number
  facts: Readonly<Record<string, unknown>>
}

function deepFreeze<T> (v: T): T {
  if (v !== null && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x)
    Object.freeze(v)
  }
  return v
}

/**
 * The `offer` fact: what rules may read of an offer (`offer.icp.industries`…). Without an active offer every list is
 * empty, so offer rules simply do not fire, the same way in live scoring, dry runs and backtests.
 */
export function offerSnapshot (offer: Offer | null): OfferSnapshot {
  const facts = {
    id: offer?.id ?? null,
    version: offer?.version ?? 0,
    name: offer?.name ?? null,
    valuePropositions: [...(offer?.valuePropositions ?? [])],
    useCases: [...(offer?.useCases ?? [])],
    icp: {
      industries: [...(offer?.icp.industries ?? [])],
      adjacentIndustries: [...(offer?.icp.adjacentIndustries ?? [])],
      roles: { decisionMakers: [...(offer?.icp.roles.decisionMakers ?? [])], influencers: [...(offer?.icp.roles.influencers ?? [])] },
      locations: [...(offer?.icp.locations ?? [])],
    },
  }
  return { ref: offer === null ? null : `${offer.id}@${offer.version}`, version: offer?.version ?? 0, facts: deepFreeze(facts) }
}

export const NO_OFFER: OfferSnapshot = offerSnapshot(null)
