// The live WebSocket (/v1/live) over a real listening server and a real `ws` client: the upgrade is authenticated
// and origin-checked before it happens, subscribers get batched lead.scored messages that end at the database state,
// frames stay under 64 KB, bad subscribe messages change nothing, replay after a reconnect is exact, and a client
// that stops reading is cut off instead of growing the server's memory.
import t from 'tap'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import { buildTestApp, postEvents, waitForScoring, AUTH, ADMIN_KEY } from '../helpers/harness.js'
import type { Database } from '../../server/src/infra/db.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
interface Msg { seq: number; type: string; topics: string[]; data: Json; at: string }

const FRAME_LIMIT = 64 * 1024
const sleep = async (ms: number): Promise<void> => await new Promise((r) => setTimeout(r, ms))

async function listen (app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const a = app.server.address() as AddressInfo
  return `ws://127.0.0.1:${a.port}/v1/live`
}

/** A connected client that records every frame (its byte size and parsed body). */
class LiveClient {
  readonly frames: Array<{ bytes: number; body: Json }> = []
  readonly closed: Promise<{ code: number; reason: string }>
  private waiters: Array<() => void> = []
  constructor (readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const bytes = data.length
      let body: Json
      try { body = JSON.parse(isBinary ? '' : data.toString('utf8')) as Json } catch { body = { unparsable: true } }
      this.frames.push({ bytes, body })
      for (const w of this.waiters.splice(0)) w()
    })
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => { resolve({ code, reason: reason.toString() }); for (const w of this.waiters.splice(0)) w() }))
  }

  /** Every delivered live message, in arrival order. */
  get messages (): Msg[] {
    return this.frames.filter((f) => f.body.type === 'batch').flatMap((f) => f.body.messages as Msg[])
  }

  send (v: unknown): void { this.ws.send(typeof v === 'string' ? v : JSON.stringify(v)) }

  /** Waits until `pred` holds over what was received (re-checked on every frame and every 100 ms). */
  async until (what: string, pred: () => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100)
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** The next frame (after the `from`-th) matching `pred`. */
  async frame (pred: (b: Json) => boolean, from = 0, timeoutMs = 10_000): Promise<Json> {
    let hit: Json | undefined
    await this.until('a matching frame', () => { hit = this.frames.slice(from).find((f) => pred(f.body))?.body; return hit !== undefined }, timeoutMs)
    return hit!
  }

  close (): void { if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close() }
}

async function connect (url: string, headers: Record<string, string> = AUTH): Promise<LiveClient> {
  const ws = new WebSocket(url, { headers, handshakeTimeout: 10_000 })
  const c = new LiveClient(ws)
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)))
  })
  return c
}

/** Opens an upgrade that must be refused; returns the HTTP response (never a 101). */
async function refused (url: string, opts: { headers?: Record<string, string>; origin?: string } = {}): Promise<{ status: number; type: string | undefined; body: Json; upgraded: boolean }> {
  const ws = new WebSocket(url, { headers: opts.headers ?? {}, ...(opts.origin !== undefined ? { origin: opts.origin } : {}), handshakeTimeout: 10_000 })
  return await new Promise((resolve, reject) => {
    let upgraded = false
    ws.once('upgrade', () => { upgraded = true })
    ws.once('open', () => { ws.close(); resolve({ status: 101, type: undefined, body: {}, upgraded: true }) })
    ws.once('unexpected-response', (_req, res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('end', () => {
        let body: Json
        try { body = JSON.parse(text) as Json } catch { body = { text } }
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body, upgraded })
        ws.terminate()
      })
    })
    ws.once('error', (err) => { if (!upgraded) reject(err) })
  })
}

function assertFramesSmall (t: { same(a: unknown, b: unknown, m: string): unknown }, clients: LiveClient[]): void {
  const big = clients.flatMap((c) => c.frames).filter((f) => f.bytes >= FRAME_LIMIT).map((f) => f.bytes)
  t.same(big, [], 'every frame is under 64 KB')
}

