// What scoring plugins add to the rules language: facts under `plugin.<id>.<name>` and operators `<id>.<name>`.
// Plugins are installed once per process at boot, and the ruleset validator, both evaluators and the DSL catalog
// all look names up here, so a rule that names a plugin's operator is checked and run the same way everywhere.
import type { FactCatalog } from '@leadscore/rules-dsl'
import { scoringVocabularyProblem, type RuleOperator, type ScoringInput, type ScoringPlugin, type PluginContext } from '../../contracts/index.js'
import { CUSTOM_OPERATORS } from './rule-operators.js'

const operators = new Map<string, RuleOperator>()
const catalog: FactCatalog = {}

/**
 * Registers a scoring plugin's facts and operators; returns why they are unusable, or null. Registering the same
 * plugin id again (another app in the same process) replaces its entries.
 */
export function registerPluginVocabulary (plugin: ScoringPlugin): string | null {
  const why = scoringVocabularyProblem(plugin)
  if (why !== null) return why
  const id = plugin.manifest.id
  for (const key of Object.keys(catalog)) if (key.startsWith(`plugin.${id}.`)) delete catalog[key]
  for (const [name, f] of Object.entries(plugin.facts ?? {})) {
    catalog[`plugin.${id}.${name}`] = f.doc === undefined ? { type: f.type } : { type: f.type, doc: f.doc }
  }
  for (const [name, fn] of Object.entries(plugin.operators ?? {})) {
    operators.set(`${id}.${name}`, fn)
    CUSTOM_OPERATORS.add(`${id}.${name}`)
  }
  return null
}

/** The operator a rule names `<pluginId>.<name>`, when an installed plugin declares it. */
export function pluginOperator (name: string): RuleOperator | undefined {
  return operators.get(name)
}

/** Every installed plugin operator, by its rule name. */
export function pluginOperators (): ReadonlyMap<string, RuleOperator> {
  return operators
}

/** `base` with the installed plugins' facts added, for the DSL checker and editor completions. */
export function withPluginFacts (base: FactCatalog): FactCatalog {
  return Object.keys(catalog).length === 0 ? base : { ...base, ...catalog }
}

/** A plugin and the context it runs in, as the pipeline holds it. */
interface FactSource { plugin: ScoringPlugin; ctx: PluginContext<unknown> }

/**
 * The `plugin` fact for one event: `{ <pluginId>: { <fact>: value } }` for the plugins that declare facts. A fact
 * whose compute throws fails the event, as a throwing operator does; `undefined` becomes null (not known).
 */
export function computePluginFacts (sources: readonly FactSource[], input: ScoringInput): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {}
  for (const { plugin, ctx } of sources) {
    const facts = plugin.facts
    if (facts === undefined) continue
    const values: Record<string, unknown> = {}
    for (const name of Object.keys(facts)) values[name] = facts[name]!.compute(input, ctx) ?? null
    out[plugin.manifest.id] = values
  }
  return out
}

const readsPlugin = new WeakMap<object, boolean>()
/** Whether any condition of `rules` reads the `plugin` fact (computed once per ruleset version). */
export function rulesReadPluginFacts (rules: readonly unknown[]): boolean {
  let has = readsPlugin.get(rules)
  if (has === undefined) {
    has = mentionsPluginFact(rules, 0)
    readsPlugin.set(rules, has)
  }
  return has
}

function mentionsPluginFact (v: unknown, depth: number): boolean {
  if (v === null || typeof v !== 'object' || depth > 250) return false
  if (Array.isArray(v)) return v.some((x) => mentionsPluginFact(x, depth + 1))
  const o = v as Record<string, unknown>
  if (o.fact === 'plugin') return true
  return Object.keys(o).some((k) => k !== 'event' && mentionsPluginFact(o[k], depth + 1))
}
