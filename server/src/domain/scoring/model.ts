// The scoring model as pure functions: state + contributions → state + reasons. Live scoring, replay and full
// re-scores all go through here, which is what makes a lead's score a function of its events alone.
import type { Contribution } from '../../contracts/index.js'
import type { Dimension, Reason, RulesetSettings, ScoreParts, ScoreState } from '../types.js'
import { DIMENSIONS } from '../types.js'
import { durationToMs } from '@leadscore/rules-dsl'
import { encodeKey } from '../../lib/keys.js'

/** Firing times kept per rule at least; a windowed limit with a larger count keeps that many (its last firings). */
const MIN_RECENT = 100

/** Milliseconds of a duration like `30d`, `12h`, `2w`, `15m`; null when malformed. */
export function durationMs (d: string): number | null {
  // stored rules may hold amounts up to six digits (the DSL writes at most limits.maxDurationAmount)
  return durationToMs(d, { maxAmount: 999_999 })
}

export function initialState (settings: RulesetSettings): ScoreState {
  return { total: 0, engagement: 0, fit: 0, intent: 0, fired: {}, stage: stageFor(0, null, settings), lastActivityAt: null }
}

export function partsOf (s: ScoreParts): ScoreParts {
  return { total: s.total, engagement: s.engagement, fit: s.fit, intent: s.intent }
}

function bound (v: number, min: number | undefined, max: number | undefined): number {
  let r = v
  if (max !== undefined && r > max) r = max
  if (min !== undefined && r < min) r = min
  return r
}

/**
 * The stage for a total, with hysteresis: a lead leaves its current stage downwards only once the total falls
 * below that stage's `exitBelow` (or its `min` when none is set).
 */
export function stageFor (total: number, current: string | null, settings: RulesetSettings): string {
  const stages = [...(settings.stages ?? [])].sort((a, b) => a.min - b.min)
  if (stages.length === 0) return ''
  let target = stages[0]!
  for (const s of stages) if (total >= s.min) target = s
  if (current !== null) {
    const idx = stages.findIndex((s) => s.name === current)
    const tIdx = stages.indexOf(target)
    if (idx > tIdx) {
      const cur = stages[idx]!
      if (total >= (cur.exitBelow ?? cur.min)) return cur.name
      // fall to the highest stage below whose own exit threshold still holds
      for (let i = idx - 1; i > tIdx; i--) {
        const s = stages[i]!
        if (total >= (s.exitBelow ?? s.min)) return s.name
      }
    }
  }
  return target.name
}

function thresholdName (value: number, list: ReadonlyArray<{ name: string; min: number }> | undefined): string {
  const sorted = [...(list ?? [])].sort((a, b) => b.min - a.min)
  for (const g of sorted) if (value >= g.min) return g.name
  return sorted.length > 0 ? sorted[sorted.length - 1]!.name : ''
}

/** Grade letter for a fit score; '' when the ruleset defines no grades. */
export function gradeFor (fit: number, settings: RulesetSettings): string {
  return thresholdName(fit, settings.grades)
}

/** Intent label (e.g. Low/Medium/High) for an intent score; '' when the ruleset defines none. */
export function intentLabelFor (intent: number, settings: RulesetSettings): string {
  return thresholdName(intent, settings.intentLabels)
}

/**
 * The share of engagement left after `gapMs` of inactivity under the ruleset's decay schedules (1 = no decay).
 * Schedules combine multiplicatively; `exponential` (the default) removes `percent` of what is left each period,
 * `linear` removes `percent` of the engagement the lead had at its last activity each period.
 */
export function decayFactor (gapMs: number, settings: RulesetSettings): number {
  let factor = 1
  for (const d of settings.decay ?? []) {
    if (d.dimension !== 'engagement') continue
    const every = durationMs(d.every)
    const after = d.after === undefined ? 0 : durationMs(d.after)
    if (every === null || every <= 0 || after === null || gapMs <= after) continue
    const periods = Math.floor((gapMs - after) / every)
    if (periods <= 0) continue
    const p = Math.min(100, Math.max(0, d.percent)) / 100
    factor *= d.curve === 'linear' ? Math.max(0, 1 - p * periods) : Math.pow(1 - p, periods)
  }
  return factor
}

/**
 * Applies inactivity decay up to `at` (event time). The decayed engagement is always computed from the value at the
 * last activity, so decaying in several steps (decay ticks) or in one step (at the next event) ends at the same
 * number. Returns the state unchanged and no reason when nothing decays.
 */
