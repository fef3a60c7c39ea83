// The "Replace ruleset" editor's text ↔ request body (pure; tested by test/console/logic.test.ts).
import type { Ruleset, RulesetReplace } from './api/types.js'

export type RulesetDraft = RulesetReplace

/** The editable JSON of a published ruleset: its rules and settings, and an empty note to fill in. */
export function draftOf (r: Pick<Ruleset, 'rules' | 'settings'>): string {
  return JSON.stringify({ note: '', rules: r.rules, settings: r.settings }, null, 2)
}

/** The request body of the editor's text, or what is wrong with its shape (the server checks the rest). */
export function parseDraft (text: string): { value: RulesetDraft; error: null } | { value: null; error: string } {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (err) {
    return { value: null, error: `Not valid JSON: ${(err as Error).message}` }
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { value: null, error: 'The ruleset must be a JSON object with a "rules" array' }
  const o = v as Record<string, unknown>
  const unknownKeys = Object.keys(o).filter((k) => !['rules', 'settings', 'note'].includes(k))
  if (unknownKeys.length > 0) return { value: null, error: `Unknown keys: ${unknownKeys.join(', ')} (allowed: rules, settings, note)` }
  if (!Array.isArray(o.rules)) return { value: null, error: '"rules" must be an array' }
  if (!o.rules.every((r) => r !== null && typeof r === 'object' && !Array.isArray(r))) return { value: null, error: 'Every rule must be a JSON object' }
  const out: RulesetDraft = { rules: o.rules as RulesetDraft['rules'] }
  if (o.settings !== undefined) {
    if (o.settings === null || typeof o.settings !== 'object' || Array.isArray(o.settings)) return { value: null, error: '"settings" must be an object' }
    out.settings = o.settings as Record<string, unknown>
  }
  if (o.note !== undefined) {
    if (typeof o.note !== 'string') return { value: null, error: '"note" must be a string' }
    if (o.note.trim() !== '') out.note = o.note.trim()
  }
  return { value: out, error: null }
}
