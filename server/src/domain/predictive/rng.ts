// A small seeded PRNG (mulberry32): splits, folds and subsamples are reproducible for a given seed.

export type Rng = () => number

export function createRng (seed: number): Rng {
  let a = (seed >>> 0) || 0x9e3779b9
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Fisher–Yates shuffle in place. */
export function shuffle<T> (items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1))
    const t = items[i]!
    items[i] = items[j]!
    items[j] = t
  }
  return items
}

/** Indices split into train and test, with each class in the same proportion in both. */
export function stratifiedSplit (labels: ArrayLike<number>, testFraction: number, rng: Rng): { train: number[]; test: number[] } {
  const train: number[] = []
  const test: number[] = []
  for (const cls of [0, 1]) {
    const idx: number[] = []
    for (let i = 0; i < labels.length; i++) if (labels[i] === cls) idx.push(i)
    shuffle(idx, rng)
    const nTest = Math.round(idx.length * testFraction)
    test.push(...idx.slice(0, nTest))
    train.push(...idx.slice(nTest))
  }
  return { train: train.sort((a, b) => a - b), test: test.sort((a, b) => a - b) }
}

/** k stratified folds over the given indices: fold f holds about 1/k of each class. */
export function stratifiedFolds (indices: readonly number[], labels: ArrayLike<number>, k: number, rng: Rng): number[][] {
  const folds: number[][] = Array.from({ length: k }, () => [])
  for (const cls of [0, 1]) {
    const idx = shuffle(indices.filter((i) => labels[i] === cls), rng)
    idx.forEach((i, n) => folds[n % k]!.push(i))
  }
  return folds.map((f) => f.sort((a, b) => a - b))
}

/** A stable value in [0, 1) from a string (FNV-1a), for assigning leads to champion/challenger arms. */
export function unitHash (s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  // final avalanche so that similar ids spread evenly
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return (h >>> 0) / 4294967296
}
