/**
 * Editor completion data.
 *
 * @module
 */

import type { FactCatalog } from './fact-catalog.js'
import { quote } from './quote.js'

/** Category of a completion item; map it to a Monaco `CompletionItemKind`. */
export type CompletionKind = 'keyword' | 'fact' | 'operator' | 'eventType' | 'snippet'

/**
 * One completion proposal. For `snippet` items, `insertText` uses Monaco
 * snippet syntax (`${1:placeholder}`) and must be inserted with
 * `CompletionItemInsertTextRule.InsertAsSnippet`; all other items are plain text.
 */
export interface CompletionItem {
  label: string
  kind: CompletionKind
  insertText: string
  detail?: string
  documentation?: string
}

const KEYWORD_ITEMS: ReadonlyArray<[label: string, detail: string]> = [
  ['rule', 'Start a rule: rule "Name" when … then …'],
  ['priority', 'Rule priority from 1 to 100 (higher runs first)'],
  ['when', 'Start the condition of a rule'],
  ['then', 'Start the action of a rule'],
  ['and', 'Both conditions must hold'],
  ['or', 'Either condition must hold'],
  ['not', 'Negate a condition'],
  ['true', 'Boolean true'],
  ['false', 'Boolean false'],
  ['set', 'Set a dimension to a value: set intent 100'],
  ['reset', 'Reset every dimension to 0'],
  ['once', 'Score at most once per lead'],
  ['limit', 'Score at most N times: limit 3 per 30d'],
  ['per', 'Window of a limit: limit 3 per 30d'],
  ['within', 'Only score events that happened within a duration: within 90d'],
  ['weighted', 'Weight points by event age: weighted 100% within 7d, 50% within 30d, 0%'],
  ['after', 'Multiplier start: x2 after 3'],
  ['engagement', 'Engagement dimension (default)'],
  ['fit', 'Fit dimension'],
  ['intent', 'Intent dimension'],
  ['total', 'Total score (cap and floor only)'],
  ['cap', 'Maximum score: cap total 1000'],
  ['floor', 'Minimum score: floor total 0'],
  ['decay', 'Inactivity decay: decay engagement 5% every 30d after 14d inactivity'],
  ['every', 'Decay interval'],
  ['inactivity', 'Decay only after a period without events'],
  ['curve', 'Decay curve: linear or exponential'],
  ['linear', 'Linear decay curve'],
  ['exponential', 'Exponential decay curve'],
  ['stage', 'Lifecycle stage: stage MQL at 50 exit below 40'],
  ['exit', 'Stage exit threshold: exit below 40'],
  ['below', 'Stage exit threshold: exit below 40'],
  ['at', 'Threshold of a stage, grade or intent label'],
  ['grade', 'Fit grade: grade A at 40'],
  ['label', 'Intent label: intent label Hot at 70'],
  ['event', 'Event type alias: event type "Demo Booked" is demo_request'],
  ['known', 'Declare event types: known events page_view, purchase'],
  ['events', 'Declare event types: known events page_view, purchase'],
  ['is', 'Event type alias target'],
]

const OPERATOR_ITEMS: ReadonlyArray<[label: string, detail: string]> = [
  ['==', 'equal'],
  ['!=', 'not equal'],
  ['<', 'less than'],
  ['<=', 'less than or equal'],
  ['>', 'greater than'],
  ['>=', 'greater than or equal'],
  ['in', 'value is one of a list: in ["a", "b"], or of a list fact ignoring case: in offer.icp.industries'],
  ['not in', 'value is none of a list'],
  ['contains', 'list fact contains a value'],
  ['not contains', 'list fact does not contain a value'],
  ['startsWith', 'text starts with'],
  ['endsWith', 'text ends with'],
  ['includes', 'text contains, ignoring case'],
  ['matches', 'text matches a regular expression: matches /^\\/pricing/i'],
  ['matches any', 'text contains one of the words, ignoring case: matches any offer.icp.roles.decisionMakers'],
  ['exists', 'fact is present'],
  ['not exists', 'fact is absent'],
]

