// Finds over a range of string `_id`s (`{ _id: { $gte, $lt } }`, sorted by `_id` or not, with a limit) return what
// MongoDB defines: string `_id`s only, in bytewise UTF-8 order. On the embedded FerretDB they are answered by its
// fifth patch from an index on the unescaped `_id` (the `_id` index orders JSON text, which is not that order), so
// the cases below use `_id`s whose JSON escapes or quotes would reorder them, and compare many random ranges with the
// same computation in JS.
import t from 'tap'
import { ObjectId, type Collection } from 'mongodb'
import { openDatabase } from '../../server/src/infra/db.js'
import { testMongoUri, freshDbName } from '../helpers/harness.js'

type Id = string | number | ObjectId
interface Doc { _id: Id, n: number }
interface Bounds { $gt?: string, $gte?: string, $lt?: string, $lte?: string }
interface Plan { filterPushdown?: boolean, sortPushdown?: boolean, limitPushdown?: boolean, queryPlanner?: { Plan?: string[] } }

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8')
const cmp = (a: string, b: string): number => Buffer.compare(bytes(a), bytes(b))

// a small seeded generator, so a failure can be reproduced
function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}

const ALPHABET = ['a', 'b', 'z', 'A', ' ', '!', '"', '\\', '<', '>', '&', '|', '}', '~', '\t', '\n', '\u0000', '\u0001', '\u001f',
  '\u007f', '\u2028', '\u2029', 'é', 'ß', '中', '😀', '0', '9']

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T

function randomString (r: () => number, maxLen = 6): string {
  let s = ''
  const len = Math.floor(r() * (maxLen + 1))
  for (let i = 0; i < len; i++) s += pick(r, ALPHABET)
  return s
}

function matches (id: Id, b: Bounds): id is string {
  if (typeof id !== 'string') return false
  if (b.$gt !== undefined && !(cmp(id, b.$gt) > 0)) return false
  if (b.$gte !== undefined && !(cmp(id, b.$gte) >= 0)) return false
  if (b.$lt !== undefined && !(cmp(id, b.$lt) < 0)) return false
  if (b.$lte !== undefined && !(cmp(id, b.$lte) <= 0)) return false
  return true
}

const show = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => x instanceof ObjectId ? `oid:${x.toHexString()}` : x)

async function makeDocs (col: Collection<Doc>, r: () => number): Promise<string[]> {
  const ids = new Set<string>(['', 'a', 'a ', 'a b', 'a!', 'a"', 'a\\', 'a<', 'a&', 'a\u0000', 'a\u0000b', 'a\u2028', 'aé', 'a中',
    'a😀', 'ab', 'abc', 'abcd', 'sc|', 'sc}', 'sc|00ff|ld_x', 'sc|00ff|ld_x ', 'sc|00ff|ld_x!', 'sc|0100|ld_a', 'b', '"', '\\', '\u0000'])
  // index-collection style keys and their prefixes
  for (let i = 0; i < 600; i++) {
    const hex = Math.floor(r() * 2 ** 32).toString(16).padStart(8, '0') + Math.floor(r() * 2 ** 32).toString(16).padStart(8, '0')
    ids.add(`sc|${hex}|ld_${i.toString(36)}`)
    if (i % 10 === 0) ids.add(`sc|${hex}`)
  }
  while (ids.size < 3000) ids.add(randomString(r))
  const docs: Doc[] = [...ids].map((id, n) => ({ _id: id, n }))
  for (let i = 0; i < 50; i++) docs.push({ _id: i * 3 - 20, n: -1 - i })
  docs.push({ _id: 1.5, n: -100 })
  for (let i = 0; i < 50; i++) docs.push({ _id: new ObjectId(), n: -200 - i })
  for (let i = 0; i < docs.length; i += 500) await col.insertMany(docs.slice(i, i + 500))
  return [...ids]
}

