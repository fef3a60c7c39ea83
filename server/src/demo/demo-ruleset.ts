import type { OfferInput } from '../domain/offers/offer-service.js'
import type { PlanTypeInput } from '../domain/events/tracking-plan.js'

/** The demo's active offer: the fit rules below read its ICP, and the intent layer classifies leads against it. */
export const DEMO_OFFER: OfferInput = {
  name: 'Leadscore Cloud (demo)',
  valuePropositions: ['Scores every lead in real time from product and marketing events', 'Explains every point in an auditable ledger'],
  useCases: ['Marketing and sales teams of B2B software companies routing leads to reps'],
  icp: {
    industries: ['SaaS', 'Software'],
    adjacentAdditions: ['FinTech'],
    locations: ['Europe', 'North America'],
  },
}

/** The demo's tracking plan, in warn mode: a few demo page views carry `timeOnSite` as text and are flagged. */
export const DEMO_TRACKING_PLAN: PlanTypeInput[] = [
  {
    type: 'page_view', mode: 'warn', description: 'A page of the website was viewed',
    schema: { type: 'object', properties: { path: { type: 'string', pattern: '^/' }, timeOnSite: { type: 'integer', minimum: 0 } }, required: ['path'] },
  },
  {
    type: 'demo_request', mode: 'warn', description: 'A demo was booked on the website',
    schema: { type: 'object', properties: { form: { type: 'string' } }, required: ['form'] },
  },
  {
    type: 'purchase', mode: 'warn', description: 'A subscription was bought',
    schema: { type: 'object', properties: { plan: { type: 'string', enum: ['team', 'business', 'enterprise'] }, amount: { type: 'number', minimum: 0 } }, required: ['plan', 'amount'] },
  },
]

/**
 * The demo's published ruleset: engagement from events (with decay), fit from the lead's profile against the active
 * offer, intent from pricing visits, demo requests, purchases and the intent layer's classification (scored by its
 * own rules under an alias, not by the AI intent plugin: see the comment in the source); stages on the total, grades
 * on fit, intent labels on intent.
 */
export const DEMO_RULESET = `# The demo ruleset: engagement, fit against the active offer, and intent.
cap total 1000
cap fit 50
cap intent 100
floor total 0
decay engagement 10% every 1w after 7d inactivity

stage Cold at 0
stage Nurture at 50
stage MQL at 100 exit below 85
stage SQL at 180 exit below 150

grade A at 40
grade B at 25
grade C at 10
grade D at 0

intent label Low at 0
intent label Warm at 30
intent label Hot at 80

known events page_view, email_open, form_submit, webinar_attended, demo_request, purchase, email_bounced,
  marked_spam, unsubscribed, ai_intent_signal, lead_updated, score_adjusted

# The intent layer's classifications count here as one intent signal among others, weighed by the
# rules below. The alias renames them, so the AI intent plugin (which sets intent to 50/30/10 on
# intent_classified events, as the Buying intent template wants) leaves them to these rules:
# its set would wipe out the intent of a demo request or a purchase.
event type "intent_classified" is ai_intent_signal

# Fit: the lead's profile against the active offer's ideal customer profile (Offers page).
rule "Decision maker" priority 50
  when lead.attributes.role matches any offer.icp.roles.decisionMakers
  then +20 fit once

rule "Influencer" priority 50
  when lead.attributes.role matches any offer.icp.roles.influencers
    and lead.attributes.role not matches any offer.icp.roles.decisionMakers
  then +10 fit once

rule "ICP industry" priority 50
  when lead.attributes.industry in offer.icp.industries
  then +20 fit once

rule "Adjacent industry" priority 50
  when lead.attributes.industry in offer.icp.adjacentIndustries
    and lead.attributes.industry not in offer.icp.industries
  then +10 fit once

rule "Company size" priority 50
  when lead.attributes.employees >= 200
  then +10 fit once

# Engagement: decays when a lead goes quiet.
rule "Page view"
  when event.type == "page_view"
  then +3 engagement limit 10 per 1w

rule "Email open"
  when event.type == "email_open"
  then +2 engagement limit 5 per 1w

rule "Form submit"
  when event.type == "form_submit"
  then +10 engagement

rule "Webinar attended"
  when event.type == "webinar_attended"
  then +15 engagement once per 30d

rule "Email bounced"
  when event.type == "email_bounced"
  then -5 engagement

rule "Marked spam"
  when event.type == "marked_spam"
  then -30 engagement

rule "Unsubscribed" priority 10
  when event.type == "unsubscribed"
  then reset "Lead unsubscribed"

# Intent
rule "Pricing page" priority 5
  when event.type == "page_view" and event.properties.path startsWith "/pricing"
  then +10 intent limit 3 per 30d "Looked at pricing"

rule "Demo request" priority 10
  when event.type == "demo_request"
  then +40 intent once per 30d

rule "Purchase" priority 10
  when event.type == "purchase"
  then +100 engagement once "Became a customer"

rule "Purchase intent" priority 10
  when event.type == "purchase"
  then set intent 100

rule "AI intent High" priority 5
  when event.type == "ai_intent_signal" and event.properties.intent == "High"
  then +30 intent once per 30d

rule "AI intent Medium" priority 5
  when event.type == "ai_intent_signal" and event.properties.intent == "Medium"
  then +15 intent once per 30d
`
