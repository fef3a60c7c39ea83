/**
 * The last number of a gapless sequence 1..top (0 when empty), found from a guess with lookups alone: gallop up from
 * the guess (or from 0 when the guess is past the end), then bisect. `exists(n)` says whether n is taken; it must hold
 * for every n <= 0. Costs O(log distance) lookups, where a sorted query would read the whole collection on FerretDB.
 */
export async function gaplessTop (exists: (n: number) => Promise<boolean>, guess: number): Promise<number> {
  let lo = guess
  if (!await exists(lo)) lo = 0
  let step = 1
  let hi = lo + step
  while (await exists(hi)) { lo = hi; step *= 2; hi = lo + step }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if (await exists(mid)) lo = mid
    else hi = mid
  }
  return lo
}
