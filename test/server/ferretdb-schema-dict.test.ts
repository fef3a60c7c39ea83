// The install step's schema-dict patch (scripts/ferretdb.mjs, scripts/ferretdb/sjson_stored.go and schemas.go):
// FerretDB stores each distinct document schema once per database and documents refer to it. Checked on the patched
// source (Leadscore's Go tests of the stored form and FerretDB's own SQLite backend tests) and on the built binary:
// documents of every type read back as written, before and after a restart (which must read the schemas from the
// database), string _id ranges still leave ObjectIDs out, and what lies in the SQLite file has the stored form.
import t from 'tap'
import { execFile, execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Binary, BSON, Double, Int32, Long, MongoClient, ObjectId, type Document } from 'mongodb'
// @ts-expect-error: a plain ES module script without types
import { PATCH_FILES, patchSchemaDict } from '../../scripts/ferretdb.mjs'
import { ferretDbBin, ferretDbModuleDir, patchedModule, scratchSource } from '../helpers/ferretdb-source.js'
import { startFerretDb } from '../../server/src/infra/ferretdb.js'

t.setTimeout(900_000)

const dir = ferretDbModuleDir()
const noGo = dir === null ? 'Go or the FerretDB module is not available' : false

t.test('on the patched source, the stored form reads back as the inline one and FerretDB\'s SQLite tests pass', { skip: noGo }, async (t) => {
  if (dir === null) return
  const src = patchedModule(t, dir) // every patch, as the install step applies them
  const sjson = join('internal', 'handler', 'sjson')
  for (const test of ['sjson_decode_test.go', 'sjson_stored_test.go']) cpSync(join(PATCH_FILES as string, test), join(src, sjson, test))
  const iterator = readFileSync(join(src, 'internal', 'backends', 'sqlite', 'query_iterator.go'), 'utf8')
  t.match(iterator, /sjson\.UnmarshalStored\(b\)/, 'the SQLite backend reads documents through the stored form')
  t.notMatch(readFileSync(join(src, 'internal', 'backends', 'sqlite', 'insert.go'), 'utf8'), /sjson\.Marshal\(/, 'and writes none inline by the old call')
  const env = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' }
  const go = promisify(execFile)
  const res = await go('go', ['test', '-count=1', '-v', `./${sjson}/`, './internal/backends/sqlite/...'], { cwd: src, env, maxBuffer: 64 << 20 })
  for (const test of ['TestStoredRoundTrip', 'TestStoredInlineStillReads', 'TestStoredUnknownAndForgedSchemas']) {
    t.match(res.stdout, new RegExp(`\\n--- PASS: ${test} `), `${test} passed`)
  }
  t.match(res.stdout, /\nok\s+github\.com\/FerretDB\/FerretDB\/internal\/backends\/sqlite\s/, 'FerretDB\'s own SQLite backend tests pass on the patched backend')
  t.notMatch(res.stdout, /\n--- FAIL/, 'and no test failed')
})

t.test('the patch refuses a source that changed shape', { skip: noGo }, async (t) => {
  if (dir === null) return
  const src = scratchSource(t, dir, [join('internal', 'backends', 'sqlite', 'insert.go')])
  const file = join(src, 'internal', 'backends', 'sqlite', 'insert.go')
  writeFileSync(file, readFileSync(file, 'utf8').replace('b, err := sjson.Marshal(doc)', 'b, err := sjson.Marshal(d)'))
  t.throws(() => patchSchemaDict(src), /FerretDB source changed/)
})

/** The rows of an SQL query on an SQLite file, read by Python's sqlite3 module (null where Python is missing). */
function sqlite (file: string, sql: string): unknown[][] | null {
  try {
    const script = 'import json, sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nprint(json.dumps([list(r) for r in c.execute(sys.argv[2])]))'
    return JSON.parse(execFileSync('python3', ['-c', script, file, sql], { encoding: 'utf8' })) as unknown[][]
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

t.test('the built FerretDB stores schemas once, and reads them back after a restart', { skip: existsSync(ferretDbBin) ? false : `no FerretDB binary at ${ferretDbBin}` }, async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'ferret-schemas-'))
  t.teardown(() => { rmSync(data, { recursive: true, force: true }) })
  const open = async (): Promise<{ client: MongoClient; stop: () => Promise<void> }> => {
    const db = await startFerretDb({ dataDir: data, bin: ferretDbBin })
    const client = new MongoClient(db.uri, { serverSelectionTimeoutMS: 20_000 })
    return { client, stop: async () => { await client.close(); await db.stop() } }
  }
  const options = { promoteValues: false, promoteLongs: false, bsonRegExp: true } as const
  const ejson = (d: Document): string => BSON.EJSON.stringify(BSON.deserialize(BSON.serialize(d), options))
  const docs: Document[] = [
    { _id: 'all', d: new Double(-0.5), s: 'émoji 🚀 "q" <&>', b: new Binary(Buffer.from([0, 255]), 0), o: new ObjectId('0123456789abcdefABCDEF01'), t: true, dt: new Date(0), n: null, i: new Int32(-7), l: Long.fromString('9223372036854775807'), nested: { a: [new Int32(1), 'x', { y: new Double(2) }], e: {} } },
    { _id: new ObjectId('65a0f0c2aa00bb11cc22dd33'), n: new Int32(1) },
    { _id: new Int32(42), plain: 'x' },
  ]
  // many documents of few shapes: the lead-like ones differ only in values
  for (let i = 0; i < 600; i++) docs.push({ _id: `lead|${String(i).padStart(4, '0')}`, score: new Int32(i), tags: ['a', `t${i % 3}`], seen: new Date(i * 1000), ...(i % 2 === 0 ? { email: `u${i}@x.test` } : {}) })
  let db = await open()
  const col = db.client.db('schemas').collection<{ _id?: string | ObjectId | Int32; [key: string]: unknown }>('docs')
  await col.insertMany(docs.map((d) => ({ ...d })))
  // an update that gives documents a new shape, and one that keeps theirs
  await col.updateMany({ _id: { $in: ['lead|0001', 'lead|0003'] } }, { $set: { extra: { deep: new Double(1.5) } } })
  await col.updateOne({ _id: 'lead|0002' }, { $set: { score: new Int32(-2) } })
  const expected = new Map<string, string>()
  for (const d of docs) expected.set(JSON.stringify(BSON.EJSON.serialize(d._id)), ejson(d))
  expected.set('"lead|0001"', ejson({ ...docs[4], extra: { deep: new Double(1.5) } }))
  expected.set('"lead|0003"', ejson({ ...docs[6], extra: { deep: new Double(1.5) } }))
  expected.set('"lead|0002"', ejson({ ...docs[5], score: new Int32(-2) }))
  const readAll = async (c: MongoClient, when: string): Promise<void> => {
    const back = await c.db('schemas').collection<Document>('docs').find({}, options).toArray()
    t.equal(back.length, docs.length, `${when}: every document was read back`)
    let same = 0
    for (const d of back) if (expected.get(JSON.stringify(BSON.EJSON.serialize(d._id))) === BSON.EJSON.stringify(d)) same++
    t.equal(same, docs.length, `${when}: each came back with the keys, order, types and values written`)
  }
  await readAll(db.client, 'before a restart')
  // a string _id range must leave the ObjectID (stored as hex text) out: SQL reads the _id's type inline
  const range = await col.find({ _id: { $gte: '0', $lt: 'm' } }).sort({ _id: 1 }).limit(3).toArray()
  t.same(range.map((d) => d._id), ['all', 'lead|0000', 'lead|0001'], 'a string _id range with a limit gives strings only, in order')
  // a database dropped and made again starts with no schemas, and stores them again
  const other = db.client.db('again').collection<{ _id: string; v: Int32 }>('c')
  await other.insertOne({ _id: 'x', v: new Int32(1) })
  await db.client.db('again').dropDatabase()
  await other.insertOne({ _id: 'y', v: new Int32(2) })
  await db.stop()

  const files = readdirSync(data).filter((f) => f.endsWith('.sqlite'))
  const main = files.find((f) => f.startsWith('schemas'))
  const stored = main === undefined ? null : sqlite(join(data, main), 'SELECT count(*) FROM _ferretdb_schemas')
  if (stored === null) {
    t.comment(main === undefined ? `no schemas*.sqlite file among ${files.join(', ')}` : 'python3 is not available: the stored text was not read')
  } else {
    const count = Number(stored[0]?.[0])
    t.ok(count >= 4 && count <= 8, `the database holds ${count} schemas for ${docs.length} documents of a few shapes`)
    const table = (sqlite(join(data, main as string), 'SELECT name FROM sqlite_master WHERE type = \'table\' AND name LIKE \'docs%\'') ?? [])[0]?.[0] as string
    const rows = sqlite(join(data, main as string), `SELECT _ferretdb_sjson FROM "${table}"`) ?? []
    const byRef = rows.filter((r) => String(r[0]).startsWith('{"$s":{"r":"')).length
    t.equal(byRef, docs.length, 'every document in the file refers to its schema instead of holding it')
  }

  db = await open()
  await readAll(db.client, 'after a restart (schemas read from the database)')
  const again = await db.client.db('again').collection('c').find({}).toArray()
  t.same(again.map((d) => [d._id, d.v]), [['y', 2]], 'the database dropped and made again reads its document back')
  await db.stop()
})
