// A version diff's lines (from GET /v1/rulesets/diff) laid out unified or side by side, with long unchanged runs
// folded (pure; tested by test/console/logic.test.ts).
import type { DiffLine } from '../api/types.js'

export interface DiffCell { line: number | null; text: string; op: DiffLine['op'] }
export interface SideRow { left: DiffCell | null; right: DiffCell | null }

/**
 * Side-by-side rows: unchanged lines on both sides; within each run of changes, the removed lines on the left are
 * paired with the added lines on the right in order, and the longer side continues against blanks.
 */
export function sideBySide (lines: readonly DiffLine[]): SideRow[] {
  const rows: SideRow[] = []
  let i = 0
  while (i < lines.length) {
    const l = lines[i]!
    if (l.op === 'same') {
      rows.push({ left: { line: l.fromLine ?? null, text: l.text, op: 'same' }, right: { line: l.toLine ?? null, text: l.text, op: 'same' } })
      i++
      continue
    }
    const removed: DiffLine[] = []
    const added: DiffLine[] = []
    while (i < lines.length && lines[i]!.op !== 'same') {
      const c = lines[i]!
      if (c.op === 'remove') removed.push(c); else added.push(c)
      i++
    }
    for (let k = 0; k < Math.max(removed.length, added.length); k++) {
      const r = removed[k]
      const a = added[k]
      rows.push({
        left: r === undefined ? null : { line: r.fromLine ?? null, text: r.text, op: 'remove' },
        right: a === undefined ? null : { line: a.toLine ?? null, text: a.text, op: 'add' },
      })
    }
  }
  return rows
}

export type Folded<T> = { kind: 'item'; item: T } | { kind: 'fold'; count: number; from: number }

/**
 * Keeps `context` unchanged items around every change and folds longer unchanged runs into one marker
 * (`from` = index of the first folded item). With no change at all, everything is folded into one marker.
 */
export function foldUnchanged<T> (items: readonly T[], isSame: (t: T) => boolean, context = 3): Array<Folded<T>> {
  const keep = items.map(() => false)
  items.forEach((t, i) => {
    if (isSame(t)) return
    for (let k = Math.max(0, i - context); k <= Math.min(items.length - 1, i + context); k++) keep[k] = true
  })
  const out: Array<Folded<T>> = []
  let i = 0
  while (i < items.length) {
    if (keep[i]) { out.push({ kind: 'item', item: items[i]! }); i++; continue }
    const from = i
    while (i < items.length && !keep[i]) i++
    // folding a single line saves nothing
    if (i - from === 1) out.push({ kind: 'item', item: items[from]! })
    else out.push({ kind: 'fold', count: i - from, from })
  }
  return out
}

/** "+3 −1" line counts of a diff. */
export function diffStats (lines: readonly DiffLine[]): { added: number; removed: number } {
  let added = 0
  let removed = 0
  for (const l of lines) {
    if (l.op === 'add') added++
    else if (l.op === 'remove') removed++
  }
  return { added, removed }
}