export function applyDecay (state: ScoreState, ctx: { at: number; ruleVersion: number; settings: RulesetSettings }): { state: ScoreState; reasons: Reason[] } {
  if (state.lastActivityAt === null || (ctx.settings.decay ?? []).length === 0 || ctx.at <= state.lastActivityAt) return { state, reasons: [] }
  const base = state.decayBase ?? state.engagement
  const factor = decayFactor(ctx.at - state.lastActivityAt, ctx.settings)
  const floors = ctx.settings.floors ?? {}
  const caps = ctx.settings.caps ?? {}
  const target = bound(Math.round(base * factor), floors.engagement, caps.engagement)
  if (target === state.engagement) return { state, reasons: [] }
  const next = cloneState(state)
  const requested = target - state.engagement
  const totalValue = bound(next.total + requested, floors.total, caps.total)
  const applied = totalValue - next.total
  next.engagement += applied
  next.total = totalValue
  next.decayBase = base
  next.stage = stageFor(next.total, state.stage === '' ? null : state.stage, ctx.settings)
  return {
    state: next,
    reasons: [{ ruleId: 'decay', ruleVersion: ctx.ruleVersion, dimension: 'engagement', action: 'add', requested, points: applied, note: `inactivity decay to ${Math.round(factor * 1000) / 10}% of engagement` }],
  }
}

/** Adds `points` to `dimension` within its caps and floors and the total's; returns what was actually applied. */
function addBounded (next: ScoreState, dimension: Dimension, points: number, settings: RulesetSettings): number {
  const caps = settings.caps ?? {}
  const floors = settings.floors ?? {}
  const current = next[dimension]
  const dimValue = bound(current + points, floors[dimension], caps[dimension])
  const totalValue = bound(next.total - current + dimValue, floors.total, caps.total)
  const applied = totalValue - next.total
  next[dimension] = current + applied
  next.total = totalValue
  return applied
}

/**
 * Brings the fit rules' points in line with the fit rules that match the lead's attributes at this event (`matched`,
 * the `kind: 'fit'` contributions): a rule that stopped matching gives back what it holds, a newly matching one adds
 * its points, one whose points changed (a new ruleset version) moves to them. Removals come first, in rule id order,
 * then additions in rule order, so the ledger reads the same on every replay. The stage is left to the event's
 * `applyContributions`, which moves it once for the whole event.
 */
export function applyFit (state: ScoreState, matched: readonly Contribution[], ctx: { ruleVersion: number; settings: RulesetSettings }): { state: ScoreState; reasons: Reason[] } {
  const held = state.fitHeld ?? {}
  if (matched.length === 0 && Object.keys(held).length === 0) return { state, reasons: [] }
  const next = cloneState(state)
  const nextHeld: NonNullable<ScoreState['fitHeld']> = { ...held }
  const reasons: Reason[] = []
  const wanted = new Set(matched.map((c) => c.ruleId))
  for (const id of Object.keys(held).sort()) {
    if (wanted.has(id)) continue
    const h = held[id]!
    const applied = addBounded(next, 'fit', -h.points, ctx.settings)
    delete nextHeld[id]
    reasons.push({ ruleId: id, ruleVersion: ctx.ruleVersion, dimension: 'fit', action: 'add', requested: -h.points, points: applied, note: `${h.note} (no longer matches)` })
  }
  for (const c of matched) {
    const target = c.points ?? 0
    const h = nextHeld[c.ruleId]
    if (h !== undefined && h.of === target) continue
    const requested = target - (h?.points ?? 0)
    const applied = addBounded(next, 'fit', requested, ctx.settings)
    const note = c.reason ?? c.ruleId
    nextHeld[c.ruleId] = { points: (h?.points ?? 0) + applied, of: target, note }
    reasons.push({ ruleId: c.ruleId, ruleVersion: ctx.ruleVersion, dimension: 'fit', action: 'add', requested, points: applied, note: h === undefined ? note : `${note} (points changed)` })
  }
  if (Object.keys(nextHeld).length > 0) next.fitHeld = nextHeld
  else delete next.fitHeld
  return { state: next, reasons }
}

function cloneState (s: ScoreState): ScoreState {
  const fired: ScoreState['fired'] = {}
  for (const [k, v] of Object.entries(s.fired)) fired[k] = { n: v.n, recent: [...v.recent] }
  return { ...s, fired }
}

