import { DEFAULT_SOURCE } from './default-ruleset.js'

/** A ruleset shipped with the product, offered when a new ruleset is started (the console's "New from template"). */
export interface RulesetTemplate {
  id: string
  name: string
  description: string
  source: string
}

/**
 * The seed's hybrid buying-intent score. Rule layer: fit, at most 50, from the lead's profile against the active
 * offer. AI layer: intent, at most 50, from the latest `intent_classified` event, scored by the AI intent plugin
 * (domain/intent/plugin.ts), not by rules. Total = fit + intent; the stage is the intent label (High from 70, Medium
 * from 40, Low below).
 */
export const BUYING_INTENT_SOURCE = `# Buying intent: the hybrid score of a profile-fit rule layer and an AI intent layer.
#
# Rule layer (fit, at most 50): the lead's profile against the active offer's ideal customer
# profile (Offers page). Without an active offer the ICP rules do not fire.
# AI layer (intent, at most 50): the latest intent classification. The AI intent plugin
# (ai_intent) scores each intent_classified event: High 50, Medium 30, Low 10, set on intent,
# with the model's reasons and provider/model in the ledger. It needs no rule here, only
# intent_classified among the known events; a rule on it would score it twice.
# Total = fit + intent; the stage is the intent label.

cap fit 50
cap intent 50
cap total 100
floor total 0

stage Low at 0
stage Medium at 40
stage High at 70

known events lead_updated, intent_classified, score_adjusted

# Every profile update (a row of a leads upload) re-evaluates the profile from zero,
# so uploading a lead again never adds its points twice.
rule "Profile re-evaluated" priority 100
  when event.type == "lead_updated"
  then set fit 0

rule "Decision maker" priority 50
  when event.type == "lead_updated"
    and lead.attributes.role matches any offer.icp.roles.decisionMakers
  then +20 fit

rule "Influencer" priority 50
  when event.type == "lead_updated"
    and lead.attributes.role matches any offer.icp.roles.influencers
    and lead.attributes.role not matches any offer.icp.roles.decisionMakers
  then +10 fit

rule "ICP industry" priority 50
  when event.type == "lead_updated" and lead.attributes.industry in offer.icp.industries
  then +20 fit

rule "Adjacent industry" priority 50
  when event.type == "lead_updated"
    and lead.attributes.industry in offer.icp.adjacentIndustries
    and lead.attributes.industry not in offer.icp.industries
  then +10 fit

rule "Complete profile" priority 50
  when event.type == "lead_updated"
    and lead.name exists
    and lead.company exists
    and lead.attributes.role exists
    and lead.attributes.industry exists
    and lead.attributes.location exists
    and lead.attributes.linkedin_bio exists
  then +10 fit
`

export const RULESET_TEMPLATES: readonly RulesetTemplate[] = [
  { id: 'default', name: 'Engagement (default)', description: 'Engagement points for common events, penalties for negative signals, a reset on unsubscribe.', source: DEFAULT_SOURCE },
  {
    id: 'buying-intent',
    name: 'Buying intent',
    description: 'Profile fit against the active offer (role tier, ICP or adjacent industry, complete profile; at most 50) plus the AI intent classification, scored by the AI intent plugin with the model\'s reasons (High 50, Medium 30, Low 10). Stages High ≥ 70, Medium ≥ 40, Low.',
    source: BUYING_INTENT_SOURCE,
  },
]
