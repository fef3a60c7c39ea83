// RELIABILITY case 18, the worker killed half way: an upload's rows are checkpointed as they are stored, and when the
// process working on it stops (SIGKILL, or SIGTERM during a deploy) a fresh process on the same host takes the upload
// over from its checkpoint, with exact counts and every row stored once. A process killed while the file was still
// arriving leaves an upload that is finished with the complete rows it received, never with a cut-off last row.
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { testMongoUri, freshDbName } from '../helpers/harness.js'
import { startServer, http, waitUntil, type ServerProcess } from '../helpers/processes.js'
import { upload } from '../helpers/upload-client.js'
import { openDatabase } from '../../server/src/infra/db.js'
import type { UploadDoc } from '../../server/src/domain/types.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

/** A CSV of `rows` events of distinct leads; one row in ten has a timestamp that is rejected. */
function csv (tag: string, rows: number): { text: string; valid: number; invalid: number } {
  let text = 'email,event,time,page\n'
  let invalid = 0
  for (let i = 0; i < rows; i++) {
    const bad = i % 10 === 7
    if (bad) invalid++
    text += `${tag}${i}@resume.example,page_view,${bad ? 'not a time' : `2024-05-01T10:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}Z`},/p/${i % 13}\n`
  }
  return { text, valid: rows - invalid, invalid }
}

