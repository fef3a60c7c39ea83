// Ruleset versions in the rules page (pure; tested by test/console/logic.test.ts).
import type { Ruleset, RulesetStatus } from '../api/types.js'

export type StatusFilter = 'all' | RulesetStatus

export function filterVersions (versions: readonly Ruleset[], filter: StatusFilter): Ruleset[] {
  return filter === 'all' ? versions.slice() : versions.filter((v) => v.status === filter)
}

export function statusTone (status: RulesetStatus): string {
  return status === 'published' ? 'success' : status === 'draft' ? 'accent' : ''
}

/**
 * What saving does with the text of `selected`: a draft is saved in place; any other version (or none) is the base
 * of a new draft.
 */
export function saveTarget (selected: Pick<Ruleset, 'version' | 'status'> | null): { kind: 'update'; version: number } | { kind: 'create'; basedOn: number | null } {
  if (selected !== null && selected.status === 'draft') return { kind: 'update', version: selected.version }
  return { kind: 'create', basedOn: selected?.version ?? null }
}

/**
 * The version opened first: the one in the address (if it exists), else (for authors) the newest draft, else the
 * published one. `versions` are newest first.
 */
export function initialVersion (versions: readonly Ruleset[], requested: number | null, preferDraft: boolean): Ruleset | null {
  if (requested !== null) {
    const r = versions.find((v) => v.version === requested)
    if (r !== undefined) return r
  }
  const draft = preferDraft ? versions.find((v) => v.status === 'draft') : undefined
  return draft ?? versions.find((v) => v.status === 'published') ?? versions[0] ?? null
}

/** A pair to compare by default: the version a draft is based on (or the published one) → the selected one. */
export function defaultComparison (versions: readonly Ruleset[], selected: Ruleset | null): { from: number; to: number } | null {
  if (selected === null) return null
  const published = versions.find((v) => v.status === 'published')
  const from = selected.basedOn ?? (published !== undefined && published.version !== selected.version ? published.version : null)
    ?? versions.find((v) => v.version < selected.version)?.version ?? null
  return from === null ? null : { from, to: selected.version }
}