/**
 * The recency weight (a fraction) of an event that was `ageMs` old when it reached us: the first tier the age is
 * within, else `otherwise`. The age is received − occurred, fixed once the event is stored, so live scoring, replays
 * and backtests weigh an event the same; a wall-clock age would change on every replay.
 */
export function recencyWeight (recency: NonNullable<Contribution['recency']>, ageMs: number): number {
  for (const t of recency.tiers) {
    const ms = durationMs(t.within)
    if (ms !== null && ageMs <= ms) return t.percent / 100
  }
  return recency.otherwise / 100
}

/**
 * Applies one event's contributions, in the order given, to a copy of `state`. Limits and multipliers are
 * evaluated in event time (`at`), so replaying the same events in the same canonical order gives the same result.
 */
export function applyContributions (
  state: ScoreState,
  contributions: readonly Contribution[],
  ctx: { at: number; ruleVersion: number; settings: RulesetSettings; receivedAt?: number },
): { state: ScoreState; reasons: Reason[] } {
  const next = cloneState(state)
  const reasons: Reason[] = []
  const caps = ctx.settings.caps ?? {}
  const floors = ctx.settings.floors ?? {}
  for (const c of contributions) {
    // a plugin's rule ids carry its id and a dot (`plugin.rule`), which may not be a stored field name
    const firedKey = encodeKey(c.ruleId)
    const rec = next.fired[firedKey] ?? { n: 0, recent: [] }
    if (c.within !== undefined) {
      // recency in event time: how old the event already was when it reached us (fixed, so replay agrees)
      const withinMs = durationMs(c.within)
      if (withinMs !== null && (ctx.receivedAt ?? ctx.at) - ctx.at > withinMs) continue
    }
    // an event too old to weigh anything does not fire, so it uses up no `once` or limit
    const weight = c.recency === undefined || c.action !== 'add' ? 1 : recencyWeight(c.recency, Math.max(0, (ctx.receivedAt ?? ctx.at) - ctx.at))
    if (weight === 0) continue
    if (c.limit !== undefined) {
      const perMs = c.limit.per === undefined ? null : durationMs(c.limit.per)
      const inWindow = perMs === null ? rec.n : rec.recent.filter((t) => t > ctx.at - perMs && t <= ctx.at).length
      if (inWindow >= c.limit.count) continue
    }
    let requested: number
    let applied: number
    const dimension: Dimension = c.dimension ?? 'engagement'
    if (c.action === 'reset') {
      const before = next.total
      for (const d of DIMENSIONS) next[d] = 0
      next.total = 0
      const floorTotal = floors.total
      if (floorTotal !== undefined && floorTotal > 0) { next.engagement = floorTotal; next.total = floorTotal }
      requested = -before
      applied = next.total - before
      // fit rules that still match score again at the lead's next event
      delete next.fitHeld
    } else {
      let points = c.points ?? 0
      if (c.multiplier !== undefined && rec.n >= c.multiplier.after) points = Math.round(points * c.multiplier.factor)
      if (weight !== 1) points = Math.round(points * weight)
      const current = next[dimension]
      const target = c.action === 'set' ? points : current + points
      requested = target - current
      // clamp the dimension, then keep the total within its own bounds by trimming this contribution
      const dimValue = bound(target, floors[dimension], caps[dimension])
      const totalValue = bound(next.total - current + dimValue, floors.total, caps.total)
      applied = totalValue - next.total
      next[dimension] = current + applied
      next.total = totalValue
    }
    rec.n += 1
    rec.recent.push(ctx.at)
    // `limit N per D` only needs the last N firings: the rule is full when the N-th latest is inside the window
    const keep = c.limit?.per === undefined ? MIN_RECENT : Math.max(MIN_RECENT, c.limit.count)
    if (rec.recent.length > keep) rec.recent.splice(0, rec.recent.length - keep)
    next.fired[firedKey] = rec
    reasons.push({
      ruleId: c.ruleId,
      ruleVersion: ctx.ruleVersion,
      dimension: c.action === 'reset' ? 'all' : dimension,
      action: c.action,
      requested,
      points: applied,
      note: c.reason ?? c.ruleId,
    })
  }
  next.lastActivityAt = ctx.at
  next.decayBase = next.engagement
  next.stage = stageFor(next.total, state.stage === '' ? null : state.stage, ctx.settings)
  return { state: next, reasons }
}