async function dbScores (db: Database): Promise<Map<string, number>> {
  const leads = await db.c.leads.find({}).project<{ _id: string; score: number }>({ _id: 1, score: 1 }).toArray()
  return new Map(leads.map((l) => [l._id, l.score]))
}

/** The last lead.scored score each lead got in a message stream (by seq). */
function lastScores (msgs: Msg[]): Map<string, number> {
  const out = new Map<string, { seq: number; score: number }>()
  for (const m of msgs) {
    if (m.type !== 'lead.scored' || m.data.truncated === true) continue
    const prev = out.get(m.data.leadId as string)
    if (prev === undefined || m.seq > prev.seq) out.set(m.data.leadId as string, { seq: m.seq, score: m.data.score as number })
  }
  return new Map([...out].map(([k, v]) => [k, v.score]))
}

/** Waits until the feed stops growing (the append after a commit is asynchronous). */
async function feedSettled (db: Database, quietMs = 400, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  let last = -1
  let since = Date.now()
  for (;;) {
    const top = (await db.c.liveFeed.find({}).sort({ _id: -1 }).limit(1).next())?._id ?? 0
    if (top !== last) { last = top; since = Date.now() } else if (Date.now() - since >= quietMs) return top
    if (Date.now() > deadline) throw new Error('the live feed did not settle')
    await sleep(50)
  }
}

async function feedSeqs (db: Database, after: number, topic: string): Promise<number[]> {
  return (await db.c.liveFeed.find({ _id: { $gt: after }, topics: topic }).sort({ _id: 1 }).project<{ _id: number }>({ _id: 1 }).toArray()).map((d) => d._id)
}

const ev = (i: number, lead: string, type = 'page_view') => ({ externalId: `${lead}-${type}-${i}`, lead: { email: `${lead}@example.com` }, type })

t.test('the upgrade is authenticated and origin-checked before it happens', { timeout: 80_000 }, async (t) => {
  const { app } = await buildTestApp(t)
  const url = await listen(app)

  const none = await refused(url)
  t.equal(none.status, 401, 'no key: 401, not 101')
  t.equal(none.upgraded, false)
  t.equal(none.type, 'application/problem+json; charset=utf-8')
  t.match(none.body, { code: 'LS_ERR_UNAUTHORIZED', status: 401 })

  const bad = await refused(url, { headers: { authorization: 'Bearer lsk_not_a_real_key_0000000000' } })
  t.equal(bad.status, 401, 'bad key: 401')
  t.match(bad.body, { code: 'LS_ERR_UNAUTHORIZED' })
  const badToken = await refused(`${url}?access_token=lsk_not_a_real_key_0000000000`)
  t.equal(badToken.status, 401, 'bad access_token: 401')

  const evil = await refused(url, { headers: AUTH, origin: 'http://evil.example' })
  t.equal(evil.status, 403, 'foreign origin: 403 before the upgrade')
  t.equal(evil.upgraded, false)
  t.equal(evil.type, 'application/problem+json; charset=utf-8')
  t.match(evil.body, { code: 'LS_ERR_ORIGIN_FORBIDDEN', status: 403 })
  const evilToken = await refused(`${url}?access_token=${ADMIN_KEY}`, { origin: 'http://evil.example' })
  t.match(evilToken, { status: 403, body: { code: 'LS_ERR_ORIGIN_FORBIDDEN' } })

  // a read key through ?access_token= (deprecated, kept on this WebSocket only; browsers use a ticket) still works
  const created = await app.inject({ method: 'POST', url: '/v1/api-keys', headers: AUTH, payload: { name: 'live reader', scopes: ['read'] } })
  t.equal(created.statusCode, 201)
  const c = await connect(`${url}?access_token=${encodeURIComponent(created.json().key as string)}`, {})
  c.send({ op: 'ping' })
  t.match(await c.frame((b) => b.type === 'pong'), { type: 'pong' })
  c.close()
  t.match(await c.closed, { code: 1005 })
})

