import type { Collections } from '../infra/db.js'
import type { RulesetSettings } from './types.js'
import type { OutcomeDefinition } from './predictive/dataset.js'
import type { ModelDoc } from './predictive/registry.js'
import { biasReport, driftReport, observedOutcomes, type BiasReport, type DriftReport, type DriftThresholds, type ObservedRow } from './predictive/monitoring.js'

/** The monitoring reports of trained models (domain/predictive/monitoring.ts), bound to the database and clock. */
export interface ModelMonitoring {
  /** Each model's scored leads and their outcomes so far, under the published ruleset's settings. */
  observed (modelIds: readonly string[], outcome: OutcomeDefinition): Promise<Map<string, ObservedRow[]>>
  drift (model: ModelDoc, opts: { days: number; thresholds: DriftThresholds }): Promise<DriftReport>
  bias (model: ModelDoc, rows: ReadonlyArray<{ leadId: string; p: number; y: number; g?: Array<string | null> }>, attribute: string, data: 'holdout' | 'live', groupKeys?: readonly string[]): Promise<BiasReport>
}

/** Takes the core itself, or anything with its collections, clock and rulesets. */
export function createModelMonitoring (deps: { c: Collections; now: () => Date; rulesets: { active: () => Promise<{ settings: RulesetSettings }> } }): ModelMonitoring {
  const { c } = deps
  return {
    async observed (modelIds, outcome) { return await observedOutcomes(c, modelIds, outcome, (await deps.rulesets.active()).settings, deps.now()) },
    async drift (model, opts) { return await driftReport(c, model, { ...opts, now: deps.now() }) },
    async bias (model, rows, attribute, data, groupKeys = []) { return await biasReport(c, model, rows, attribute, data, groupKeys) },
  }
}
