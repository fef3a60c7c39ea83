// Deeply nested JSON is refused by a linear pre-scan of the bytes before any parsing: 400 LS_ERR_BODY_TOO_DEEP,
// quickly, with nothing but an info line in the log, on POST /v1/events and on a webhook source route.
import t from 'tap'
import { Writable } from 'node:stream'
import { buildTestApp, AUTH } from '../helpers/harness.js'
import { createSource, listen, post, standardHeaders } from '../helpers/sources.js'
import { jsonTooDeep, MAX_JSON_DEPTH } from '../../server/src/infra/http-parsing.js'

/** A logger stream that keeps every line written. */
function logSink (): { stream: Writable; lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _enc, cb) { lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== '')); cb() } })
  return { stream, lines }
}

const deep = '['.repeat(500_000) + ']'.repeat(500_000) // 1 MB: arrays nested 500,000 deep

/** The fastest of a few tries, each answered alike: the server's cost, not a scheduling hiccup of a busy machine. */
async function fastest<T> (tries: number, send: (i: number) => Promise<T>): Promise<{ res: T; ms: number }> {
  let best: { res: T; ms: number } | null = null
  for (let i = 0; i < tries; i++) {
    const started = performance.now()
    const res = await send(i)
    const ms = performance.now() - started
    if (best === null || ms < best.ms) best = { res, ms }
  }
  return best!
}

t.test('the pre-scan counts only unquoted brackets', async (t) => {
  const nest = (n: number): string => '['.repeat(n) + ']'.repeat(n)
  t.equal(jsonTooDeep(Buffer.from(nest(MAX_JSON_DEPTH))), false, 'exactly the limit is fine')
  t.equal(jsonTooDeep(Buffer.from(nest(MAX_JSON_DEPTH + 1))), true)
  t.equal(jsonTooDeep(Buffer.from(JSON.stringify({ a: '['.repeat(500), b: '"\\"[[[' + '{'.repeat(100) }))), false, 'brackets in strings, after escaped quotes')
  t.equal(jsonTooDeep(Buffer.from(`{"k\\\\":${nest(MAX_JSON_DEPTH)}}`)), true, 'an escaped backslash ends before the closing quote')
})

t.test('POST /v1/events: a 1 MB deeply nested body is 400 LS_ERR_BODY_TOO_DEEP, fast, and logs no stack', async (t) => {
  const sink = logSink()
  const { app } = await buildTestApp(t, {}, { logger: { level: 'info', stream: sink.stream } })
  const base = await listen(app)
  await post(`${base}/v1/events`, '[]', { ...AUTH, 'content-type': 'application/json' }) // warm up the route
  const { res, ms } = await fastest(3, async () => await post(`${base}/v1/events`, deep, { ...AUTH, 'content-type': 'application/json' }))
  t.equal(res.status, 400)
  t.match(res.headers.get('content-type'), /^application\/problem\+json/)
  t.equal(res.body.code, 'LS_ERR_BODY_TOO_DEEP')
  t.ok(ms < 200, `answered in ${ms.toFixed(0)} ms`)
  // unauthenticated too: refused before anything else looks at it
  const anon = await post(`${base}/v1/events`, deep, { 'content-type': 'application/json' })
  t.ok(anon.status === 400 || anon.status === 401, `unauthenticated: ${anon.status}`)
  t.notOk(sink.lines.some((l) => /"stack"|RangeError|Maximum call stack/.test(l)), 'no stack in the log')
  t.notOk(sink.lines.some((l) => JSON.parse(l).level >= 50), 'nothing logged as an error')
})

t.test('webhook route: a signed deep body is 400 LS_ERR_BODY_TOO_DEEP; an unsigned one 401 without parsing', async (t) => {
  const sink = logSink()
  const { app, db } = await buildTestApp(t, {}, { logger: { level: 'info', stream: sink.stream } })
  const base = await listen(app)
  const src = await createSource(app, { type: 'webhook', name: 'deep', config: { maxBodyBytes: 1024 * 1024 } })
  const secret = src.secretValues.signingSecret as string
  const url = `${base}/v1/sources/${src.id as string}/webhook`
  const now = Math.floor(Date.now() / 1000)
  await post(url, '{}', standardHeaders(secret, 'warm', now, '{}'))

  const signed = await fastest(3, async (i) => await post(url, deep, standardHeaders(secret, `deep-${i}`, now, deep)))
  t.equal(signed.res.status, 400)
  t.equal(signed.res.body.code, 'LS_ERR_BODY_TOO_DEEP')
  t.ok(signed.ms < 200, `signed: answered in ${signed.ms.toFixed(0)} ms`)

  const forged = 'whsec_' + Buffer.alloc(32, 7).toString('base64')
  const unsigned = await fastest(3, async (i) => await post(url, deep, standardHeaders(forged, `forged-${i}`, now, deep)))
  t.equal(unsigned.res.status, 401, 'the signature is checked first')
  t.equal(unsigned.res.body.code, 'LS_ERR_WEBHOOK_SIGNATURE')
  t.ok(unsigned.ms < 200, `unsigned: answered in ${unsigned.ms.toFixed(0)} ms`)
  t.equal(await db.c.ingestRejects.countDocuments({ sourceId: src.id, code: 'LS_ERR_BODY_TOO_DEEP' }), 3, 'only the signed ones got as far as the body')
  t.notOk(sink.lines.some((l) => /"stack"|RangeError|Maximum call stack/.test(l)), 'no stack in the log')
})