t.test('an upload survives the process working on it: killed, shut down, or killed while the file arrived', async (t) => {
  const uri = await testMongoUri(t)
  const dbName = freshDbName()
  const dir = mkdtempSync(join(tmpdir(), 'leadscore-spool-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  // scoring off: these processes only store the rows (and compete less for the embedded database)
  const env = { LEADSCORE_UPLOAD_DIR: dir, LEADSCORE_UPLOAD_LEASE_MS: '3000', LEADSCORE_UPLOAD_BATCH_ROWS: '200', LEADSCORE_WORKER: '0' }
  const db = await openDatabase(uri, dbName)
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const uploadDoc = async (filter: Record<string, unknown>): Promise<UploadDoc | null> => await db.c.uploads.findOne(filter)
  const logs = (p: ServerProcess) => () => p.output().slice(-1500)

  /** The finished upload checked against its file: counts, hash, stored events and rejects, spool removed. */
  async function verifyDone (t: Test, server: ServerProcess, id: string, file: ReturnType<typeof csv>, tag: string): Promise<void> {
    const rows = file.valid + file.invalid
    const res = await http(server.url, `/v1/uploads/${id}`)
    t.match(res.body, {
      status: 'done', resumes: 1, received: true, rows, accepted: file.valid, duplicates: 0, rejected: file.invalid,
      bytes: Buffer.byteLength(file.text), sha256: createHash('sha256').update(file.text).digest('hex'),
    }, `${tag}: done with exact counts and the hash of the whole file`)
    t.equal(res.body.rows, res.body.accepted + res.body.duplicates + res.body.rejected, `${tag}: rows = accepted + duplicates + rejected (L2)`)
    t.equal(await db.c.events.countDocuments({ requestId: id }), file.valid, `${tag}: each valid row stored once (L1)`)
    const leads = await db.c.leads.countDocuments({ email: { $regex: new RegExp(`^${tag}\\d+@resume\\.example$`) } })
    t.equal(leads, file.valid, `${tag}: one lead per valid row`)
    t.equal(await db.c.ingestRejects.countDocuments({ requestId: id }), file.invalid, `${tag}: each rejected row stored once with its reason`)
    const page = await http(server.url, `/v1/uploads/${id}/rejects?limit=1000`)
    const lines = (page.body.items as Json[]).map((r) => r.line as number)
    t.same(lines, [...lines].sort((a, b) => a - b), `${tag}: rejects listed in file order`)
    t.equal(new Set(lines).size, lines.length, `${tag}: no reject listed twice`)
    t.ok(lines.every((l) => (l - 2) % 10 === 7), `${tag}: only the bad rows are rejected`)
    t.notOk(readdirSync(dir).includes(`${id}.part`), `${tag}: the spooled file is removed`)
  }

  // 1. SIGKILL half way through the rows of a 12,000-row upload; the client sees no answer
  const a = csv('ka', 12_000)
  const first = await startServer(t, uri, dbName, env)
  const answer = upload(first.port, { file: a.text })
  let doc: UploadDoc | null = null
  await waitUntil(async () => { doc = await uploadDoc({}); return (doc?.checkpoint?.rowIndex ?? 0) >= 6000 }, 180_000, logs(first), 50)
  await first.kill('SIGKILL')
  t.equal(await answer, null, 'the client saw no answer')
  const id = doc!._id
  doc = await uploadDoc({ _id: id })
  const storedAtKill = await db.c.events.countDocuments({ requestId: id })
  t.match(doc, { status: 'running', received: true }, 'the upload is left running with its whole file received')
  t.ok(doc!.checkpoint!.rowIndex < 12_000, `killed before the end (checkpoint at row ${doc!.checkpoint!.rowIndex})`)
  t.comment(`killed at checkpoint row ${doc!.checkpoint!.rowIndex} (${doc!.checkpoint!.accepted} accepted); ${storedAtKill} events stored, ${storedAtKill - doc!.checkpoint!.accepted} of them after the checkpoint`)
  t.ok(readdirSync(dir).includes(`${id}.part`), 'the spooled file outlives the process')
  // the worst moment to die is after a batch is stored and before its checkpoint is written: put the checkpoint one
  // batch back, as that death leaves it. The fresh process stores those rows again; they must count as accepted (the
  // upload's own rows), not as duplicates, and their rejects must not be listed twice.
  const k = doc!.checkpoint!
  const back = Array.from({ length: 200 }, (_, i) => k.rowIndex - 200 + i)
  const backInvalid = back.filter((i) => i % 10 === 7).length
  await db.c.uploads.updateOne({ _id: id }, { $set: { checkpoint: { rowIndex: k.rowIndex - 200, accepted: k.accepted - (200 - backInvalid), duplicates: k.duplicates, rejected: k.rejected - backInvalid } } })

  const startedAt = Date.now()
  const second = await startServer(t, uri, dbName, env)
  await waitUntil(async () => (await uploadDoc({ _id: id }))?.status !== 'running', 180_000, logs(second), 200)
  t.comment(`the fresh process finished the upload ${Date.now() - startedAt} ms after it started`)
  await verifyDone(t, second, id, a, 'ka')

  // 2. SIGTERM (a deploy) while an upload answered early with Prefer: respond-async is being stored
  const b = csv('tb', 6000)
  const early = await upload(second.port, { file: b.text, headers: { prefer: 'respond-async' } })
  t.equal(early?.status, 202, String(early?.text.slice(0, 300)))
  t.equal(early?.headers['preference-applied'], 'respond-async')
  t.match(early?.body, { status: 'running', received: true, resumes: 0 }, 'answered as soon as the file arrived')
  const idB = early!.body.id as string
  t.equal(early?.headers.location, `/v1/uploads/${idB}`)
  await waitUntil(async () => ((await uploadDoc({ _id: idB }))?.checkpoint?.rowIndex ?? 0) >= 1000, 120_000, logs(second), 50)
  await second.kill('SIGTERM')
  const paused = await uploadDoc({ _id: idB })
  t.match(paused, { status: 'running' }, 'a shutdown leaves the upload running')
  t.ok(paused!.leaseUntil!.getTime() <= 0, 'and gives up its lease, so the next process need not wait for it to run out')
  const third = await startServer(t, uri, dbName, env)
  await waitUntil(async () => (await uploadDoc({ _id: idB }))?.status !== 'running', 120_000, logs(third), 200)
  await verifyDone(t, third, idB, b, 'tb')

  // 3. SIGKILL while the file is still arriving: the complete rows received are stored, the cut-off row is not
  const c = csv('kc', 2000)
  const cut = c.text.indexOf('\n', Math.floor(c.text.length / 2)) + 10 // ten bytes into a row
  const completeRows = c.text.slice(0, cut).split('\n').length - 2 // lines before the cut, minus the header
  let release: () => void = () => undefined
  const held = new Promise<void>((resolve) => { release = resolve })
  t.teardown(() => { release() })
  const stalled = upload(third.port, { file: [c.text.slice(0, cut)], afterChunk: async () => { await held } }).catch(() => null)
  let docC: UploadDoc | null = null
  await waitUntil(async () => {
    docC = await uploadDoc({ status: 'running' })
    return docC !== null && (docC.checkpoint?.rowIndex ?? 0) >= Math.floor(completeRows / 200) * 200 && docC.bytes > 0
  }, 120_000, logs(third), 50)
  await third.kill('SIGKILL')
  release()
  t.equal(await stalled, null, 'the client saw no answer')
  const idC = docC!._id
  t.match(await uploadDoc({ _id: idC }), { status: 'running', received: false })
  const fourth = await startServer(t, uri, dbName, env)
  await waitUntil(async () => (await uploadDoc({ _id: idC }))?.status !== 'running', 120_000, logs(fourth), 200)
  const endC = (await http(fourth.url, `/v1/uploads/${idC}`)).body as Json
  const validBefore = Array.from({ length: completeRows }, (_, i) => i).filter((i) => i % 10 !== 7).length
  t.match(endC, { status: 'failed', error: { code: 'LS_ERR_UPLOAD_ABORTED' }, resumes: 1, rows: completeRows, accepted: validBefore, duplicates: 0, rejected: completeRows - validBefore },
    `failed with the ${completeRows} complete rows that had arrived`)
  t.match(endC.error.message, /stopped before the whole file had arrived/)
  t.equal(await db.c.events.countDocuments({ requestId: idC }), validBefore, 'exactly those rows are stored; the cut-off one is not')
  t.notOk(readdirSync(dir).includes(`${idC}.part`), 'the spooled file is removed')
})
