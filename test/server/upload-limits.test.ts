// Upload limits over real HTTP: concurrent uploads per API key and in all (429 LS_ERR_UPLOAD_LIMIT with Retry-After),
// the spool quota (413 LS_ERR_UPLOAD_SPOOL_FULL, up front from the Content-Length or mid-way for a chunked body, the
// spool file removed), and DELETE /v1/uploads/{id} cancelling a running upload with exact counts.
import t, { type Test } from 'tap'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, AUTH } from '../helpers/harness.js'
import { upload, type UploadAnswer } from '../helpers/upload-client.js'
import type { Database } from '../../server/src/infra/db.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const sleep = async (ms: number): Promise<void> => await new Promise((r) => setTimeout(r, ms))

async function listen (app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as AddressInfo).port
}

async function newKey (app: FastifyInstance, scopes: string[]): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/v1/api-keys', headers: AUTH, payload: { name: `k${Math.random()}`, scopes } })
  return (res.json() as Json).key as string
}

const rows = (tag: string, from: number, n: number): string =>
  Array.from({ length: n }, (_, i) => `${tag}${from + i}@limits.example,page_view,2024-05-01T10:00:00Z\n`).join('')

/** A chunked file that sends `first`, then holds the request open until released (then sends `rest`). */
function held (first: string, rest = ''): { file: AsyncGenerator<string>; release: () => void } {
  let release: () => void = () => undefined
  const gate = new Promise<void>((resolve) => { release = resolve })
  async function * file (): AsyncGenerator<string> {
    yield first
    await gate
    if (rest !== '') yield rest
  }
  return { file: file(), release }
}

async function waitFor (what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!await check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(25)
  }
}

/** The running uploads' ids, oldest first. */
async function runningIds (db: Database): Promise<string[]> {
  return (await db.c.uploads.find({ status: 'running' }).sort({ _id: 1 }).toArray()).map((u) => u._id)
}

function problem (t: Tap, res: UploadAnswer | null, status: number, code: string, what: string): Json {
  t.ok(res !== null, `${what}: answered`)
  t.equal(res?.status, status, `${what}: status ${status} (${res?.text.slice(0, 300)})`)
  t.match(res?.headers['content-type'] ?? '', /^application\/problem\+json/, `${what}: a problem`)
  t.equal(res?.body.code, code, `${what}: ${code}`)
  return res?.body ?? {}
}
type Tap = Test

t.test('concurrent uploads: two per key, three in all; the next is 429 LS_ERR_UPLOAD_LIMIT with Retry-After', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_UPLOADS_PER_PRINCIPAL: '2', LEADSCORE_UPLOADS_CONCURRENT: '3', LEADSCORE_WORKER: '0' })
  const port = await listen(app)
  const other = { authorization: `Bearer ${await newKey(app, ['ingest', 'read'])}` }
  const third = { authorization: `Bearer ${await newKey(app, ['ingest', 'read'])}` }
  const a = held('email,event,time\n' + rows('a', 0, 5), rows('a', 5, 5))
  const b = held('email,event,time\n' + rows('b', 0, 5), rows('b', 5, 5))
  const pa = upload(port, { file: a.file })
  const pb = upload(port, { file: b.file })
  t.teardown(() => { a.release(); b.release() })
  await waitFor('two running uploads', async () => (await runningIds(db)).length === 2)

  const res3 = await upload(port, { file: 'email,event,time\n' + rows('c', 0, 3) })
  const refused = problem(t, res3, 429, 'LS_ERR_UPLOAD_LIMIT', 'a third upload of one key')
  t.match(refused.detail, /at most 2 per API key/)
  t.equal(res3?.headers['retry-after'], '30', 'Retry-After says when to try again')
  t.equal(refused.uploadId, undefined, 'no upload was started')
  t.equal(await db.c.uploads.countDocuments({}), 2, 'nothing recorded for the refused ones')

  // another key still has its own slots, up to the limit of the whole server
  const c = held('email,event,time\n' + rows('c', 0, 5))
  const pc = upload(port, { file: c.file, headers: other })
  t.teardown(() => { c.release() })
  await waitFor('three running uploads', async () => (await runningIds(db)).length === 3)
  problem(t, await upload(port, { file: 'email,event,time\n' + rows('d', 0, 3), headers: third }), 429, 'LS_ERR_UPLOAD_LIMIT', 'a fourth upload on the server')

  a.release(); b.release(); c.release()
  for (const [p, n] of [[pa, 10], [pb, 10], [pc, 5]] as const) {
    const r = await p
    t.equal(r?.status, 201, String(r?.text.slice(0, 300)))
    t.equal(r?.body.accepted, n)
  }
  // the slots are given back when uploads end
  const again = await upload(port, { file: 'email,event,time\n' + rows('e', 0, 3) })
  t.equal(again?.status, 201, 'a slot is free again once the uploads ended')
})

