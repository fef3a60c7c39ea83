import type { RuleProperties } from 'json-rules-engine'
import type { RulesetSettings } from '../types.js'

function typeRule (ruleId: string, name: string, type: string, action: 'add' | 'reset', points?: number): RuleProperties {
  const params: Record<string, unknown> = { ruleId, action, reason: name }
  if (action === 'add') { params.dimension = 'engagement'; params.points = points }
  return {
    name: ruleId,
    priority: action === 'reset' ? 10 : 1,
    conditions: { all: [{ fact: 'event', path: 'type', operator: 'equal', value: type }] },
    event: { type: 'score', params },
  }
}

/** The ruleset every new installation starts with (version 1). */
export const DEFAULT_RULES: RuleProperties[] = [
  typeRule('email-open', 'Email open', 'email_open', 'add', 10),
  typeRule('page-view', 'Page view', 'page_view', 'add', 5),
  typeRule('form-submit', 'Form submit', 'form_submit', 'add', 20),
  typeRule('demo-request', 'Demo request', 'demo_request', 'add', 50),
  typeRule('purchase', 'Purchase', 'purchase', 'add', 100),
  typeRule('email-bounced', 'Email bounced', 'email_bounced', 'add', -10),
  typeRule('marked-spam', 'Marked spam', 'marked_spam', 'add', -50),
  typeRule('unsubscribed', 'Unsubscribed', 'unsubscribed', 'reset'),
]

export const DEFAULT_SETTINGS: RulesetSettings = {
  caps: { total: 1000 },
  floors: { total: 0 },
  stages: [
    { name: 'Cold', min: 0 },
    { name: 'Nurture', min: 20 },
    { name: 'MQL', min: 50, exitBelow: 40 },
    { name: 'SQL', min: 100, exitBelow: 80 },
  ],
  eventTypes: {
    // lead_updated: a row of a leads upload (a profile change); no default rule scores it, fit rules may
    known: ['email_open', 'page_view', 'form_submit', 'demo_request', 'purchase', 'email_bounced', 'marked_spam', 'unsubscribed', 'score_adjusted', 'lead_updated'],
    aliases: { demo_booked: 'demo_request', email_opened: 'email_open', pageview: 'page_view', page: 'page_view', form_submitted: 'form_submit', order_completed: 'purchase', unsubscribe: 'unsubscribed' },
  },
}

/** The default ruleset in the rules language; compiles to DEFAULT_RULES and DEFAULT_SETTINGS (a test keeps them equal). */
export const DEFAULT_SOURCE = `# The default ruleset: engagement points for common events, penalties for
# negative signals, and a full reset when a lead unsubscribes.

cap total 1000
floor total 0

stage Cold at 0
stage Nurture at 20
stage MQL at 50 exit below 40
stage SQL at 100 exit below 80

known events email_open, page_view, form_submit, demo_request, purchase, email_bounced, marked_spam,
  unsubscribed, score_adjusted

event type demo_booked is demo_request
event type email_opened is email_open
event type pageview is page_view
event type page is page_view
event type form_submitted is form_submit
event type order_completed is purchase
event type unsubscribe is unsubscribed

rule "Email open"
  when event.type == "email_open"
  then +10 engagement

rule "Page view"
  when event.type == "page_view"
  then +5 engagement

rule "Form submit"
  when event.type == "form_submit"
  then +20 engagement

rule "Demo request"
  when event.type == "demo_request"
  then +50 engagement

rule "Purchase"
  when event.type == "purchase"
  then +100 engagement

rule "Email bounced"
  when event.type == "email_bounced"
  then -10 engagement

rule "Marked spam"
  when event.type == "marked_spam"
  then -50 engagement

rule "Unsubscribed" priority 10
  when event.type == "unsubscribed"
  then reset
`
