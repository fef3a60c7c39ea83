// The leads table's filter form → API query (pure; tested by test/console/logic.test.ts).
import type { LeadFilter } from './api/types.js'

export interface LeadFilterForm { q: string; minScore: string; maxScore: string; stage: string; status: string; source: string }

export const emptyLeadFilters = (): LeadFilterForm => ({ q: '', minScore: '', maxScore: '', stage: '', status: '', source: '' })

// A number input bound with `bind:value` gives a number, or null when empty, not a string.
const text = (v: unknown): string => v === null || v === undefined ? '' : String(v)

/** The query of the filter form, or an error to show next to the score range. */
export function toLeadQuery (f: LeadFilterForm): { query: LeadFilter; error: null } | { query: null; error: string } {
  const query: LeadFilter = {}
  const num = (raw: unknown): number | null | undefined => {
    const s = text(raw)
    if (s.trim() === '') return undefined
    const n = Number(s)
    return Number.isFinite(n) ? n : null
  }
  const min = num(f.minScore)
  const max = num(f.maxScore)
  if (min === null || max === null) return { query: null, error: 'Scores must be numbers' }
  if (min !== undefined && max !== undefined && min > max) return { query: null, error: 'The minimum score is above the maximum' }
  if (min !== undefined) query.minScore = min
  if (max !== undefined) query.maxScore = max
  for (const k of ['q', 'stage', 'status', 'source'] as const) {
    const v = text(f[k]).trim()
    if (v !== '') query[k] = v
  }
  return { query, error: null }
}

/** Whether any filter is set (for the "clear filters" button and the empty state's wording). */
export function hasFilters (f: LeadFilterForm): boolean {
  return Object.values(f).some((v) => text(v).trim() !== '')
}