t.test('spool quota: refused up front from the Content-Length, and mid-way for a chunked body, with the spool file removed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'leadscore-spool-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const { app, db } = await buildTestApp(t, { LEADSCORE_UPLOAD_SPOOL_MAX_BYTES: '100000', LEADSCORE_UPLOAD_DIR: dir, LEADSCORE_UPLOAD_BATCH_ROWS: '50', LEADSCORE_WORKER: '0' })
  const port = await listen(app)
  t.equal(app.core.config.uploads.maxBytes, 100000, 'a file can never be larger than the spool')

  // an upload holding about 75 kB of the spool
  const first = 'email,event,time\n' + rows('h', 0, 1500)
  const h = held(first, rows('h', 1500, 10))
  const ph = upload(port, { file: h.file })
  t.teardown(() => { h.release() })
  let holder = ''
  await waitFor('the first upload spooled', async () => {
    holder = (await runningIds(db))[0] ?? ''
    const p = join(dir, `${holder}.part`)
    return holder !== '' && existsSync(p) && statSync(p).size === Buffer.byteLength(first)
  })
  t.ok(Buffer.byteLength(first) > 75_000)
  const small = 'email,event,time\n' + rows('u', 0, 1000).slice(0, 40_000).replace(/\n[^\n]*$/, '\n')

  // 40 kB announced: 75 + 40 > 100 kB, refused before anything is read or recorded
  const upFront = problem(t, await upload(port, { file: small }), 413, 'LS_ERR_UPLOAD_SPOOL_FULL', 'a Content-Length over the free spool')
  t.equal(upFront.uploadId, undefined, 'refused before an upload was started')
  t.equal(await db.c.uploads.countDocuments({}), 1)

  // chunked: stopped once its bytes would take the spool past the quota; the rows before are kept and counted
  async function * chunks (): AsyncGenerator<string> {
    yield 'email,event,time\n'
    for (let i = 0; i < 20; i++) { yield rows('m', i * 50, 50); await sleep(5) }
  }
  const mid = problem(t, await upload(port, { file: chunks() }), 413, 'LS_ERR_UPLOAD_SPOOL_FULL', 'a chunked body growing past the quota')
  t.equal(mid.rows, mid.accepted + mid.duplicates + mid.rejected)
  t.ok(mid.rows < 1000, `stopped mid-way (${mid.rows as number} rows stored)`)
  const job = (await app.inject({ url: `/v1/uploads/${mid.uploadId as string}`, headers: AUTH })).json() as Json
  t.match(job, { status: 'failed', error: { code: 'LS_ERR_UPLOAD_SPOOL_FULL' } })
  t.ok(job.bytes + Buffer.byteLength(first) <= 100_000, `the spool never held more than its quota (${job.bytes as number} bytes)`)
  t.equal(await db.c.events.countDocuments({ requestId: mid.uploadId }), mid.accepted, 'exactly the counted rows are stored')
  t.notOk(existsSync(join(dir, `${mid.uploadId as string}.part`)), 'its spool file is removed')

  h.release()
  t.equal((await ph)?.status, 201, 'the first upload is not disturbed')
  t.notOk(existsSync(join(dir, `${holder}.part`)))
  // its bytes are free again
  const after = await upload(port, { file: small })
  t.equal(after?.status, 201, String(after?.text.slice(0, 300)))
})

