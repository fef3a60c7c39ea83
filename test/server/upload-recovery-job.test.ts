// Upload recovery is an Agenda job of each host (jobs/upload-recovery.ts). A process that starts puts its host's
// recurring job in `agendaJobs` (every half lease) and runs it at once. A run takes over a running upload spooled on
// this host whose lease ran out and finishes it, fails one spooled on a host gone for over an hour, and leaves one
// whose host may still come back. While the job is disabled nothing takes an upload over, another host's recovery job
// never runs here, and after the shutdown pause the runs go on but take nothing over.
import t from 'tap'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildTestApp } from '../helpers/harness.js'
import { newId } from '../../server/src/lib/ids.js'
import type { UploadRecord } from '../../server/src/domain/uploads/upload-service.js'
import type { Database } from '../../server/src/infra/db.js'

const sleep = async (ms: number): Promise<void> => await new Promise((r) => setTimeout(r, ms))

async function waitFor (what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!await check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

const ROWS = 300
const file = (tag: string): string =>
  'email,event,time,page\n' + Array.from({ length: ROWS }, (_, i) => `${tag}${i}@recovery.example,page_view,2024-05-01T10:00:${String(i % 60).padStart(2, '0')}Z,/p/${i % 7}\n`).join('')

/** A running upload as a process that stopped leaves it: its file spooled on `host`, its lease ended at `leaseUntil`. */
async function staleUpload (db: Database, dir: string, host: string, leaseUntil: Date): Promise<{ id: string; path: string; text: string }> {
  const id = newId('up')
  const text = file(id.slice(-6))
  const path = join(dir, `${id}.part`)
  writeFileSync(path, text)
  const input = { kind: 'events' as const, format: 'csv' as const, mapping: null, sourceId: 'upload', filename: 'stale.csv', contentType: 'text/csv' }
  const t0 = new Date(leaseUntil.getTime() - 60_000)
  const doc: UploadRecord = {
    _id: id, status: 'running', ...input, expectedBytes: null, bytes: Buffer.byteLength(text), rowsRead: 0, rows: 0, accepted: 0, duplicates: 0,
    rejected: 0, sha256: null, fingerprint: null, duplicateOf: null, error: null, actor: 'test', requestId: id, startedAt: t0, updatedAt: t0,
    finishedAt: null, owner: newId('ow'), leaseUntil, spool: { path, host, input }, received: true, checkpoint: null, resumes: 0, principal: 'test', cancel: null,
  }
  await db.c.uploads.insertOne(doc)
  return { id, path, text }
}

t.test('upload recovery runs as a recurring Agenda job of this host', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'leadscore-spool-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  // no workers: a process that only answers requests takes uploads, so it runs its host's recovery as well
  const { app, db } = await buildTestApp(t, { LEADSCORE_UPLOAD_DIR: dir, LEADSCORE_UPLOAD_LEASE_MS: '1000', LEADSCORE_UPLOAD_BATCH_ROWS: '50', LEADSCORE_WORKER: '0' })
  const host = app.core.uploads.host
  const name = `upload-recovery:${host}`
  const agendaJobs = db.db.collection('agendaJobs')
  const schedule = async () => await agendaJobs.findOne({ name, type: 'single' })
  const upload = async (id: string): Promise<UploadRecord | null> => await db.c.uploads.findOne({ _id: id })

  // 1. the schedule, and its run at start
  t.match(await schedule(), { name, type: 'single', repeatInterval: 500 }, 'this host\'s recovery is a recurring job, every half lease')
  await waitFor('the run at start', async () => (await schedule())?.lastFinishedAt instanceof Date && await agendaJobs.countDocuments({ name, type: 'normal' }) === 0)
  t.equal(await agendaJobs.countDocuments({ name: { $regex: '^upload-recovery:' } }), 1, 'one schedule for this host; the one-off run at start is removed once done')

  // 2. the job disabled: nothing takes an upload over; another host's recovery job, due, is never run here
  await agendaJobs.updateOne({ name, type: 'single' }, { $set: { disabled: true } })
  // a run claimed before the switch ends (or its claim is given back) before the uploads below exist
  await waitFor('no claim on the schedule', async () => (await schedule())?.lockedAt == null)
  const elsewhere = 'upload-recovery:elsewhere.invalid'
  await agendaJobs.insertOne({
    name: elsewhere, type: 'single', data: null, priority: 0, repeatInterval: 500, nextRunAt: new Date(Date.now() - 1000), lockedAt: null, lastRunAt: null, lastFinishedAt: null, disabled: null,
  })
  const now = Date.now()
  const here = await staleUpload(db, dir, host, new Date(now - 5000))
  const gone = await staleUpload(db, dir, 'elsewhere.invalid', new Date(now - 2 * 3_600_000))
  const away = await staleUpload(db, dir, 'elsewhere.invalid', new Date(now - 5000))
  await sleep(3000)
  for (const u of [here, gone, away]) t.match(await upload(u.id), { status: 'running', resumes: 0 }, 'left running while the job is disabled')
  t.match(await agendaJobs.findOne({ name: elsewhere }), { lockedAt: null, lastRunAt: null }, 'another host\'s recovery job is not run here')

  // 3. enabled again: the next run takes over the upload spooled here, and fails the one whose host is long gone
  const enabledAt = new Date()
  await agendaJobs.updateOne({ name, type: 'single' }, { $set: { disabled: false } })
  await waitFor('the upload spooled here to finish', async () => (await upload(here.id))?.status !== 'running')
  t.match(await upload(here.id), {
    status: 'done', resumes: 1, received: true, rows: ROWS, accepted: ROWS, duplicates: 0, rejected: 0, sha256: createHash('sha256').update(here.text).digest('hex'),
  }, 'taken over and finished with exact counts')
  t.equal(await db.c.events.countDocuments({ requestId: here.id }), ROWS, 'each row stored once')
  // the record says done before the run that took it over ends and removes the file
  await waitFor('the spooled file to be removed', async () => !existsSync(here.path), 10_000)
  t.notOk(existsSync(here.path), 'its spooled file is removed')
  t.ok((await schedule())!.lastRunAt >= enabledAt, 'by a run of this host\'s job')
  await waitFor('the upload of a host gone for an hour to fail', async () => (await upload(gone.id))?.status === 'failed')
  t.match(await upload(gone.id), { error: { code: 'LS_ERR_UPLOAD_ABORTED' }, resumes: 0 }, 'failed: no process can go on with it')
  t.match(await upload(away.id), { status: 'running', resumes: 0 }, 'one whose host may come back is left to that host')
  t.ok(existsSync(away.path), 'and its file is not touched')
  t.match(await agendaJobs.findOne({ name: elsewhere }), { lockedAt: null, lastRunAt: null }, 'another host\'s recovery job is still not run here')

  // 4. the shutdown pause: the job goes on running until the scheduler stops, but takes nothing over
  await app.core.uploads.pause(1000)
  const late = await staleUpload(db, dir, host, new Date(Date.now() - 5000))
  const insertedAt = new Date()
  for (let i = 0; i < 2; i++) {
    const after = i === 0 ? insertedAt : (await schedule())!.lastFinishedAt as Date
    await waitFor('a run of the job', async () => {
      const s = await schedule()
      return s?.lastRunAt > after && s?.lastFinishedAt >= s?.lastRunAt
    })
  }
  t.match(await upload(late.id), { status: 'running', resumes: 0 }, 'after the pause a run takes no upload over')
})
