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
 * offer. AI layer: intent, at most 50, from the latest `intent_classified` event. Total = fit + intent; the stage is
 * the intent label (High from 70, Medium from 40, Low below).
 */
export const BUYING_INTENT_SOURCE = `# Buying intent: the hybrid score of a profile-fit rule layer and an AI intent layer.
#
# Rule layer (fit, at most 50): the lead's profile against the active offer's ideal customer
# profile (Offers page). Without an active offer the ICP rules do not fire.
# AI layer (intent, at most 50): the latest intent classification (an intent_classified event).
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

# The latest classification replaces the one before it.
rule "AI intent High" priority 50
  when event.type == "intent_classified" and event.properties.intent == "High"
  then set intent 50

rule "AI intent Medium" priority 50
  when event.type == "intent_classified" and event.properties.intent == "Medium"
  then set intent 30

rule "AI intent Low" priority 50
  when event.type == "intent_classified" and event.properties.intent == "Low"
  then set intent 10
`

export const RULESET_TEMPLATES: readonly RulesetTemplate[] = [
  { id: 'default', name: 'Engagement (default)', description: 'Engagement points for common events, penalties for negative signals, a reset on unsubscribe.', source: DEFAULT_SOURCE },
  {
    id: 'buying-intent',
    name: 'Buying intent',
    description: 'Profile fit against the active offer (role tier, ICP or adjacent industry, complete profile; at most 50) plus the AI intent classification (High 50, Medium 30, Low 10). Stages High ≥ 70, Medium ≥ 40, Low.',
    source: BUYING_INTENT_SOURCE,
  },
]