const SNIPPETS: ReadonlyArray<CompletionItem> = [
  {
    label: 'rule',
    kind: 'snippet',
    insertText: 'rule "${1:Name}"\n  when event.type == "${2:page_view}"\n  then +${3:10} ${4|engagement,fit,intent|}',
    detail: 'New rule',
  },
  {
    label: 'rule (set)',
    kind: 'snippet',
    insertText: 'rule "${1:Name}"\n  when event.type == "${2:purchase}"\n  then set ${3|intent,engagement,fit|} ${4:100}',
    detail: 'New rule that sets a dimension',
  },
  {
    label: 'rule (reset)',
    kind: 'snippet',
    insertText: 'rule "${1:Name}"\n  when event.type == "${2:unsubscribed}"\n  then reset',
    detail: 'New rule that resets all scores',
  },
  {
    label: 'decay',
    kind: 'snippet',
    insertText: 'decay engagement ${1:5}% every ${2:30d} after ${3:14d} inactivity',
    detail: 'Inactivity decay',
  },
  { label: 'stage', kind: 'snippet', insertText: 'stage ${1:Name} at ${2:50}', detail: 'Lifecycle stage' },
  { label: 'grade', kind: 'snippet', insertText: 'grade ${1:A} at ${2:40}', detail: 'Fit grade' },
  {
    label: 'event type',
    kind: 'snippet',
    insertText: 'event type "${1:Incoming Name}" is ${2:event_type}',
    detail: 'Event type alias',
  },
  { label: 'known events', kind: 'snippet', insertText: 'known events ${1:page_view}', detail: 'Declare event types' },
]

/**
 * A property of events that a tracking plan declares, offered as the fact
 * `event.properties.<name>`.
 */
export interface PropertyHint {
  /** The property name (top level of `properties`). */
  name: string
  /** Its JSON types, e.g. `["string"]`. */
  types?: readonly string[]
  /** The event types whose schemas declare it. */
  eventTypes?: readonly string[]
}

// a name the rules language reads as one path segment
const BARE_PROPERTY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * Builds completion proposals for an editor: keywords, operators, snippets,
 * facts from `catalog` and the given event types.
 *
 * `properties` (optional, e.g. from a tracking plan) adds one fact per
 * property, `event.properties.<name>`, with its types and event types as
 * detail; names the language cannot write as a path segment are skipped.
 *
 * Wildcard catalog keys such as `event.properties.*` are offered as their
 * prefix (`event.properties.`). Event types are inserted as quoted strings.
 * The result is deterministic: grouped by kind (snippets, keywords,
 * operators, facts, event types) and sorted by label within facts and event
 * types.
 *
 * @throws TypeError if `catalog` is not an object or `eventTypes` is not an array of strings.
 */
export function completionItems (catalog: FactCatalog, eventTypes: string[], properties: readonly PropertyHint[] = []): CompletionItem[] {
  if (catalog === null || typeof catalog !== 'object' || Array.isArray(catalog)) {
    throw new TypeError('completionItems(catalog, eventTypes): catalog must be an object')
  }
  if (!Array.isArray(eventTypes) || eventTypes.some((t) => typeof t !== 'string')) {
    throw new TypeError('completionItems(catalog, eventTypes): eventTypes must be an array of strings')
  }
  if (!Array.isArray(properties) || properties.some((p) => p === null || typeof p !== 'object' || typeof p.name !== 'string')) {
    throw new TypeError('completionItems(catalog, eventTypes, properties): properties must be an array of { name }')
  }
  const items: CompletionItem[] = SNIPPETS.map((s) => ({ ...s }))
  for (const [label, detail] of KEYWORD_ITEMS) items.push({ label, kind: 'keyword', insertText: label, detail })
  for (const [label, detail] of OPERATOR_ITEMS) items.push({ label, kind: 'operator', insertText: label, detail })

  const facts = Object.keys(catalog).sort()
  for (const key of facts) {
    const entry = catalog[key]
    if (entry === undefined) continue
    const wildcard = key.endsWith('.*')
    const label = wildcard ? key.slice(0, -1) : key
    const item: CompletionItem = {
      label,
      kind: 'fact',
      insertText: label,
      detail: wildcard ? `${entry.type} (any sub-path)` : entry.type,
    }
    if (typeof entry.doc === 'string') item.documentation = entry.doc
    items.push(item)
  }
  const named = new Set(facts)
  const hints = properties.filter((p) => BARE_PROPERTY_RE.test(p.name) && !named.has(`event.properties.${p.name}`))
  // a name given more than once (by several event types) is one item with every type and event type
  const byLabel = new Map<string, { types: Set<string>; eventTypes: Set<string> }>()
  for (const p of hints) {
    const label = `event.properties.${p.name}`
    let e = byLabel.get(label)
    if (e === undefined) byLabel.set(label, (e = { types: new Set(), eventTypes: new Set() }))
    for (const x of p.types ?? []) e.types.add(x)
    for (const x of p.eventTypes ?? []) e.eventTypes.add(x)
  }
  for (const [label, p] of [...byLabel].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const types = [...p.types].sort().join(' | ') || 'any'
    const events = [...p.eventTypes].sort().join(', ')
    const item: CompletionItem = { label, kind: 'fact', insertText: label, detail: events === '' ? types : `${types} · ${events}` }
    if (events !== '') item.documentation = `Declared by the tracking plan for ${events}.`
    items.push(item)
  }
  for (const type of [...new Set(eventTypes)].sort()) {
    items.push({ label: type, kind: 'eventType', insertText: quote(type), detail: 'event type' })
  }
  return items
}
