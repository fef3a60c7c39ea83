// The install step's sjson-decode and sjson-encode patches (scripts/ferretdb.mjs, scripts/ferretdb/sjson_*.go):
// FerretDB decodes the documents it reads, and encodes those it writes, in one pass, with results, bytes and errors
// exactly as its own code's. Checked on the patched source (FerretDB's own sjson tests, Leadscore's comparisons of the
// old and new code, and a short fuzzing run of the decoder), and on the built binary: it holds both, and every BSON
// type it stores comes back as it was written.
import t from 'tap'
import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Binary, BSON, BSONRegExp, Double, Int32, Long, ObjectId, Timestamp, type Document } from 'mongodb'
// @ts-expect-error: a plain ES module script without types
import { makeWritable, PATCH_FILES, patchSjsonDecode, patchSjsonEncode } from '../../scripts/ferretdb.mjs'
import { debugFerretDb, ferretDbBin, ferretDbModuleDir, scratchSource } from '../helpers/ferretdb-source.js'

t.setTimeout(600_000)

const dir = ferretDbModuleDir()
const SJSON = join('internal', 'handler', 'sjson')
const noGo = dir === null ? 'Go or the FerretDB module is not available' : false

t.test('the patched source keeps FerretDB\'s decoder and encoder for what the one-pass ones do not take', { skip: noGo }, async (t) => {
  if (dir === null) return
  const src = scratchSource(t, dir, [join(SJSON, 'sjson.go')])
  patchSjsonDecode(src)
  patchSjsonEncode(src)
  const sjson = readFileSync(join(src, SJSON, 'sjson.go'), 'utf8')
  t.notMatch(sjson, /\nfunc Unmarshal\(/, 'the original decoder is no longer Unmarshal')
  t.match(sjson, /\nfunc unmarshalSlow\(data \[\]byte\) \(\*types\.Document, error\) \{\n\tvar v map\[string\]json\.RawMessage\n/, 'it is unmarshalSlow, body unchanged')
  const added = readFileSync(join(src, SJSON, 'sjson_decode.go'), 'utf8')
  t.match(added, /\nfunc Unmarshal\(data \[\]byte\) \(\*types\.Document, error\) \{\n\tif doc, err := unmarshalFast\(data\); err == nil \{\n\t\treturn doc, nil\n\t\}\n\n\treturn unmarshalSlow\(data\)\n\}/,
    'Unmarshal tries one pass, then the original')
  t.notMatch(sjson, /\nfunc Marshal\(/, 'the original encoder is no longer Marshal')
  t.match(sjson, /\nfunc marshalSlow\(d \*types\.Document\) \(\[\]byte, error\) \{\n\tif d == nil \{\n\t\tpanic\("v is nil"\)\n\t\}\n\n\tschema, err := marshalSchemaForDoc\(d\)\n/, 'it is marshalSlow, body unchanged')
  t.match(readFileSync(join(src, SJSON, 'sjson_encode.go'), 'utf8'), /\nfunc Marshal\(d \*types\.Document\) \(\[\]byte, error\) \{\n\tif d == nil \{\n\t\tpanic\("v is nil"\)\n\t\}\n\n\tif b, ok := marshalFast\(d\); ok \{\n\t\treturn b, nil\n\t\}\n\n\treturn marshalSlow\(d\)\n\}/,
    'Marshal tries one pass, then the original')
  writeFileSync(join(src, SJSON, 'sjson.go'), readFileSync(join(dir, SJSON, 'sjson.go'), 'utf8').replace('func Unmarshal(data []byte)', 'func Unmarshal(b []byte)'))
  t.throws(() => patchSjsonDecode(src), /FerretDB source changed/)
  writeFileSync(join(src, SJSON, 'sjson.go'), readFileSync(join(dir, SJSON, 'sjson.go'), 'utf8').replace('func Marshal(d *types.Document)', 'func Marshal(doc *types.Document)'))
  t.throws(() => patchSjsonEncode(src), /FerretDB source changed/)
})

t.test('old and new code agree: FerretDB\'s sjson tests, the comparison tests and a fuzzing run pass', { skip: noGo }, async (t) => {
  if (dir === null) return
  const src = scratchSource(t, dir, [])
  cpSync(dir, src, { recursive: true })
  makeWritable(src)
  mkdirSync(join(src, '.git')) // FerretDB's test helpers find the module's root by it
  patchSjsonDecode(src)
  patchSjsonEncode(src)
  for (const test of ['sjson_decode_test.go', 'sjson_encode_test.go']) cpSync(join(PATCH_FILES as string, test), join(src, SJSON, test))
  const env = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' }
  const go = promisify(execFile)
  const tests = await go('go', ['test', '-count=1', '-v', `./${SJSON}/`], { cwd: src, env, maxBuffer: 64 << 20 })
  t.match(tests.stdout, /\n--- PASS: TestDecodeEncoderForm /, 'the one-pass decoder takes every document as the encoder writes it, with the original\'s result')
  t.match(tests.stdout, /\n--- PASS: TestDecodeAlteredInput /, 'and every altered input decodes alike, or fails in both')
  for (const test of ['TestEncodeSameBytes', 'TestEncodeDoubles', 'TestEncodeOddDocuments']) t.match(tests.stdout, new RegExp(`\\n--- PASS: ${test} `), `the encoders write the same bytes (${test})`)
  t.match(tests.stdout, /\n--- PASS: TestUnmarshal|\n--- PASS: TestMarshalUnmarshal|\n--- PASS: TestDocument/, 'FerretDB\'s own sjson tests ran')
  t.notMatch(tests.stdout, /\n--- FAIL/, 'and none failed')
  const fuzz = await go('go', ['test', '-run', '^$', '-fuzz', '^FuzzDecode$', '-fuzztime', '15s', `./${SJSON}/`], { cwd: src, env, maxBuffer: 64 << 20 })
  const execs = Math.max(0, ...[...(fuzz.stdout + fuzz.stderr).matchAll(/execs: (\d+)/g)].map((m) => Number(m[1])))
  t.ok(execs > 1000, `fuzzing compared the two decoders on ${execs} generated inputs without a difference`)
})

t.test('the built FerretDB has the one-pass decoder and encoder, and gives back every type as written', { skip: existsSync(ferretDbBin) ? false : `no FerretDB binary at ${ferretDbBin}` }, async (t) => {
  const binary = readFileSync(ferretDbBin)
  t.ok(binary.includes('sjson.unmarshalFast'), 'the binary holds the one-pass decoder')
  t.ok(binary.includes('sjson.marshalFast'), 'and the one-pass encoder')
  const { client } = await debugFerretDb(t)
  const col = client.db('decode').collection<Document>('docs')
  // FerretDB 1.24 stores no array inside an array
  const docs: Document[] = [
    {
      _id: 'all',
      double: new Double(-0.5), whole: new Double(3), tiny: new Double(5e-324), huge: new Double(1.7976931348623157e308), minusZero: new Double(-0),
      str: 'émoji 🚀 "quoted" \\ back\nline \u2028 <&>', empty: '',
      bin: new Binary(Buffer.from([0, 1, 254, 255]), 0), uuid: new Binary(Buffer.alloc(16, 7), 4),
      oid: new ObjectId('0123456789abcdefABCDEF01'), yes: true, no: false,
      date: new Date('1960-02-29T12:34:56.789Z'), nil: null, re: new BSONRegExp('^a.c$', 'im'),
      int: new Int32(-2147483648), ts: new Timestamp({ t: 4_000_000_000, i: 7 }), long: Long.fromString('9223372036854775807'),
      nested: { a: { b: { c: [1, 'two', { three: [{}, 'x'] }, null] } }, 'clé ü': 1, 'q"uote': 2, 'back\\slash': 3 },
      arr: [new Int32(1), new Double(1), 'x', { d: new Date(0) }, { y: Long.fromNumber(-1) }],
      emptyDoc: {}, emptyArr: [],
    },
    { _id: new ObjectId('65a0f0c2aa00bb11cc22dd33'), n: 1 },
    { _id: 42, plain: 'ascii only' },
  ]
  await col.insertMany(docs.map((d) => ({ ...d })))
  // what the database gives back must be what a BSON round trip alone gives: same keys, order, types and values
  const options = { promoteValues: false, promoteLongs: false, bsonRegExp: true } as const
  const expected = docs.map((d) => BSON.EJSON.stringify(BSON.deserialize(BSON.serialize(d), options)))
  const back = await col.find({}, options).toArray()
  t.equal(back.length, docs.length, 'every document was read back')
  for (const doc of expected) {
    const id = JSON.stringify((JSON.parse(doc) as { _id: unknown })._id)
    t.equal(BSON.EJSON.stringify(back.find((d) => JSON.stringify((JSON.parse(BSON.EJSON.stringify(d)) as { _id: unknown })._id) === id)), doc, `${id} came back as written`)
  }
})