t.test('subscribers get batched lead.scored messages whose last state equals the database', { timeout: 80_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const url = await listen(app)
  const board = await connect(url)
  board.send({ op: 'subscribe', topics: ['leaderboard'] })
  t.match(await board.frame((b) => b.type === 'subscribed'), { type: 'subscribed', topics: ['leaderboard'] })

  // one lead, its own topic
  const first = await postEvents(app, { events: [ev(1, 'ada', 'demo_request'), ev(2, 'ada'), ev(3, 'ada', 'email_open')] })
  t.equal(first.statusCode, 202)
  const adaId = first.json().results[0].leadId as string
  await waitForScoring(db, 40_000)
  await board.until('ada\'s first message', () => lastScores(board.messages).get(adaId) === 65) // the append follows the commit
  const mine = await connect(`${url}?topics=${encodeURIComponent(`lead:${adaId}`)}`)
  await mine.frame((b) => b.type === 'subscribed')
  const more = await postEvents(app, { events: [ev(4, 'ada', 'form_submit'), ev(5, 'ada')] })
  t.equal(more.statusCode, 202)
  await waitForScoring(db, 40_000)
  const adaDb = (await app.inject({ url: `/v1/leads/${adaId}`, headers: AUTH })).json()
  await mine.until('ada\'s final score on lead:<id>', () => lastScores(mine.messages).get(adaId) === adaDb.score)
  t.same(mine.messages.map((m) => m.data.score), [90], 'a new subscriber gets only what follows its subscription')
  const batch = mine.frames.find((f) => f.body.type === 'batch')!.body
  t.match(batch, {
    type: 'batch',
    lastSeq: Number,
    messages: [{
      type: 'lead.scored', seq: Number, topics: ['leaderboard', `lead:${adaId}`, 'events'],
      data: { leadId: adaId, score: 90, delta: 25, before: { total: 65 }, entries: Array },
    }],
  })
  const entries = batch.messages[0].data.entries as Json[]
  t.match(entries.find((e) => e.type === 'form_submit'), { delta: 20, reasons: [{ ruleId: 'form-submit', points: 20 }] })
  t.match(entries.find((e) => e.type === 'page_view'), { delta: 5, reasons: [{ ruleId: 'page-view', points: 5 }] })
  t.equal(adaDb.score, 90)
  t.equal(lastScores(mine.messages).get(adaId), adaDb.score, 'L5: lead:<id> subscriber ends at the database score')
  t.ok(mine.messages.every((m) => m.topics.includes(`lead:${adaId}`)), 'a lead:<id> subscriber gets only that lead')

  // many leads with several events each, posted together: fewer frames than messages
  const framesBefore = board.frames.filter((f) => f.body.type === 'batch').length
  const msgsBefore = board.messages.length
  const events = []
  for (let l = 0; l < 12; l++) for (let i = 0; i < 2; i++) events.push(ev(i, `bulk${l}`, i === 0 ? 'email_open' : 'page_view'))
  const bulk = await postEvents(app, { events })
  t.equal(bulk.json().accepted, 24)
  await waitForScoring(db, 40_000)
  const scores = await dbScores(db)
  await board.until('every lead\'s final score on the leaderboard', () => {
    const got = lastScores(board.messages)
    return [...scores].every(([id, s]) => got.get(id) === s)
  })
  const got = lastScores(board.messages)
  t.same(new Map([...scores].map(([id]) => [id, got.get(id)])), scores, 'L5: the leaderboard subscriber ends at every lead\'s database score')
  for (const [id, s] of scores) {
    const api = (await app.inject({ url: `/v1/leads/${id}`, headers: AUTH })).json()
    t.equal(api.score, s)
  }
  const newFrames = board.frames.filter((f) => f.body.type === 'batch').length - framesBefore
  const newMsgs = board.messages.length - msgsBefore
  t.ok(newMsgs >= 12, `at least one message per lead (${newMsgs})`)
  t.ok(newFrames <= newMsgs, `no message is sent twice: ${newMsgs} messages in ${newFrames} frames`)

  // messages that become visible within one tick go out as one frame: 30 appended back to back arrive batched
  const burstFramesBefore = board.frames.filter((f) => f.body.type === 'batch').length
  const burstMsgsBefore = board.messages.length
  await Promise.all(Array.from({ length: 30 }, async (_, i) => await app.core.live.append('lead.scored', ['leaderboard'], { leadId: `burst${i}`, score: i })))
  await board.until('the 30 burst messages', () => board.messages.length - burstMsgsBefore >= 30)
  const burstFrames = board.frames.filter((f) => f.body.type === 'batch').length - burstFramesBefore
  t.ok(burstFrames < 30, `messages are batched per tick: 30 messages in ${burstFrames} frames`)
  const seqs = board.messages.map((m) => m.seq)
  t.same(seqs, [...seqs].sort((a, b) => a - b), 'delivered in seq order')
  t.equal(new Set(seqs).size, seqs.length, 'no duplicates')
  assertFramesSmall(t, [board, mine])
  board.close()
  mine.close()
})

