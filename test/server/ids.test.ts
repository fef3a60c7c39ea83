// Ids: a type prefix, the creation time in base 32 (so ids sort roughly by it) and ten random characters drawn from a
// pool of random bytes refilled a few KB at a time; ids spanning many refills never repeat.
import t from 'tap'
import { newId } from '../../server/src/lib/ids.js'

t.test('ids are well formed, unique across refills of the random pool, and sort by creation time', async (t) => {
  const ids = Array.from({ length: 5000 }, () => newId('ld'))
  const shape = /^ld_[0-9a-v]{9}[0-9a-hjkmnp-tv-z]{10}$/
  t.equal(ids.filter((id) => !shape.test(id)).length, 0, 'prefix, nine time characters, ten random ones')
  t.equal(new Set(ids).size, ids.length, 'no id repeats')
  t.equal(new Set(ids.map((id) => id.slice(-10))).size, ids.length, 'no random part repeats')
  // every random character is used: a pool read off its end would show as a missing or skewed alphabet
  const counts = new Map<string, number>()
  for (const id of ids) for (const ch of id.slice(-10)) counts.set(ch, (counts.get(ch) ?? 0) + 1)
  t.equal(counts.size, 32, 'all 32 characters appear')
  const expected = (ids.length * 10) / 32
  t.ok([...counts.values()].every((n) => n > expected * 0.8 && n < expected * 1.2), 'each about equally often')
  const before = newId('ev')
  await new Promise((r) => setTimeout(r, 5))
  const after = newId('ev')
  t.ok(before < after, 'a later id sorts after an earlier one')
})
