import type { Offer } from '../offers/types.js'
import type { IntentAnswer, IntentLabel, LeadProfile } from './types.js'

/** The rule classifier's version, recorded as its model name: a change to its logic gets a new one. */
export const RULES_MODEL = 'icp-rules-1'

// spelled-out titles that carry the same rank as the offer's role words
const SYNONYMS: Record<string, string[]> = {
  ceo: ['chief executive'], cto: ['chief technology', 'chief technical'], cfo: ['chief financial'], coo: ['chief operating'],
  cio: ['chief information'], cmo: ['chief marketing'], cro: ['chief revenue'], vp: ['vice president', 'svp', 'evp', 'head of'],
  founder: ['co-founder', 'cofounder'], owner: ['proprietor', 'managing partner'], director: ['managing director'],
}

const norm = (s: string): string => s.normalize('NFKC').toLowerCase().replace(/[^\p{L}\p{N}+&-]+/gu, ' ').trim()

function mentions (role: string, word: string): boolean {
  const r = ` ${norm(role)} `
  const forms = [word, ...(SYNONYMS[norm(word)] ?? [])]
  return forms.some((f) => r.includes(` ${norm(f)} `) || r.includes(` ${norm(f)}s `))
}

export type RoleTier = 'decision-maker' | 'influencer' | 'other' | 'unknown'
export type IndustryFit = 'exact' | 'adjacent' | 'none' | 'unknown'

export function roleTier (role: string | null, offer: Offer): RoleTier {
  if (role === null) return 'unknown'
  if (offer.icp.roles.decisionMakers.some((w) => mentions(role, w))) return 'decision-maker'
  if (offer.icp.roles.influencers.some((w) => mentions(role, w))) return 'influencer'
  return 'other'
}

export function industryFit (industry: string | null, offer: Offer): IndustryFit {
  if (industry === null) return 'unknown'
  const i = norm(industry)
  if (offer.icp.industries.some((x) => norm(x) === i)) return 'exact'
  if (offer.icp.adjacentIndustries.some((x) => norm(x) === i)) return 'adjacent'
  return 'none'
}

/**
 * The deterministic classifier used when no model answers: the rule layer (decision maker 20, influencer 10,
 * exact ICP industry 20, adjacent 10, complete profile 10; at most 50), read as High from 40, Medium from 20.
 */
export function classifyByRules (profile: LeadProfile, offer: Offer): IntentAnswer {
  const reasons: string[] = []
  let points = 0
  const tier = roleTier(profile.role, offer)
  const roleReason = tier === 'decision-maker'
    ? `Decision-maker role (${profile.role})`
    : tier === 'influencer' ? `Influencer role (${profile.role})` : profile.role === null ? 'Role unknown' : `Role outside the buying group (${profile.role})`
  points += tier === 'decision-maker' ? 20 : tier === 'influencer' ? 10 : 0
  reasons.push(roleReason)
  const fit = industryFit(profile.industry, offer)
  const industryReason = fit === 'exact'
    ? `Target industry (${profile.industry})`
    : fit === 'adjacent' ? `Adjacent industry (${profile.industry})` : profile.industry === null ? 'Industry unknown' : `Industry outside the ICP (${profile.industry})`
  points += fit === 'exact' ? 20 : fit === 'adjacent' ? 10 : 0
  reasons.push(industryReason)
  const complete = Object.values(profile).every((v) => v !== null)
  if (complete) { points += 10; reasons.push('Complete profile') }
  const intent: IntentLabel = points >= 40 ? 'High' : points >= 20 ? 'Medium' : 'Low'
  return { intent, reasons }
}