t.test('string _id ranges return what MongoDB defines, in bytewise order', async (t) => {
  const db = await openDatabase(await testMongoUri(t), freshDbName())
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  t.ok(db.idRange, 'the database answers _id ranges from an index (the embedded build is patched for it)')
  const r = rng(20240605)
  const col = db.db.collection<Doc>('idrange')
  const ids = await makeDocs(col, r)
  const all = (await col.find({}).toArray()).map((d) => d._id)
  t.equal(all.length, ids.length + 101, 'all documents stored')

  const bound = (): string => {
    const x = r()
    if (x < 0.45) return pick(r, ids) // an existing _id (inclusive/exclusive edges)
    if (x < 0.55) return pick(r, ids) + '\u0000'
    if (x < 0.65) return pick(r, ['sc|', 'sc}', 'a', 'b', '', '0', '~', '\u{10ffff}'])
    return randomString(r, 4)
  }
  const shapes: Array<Array<keyof Bounds>> = [['$gte', '$lt'], ['$gt', '$lt'], ['$gte', '$lte'], ['$gt', '$lte'], ['$gte'], ['$gt'], ['$lt'], ['$lte'], ['$lt', '$gt']]
  const limits = [0, 0, 1, 7, 51, 51, 500]
  let checked = 0
  const failures: string[] = []
  for (let q = 0; q < 240; q++) {
    const b: Bounds = {}
    for (const op of shapes[q % shapes.length] ?? []) b[op] = bound()
    // some ranges are made wide enough to matter: the low bound below the high one
    if (b.$lt !== undefined && b.$gte !== undefined && r() < 0.5 && cmp(b.$gte, b.$lt) > 0) [b.$gte, b.$lt] = [b.$lt, b.$gte]
    if (b.$lt !== undefined && b.$gt !== undefined && r() < 0.5 && cmp(b.$gt, b.$lt) > 0) [b.$gt, b.$lt] = [b.$lt, b.$gt]
    const sort = [1, -1, 0][q % 3] as 1 | -1 | 0
    const limit = pick(r, limits)
    const batchSize = r() < 0.3 ? 100 : r() < 0.5 ? 3 : undefined
    let cursor = col.find({ _id: b })
    if (sort !== 0) cursor = cursor.sort({ _id: sort })
    if (limit !== 0) cursor = cursor.limit(limit)
    if (batchSize !== undefined) cursor = cursor.batchSize(batchSize)
    const got = (await cursor.toArray()).map((d) => d._id)
    const want = all.filter((id) => matches(id, b)).sort((x, y) => sort === -1 ? cmp(y, x) : cmp(x, y))
    let ok: boolean
    if (sort !== 0) {
      ok = show(got) === show(limit === 0 ? want : want.slice(0, limit))
    } else {
      // no order asked: any `limit` of the matches, each once
      const wantSet = new Set(want)
      ok = got.length === (limit === 0 ? want.length : Math.min(limit, want.length)) && new Set(got).size === got.length &&
        got.every((id) => typeof id === 'string' && wantSet.has(id))
    }
    checked++
    if (!ok && failures.length < 5) failures.push(`${show(b)} sort ${sort} limit ${limit} batch ${batchSize}: got ${show(got.slice(0, 10))}… (${got.length}), want ${show(want.slice(0, 10))}… (${want.length})`)
  }
  t.same(failures, [], `${checked} random ranges agree with the bytewise computation`)

  // the server's paging: first page, then from the last key seen, in both directions
  const scKeys = all.filter((id): id is string => typeof id === 'string' && id.startsWith('sc|')).sort(cmp)
  const pages: string[] = []
  let after: string | undefined
  for (;;) {
    const page = (await col.find({ _id: after === undefined ? { $gte: 'sc|', $lt: 'sc}' } : { $gt: after, $lt: 'sc}' } }).sort({ _id: 1 }).limit(51).toArray()).map((d) => d._id as string)
    pages.push(...page)
    if (page.length < 51) break
    after = page[page.length - 1]
  }
  t.same(pages, scKeys, 'paging forward by the last key visits every key once, in order')
  const back: string[] = []
  let before: string | undefined
  for (;;) {
    const page = (await col.find({ _id: before === undefined ? { $gte: 'sc|', $lt: 'sc}' } : { $gte: 'sc|', $lt: before } }).sort({ _id: -1 }).limit(51).toArray()).map((d) => d._id as string)
    back.push(...page)
    if (page.length < 51) break
    before = page[page.length - 1]
  }
  t.same(back, [...scKeys].reverse(), 'paging backward visits every key once, in reverse order')

  // a limit above the batch size: the cursor is read over several getMores
  const wide = all.filter((id) => matches(id, { $gte: '' })).sort(cmp)
  const many = (await col.find({ _id: { $gte: '' } }).sort({ _id: 1 }).limit(500).batchSize(100).toArray()).map((d) => d._id)
  t.same(many, wide.slice(0, 500), 'limit 500 read in batches of 100')
  const manyDesc = (await col.find({ _id: { $lte: '\u{10ffff}' } }).sort({ _id: -1 }).limit(500).batchSize(100).toArray()).map((d) => d._id)
  t.same(manyDesc, [...wide].reverse().slice(0, 500), 'and descending')

  // finds that are not a lone string range keep today's behaviour, and stay right
  const withOther = (await col.find({ _id: { $gte: 'a', $lt: 'b' }, n: { $gte: 0 } }).sort({ _id: -1 }).limit(5).toArray()).map((d) => d._id)
  t.same(withOther, all.filter((id) => matches(id, { $gte: 'a', $lt: 'b' })).sort((x, y) => cmp(y, x)).slice(0, 5), 'a range with another condition')
  const skipped = (await col.find({ _id: { $gte: 'a', $lt: 'b' } }).sort({ _id: 1 }).skip(3).limit(4).toArray()).map((d) => d._id)
  t.same(skipped, all.filter((id) => matches(id, { $gte: 'a', $lt: 'b' })).sort(cmp).slice(3, 7), 'with skip')
  const numbers = (await col.find({ _id: { $gte: -5, $lt: 10 } }).sort({ _id: 1 }).toArray()).map((d) => d._id)
  t.same(numbers, [-5, -2, 1, 1.5, 4, 7], 'a numeric range (not pushed down) matches numbers only')

  if (db.ferret) {
    const plan = await col.find({ _id: { $gte: 'sc|', $lt: 'sc}' } }).sort({ _id: 1 }).limit(51).explain() as Plan
    t.equal(plan.sortPushdown, true, 'FerretDB pushes the order down')
    t.equal(plan.limitPushdown, true, 'and the limit')
    t.match(plan.queryPlanner?.Plan?.join(' '), /SEARCH \S+ USING INDEX \S+_id_raw/, 'SQLite searches the raw _id index')
    t.notMatch(plan.queryPlanner?.Plan?.join(' '), /TEMP B-TREE/, 'without sorting')
    const desc = await col.find({ _id: { $lt: 'sc}' } }).sort({ _id: -1 }).limit(51).explain() as Plan
    t.match(desc.queryPlanner?.Plan?.join(' '), /USING INDEX \S+_id_raw/, 'descending with one bound too')
    t.notMatch(desc.queryPlanner?.Plan?.join(' '), /TEMP B-TREE/)
    const other = await col.find({ _id: { $gte: 'a' } }).sort({ n: 1 }).limit(5).explain() as Plan
    t.equal(other.sortPushdown, false, 'a sort on another field is not pushed down')
    t.same((await col.listIndexes().toArray()).map((i) => i.name), ['_id_'], 'the raw index is not listed as a collection index')

    // rename and drop/recreate keep the range queries right
    await col.rename('idrange2')
    const renamed = db.db.collection<Doc>('idrange2')
    t.same((await renamed.find({ _id: { $gte: 'sc|', $lt: 'sc}' } }).sort({ _id: 1 }).limit(51).toArray()).map((d) => d._id), scKeys.slice(0, 51), 'after a rename')
    await renamed.drop()
    const again = db.db.collection<Doc>('idrange2')
    await again.insertMany([{ _id: 'b', n: 1 }, { _id: 'a b', n: 2 }, { _id: 'a', n: 3 }])
    t.same((await again.find({ _id: { $gte: 'a' } }).sort({ _id: -1 }).toArray()).map((d) => d._id), ['b', 'a b', 'a'], 'after a drop and a new collection of the same name')
    const replan = await again.find({ _id: { $gte: 'a' } }).sort({ _id: -1 }).limit(2).explain() as Plan
    t.match(replan.queryPlanner?.Plan?.join(' '), /USING INDEX \S+_id_raw/, 'whose raw index is made again')
  }
})
