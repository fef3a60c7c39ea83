/**
 * The product being sold and who it is for. Rules refer to the active offer (`offer.icp.industries`…) and the intent
 * layer reads it to classify a lead; both record `version` so a score can be traced to the offer it was made against.
 */
export interface Offer {
  /** Stable id of the offer; every version of one offer shares it. */
  id: string
  /** 1, 2, 3… per offer id; a version is immutable once written. */
  version: number
  name: string
  valuePropositions: string[]
  useCases: string[]
  icp: OfferIcp
  createdAt: Date
  /** Principal id (user or API key) that wrote this version. */
  createdBy: string
  /** True for the one version of one offer that scoring uses in this workspace. */
  active: boolean
}

/** The ideal customer profile of an offer. */
export interface OfferIcp {
  /** Industries the offer is built for (exact match scores highest). */
  industries: string[]
  /**
   * Industries next to `industries`: the taxonomy's adjacency of each ICP industry, plus the offer's own additions,
   * minus the ICP industries themselves. Stored resolved, so a version's adjacency never changes under it.
   */
  adjacentIndustries: string[]
  /** Industries this offer adds to the taxonomy's adjacency (already part of `adjacentIndustries`). */
  adjacentAdditions?: string[]
  roles: {
    /** Role words of people who sign (e.g. CEO, CTO, VP, Director, Founder, Owner). */
    decisionMakers: string[]
    /** Role words of people who shape the decision (e.g. Manager, Lead, Architect, Senior). */
    influencers: string[]
  }
  locations?: string[]
}

/** Reads offers; the scoring pipeline and the intent layer depend only on this. */
export interface OfferService {
  /** The active offer version, or null when the workspace has none. */
  active (): Promise<Offer | null>
  /** One version of an offer (the latest when `version` is omitted), or null when it does not exist. */
  get (id: string, version?: number): Promise<Offer | null>
}
