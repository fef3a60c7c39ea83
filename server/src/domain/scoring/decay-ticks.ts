// Inactivity decay while a lead stays quiet: at each tick, every lead whose engagement the published ruleset decays
// by now gets a `decay_tick` event (source `system`), scored like any other. The leads due are read from the decay
// schedule (decay-schedule.ts) by `_id` range, so a tick costs what is due, not a read of every lead.
import type { Collections } from '../../infra/db.js'
import { findByIds } from '../../infra/db.js'
import type { LockService } from '../locks.js'
import type { ActiveRuleset } from '../rulesets/ruleset-service.js'
import type { LeadDoc, ScoreState } from '../types.js'
import { newId } from '../../lib/ids.js'
import { applyDecay } from './model.js'
import { DECAY_TICK_TYPE, SYSTEM_SOURCE } from './pipeline.js'
import { decaySettingsKey, type DecaySchedule } from './decay-schedule.js'
import { loadState } from './stored-state.js'

export interface DecayTickDeps {
  c: Collections
  schedule: DecaySchedule
  locks: LockService
  activeRuleset: () => Promise<ActiveRuleset>
  /** Stores events as ingest does (the tick's events go through the same path as everyone's). */
  ingest: (events: unknown[], ctx: { sourceId: string; requestId: string; receivedAt: Date }) => Promise<{ accepted: number }>
  now: () => Date
  lockLifetimeMs: number
  log: { debug(o: object, m: string): void; info(o: object, m: string): void }
}

const PAGE = 500

export function createDecayTicker (deps: DecayTickDeps) {
  const { c, schedule, now } = deps

  /**
   * Computes the schedule again when the published decay settings are not the ones it was computed with (a publish
   * that changed them, or a database from before the schedule): one process at a time, under a lock. false when
   * another process is doing it.
   */
  async function ensureSchedule (rs: ActiveRuleset): Promise<boolean> {
    if (await schedule.settingsKey() === decaySettingsKey(rs.settings)) return true
    // renewed while it runs: a large lead collection takes longer than any fixed lease
    const r = await deps.locks.withLock('decay-schedule', async () => {
      const leads = c.leads.find({}).project<{ _id: string; state?: ScoreState }>({ state: 1 }).batchSize(1000)
      const n = await schedule.rebuild(leads, rs.settings, now())
      deps.log.info({ leads: n, rulesetVersion: rs.version }, 'decay schedule computed for the published decay settings')
    }, { ttlMs: deps.lockLifetimeMs * 20 })
    return r.ran
  }

  /** One tick: a `decay_tick` event for every lead due by now. Returns how many were stored. */
  async function tick (): Promise<number> {
    const rs = await deps.activeRuleset()
    if (!await ensureSchedule(rs)) return 0
    if (decaySettingsKey(rs.settings) === '') return 0
    const at = now()
    let after: string | null = null
    let ticks = 0
    for (;;) {
      const keys = await schedule.dueBy(at.getTime(), after, PAGE)
      if (keys.length === 0) break
      after = keys[keys.length - 1]!
      const leads = new Map((await findByIds<LeadDoc, Pick<LeadDoc, '_id' | 'email' | 'externalId' | 'state'>>(c.leads, keys.map((k) => k.slice(17)), { email: 1, externalId: 1, state: 1 })).map((l) => [l._id, { ...l, state: loadState(l.state) }]))
      const due = await schedule.check(keys, new Map([...leads].map(([id, l]) => [id, l.state])), rs.settings)
      const events: unknown[] = []
      for (const id of due) {
        const l = leads.get(id)!
        const d = applyDecay(l.state, { at: at.getTime(), ruleVersion: rs.version, settings: rs.settings })
        if (d.reasons.length === 0) continue
        const lead = l.email != null ? { email: l.email } : l.externalId != null ? { externalId: l.externalId } : null
        if (lead === null) continue
        // named by the lead's last activity and the decay reached: every process computing this tick stores one event
        events.push({ externalId: `decay:${l.state.lastActivityAt}:${d.state.engagement}`, lead, type: DECAY_TICK_TYPE, occurredAt: at.toISOString() })
      }
      if (events.length > 0) ticks += (await deps.ingest(events, { sourceId: SYSTEM_SOURCE, requestId: newId('rq'), receivedAt: at })).accepted
      if (keys.length < PAGE) break
    }
    if (ticks > 0) deps.log.debug({ ticks }, 'decay ticks recorded')
    return ticks
  }

  return { tick }
}
