// Every first-party source passes the conformance suite that plugin authors run (`@leadscore/server/testing`).
import t from 'tap'
import { createHmac } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { runSourceConformance, type ConformanceTest } from '../../server/src/testing/index.js'
import { webhookSource } from '@leadscore/plugin-source-webhook'
import { segmentSource } from '@leadscore/plugin-source-segment'
import { uploadSource } from '@leadscore/plugin-source-upload'
import { readFileSync } from 'node:fs'
import { isBatchRow, pluginErrorKind, type BatchFile } from '../../server/src/contracts/index.js'
import { testContext } from '../../server/src/testing/index.js'

const now = new Date('2025-03-01T12:00:00Z')
const unix = Math.floor(now.getTime() / 1000)
const body = JSON.stringify({ type: 'demo_request', timestamp: '2025-03-01T11:59:00Z', data: { email: 'ada@example.com', name: 'Ada' } })

t.test('webhook source, standard adapter', async (t) => {
  const secret = `whsec_${Buffer.alloc(32, 1).toString('base64')}`
  const previous = `whsec_${Buffer.alloc(32, 2).toString('base64')}`
  const signed = (id: string, ts: number, s = secret, b = body) => ({ 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': new Webhook(s).sign(id, new Date(ts * 1000), b) })
  await runSourceConformance(t, webhookSource, {
    now,
    config: { signingSecret: secret },
    previousSecrets: { signingSecret: [previous] },
    invalidConfigs: [
      { name: 'an unknown adapter', config: { signingSecret: secret, adapter: 'paypal' } },
      { name: 'a secret that is not whsec_ base64', config: { signingSecret: 'plain-text-secret' } },
      { name: 'a zero tolerance', config: { signingSecret: secret, toleranceSeconds: 0 } },
      { name: 'a mapping path with an empty segment', config: { signingSecret: secret, mapping: { email: 'data..email' } } },
    ],
    http: [
      { name: 'a signed delivery', headers: signed('msg_1', unix), body, expect: { events: 1 } },
      { name: 'signed with the previous secret during the overlap', headers: signed('msg_2', unix, previous), body, expect: { events: 1 } },
      { name: 'a wrong secret', headers: signed('msg_3', unix, `whsec_${Buffer.alloc(32, 9).toString('base64')}`), body, expect: { error: 'auth' } },
      { name: 'a stale timestamp', headers: signed('msg_4', unix - 301), body, expect: { error: 'auth' } },
      { name: 'no signature headers', headers: { 'content-type': 'application/json' }, body, expect: { error: 'auth' } },
      { name: 'a body that is not JSON', headers: { ...signed('msg_5', unix, secret, 'hello'), 'content-type': 'text/plain' }, body: 'hello', expect: { error: 'input' } },
    ],
  })
})

t.test('webhook source, stripe adapter', async (t) => {
  const secret = 'whsec_stripe_conformance_secret'
  const event = JSON.stringify({ id: 'evt_1', type: 'invoice.paid', created: unix - 10, data: { object: { customer_email: 'payer@example.com', customer: 'cus_1' } } })
  const sig = (s: string, t0: number) => `t=${t0},v1=${createHmac('sha256', s).update(`${t0}.${event}`).digest('hex')}`
  await runSourceConformance(t, webhookSource, {
    now,
    config: { adapter: 'stripe', signingSecret: secret },
    invalidConfigs: [{ name: 'a short secret', config: { adapter: 'stripe', signingSecret: 'short' } }],
    http: [
      { name: 'a signed event', headers: { 'content-type': 'application/json', 'stripe-signature': sig(secret, unix) }, body: event, expect: { events: 1 } },
      { name: 'a wrong secret', headers: { 'content-type': 'application/json', 'stripe-signature': sig('whsec_wrong_wrong_wrong', unix) }, body: event, expect: { error: 'auth' } },
      { name: 'a stale timestamp', headers: { 'content-type': 'application/json', 'stripe-signature': sig(secret, unix - 400) }, body: event, expect: { error: 'auth' } },
    ],
  })
})

t.test('webhook source, github adapter', async (t) => {
  const secret = 'github conformance secret'
  const push = JSON.stringify({ ref: 'refs/heads/main', pusher: { name: 'octo', email: 'octo@example.com' }, sender: { login: 'octocat' }, repository: { full_name: 'o/r' } })
  const h = (s: string, delivery: string, event = 'push') => ({ 'content-type': 'application/json', 'x-github-event': event, 'x-github-delivery': delivery, 'x-hub-signature-256': `sha256=${createHmac('sha256', s).update(push).digest('hex')}` })
  await runSourceConformance(t, webhookSource, {
    now,
    config: { adapter: 'github', signingSecret: secret },
    http: [
      { name: 'a push', headers: h(secret, 'd-1'), body: push, expect: { events: 1 } },
      { name: 'a ping', headers: h(secret, 'd-2', 'ping'), body: push, expect: { events: 0 } },
      { name: 'a wrong secret', headers: h('not the secret', 'd-3'), body: push, expect: { error: 'auth' } },
    ],
  })
})

t.test('segment source', async (t) => {
  const key = 'wk_conformance_write_key_0123'
  const auth = { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` }
  const track = JSON.stringify({ userId: 'u1', event: 'Signed Up', messageId: 'm-1', context: { traits: { email: 'u1@example.com' } } })
  const batch = JSON.stringify({ batch: [{ type: 'identify', userId: 'u1', messageId: 'b-1', traits: { email: 'u1@example.com' } }, { type: 'page', anonymousId: 'a1', messageId: 'b-2' }], sentAt: now.toISOString() })
  await runSourceConformance(t, segmentSource, {
    now,
    config: { writeKey: key },
    previousSecrets: { writeKey: ['wk_previous_write_key_00000'] },
    invalidConfigs: [{ name: 'a short write key', config: { writeKey: 'short' } }, { name: 'a non-boolean flag', config: { writeKey: key, snakeCaseEvents: 'yes' } }],
    http: [
      { name: 'a track call', route: '/segment/track', headers: auth, body: track, expect: { events: 1 } },
      { name: 'a batch', route: '/segment/batch', headers: auth, body: batch, expect: { events: 2 } },
      { name: 'the previous write key during the overlap', route: '/segment/track', headers: { ...auth, authorization: `Basic ${Buffer.from('wk_previous_write_key_00000:').toString('base64')}` }, body: track, expect: { events: 1 } },
      { name: 'a wrong write key', route: '/segment/track', headers: { ...auth, authorization: 'Basic d3Jvbmc6' }, body: track, expect: { error: 'auth' } },
      { name: 'a batch that is not a list', route: '/segment/batch', headers: auth, body: '{"batch":1}', expect: { error: 'input' } },
    ],
  })
})

t.test('the suite catches a plugin that breaks the contract', async (t) => {
  // a recorder in place of tap: collects what the suite reports
  const failures: string[] = []
  const recorder: ConformanceTest = {
    async test (_name: string, fn: (r: ConformanceTest) => Promise<void>) { await fn(recorder) },
    ok (v: unknown, m: string) { if (v !== true) failures.push(m) },
    equal (a: unknown, b: unknown, m: string) { if (a !== b) failures.push(m) },
    fail (m: string) { failures.push(m) },
  }
  const { Type } = await import('@sinclair/typebox')
  const { defineSourcePlugin } = await import('../../server/src/contracts/index.js')
  let n = 0
  const sloppy = defineSourcePlugin({
    kind: 'source',
    manifest: { id: 'sloppy', version: '1.0.0', contract: 1, config: Type.Object({ token: Type.String() }) }, // unknown keys allowed
    http: {
      routes: [{
        method: 'POST', url: '/in',
        async verify (req) { if (req.headers['x-token'] !== 'ok') throw new Error('bad token') }, // untyped error
        async handle () { n++; return [{ externalId: `random-${n}`, lead: { email: 'a@example.com' }, type: 'page_view' }, { lead: {}, type: '' }] },
      }],
    },
  })
  await runSourceConformance(recorder, sloppy, {
    config: { token: 'x' },
    http: [
      { name: 'good', headers: { 'x-token': 'ok' }, body: '{}', expect: { events: 2 } },
      { name: 'bad token', headers: { 'x-token': 'no' }, body: '{}', expect: { error: 'auth' } },
    ],
  })
  const has = (re: RegExp) => t.ok(failures.some((f) => re.test(f)), `reports: ${String(re)}`)
  has(/refuses an unknown key/)
  has(/good: event 1 is accepted by ingest \(refused: LS_ERR_/)
  has(/good: a redelivery has the same event identities/)
  has(/bad token: throws a typed plugin error/)
  has(/bad token: answered 401 \(got 500\)/)
})

t.test('upload source (batch): CSV, TSV, JSON and NDJSON files', async (t) => {
  const file = (name: string) => readFileSync(new URL(`../../fixtures/batch/${name}`, import.meta.url))
  await runSourceConformance(t, uploadSource, {
    now,
    config: {},
    batch: [
      // the row with a cell missing is refused with its reason
      { name: 'a CSV file of events', type: 'text/csv', filename: 'events.csv', body: file('events.csv'), expect: { events: 3 }, refused: 1 },
      { name: 'a TSV file of leads by name and company', type: 'text/tab-separated-values', filename: 'leads.tsv', options: { kind: 'leads' }, body: file('leads.tsv'), expect: { events: 2 } },
      { name: 'a JSON array', type: 'application/json', body: file('events.json'), expect: { events: 2 } },
      { name: 'an NDJSON file with a line that is not JSON', type: 'application/x-ndjson', body: file('events.ndjson'), expect: { events: 3 }, refused: 1 },
      { name: 'a CSV file with an explicit mapping', type: 'text/csv', options: { mapping: { mail: 'lead.email', what: 'type' } }, body: 'mail,what\nada@example.com,page_view\n', expect: { events: 1 } },
      { name: 'a mapping to a field that does not exist', type: 'text/csv', options: { mapping: { mail: 'lead.phone' } }, body: 'mail,what\nada@example.com,page_view\n', expect: { error: 'input' } },
      { name: 'a CSV header naming a column twice', type: 'text/csv', body: 'email,email,type\na@example.com,b@example.com,page_view\n', expect: { error: 'input' } },
      { name: 'a quote never closed', type: 'text/csv', body: 'email,type\n"a@example.com,page_view\n', expect: { error: 'input' } },
      { name: 'a JSON file that is not an array', type: 'application/json', body: '{"email":"a@example.com"}', expect: { error: 'input' } },
      { name: 'an empty file', type: 'text/csv', body: '', expect: { error: 'input' } },
    ],
  })
})

t.test('upload source: rows carry their lines, and a file-level problem its code and line', async (t) => {
  const file: BatchFile = { name: 'events.csv', type: 'text/csv', options: {}, limits: { maxRowBytes: 1024, maxColumns: 10 }, describe (how) { described.push(how) } }
  const described: Array<Readonly<Record<string, unknown>>> = []
  const bytes = async function * (text: string) { yield Buffer.from(text) }
  const ctx = testContext(uploadSource, {})
  const rows: unknown[] = []
  for await (const item of uploadSource.batch!.parse(bytes(readFileSync(new URL('../../fixtures/batch/events.csv', import.meta.url), 'utf8')), ctx, file)) rows.push(item)
  t.same(described, [{ mapping: { email: 'lead.email', event: 'type', timestamp: 'occurredAt', plan: 'properties.plan', id: 'externalId' }, delimiter: ',' }], 'the resolved mapping and delimiter are described')
  t.same(rows.map((r) => isBatchRow(r) ? r.line : null), [2, 3, 4, 5], 'every row says its line (the header is line 1)')
  t.match(rows[2], { line: 4, input: { externalId: 'r3', lead: { email: 'margaret@example.com' }, type: 'page_view', properties: { plan: 'Team' } } })
  t.match(rows[3], { line: 5, input: { refused: { code: 'LS_ERR_UPLOAD_ROW_INVALID', reason: /4 cells; the header has 5/ } } })
  const broken = uploadSource.batch!.parse(bytes('email,type\na@example.com,page_view\n"b@example.com,page_view\n'), ctx, file)
  const seen: unknown[] = []
  try {
    for await (const item of broken) seen.push(item)
    t.fail('an unclosed quote stops the file')
  } catch (err) {
    t.equal(pluginErrorKind(err), 'input')
    t.match(err, { code: 'LS_ERR_UPLOAD_PARSE', line: 3 }, 'with the code and the line where the record starts')
  }
  t.equal(seen.length, 1, 'the row before the problem was yielded')
})
