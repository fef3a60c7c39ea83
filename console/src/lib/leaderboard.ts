// Rank movements between two orderings of a leaderboard (pure; tested by test/console/logic.test.ts).

/** Positive: moved up that many places; negative: down; 'new': entered the board. Unmoved ids are left out. */
export type Movement = number | 'new'

export function rankMovements (before: readonly string[], after: readonly string[]): Map<string, Movement> {
  const old = new Map(before.map((id, i) => [id, i]))
  const out = new Map<string, Movement>()
  after.forEach((id, i) => {
    const was = old.get(id)
    if (was === undefined) { if (before.length > 0) out.set(id, 'new') } else if (was !== i) out.set(id, was - i)
  })
  return out
}

export function movementLabel (m: Movement | undefined): string {
  if (m === undefined) return ''
  if (m === 'new') return 'new'
  return m > 0 ? `\u25B2${m}` : `\u25BC${-m}`
}

export function movementDescription (m: Movement | undefined): string {
  if (m === undefined) return 'unchanged'
  if (m === 'new') return 'new on the board'
  return m > 0 ? `up ${m} place${m === 1 ? '' : 's'}` : `down ${-m} place${m === -1 ? '' : 's'}`
}
