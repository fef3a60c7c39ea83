// gaplessTop finds the end of a gapless sequence from any guess, below, at or past the end, with few lookups.
import t from 'tap'
import { gaplessTop } from '../../server/src/lib/gapless-top.js'

t.test('the top of 1..n from every guess', async (t) => {
  for (const top of [0, 1, 2, 7, 100, 1000]) {
    for (const guess of [0, 1, Math.floor(top / 2), top, top + 1, top * 3 + 5]) {
      let lookups = 0
      const found = await gaplessTop(async (n) => { lookups++; return n <= top }, guess)
      t.equal(found, top, `top ${top}, guess ${guess}`)
      t.ok(lookups <= 2 * Math.ceil(Math.log2(Math.max(2, top + 2))) + 3, `top ${top}, guess ${guess}: ${lookups} lookups`)
    }
  }
})