t.test('bad subscribe messages get an error frame and change nothing; a 1 MB message closes with 1009', { timeout: 80_000 }, async (t) => {
  const { app } = await buildTestApp(t)
  const url = await listen(app)
  const c = await connect(url)
  c.send({ op: 'subscribe', topics: ['leaderboard', 'lead:ld_1'] })
  await c.frame((b) => b.type === 'subscribed')

  const topicsNow = async (): Promise<unknown> => {
    const from = c.frames.length
    c.send({ op: 'unsubscribe', topics: [] })
    return (await c.frame((b) => b.type === 'unsubscribed', from)).topics
  }
  t.same(await topicsNow(), ['leaderboard', 'lead:ld_1'])

  for (const bad of [
    { op: 'subscribe', topics: ['events', 'nope'] },
    { op: 'subscribe', topics: ['lead:has space'] },
    { op: 'subscribe', topics: ['lead:'.padEnd(80, 'x')] },
    { op: 'subscribe', topics: 'leaderboard' },
    { op: 'subscribe', topics: Array.from({ length: 101 }, (_, i) => `lead:l${i}`) },
  ]) {
    const from = c.frames.length
    c.send(bad)
    t.match(await c.frame((b) => b.type === 'error', from), { type: 'error', code: 'LS_ERR_VALIDATION' }, `refused: ${JSON.stringify(bad).slice(0, 60)}`)
    t.same(await topicsNow(), ['leaderboard', 'lead:ld_1'], 'subscriptions unchanged')
  }

  for (const raw of [
    '{"op":"subscribe","topics":["jobs"],"__proto__":{"polluted":"yes","topics":["rulesets"]}}',
    '{"__proto__":{"op":"subscribe","topics":["jobs"],"polluted":"yes"}}',
  ]) {
    const from = c.frames.length
    c.send(raw)
    t.match(await c.frame((b) => b.type === 'error', from), { type: 'error', code: 'LS_ERR_FORBIDDEN_KEY' })
    t.same(await topicsNow(), ['leaderboard', 'lead:ld_1'], '__proto__ subscribes nothing')
    t.equal(({} as Json).polluted, undefined, 'Object.prototype untouched')
    t.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false)
  }
  for (const raw of ['not json', '[1,2]', '{"op":"dance"}']) {
    const from = c.frames.length
    c.send(raw)
    t.match(await c.frame((b) => b.type === 'error', from), { type: 'error', code: /^LS_ERR_(MALFORMED_JSON|VALIDATION)$/ })
  }
  t.equal(c.ws.readyState, WebSocket.OPEN, 'errors do not close the socket')

  c.send('x'.repeat(1024 * 1024))
  const closed = await Promise.race([c.closed, sleep(10_000).then(() => ({ code: -1, reason: 'timeout' }))])
  t.equal(closed.code, 1009, 'a message over the 64 KB limit closes with 1009')
  await c.until('the hub to drop the client', () => app.live.size === 0, 5000).catch(() => undefined)
  t.equal(app.live.size, 0)
})

