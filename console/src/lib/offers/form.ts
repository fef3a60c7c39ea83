// The offer editor's form: lists are edited as one entry per line (or comma-separated for short lists).
import type { Offer, OfferInput } from '$lib/api/offers.js'

export interface OfferForm {
  name: string
  valuePropositions: string
  useCases: string
  industries: string
  adjacentAdditions: string
  decisionMakers: string
  influencers: string
  locations: string
}

/** Entries of a textarea: one per line or comma, trimmed, empty ones dropped. */
export function entries (text: string): string[] {
  return text.split(/[\n,]/).map((s) => s.trim()).filter((s) => s !== '')
}

/** Entries of a textarea of sentences: one per line only (a value proposition may hold commas). */
export function lines (text: string): string[] {
  return text.split('\n').map((s) => s.trim()).filter((s) => s !== '')
}

export const SEED_ROLES = { decisionMakers: 'CEO, CTO, VP, Director, Founder, Owner', influencers: 'Manager, Lead, Architect, Senior' }

export function emptyForm (): OfferForm {
  return { name: '', valuePropositions: '', useCases: '', industries: '', adjacentAdditions: '', decisionMakers: SEED_ROLES.decisionMakers, influencers: SEED_ROLES.influencers, locations: '' }
}

export function formOf (o: Offer): OfferForm {
  return {
    name: o.name, valuePropositions: o.valuePropositions.join('\n'), useCases: o.useCases.join('\n'), industries: o.icp.industries.join(', '),
    adjacentAdditions: o.icp.adjacentAdditions.join(', '), decisionMakers: o.icp.roles.decisionMakers.join(', '),
    influencers: o.icp.roles.influencers.join(', '), locations: o.icp.locations.join(', '),
  }
}

export function inputOf (f: OfferForm): OfferInput {
  return {
    name: f.name.trim(), valuePropositions: lines(f.valuePropositions), useCases: lines(f.useCases),
    icp: {
      industries: entries(f.industries), adjacentAdditions: entries(f.adjacentAdditions),
      roles: { decisionMakers: entries(f.decisionMakers), influencers: entries(f.influencers) }, locations: entries(f.locations),
    },
  }
}