t.test('DELETE /v1/uploads/{id} cancels a running upload: its creator or an admin, exact counts, no spool file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'leadscore-spool-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const { app, db } = await buildTestApp(t, { LEADSCORE_UPLOAD_DIR: dir, LEADSCORE_UPLOAD_BATCH_ROWS: '50', LEADSCORE_WORKER: '0' })
  const port = await listen(app)
  const ownerKey = { authorization: `Bearer ${await newKey(app, ['ingest', 'read'])}` }
  const otherKey = { authorization: `Bearer ${await newKey(app, ['ingest', 'read'])}` }

  // 120 rows sent (two batches of 50 and 20 more, one of them bad), then the request is held open
  const bad = rows('x', 0, 120).split('\n').map((l, i) => i === 7 ? 'not-an-email,page_view,2024-05-01T10:00:00Z' : l).join('\n')
  const h = held('email,event,time\n' + bad, rows('x', 120, 10))
  const pending = upload(port, { file: h.file, headers: ownerKey })
  t.teardown(() => { h.release() })
  let id = ''
  await waitFor('two batches stored', async () => {
    const u = await db.c.uploads.findOne({ status: 'running' })
    id = u?._id ?? ''
    return (u?.checkpoint?.rowIndex ?? 0) >= 100
  })
  t.ok(existsSync(join(dir, `${id}.part`)), 'the file is spooled while the upload runs')

  const denied = await app.inject({ method: 'DELETE', url: `/v1/uploads/${id}`, headers: otherKey })
  t.equal(denied.statusCode, 403, 'another key cannot cancel it')
  t.equal((denied.json() as Json).code, 'LS_ERR_FORBIDDEN')
  t.equal((await db.c.uploads.findOne({ _id: id }))?.status, 'running', 'and it goes on')

  const res = await app.inject({ method: 'DELETE', url: `/v1/uploads/${id}`, headers: ownerKey })
  t.equal(res.statusCode, 200, res.body.slice(0, 300))
  const ended = res.json() as Json
  t.match(ended, { id, status: 'failed', error: { code: 'LS_ERR_UPLOAD_CANCELLED' }, cancelRequested: { by: /./ } })
  t.equal(ended.rows, ended.accepted + ended.duplicates + ended.rejected, 'rows = accepted + duplicates + rejected')
  t.ok(ended.rows >= 100 && ended.rows % 50 === 0, `whole batches only (${ended.rows as number} rows)`)
  t.equal(ended.rejected, 1, 'the bad row of the first batch is counted')
  t.equal(await db.c.events.countDocuments({ requestId: id }), ended.accepted, 'exactly the counted rows are stored')
  t.equal(await db.c.ingestRejects.countDocuments({ requestId: id }), ended.rejected, 'exactly the counted rejects are stored')
  t.notOk(existsSync(join(dir, `${id}.part`)), 'the spool file is removed')

  const answer = await pending
  t.equal(answer?.status, 409, 'the uploading client is told')
  t.equal(answer?.body.code, 'LS_ERR_UPLOAD_CANCELLED')

  const twice = await app.inject({ method: 'DELETE', url: `/v1/uploads/${id}`, headers: AUTH })
  t.equal(twice.statusCode, 409, 'an ended upload cannot be cancelled')
  t.equal((twice.json() as Json).code, 'LS_ERR_UPLOAD_NOT_RUNNING')
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/uploads/up_nope', headers: AUTH })).statusCode, 404)

  // an admin may cancel anyone's upload
  const h2 = held('email,event,time\n' + rows('y', 0, 10), rows('y', 10, 10))
  const pending2 = upload(port, { file: h2.file, headers: ownerKey })
  t.teardown(() => { h2.release() })
  let id2 = ''
  await waitFor('the second upload spooled', async () => {
    id2 = (await runningIds(db))[0] ?? ''
    return id2 !== '' && existsSync(join(dir, `${id2}.part`))
  })
  const byAdmin = await app.inject({ method: 'DELETE', url: `/v1/uploads/${id2}`, headers: AUTH })
  t.equal(byAdmin.statusCode, 200, byAdmin.body.slice(0, 300))
  t.match(byAdmin.json(), { status: 'failed', error: { code: 'LS_ERR_UPLOAD_CANCELLED' }, rows: 0 })
  t.equal((await pending2)?.body.code, 'LS_ERR_UPLOAD_CANCELLED')
  t.notOk(existsSync(join(dir, `${id2}.part`)))
})

t.test('a cancel reaches the process holding the upload through the flag on its record', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'leadscore-spool-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  // a short lease: the holder renews it (and reads the flag) every second
  const { app, db } = await buildTestApp(t, { LEADSCORE_UPLOAD_DIR: dir, LEADSCORE_UPLOAD_BATCH_ROWS: '50', LEADSCORE_UPLOAD_LEASE_MS: '3000', LEADSCORE_WORKER: '0' })
  const port = await listen(app)
  const h = held('email,event,time\n' + rows('z', 0, 120), rows('z', 120, 10))
  const pending = upload(port, { file: h.file })
  t.teardown(() => { h.release() })
  let id = ''
  await waitFor('two batches stored', async () => {
    const u = await db.c.uploads.findOne({ status: 'running' })
    id = u?._id ?? ''
    return (u?.checkpoint?.rowIndex ?? 0) >= 100
  })
  // what DELETE on another process writes; set again if a write of the holder raced it away
  await waitFor('the upload cancelled', async () => {
    const u = await db.c.uploads.findOne({ _id: id }) as Json | null
    if (u?.status === 'running' && u.cancel == null) await db.c.uploads.updateOne({ _id: id, status: 'running' }, { $set: { cancel: { at: new Date(), by: 'elsewhere' } } as Json })
    return u?.status === 'failed'
  })
  const ended = (await app.inject({ url: `/v1/uploads/${id}`, headers: AUTH })).json() as Json
  t.match(ended, { status: 'failed', error: { code: 'LS_ERR_UPLOAD_CANCELLED', message: /elsewhere/ }, rows: 100, accepted: 100, cancelRequested: { by: 'elsewhere' } })
  t.equal(await db.c.events.countDocuments({ requestId: id }), 100, 'exactly the counted rows are stored')
  // the spool goes when the holder's work on the upload ends, just after it records the failure
  await waitFor('the spool file removed', async () => !existsSync(join(dir, `${id}.part`)), 5_000).catch(() => undefined)
  t.notOk(existsSync(join(dir, `${id}.part`)), 'the spool file is removed')
  t.equal((await pending)?.body.code, 'LS_ERR_UPLOAD_CANCELLED')
})
