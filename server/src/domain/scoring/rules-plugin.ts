// A ruleset version as a scoring plugin: what its rules propose for an event, through the scoring-plugin contract.
// The scoring conformance suite runs it like any third-party plugin, which holds the rules evaluator to the same
// promises (deterministic, pure, fast, no I/O, explained); fit rules are left out, as the pipeline holds their points
// separately (model.ts applyFit).
import { Type } from '@sinclair/typebox'
import { CONTRACT_VERSION, defineScoringPlugin, type Contribution, type ScoringInput, type ScoringPlugin } from '../../contracts/index.js'
import type { RulesEvaluator } from './rules-engine.js'
import type { RuleFacts } from './rule-operators.js'

/** What the plugin needs of a ruleset version (an ActiveRuleset fits). */
export interface RulesetForScoring {
  version: number
  evaluator: RulesEvaluator
  offer?: { facts: Record<string, unknown> } | null
}

/** The facts rules read for a plugin input, as the pipeline builds them from the stored event. */
export function ruleFactsOf (input: ScoringInput, offer: Record<string, unknown> | null, plugin: Record<string, unknown> | null = null): RuleFacts {
  const { lead, event, score } = input
  return {
    event: { id: event.id, type: event.type, rawType: event.type, sourceId: event.sourceId, occurredAt: event.occurredAt.toISOString(), properties: event.properties },
    lead: { id: lead.id, email: lead.email, externalId: lead.externalId, name: lead.name, company: lead.company, attributes: lead.attributes, status: lead.status, sources: lead.sources },
    score: { total: score.total, engagement: score.engagement, fit: score.fit, intent: score.intent, stage: score.stage },
    offer,
    plugin,
  }
}

const withoutFit = (cs: Contribution[]): Contribution[] => cs.filter((c) => c.kind !== 'fit')

/**
 * The ruleset's rules as a scoring plugin (id `rules`). Compiled rulesets answer synchronously; a ruleset that only
 * json-rules-engine runs answers with a promise.
 */
export function createRulesPlugin (ruleset: RulesetForScoring): ScoringPlugin {
  const { evaluator } = ruleset
  const offer = ruleset.offer?.facts ?? null
  const sync = evaluator.evaluateSync
  return defineScoringPlugin({
    kind: 'scoring',
    manifest: { id: 'rules', version: `${ruleset.version}.0.0`, contract: CONTRACT_VERSION, config: Type.Object({}) },
    score: sync !== null
      ? (input) => withoutFit(sync(ruleFactsOf(input, offer)))
      : async (input) => withoutFit(await evaluator.evaluate(ruleFactsOf(input, offer))),
  })
}
