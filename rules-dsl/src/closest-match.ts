/**
 * "Did you mean …?" suggestions.
 *
 * @module
 * @internal
 */

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
function editDistance (a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1
  let prevPrev: number[] = []
  let prev: number[] = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur: number[] = [i]
    let rowMin = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, (prevPrev[j - 2] as number) + 1)
      }
      cur.push(v)
      if (v < rowMin) rowMin = v
    }
    if (rowMin > max) return max + 1
    prevPrev = prev
    prev = cur
  }
  return prev[b.length] as number
}

/**
 * Returns the candidate closest to `input` (case-insensitively), if it is
 * close enough to be a plausible typo.
 */
export function closestMatch (input: string, candidates: Iterable<string>): string | undefined {
  const needle = input.toLowerCase()
  const max = Math.max(1, Math.min(3, Math.floor(needle.length / 3)))
  let best: string | undefined
  let bestDistance = max + 1
  for (const candidate of candidates) {
    const d = editDistance(needle, candidate.toLowerCase(), max)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}
