// What the Tracking plan page shows, computed from the plan and the violation counts (pure, tested in
// test/console/tracking-plan-logic.test.ts).
import type { PlanMode, PlanType, PlanViolation } from '../api/tracking-plan.js'

export interface PlanRow {
  type: string
  /** null for a type with counted violations that the plan no longer declares */
  mode: PlanMode | null
  description: string
  warned: number
  rejected: number
  lastAt: string | null
  lastMessage: string | null
  sources: PlanViolation[]
}

/** One row per declared type (plan order), then types that only have counts; counts summed over sources. */
export function planRows (types: readonly PlanType[], violations: readonly PlanViolation[]): PlanRow[] {
  const rows = new Map<string, PlanRow>()
  for (const t of types) rows.set(t.type, { type: t.type, mode: t.mode, description: t.description ?? '', warned: 0, rejected: 0, lastAt: null, lastMessage: null, sources: [] })
  for (const v of violations) {
    let r = rows.get(v.type)
    if (r === undefined) rows.set(v.type, r = { type: v.type, mode: null, description: '', warned: 0, rejected: 0, lastAt: null, lastMessage: null, sources: [] })
    r.warned += v.warned
    r.rejected += v.rejected
    r.sources.push(v)
    if (v.lastAt !== null && (r.lastAt === null || v.lastAt > r.lastAt)) { r.lastAt = v.lastAt; r.lastMessage = v.lastMessage }
  }
  return [...rows.values()]
}

/** A schema typed into the editor: the parsed object, or what is wrong with the text. */
export function parseSchema (text: string): { ok: true; schema: Record<string, unknown> } | { ok: false; error: string } {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (err) {
    return { ok: false, error: `Not valid JSON: ${(err as Error).message}` }
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { ok: false, error: 'A schema is a JSON object, e.g. { "type": "object" }' }
  return { ok: true, schema: v as Record<string, unknown> }
}

/** The schema a new type starts with: an object whose properties are free. */
export const STARTER_SCHEMA = '{\n  "type": "object",\n  "properties": {\n  },\n  "required": []\n}'

export const MODE_HELP: Record<PlanMode, string> = {
  off: 'Declared, not checked',
  warn: 'Stored, flagged and counted',
  enforce: 'Refused (a stored reject) and counted',
}