/** A ruleset whose page_view carries `rules` matching rules with long reasons, so each message is large. */
function verboseRules (rules: number): Json[] {
  return Array.from({ length: rules }, (_, i) => ({
    name: `verbose-${i}`,
    conditions: { all: [{ fact: 'event', path: 'type', operator: 'equal', value: 'page_view' }] },
    event: { type: 'score', params: { ruleId: `verbose-${i}`, action: 'add', dimension: 'engagement', points: 1, reason: `reason ${i} `.padEnd(480, '.') } },
  }))
}

t.test('frames stay under 64 KB however large and many the messages are', { timeout: 80_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const url = await listen(app)
  const put = await app.inject({ method: 'PUT', url: '/v1/rulesets/active', headers: AUTH, payload: { rules: verboseRules(40), note: 'verbose' } })
  t.equal(put.statusCode, 201)
  await sleep(1100) // the active-ruleset cache
  const events = Array.from({ length: 12 }, (_, l) => ev(0, `big${l}`))
  for (let i = 0; i < 4; i++) events.push(ev(i, 'huge')) // four 22 KB entries in one batch: one message over 64 KB
  t.equal((await postEvents(app, { events })).json().accepted, 16)
  await waitForScoring(db, 40_000)
  await feedSettled(db)
  const expected = await feedSeqs(db, 0, 'leaderboard')
  t.ok(expected.length >= 13)

  // a replay flushes everything at once: the worst case for one tick
  const c = await connect(`${url}?topics=leaderboard&since=0`)
  await c.until('the whole replay', () => c.messages.length >= expected.length)
  t.same(c.messages.map((m) => m.seq), expected, 'every message arrives once, in order')
  const sizes = c.messages.map((m) => Buffer.byteLength(JSON.stringify(m)))
  t.ok(sizes.some((s) => s > 20_000), 'messages are large')
  const huge = (await db.c.leads.findOne({ email: 'huge@example.com' }))!
  t.match(c.messages.find((m) => m.data.leadId === huge._id && m.data.truncated === true), { type: 'lead.scored', data: { truncated: true, leadId: huge._id } }, 'a message too large for a frame is truncated to its lead id')
  for (const m of c.messages.filter((x) => x.data.leadId !== huge._id)) t.equal(m.data.truncated, undefined, 'messages that fit are whole')
  assertFramesSmall(t, [c])
  t.ok(c.frames.filter((f) => f.body.type === 'batch').length > 1, 'the replay is split into several frames')
  c.close()
})

t.test('a reconnect with since replays exactly the missed messages, in order, without duplicates', { timeout: 80_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const url = await listen(app)

  const a = await connect(`${url}?topics=leaderboard`)
  await a.frame((b) => b.type === 'subscribed')
  await postEvents(app, { events: [ev(0, 'r1'), ev(0, 'r2', 'email_open')] })
  await waitForScoring(db, 40_000)
  await a.until('the first messages', () => a.messages.length >= 2)
  const lastSeen = Math.max(...a.messages.map((m) => m.seq))
  a.close()
  await a.closed
  await a.until('the hub to drop the client', () => app.live.size === 0, 5000)

  // produced while disconnected
  await postEvents(app, { events: [ev(1, 'r1'), ev(0, 'r3', 'form_submit'), ev(1, 'r2', 'demo_request')] })
  await waitForScoring(db, 40_000)
  await feedSettled(db)
  const missed = await feedSeqs(db, lastSeen, 'leaderboard')
  t.ok(missed.length >= 3, `${missed.length} messages missed`)

  // (1) since as a query parameter
  const b = await connect(`${url}?topics=leaderboard&since=${lastSeen}`, AUTH)
  await b.until('the replay', () => b.messages.length >= missed.length)
  // (2) since in the subscribe message
  const c = await connect(url)
  c.send({ op: 'subscribe', topics: ['leaderboard'], since: lastSeen })
  await c.until('the replay', () => c.messages.length >= missed.length)

  // then live traffic continues on both
  await postEvents(app, { events: [ev(2, 'r1'), ev(0, 'r4')] })
  await waitForScoring(db, 40_000)
  await feedSettled(db)
  const all = await feedSeqs(db, lastSeen, 'leaderboard')
  for (const [name, cl] of [['query since', b], ['subscribe since', c]] as const) {
    await cl.until(`${name}: everything`, () => cl.messages.length >= all.length).catch(() => undefined)
    await sleep(350) // a few ticks: nothing more may arrive
    t.same(cl.messages.map((m) => m.seq), all, `${name}: exactly the missed messages then the live ones, in order, once`)
    t.same(cl.messages.slice(0, missed.length).map((m) => m.seq), missed)
  }
  b.close()
  c.close()
})

