/** One line of a line diff: kept, added (only in the new text) or removed (only in the old text). */
export interface DiffLine { op: 'same' | 'add' | 'remove'; text: string; fromLine?: number; toLine?: number }

const MAX_CELLS = 4_000_000

/**
 * A line diff by longest common subsequence, after trimming the common head and tail. Texts whose changed middle
 * is too large for the table are diffed coarsely (the whole middle removed, then added), which is still correct.
 */
export function diffLines (a: string, b: string): DiffLine[] {
  const x = a.split('\n')
  const y = b.split('\n')
  let head = 0
  while (head < x.length && head < y.length && x[head] === y[head]) head++
  let tail = 0
  while (tail < x.length - head && tail < y.length - head && x[x.length - 1 - tail] === y[y.length - 1 - tail]) tail++
  const out: DiffLine[] = []
  for (let i = 0; i < head; i++) out.push({ op: 'same', text: x[i]!, fromLine: i + 1, toLine: i + 1 })
  const xm = x.slice(head, x.length - tail)
  const ym = y.slice(head, y.length - tail)
  const n = xm.length
  const m = ym.length
  if ((n + 1) * (m + 1) > MAX_CELLS) {
    xm.forEach((t, i) => out.push({ op: 'remove', text: t, fromLine: head + i + 1 }))
    ym.forEach((t, j) => out.push({ op: 'add', text: t, toLine: head + j + 1 }))
  } else {
    // lcs[i][j] = length of the LCS of xm[i..] and ym[j..], in one flat array
    const w = m + 1
    const lcs = new Uint32Array((n + 1) * w)
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * w + j] = xm[i] === ym[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!)
      }
    }
    let i = 0
    let j = 0
    while (i < n || j < m) {
      if (i < n && j < m && xm[i] === ym[j]) {
        out.push({ op: 'same', text: xm[i]!, fromLine: head + i + 1, toLine: head + j + 1 }); i++; j++
      } else if (i < n && (j === m || lcs[(i + 1) * w + j]! >= lcs[i * w + j + 1]!)) {
        out.push({ op: 'remove', text: xm[i]!, fromLine: head + i + 1 }); i++
      } else {
        out.push({ op: 'add', text: ym[j]!, toLine: head + j + 1 }); j++
      }
    }
  }
  for (let k = tail; k > 0; k--) out.push({ op: 'same', text: x[x.length - k]!, fromLine: x.length - k + 1, toLine: y.length - k + 1 })
  return out
}
