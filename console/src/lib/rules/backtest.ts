// The backtest form and its results (pure; tested by test/console/logic.test.ts).
import type { BacktestBody, BacktestResult } from '../api/types.js'

export interface BacktestForm {
  version: number | null
  scope: 'all' | 'leads'
  leadIds: string
  /** datetime-local values ('' = open-ended) */
  from: string
  to: string
}

export type BacktestFormErrors = Partial<Record<'version' | 'leadIds' | 'from' | 'to', string>>

const LEAD_ID = /^[A-Za-z0-9_:.-]{1,100}$/
export const MAX_LEAD_IDS = 1000

/** Lead ids separated by commas, spaces or new lines, each once, in order. */
export function parseLeadIds (text: string): { ids: string[]; invalid: string[] } {
  const ids: string[] = []
  const invalid: string[] = []
  for (const raw of text.split(/[\s,;]+/)) {
    const id = raw.trim()
    if (id === '') continue
    if (!LEAD_ID.test(id)) { if (!invalid.includes(id)) invalid.push(id); continue }
    if (!ids.includes(id)) ids.push(id)
  }
  return { ids, invalid }
}

const toIso = (local: string): string | null => {
  const d = new Date(local)
  return Number.isNaN(d.getTime()) ? null : d.toISOString()
}

export function validateBacktestForm (f: BacktestForm): { body: BacktestBody; version: number; errors: BacktestFormErrors } | { body: null; version: null; errors: BacktestFormErrors } {
  const errors: BacktestFormErrors = {}
  const body: BacktestBody = {}
  if (f.version === null) errors.version = 'Choose the version to test'
  if (f.scope === 'leads') {
    const { ids, invalid } = parseLeadIds(f.leadIds)
    if (invalid.length > 0) errors.leadIds = `Not lead ids: ${invalid.slice(0, 3).join(', ')}${invalid.length > 3 ? ` and ${invalid.length - 3} more` : ''}`
    else if (ids.length === 0) errors.leadIds = 'Enter at least one lead id'
    else if (ids.length > MAX_LEAD_IDS) errors.leadIds = `At most ${MAX_LEAD_IDS} lead ids (got ${ids.length})`
    else body.leadIds = ids
  }
  const from = f.from === '' ? null : toIso(f.from)
  const to = f.to === '' ? null : toIso(f.to)
  if (f.from !== '' && from === null) errors.from = 'Enter a valid date and time'
  if (f.to !== '' && to === null) errors.to = 'Enter a valid date and time'
  if (from !== null && to !== null && from >= to) errors.to = 'The end must be after the start'
  if (from !== null) body.from = from
  if (to !== null) body.to = to
  if (Object.keys(errors).length > 0 || f.version === null) return { body: null, version: null, errors }
  return { body, version: f.version, errors }
}

/** Chart rows of the before/after distribution: one band per bin. */
export function distributionRows (d: BacktestResult['distribution']): Array<{ band: string; before: number; after: number }> {
  return d.map((b) => ({ band: `${fmt(b.min)}–${fmt(b.max)}`, before: b.before, after: b.after }))
}

const fmt = (n: number): string => Number.isInteger(n) ? String(n) : n.toFixed(1)

/** "×1.8" (how much likelier than the average lead a lead in this stage converts), "—" when unknown. */
export function formatLift (lift: number): string {
  return Number.isFinite(lift) && lift > 0 ? `×${lift.toFixed(lift >= 10 ? 0 : 1)}` : '—'
}

export function formatRate (rate: number): string {
  return Number.isFinite(rate) ? `${(rate * 100).toFixed(rate < 0.1 && rate > 0 ? 1 : 0)}%` : '—'
}