t.test('reconnects during continuous traffic lose nothing and repeat nothing', { timeout: 80_000 }, async (t) => {
  const { app, db } = await buildTestApp(t)
  const url = await listen(app)
  let producing = true
  let n = 0
  const producer = (async () => {
    while (producing) {
      await postEvents(app, { events: [ev(n, `c${n % 5}`), ev(n, `c${(n + 2) % 5}`, 'email_open')] })
      n++
      await sleep(40)
    }
  })()
  t.teardown(() => { producing = false })

  const all: number[] = []
  const first = await connect(`${url}?topics=leaderboard`)
  await first.until('some traffic', () => first.messages.length > 0)
  await sleep(300)
  let cl = first
  for (let round = 1; round <= 3; round++) {
    all.push(...cl.messages.map((m) => m.seq))
    cl.close()
    await cl.closed
    await sleep(120 + round * 53) // disconnected while traffic continues
    const since = Math.max(...all)
    if (round % 2 === 0) {
      cl = await connect(`${url}?topics=leaderboard&since=${since}`)
    } else {
      cl = await connect(url)
      cl.send({ op: 'subscribe', topics: ['leaderboard'], since })
    }
    await cl.until('traffic after the reconnect', () => cl.messages.length > 0)
    await sleep(200 + round * 41)
  }
  producing = false
  await producer
  await waitForScoring(db, 40_000)
  const top = await feedSettled(db)
  const last = cl
  await last.until('the tail', () => last.messages.some((m) => m.seq === top))
  await sleep(350) // a few ticks: nothing more may arrive
  all.push(...last.messages.map((m) => m.seq))
  last.close()
  const expected = await feedSeqs(db, all[0]! - 1, 'leaderboard')
  t.ok(n > 3, `${n} requests produced traffic`)
  t.same(all, expected, 'across three reconnects every message arrives exactly once and in order')
})

t.test('a client that stops reading is cut off once 4 MB wait for it, while a reading client gets everything', { timeout: 120_000 }, async (t) => {
  const { app } = await buildTestApp(t)
  const url = await listen(app)
  const slow = await connect(`${url}?topics=events`)
  const reader = await connect(`${url}?topics=events`)
  await sleep(300)
  const socket = (slow.ws as unknown as { _socket: import('node:net').Socket })._socket
  socket.pause() // stops reading: the server's send buffer for it can only grow
  const N = 300
  const filler = 'x'.repeat(40_000) // 300 × 40 KB ≈ 12 MB, far beyond the 4 MB allowance and the kernel's socket buffers
  for (let i = 0; i < N; i++) await app.core.live.append('bulk.test', ['events'], { i, filler })
  await reader.until('every message at the reading client', () => reader.messages.filter((m) => m.type === 'bulk.test').length >= N, 90_000)
  t.same(reader.messages.filter((m) => m.type === 'bulk.test').map((m) => m.data.i), Array.from({ length: N }, (_, i) => i), 'the reader got every message once, in order')
  await new Promise((r) => setTimeout(r, 300))
  t.equal(app.live.size, 1, 'the server dropped the slow client and kept the reader')
  socket.resume()
  const closed = await slow.closed
  t.ok(closed.code === 1008 || closed.code === 1006, `closed as a slow consumer (${closed.code} ${closed.reason})`)
  t.ok(slow.messages.length < N, `the slow client did not get everything (${slow.messages.length} of ${N})`)
  reader.close()
})
