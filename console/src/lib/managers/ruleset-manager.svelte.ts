import { api } from '../api/index.js'
import type { Ruleset } from '../api/types.js'

interface Stage { name: string; min: number }

/** The published ruleset, read once and re-read after a publish: stage names and known event types for forms and filters. */
class RulesetInfo {
  active = $state<Ruleset | null>(null)
  private loading: Promise<void> | null = null

  get stages (): Stage[] {
    const s = this.active?.settings.stages
    if (!Array.isArray(s)) return []
    return s.filter((x): x is Stage => x !== null && typeof x === 'object' && typeof (x as Stage).name === 'string' && typeof (x as Stage).min === 'number')
      .slice().sort((a, b) => a.min - b.min)
  }

  get eventTypes (): string[] {
    const et = this.active?.settings.eventTypes as { known?: unknown } | undefined
    return Array.isArray(et?.known) ? et.known.filter((t): t is string => typeof t === 'string' && t !== 'score_adjusted') : []
  }

  async load (force = false): Promise<void> {
    if (this.active !== null && !force) return
    this.loading ??= (async () => {
      try { this.active = await api.rulesets.active() } finally { this.loading = null }
    })()
    await this.loading
  }

  set (r: Ruleset): void { this.active = r }
}

export const rulesetInfo = new RulesetInfo()
