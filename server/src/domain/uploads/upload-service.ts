import { createHash, type Hash } from 'node:crypto'
import { mkdir, open, rm, stat } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import type { Collections } from '../../infra/db.js'
import { retryTransient, insertNewOnes } from '../../infra/db.js'
import type { IngestService } from '../events/ingest.js'
import type { LiveFeed } from '../live/live-feed.js'
import type { RejectDoc, UploadDoc, UploadFormat, UploadKind, UploadSpool } from '../types.js'
import { canonicalJson, newId, sha256 } from '../../lib/ids.js'
import { isBatchRow, isRefusedInput, pluginErrorKind, type BatchFile } from '../../contracts/index.js'
import { UploadStop } from './upload-stop.js'
import { peek } from '../../lib/peek-stream.js'
import { createUploadAdmission, type AdmissionTicket } from './upload-admission.js'

/** A row refused while reading the file (before ingest), stored as the row's reject. */
interface RowReject { code: string; reason: string; raw: string }

/**
 * How uploads find a parser: the `batch` of the installed source that accepts the file's media type. The plugin host
 * provides it; the upload service knows no file format.
 */
export interface BatchReaders {
  forType(type: string): { pluginId: string; parse(input: AsyncIterable<Uint8Array>, sourceId: string, file: BatchFile): AsyncIterable<unknown> } | null
  /** Every media type some installed source reads. */
  types(): string[]
}

/** A row reject as reported: where it is and why. */
export interface UploadReject { line: number; code: string; reason: string }

/** The answer to an upload; `rows = accepted + duplicates + rejected` always holds. */
export interface UploadReport {
  id: string
  status: UploadDoc['status']
  kind: UploadKind
  format: UploadFormat | null
  filename: string | null
  bytes: number
  rows: number
  accepted: number
  duplicates: number
  rejected: number
  sha256: string | null
  duplicateOf?: string
  /** The first 100 rejects, in file order; all of them are listed by GET /v1/uploads/{id}/rejects. */
  rejects: UploadReject[]
}

/** An upload that ended early: the coded problem to answer with, and what had been done until then. */
export class UploadFailed extends Error {
  constructor (readonly code: string, message: string, readonly line: number | null, readonly report: UploadReport, options?: { cause?: unknown }) {
    super(message, options)
  }
}

export interface UploadInput {
  kind: UploadKind
  /** From the `format` field; otherwise inferred from the file name, the part's content type, then the first byte. */
  format: UploadFormat | null
  mapping: Record<string, string | null> | null
  /** `upload` or `upload:<label>`. */
  sourceId: string
  filename: string | null
  contentType: string | null
  expectedBytes: number | null
  actor: string
  /** The API key or console user (its key id) the upload counts against, and who may cancel it. */
  principal: string
  requestId: string
}

/**
 * An upload record with what this module adds to it: who started it, and a cancel request. The cancel is a flag on
 * the record because the process holding the lease may be another one; it checks the flag between batches.
 */
export type UploadRecord = UploadDoc & { principal?: string; cancel?: { at: Date; by: string } | null }

export interface UploadLimits {
  maxBytes: number; maxRowBytes: number; maxColumns: number; batchRows: number; idleTimeoutMs: number
  /** How long a process's claim on a running upload holds without renewal before another process may take it over. */
  leaseMs: number
  /** Uploads running at once per principal and in all, and the bytes their spool files may hold together. */
  perPrincipal: number; concurrent: number; spoolMaxBytes: number
}

export interface UploadDeps {
  c: Collections
  ingest: IngestService
  live: LiveFeed
  now: () => Date
  limits: UploadLimits
  /** Folder for the files of running uploads (kept until each ends; must survive a restart for uploads to resume). */
  spoolDir: string
  /** This host's name, recorded with each spooled file: only a process on the same host can go on with it. */
  host?: string
  log: { warn(o: object, m: string): void }
  /** Minimum spacing of progress messages (ms). */
  progressEveryMs?: number
  /** Counts stored rejects (the rejects total of /v1/stats). */
  onRejectsStored?: (n: number) => Promise<void>
}

const MAX_REPORTED_REJECTS = 100
const RAW_LIMIT = 64 * 1024

/** The media type the short format names stand for. */
const FORMAT_TYPES: Record<string, string> = { csv: 'text/csv', json: 'application/json', ndjson: 'application/x-ndjson' }
const SHORT_FORMATS = new Map<string, UploadFormat>([
  ['text/csv', 'csv'], ['application/csv', 'csv'], ['text/tab-separated-values', 'csv'], ['application/json', 'json'],
  ['application/x-ndjson', 'ndjson'], ['application/ndjson', 'ndjson'], ['application/jsonl', 'ndjson'], ['application/x-jsonlines', 'ndjson'], ['application/jsonlines', 'ndjson'],
])

/** The media type of a format (a short name or a media type). */
export function formatType (format: string): string {
  return FORMAT_TYPES[format] ?? format
}

/** A fingerprint of how a file is read: equal fingerprints over equal bytes give the same events. */
function interpretationKey (x: { kind: UploadKind; format: string; sourceId: string; mapping: Record<string, string | null> | null; delimiter: string | null; extra?: Record<string, unknown> }): string {
  return sha256(canonicalJson({ ...x, mapping: x.mapping === null ? null : { ...x.mapping } })).slice(0, 32)
}

function formatFromName (name: string | null): UploadFormat | null {
  if (name === null) return null
  if (/\.(csv|tsv|txt)$/i.test(name)) return 'csv'
  if (/\.json$/i.test(name)) return 'json'
  if (/\.(ndjson|jsonl|jsonlines)$/i.test(name)) return 'ndjson'
  return null
}

/** The part's Content-Type as a format, when an installed source reads it (the built-in ones by their short name). */
function formatFromType (type: string | null, readers: BatchReaders): UploadFormat | null {
  const t = (type ?? '').split(';')[0]!.trim().toLowerCase()
  if (t === '' || readers.forType(t) === null) return null
  return SHORT_FORMATS.get(t) ?? t
}

/** Guessed from the first text character (after a byte order mark): `[` JSON, `{` NDJSON, else CSV. */
function formatFromBytes (head: Buffer): UploadFormat {
  const utf16 = head.length >= 2 && ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff))
  const text = utf16 ? new TextDecoder(head[0] === 0xff ? 'utf-16le' : 'utf-16be').decode(head.subarray(0, head.length & ~1)) : head.subarray(0, 4096).toString('latin1')
  for (const ch of text.replace(/^(\ufeff|\u00ef\u00bb\u00bf)/, '')) {
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') continue
    return ch === '[' ? 'json' : ch === '{' ? 'ndjson' : 'csv'
  }
  return 'csv'
}

/** The bytes of a file as they arrive in its spool file: how many are there, and whether more will come. */
class Spool {
  received = 0
  /** `open` while bytes arrive, `complete` once the whole file is in, otherwise why it ended early. */
  end: 'open' | 'complete' | Error = 'open'
  private waiters: Array<() => void> = []
  wake (): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  async wait (): Promise<void> { await new Promise<void>((resolve) => { this.waiters.push(resolve) }) }
}

/**
 * The upload stopped on this process without ending (the server is shutting down, or another process took it over):
 * it stays `running`, its spooled file is kept, and a process that takes it over goes on from its checkpoint.
 */
class UploadInterrupted extends Error {}

/** The upload was cancelled (DELETE /v1/uploads/{id}): it stops after the batch in flight and fails. */
class UploadCancelled extends Error {}

/** An upload this process works on. */
interface Running {
  halt: UploadInterrupted | null
  spool: Spool
  /** Keep the spooled file when the work ends here: another process goes on with it. */
  keepSpool: boolean
  cancelReceive: () => void
  finished: Promise<unknown>
  /** Updates the upload record under this process's lease, one update at a time. */
  write: (set: Record<string, unknown>) => Promise<{ matchedCount: number }>
}

type Checkpoint = NonNullable<UploadDoc['checkpoint']>

/**
 * Uploads, as jobs that survive the process. The file's bytes go to a spool file as fast as they arrive (the
 * request is never held back by the database) while a parser follows that file: parse → map → batches of
 * `batchRows` rows, one batch stored while the next is parsed, so at most two batches are in memory. After each
 * stored batch the upload record gets a checkpoint (rows stored, counts) under the lease of the process working on
 * it. If that process dies, another one on the same host takes the upload over once the lease has run out, reads
 * the spooled file again, skips the rows before the checkpoint and goes on; rows just after it that the dead process
 * had stored are recognised as its own and counted as accepted.
 */
export function createUploadService (deps: UploadDeps) {
  const { c, now, limits } = deps
  const progressEveryMs = deps.progressEveryMs ?? 250
  const host = deps.host ?? hostname()
  const running = new Map<string, Running>()
  let stopping = false
  const admission = createUploadAdmission(limits)
  // set by the plugin host once the installed sources are known, before any upload is taken
  let readers: BatchReaders = { forType: () => null, types: () => [] }
  const leaseFrom = (): Date => new Date(now().getTime() + limits.leaseMs)

  async function start (input: UploadInput): Promise<UploadDoc> {
    const t = now()
    const doc: UploadRecord = {
      _id: newId('up'), status: 'running', kind: input.kind, format: input.format, filename: input.filename, contentType: input.contentType,
      sourceId: input.sourceId, mapping: input.mapping, expectedBytes: input.expectedBytes, bytes: 0, rowsRead: 0, rows: 0, accepted: 0,
      duplicates: 0, rejected: 0, sha256: null, fingerprint: null, duplicateOf: null, error: null, actor: input.actor, requestId: input.requestId,
      startedAt: t, updatedAt: t, finishedAt: null, owner: newId('ow'), leaseUntil: leaseFrom(), spool: null, received: false, checkpoint: null, resumes: 0,
      principal: input.principal, cancel: null,
    }
    await c.uploads.insertOne(doc)
    return doc
  }

  /** Marks an upload failed before its file was read (a bad field, no file part). */
  async function fail (job: UploadDoc, code: string, message: string): Promise<void> {
    const t = now()
    await c.uploads.updateOne({ _id: job._id }, { $set: { status: 'failed', error: { code, message }, updatedAt: t, finishedAt: t } })
    await publish(job._id, { ...job, status: 'failed', error: { code, message } })
  }

  async function publish (id: string, j: Pick<UploadDoc, 'status' | 'kind' | 'format' | 'filename' | 'bytes' | 'expectedBytes' | 'rowsRead' | 'rows' | 'accepted' | 'duplicates' | 'rejected' | 'error'> & { duplicateOf?: string | null }): Promise<void> {
    try {
      await deps.live.append('job.progress', ['uploads', `upload:${id}`], {
        jobId: id, uploadId: id, kind: 'upload', state: j.status, uploadKind: j.kind, format: j.format, filename: j.filename, bytes: j.bytes,
        expectedBytes: j.expectedBytes, rowsRead: j.rowsRead, rows: j.rows, accepted: j.accepted, duplicates: j.duplicates, rejected: j.rejected,
        ...(j.duplicateOf != null ? { duplicateOf: j.duplicateOf } : {}), ...(j.error !== null ? { error: j.error } : {}),
      })
    } catch (err) {
      deps.log.warn({ err, uploadId: id }, 'live feed append failed')
    }
  }

  /**
   * Updates of one upload record go one at a time: FerretDB applies concurrent updates of one document by rewriting
   * it whole, so of two concurrent writes (a progress snapshot and the flag that the whole file arrived, or a
   * checkpoint) one could be lost. Every writer of a running upload is in the process holding its lease.
   */
  function recordWriter (id: string, owner: string): Running['write'] {
    let tail: Promise<unknown> = Promise.resolve()
    return async (set) => {
      const p = tail.then(async () => await c.uploads.updateOne({ _id: id, owner }, { $set: set as Partial<UploadDoc> }))
      tail = p.catch(() => undefined)
      return await p
    }
  }

  function register (id: string, owner: string, spool: Spool): Running {
    const r: Running = { halt: null, spool, keepSpool: false, cancelReceive: () => undefined, finished: Promise.resolve(), write: recordWriter(id, owner) }
    running.set(id, r)
    return r
  }

  /** After the work on an upload ends here: the spooled file is removed unless another process goes on with it. */
  async function release (id: string, ctl: Running, path: string): Promise<void> {
    running.delete(id)
    if (!ctl.keepSpool) await rm(path, { force: true }).catch((err: unknown) => { deps.log.warn({ err, uploadId: id }, 'could not remove a spooled upload') })
  }

  /**
   * Starts reading a file: its bytes go to the spool file while the rows are parsed and stored. `received` tells
   * whether the whole file arrived (it never rejects); `done` gives the report, or rejects with {@link UploadFailed}
   * (the record is then `failed` and counts everything stored before; `LS_ERR_UPLOAD_INTERRUPTED`: it stays running
   * and goes on elsewhere).
   */
  async function process (job: UploadDoc, input: UploadInput, file: Readable & { truncated?: boolean }, ticket: AdmissionTicket): Promise<{ received: Promise<boolean>; done: Promise<UploadReport> }> {
    const id = job._id
    const owner = job.owner!
    const given: UploadSpool['input'] = { kind: input.kind, format: input.format, mapping: input.mapping, sourceId: input.sourceId, filename: input.filename, contentType: input.contentType }
    await mkdir(deps.spoolDir, { recursive: true })
    const path = join(deps.spoolDir, `${id}.part`)
    const out = await open(path, 'wx')
    const spoolDoc: UploadSpool = { path, host, input: given }
    try {
      await c.uploads.updateOne({ _id: id }, { $set: { ...given, spool: spoolDoc, leaseUntil: leaseFrom(), updatedAt: now() } })
    } catch (err) {
      await out.close()
      await rm(path, { force: true })
      throw err
    }
    job = { ...job, ...given, spool: spoolDoc }
    const spool = new Spool()
    const ctl = register(id, owner, spool)

    let cancelled = false
    ctl.cancelReceive = () => {
      if (spool.end !== 'open' || cancelled) return
      cancelled = true
      file.destroy()
    }
    const received = (async (): Promise<boolean> => {
      const it = (file as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
      // a client that stops sending is cut off
      let waitingSince: number | null = null
      const watchdog = setInterval(() => {
        if (waitingSince !== null && Date.now() - waitingSince > limits.idleTimeoutMs) {
          file.destroy(new UploadStop('LS_ERR_TIMEOUT', `no data arrived for ${Math.round(limits.idleTimeoutMs / 1000)} s`))
        }
      }, Math.min(1000, Math.max(50, Math.floor(limits.idleTimeoutMs / 4))))
      watchdog.unref()
      try {
        for (;;) {
          waitingSince = Date.now()
          const r = await it.next()
          waitingSince = null
          if (r.done === true || cancelled) break
          // refused before it is written: the spool never holds more than its quota
          if (!ticket.spooled(spool.received + r.value.length)) {
            throw new UploadStop('LS_ERR_UPLOAD_SPOOL_FULL', `the files of the running uploads would take more than ${limits.spoolMaxBytes} bytes on this server`)
          }
          await out.write(r.value)
          spool.received += r.value.length
          spool.wake()
        }
        if (cancelled) throw new UploadStop('LS_ERR_UPLOAD_ABORTED', 'reading the file was stopped')
        // busboy ends a file at the size limit and only flags it: fail instead of ending, so the parser never takes
        // the cut-off last row for a whole one (the rows before it are stored)
        if (file.truncated === true) throw new UploadStop('LS_ERR_UPLOAD_TOO_LARGE', `the file is larger than ${limits.maxBytes} bytes`)
        await out.datasync()
        await ctl.write({ received: true, bytes: spool.received })
        spool.end = 'complete'
        return true
      } catch (err) {
        spool.end = cancelled ? new UploadStop('LS_ERR_UPLOAD_ABORTED', 'reading the file was stopped') : err instanceof Error ? err : new Error(String(err))
        return false
      } finally {
        clearInterval(watchdog)
        spool.wake()
        await it.return?.()?.catch(() => undefined)
        await out.close().catch(() => undefined)
      }
    })()

    const done = (async (): Promise<UploadReport> => {
      try {
        return await run(ctl, job, given, path, spool, null, [])
      } finally {
        ctl.cancelReceive()
        await received
        await release(id, ctl, path)
        ticket.release()
      }
    })()
    ctl.finished = done.catch(() => undefined)
    return { received, done }
  }

  /** Goes on with an upload taken over from a process that stopped (its record is already claimed). */
  async function resume (doc: UploadDoc): Promise<void> {
    const id = doc._id
    const sp = doc.spool!
    const spool = new Spool()
    const ctl = register(id, doc.owner!, spool)
    let done: Promise<unknown> = Promise.resolve()
    let ticket: AdmissionTicket | null = null
    try {
      const size = await stat(sp.path).then((s) => s.size, () => null)
      if (size === null || (doc.received === true && size !== doc.bytes)) {
        running.delete(id)
        await abandon(doc, 'LS_ERR_INTERNAL', size === null ? 'the server working on this upload stopped and its spooled file is gone; send the file again (rows already stored are recognised)' : 'the spooled file of this upload is damaged; send the file again (rows already stored are recognised)')
        return
      }
      spool.received = size
      ticket = admission.resumed(size)
      spool.end = doc.received === true
        ? 'complete'
        : new UploadStop('LS_ERR_UPLOAD_ABORTED', 'the server stopped before the whole file had arrived; send the file again (rows already stored are recognised)')
      const from: Checkpoint = doc.checkpoint ?? { rowIndex: 0, accepted: 0, duplicates: 0, rejected: 0 }
      const earlier = await c.ingestRejects.find({ requestId: id, index: { $lt: from.rowIndex } }).sort({ index: 1 }).limit(MAX_REPORTED_REJECTS).toArray()
      const firstRejects = earlier.map((r) => ({ line: r.line ?? 0, code: r.code, reason: r.reason }))
      deps.log.warn({ uploadId: id, rowIndex: from.rowIndex, resumes: doc.resumes }, 'taking over an upload from its checkpoint')
      const work = run(ctl, doc, sp.input, sp.path, spool, from, firstRejects)
      done = work
      ctl.finished = work.catch(() => undefined)
      const report = await work
      deps.log.warn({ uploadId: id, rows: report.rows, accepted: report.accepted, duplicates: report.duplicates, rejected: report.rejected }, 'resumed upload done')
    } catch (err) {
      const f = err instanceof UploadFailed ? err : null
      deps.log.warn({ err: f?.cause ?? err, uploadId: id, code: f?.code }, 'resumed upload did not complete')
    } finally {
      await done.catch(() => undefined)
      if (running.get(id) === ctl) await release(id, ctl, sp.path)
      ticket?.release()
    }
  }

  /** Fails a running upload no process can go on with; its counts are those of its last checkpoint. */
  async function abandon (u: UploadDoc, code: string, message: string): Promise<void> {
    const t = now()
    const k = u.checkpoint ?? { accepted: u.accepted, duplicates: u.duplicates, rejected: u.rejected }
    const set = {
      status: 'failed' as const, error: { code, message }, accepted: k.accepted, duplicates: k.duplicates, rejected: k.rejected,
      rows: k.accepted + k.duplicates + k.rejected, spool: null, updatedAt: t, finishedAt: t,
    }
    const r = await c.uploads.updateOne({ _id: u._id, status: 'running', owner: u.owner ?? { $exists: false } }, { $set: set })
    if (r.modifiedCount === 1) {
      deps.log.warn({ uploadId: u._id, code }, 'upload failed: no process can go on with it')
      await publish(u._id, { ...u, ...set })
    }
  }

  /**
   * Takes over uploads whose process stopped (their lease ran out): those spooled on this host go on from their
   * checkpoint; those no process can go on with (spooled elsewhere, or stopped before the file was read) are failed
   * an hour later. Returns how many were taken over. The recurring job of this host (jobs/upload-recovery.ts) calls it.
   */
  async function recover (): Promise<number> {
    if (stopping) return 0
    const t = now()
    const hourAgo = new Date(t.getTime() - 3_600_000)
    const stale = await c.uploads.find({
      status: 'running', $or: [{ leaseUntil: { $lt: t } }, { leaseUntil: { $exists: false }, updatedAt: { $lt: hourAgo } }],
    }).limit(20).toArray()
    let taken = 0
    for (const u of stale) {
      if (stopping) break
      if (running.has(u._id)) continue
      if (u.spool == null || u.spool.host !== host) {
        if (u.leaseUntil === undefined || u.leaseUntil < hourAgo) {
          await abandon(u, 'LS_ERR_UPLOAD_ABORTED', 'the server working on this upload stopped before it was done; send the file again (rows already stored are recognised)')
        }
        continue
      }
      const claimed = await c.uploads.findOneAndUpdate(
        { _id: u._id, status: 'running', owner: u.owner, leaseUntil: u.leaseUntil },
        { $set: { owner: newId('ow'), leaseUntil: leaseFrom(), updatedAt: t }, $inc: { resumes: 1 } },
        { returnDocument: 'after' },
      )
      if (claimed === null) continue
      taken++
      void resume(claimed)
    }
    return taken
  }

  /**
   * Shutting down: every upload working here stops at its next row, after its batch in flight is stored and
   * checkpointed, and gives up its lease so the next process to start goes on with it. Waits up to `timeoutMs`.
   */
  async function pause (timeoutMs: number): Promise<void> {
    // from now on a run of the recovery job (jobs/upload-recovery.ts) takes nothing over here
    stopping = true
    const halt = new UploadInterrupted('the server is shutting down; the upload goes on from its checkpoint when a server starts again')
    const all = [...running.values()]
    for (const r of all) {
      r.halt ??= halt
      r.cancelReceive()
      r.spool.wake()
    }
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.all(all.map(async (r) => await r.finished)), new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs) })])
    clearTimeout(timer)
  }

  /** Reads a spooled file from its start, following it while it grows, hashing every byte. */
  async function * follow (ctl: Running, path: string, spool: Spool, hash: Hash): AsyncGenerator<Buffer> {
    const fh = await open(path, 'r')
    try {
      let pos = 0
      for (;;) {
        if (ctl.halt !== null) throw ctl.halt
        if (pos < spool.received) {
          const want = Math.min(spool.received - pos, 256 * 1024)
          const buf = Buffer.allocUnsafe(want)
          const { bytesRead } = await fh.read(buf, 0, want, pos)
          if (bytesRead === 0) throw new Error(`the spooled file ends at byte ${pos} of ${spool.received}`)
          pos += bytesRead
          const chunk = bytesRead === want ? buf : buf.subarray(0, bytesRead)
          hash.update(chunk)
          yield chunk
        } else if (spool.end === 'complete') {
          return
        } else if (spool.end !== 'open') {
          throw spool.end
        } else {
          await spool.wait()
        }
      }
    } finally {
      await fh.close()
    }
  }

  /**
   * Reads the spooled file to the end (or to the first file-level problem), storing rows from `from` on, and returns
   * the report. Throws {@link UploadFailed} when the upload cannot complete.
   */
  async function run (ctl: Running, job: UploadDoc, input: UploadSpool['input'], path: string, spool: Spool, from: Checkpoint | null, firstRejects: UploadReject[]): Promise<UploadReport> {
    const id = job._id
    const hash = createHash('sha256')
    const skip = from?.rowIndex ?? 0
    // rows just after the checkpoint may have been stored by the process that stopped (a batch in flight, or one whose
    // checkpoint was not written): their duplicates are looked up, and those this upload stored count as accepted
    const recheckBefore = from !== null ? skip + 2 * limits.batchRows : 0
    const state = {
      format: input.format, rowsRead: 0, accepted: from?.accepted ?? 0, duplicates: from?.duplicates ?? 0, rejected: from?.rejected ?? 0,
      mapping: input.mapping, delimiter: null as string | null, extra: {} as Record<string, unknown>,
    }
    const report = (status: UploadDoc['status'], extra: { sha256?: string | null; duplicateOf?: string | null } = {}): UploadReport => {
      const r: UploadReport = {
        id, status, kind: input.kind, format: state.format, filename: input.filename, bytes: spool.received,
        rows: state.accepted + state.duplicates + state.rejected, accepted: state.accepted, duplicates: state.duplicates, rejected: state.rejected,
        sha256: extra.sha256 ?? null, rejects: firstRejects,
      }
      if (extra.duplicateOf != null) r.duplicateOf = extra.duplicateOf
      return r
    }
    const snapshot = (): Omit<UploadDoc, '_id' | 'kind' | 'filename' | 'contentType' | 'sourceId' | 'expectedBytes' | 'sha256' | 'fingerprint' | 'duplicateOf' | 'error' | 'actor' | 'requestId' | 'startedAt' | 'finishedAt'> => ({
      status: 'running', format: state.format, mapping: state.mapping, bytes: spool.received, rowsRead: Math.max(state.rowsRead, skip),
      rows: state.accepted + state.duplicates + state.rejected, accepted: state.accepted, duplicates: state.duplicates, rejected: state.rejected, updatedAt: now(),
    })
    const lost = (): void => { ctl.halt ??= new UploadInterrupted('another process took this upload over') }
    const cancelled = (by: string): void => {
      ctl.halt ??= new UploadCancelled(`cancelled by ${by}`)
      ctl.cancelReceive()
      spool.wake()
    }
    // a cancel may come through another process: it is a flag on the record, read before the first row, after each
    // batch and at each lease renewal
    const checkCancel = async (): Promise<void> => {
      const d = await c.uploads.findOne({ _id: id }, { projection: { cancel: 1 } }) as UploadRecord | null
      if (d?.cancel != null) cancelled(d.cancel.by)
    }

    // the lease: renewed while the work goes on; a process that finds it run out takes the upload over
    const heartbeat = setInterval(() => {
      ctl.write({ leaseUntil: leaseFrom() })
        .then(async (r) => { if (r.matchedCount === 0) lost(); else await checkCancel() })
        .catch((err: unknown) => { deps.log.warn({ err, uploadId: id }, 'could not renew an upload lease') })
    }, Math.max(100, Math.floor(limits.leaseMs / 3)))
    heartbeat.unref()

    // progress: at most one write in flight, at most one every progressEveryMs, and on a slow database no more often
    // than keeps these writes under a fifth of the time (they compete with the rows' own writes); the final state is
    // written at the end
    let nextProgress = 0
    let progressRun: Promise<void> | null = null
    const progress = (): void => {
      const t = Date.now()
      if (progressRun !== null || t < nextProgress) return
      const snap = snapshot()
      progressRun = (async () => {
        try {
          await ctl.write(snap)
          await publish(id, { ...job, ...snap, error: null })
        } catch (err) {
          deps.log.warn({ err, uploadId: id }, 'upload progress write failed')
        } finally {
          nextProgress = t + Math.max(progressEveryMs, 5 * (Date.now() - t))
          progressRun = null
        }
      })()
    }

    // batches: rows to ingest and rows already rejected while reading, in file order
    let batch: Array<{ index: number; line: number; event: Record<string, unknown> }> = []
    let readRejects: Array<{ index: number; line: number; reject: RowReject }> = []
    let inflight: Promise<void> | null = null
    let storeFailed = false
    // rows [0, storedEnd) are stored and counted
    let storedEnd = skip
    const store = async (items: typeof batch, rejects: typeof readRejects, end: number): Promise<void> => {
      const found: UploadReject[] = []
      if (rejects.length > 0) {
        const receivedAt = now()
        const docs: RejectDoc[] = rejects.map((r) => ({
          _id: `rj_${id}_${r.index}`, sourceId: input.sourceId, requestId: id, index: r.index, line: r.line, code: r.reject.code, reason: r.reject.reason,
          raw: r.reject.raw.slice(0, RAW_LIMIT), rawTruncated: r.reject.raw.length > RAW_LIMIT, receivedAt,
        }))
        let stored = 0
        await retryTransient(async () => { stored += await insertNewOnes(c.ingestRejects, docs) })
        await deps.onRejectsStored?.(stored)
        for (const r of rejects) found.push({ line: r.line, code: r.reject.code, reason: r.reject.reason })
      }
      let accepted = 0; let duplicates = 0; let rejected = rejects.length
      if (items.length > 0) {
        const recheck = items[0]!.index < recheckBefore
        const summary = await deps.ingest.ingest(items.map((i) => i.event), {
          sourceId: input.sourceId, requestId: id, indexes: items.map((i) => i.index), lines: items.map((i) => i.line), lookupDuplicates: recheck, stableRejectIds: true,
        })
        accepted += summary.accepted
        duplicates += summary.duplicates
        rejected += summary.rejected
        if (recheck && summary.duplicates > 0) {
          const twins = summary.results.filter((r) => r.status === 'duplicate' && r.eventId !== undefined).map((r) => r.eventId!)
          const mine = twins.length > 0 ? await c.events.countDocuments({ _id: { $in: twins }, requestId: id }) : 0
          accepted += mine
          duplicates -= mine
        }
        for (const r of summary.results) {
          if (r.status === 'rejected') found.push({ line: items[r.index]!.line, code: r.error?.code ?? 'LS_ERR_EVENT_INVALID', reason: r.error?.message ?? 'invalid' })
        }
      }
      // counted only once the whole batch is stored: a batch is either in the counts or (after a failure) not
      state.accepted += accepted
      state.duplicates += duplicates
      state.rejected += rejected
      if (firstRejects.length < MAX_REPORTED_REJECTS) {
        found.sort((a, b) => a.line - b.line)
        firstRejects.push(...found.slice(0, MAX_REPORTED_REJECTS - firstRejects.length))
      }
      const checkpoint: Checkpoint = { rowIndex: end, accepted: state.accepted, duplicates: state.duplicates, rejected: state.rejected }
      storedEnd = end
      const w = await ctl.write({ checkpoint, leaseUntil: leaseFrom() })
      if (w.matchedCount === 0) lost()
      else await checkCancel()
      progress()
    }
    const settle = async (): Promise<void> => {
      if (inflight === null) return
      const p = inflight
      inflight = null
      try { await p } catch (err) { storeFailed = true; throw err }
    }
    let rowIndex = 0
    const flush = async (): Promise<void> => {
      await settle()
      if (batch.length === 0 && readRejects.length === 0) return
      const p = store(batch, readRejects, rowIndex)
      p.catch(() => undefined) // awaited by the next settle(); not an unhandled rejection meanwhile
      inflight = p
      batch = []
      readRejects = []
    }
    const addRow = async (line: number, ev: Record<string, unknown> | null, reject: RowReject | null): Promise<void> => {
      if (ctl.halt !== null) throw ctl.halt
      const index = rowIndex++
      state.rowsRead++
      if (index < skip) {
        // stored before the checkpoint
        if ((state.rowsRead & 1023) === 0) progress()
        return
      }
      if (reject !== null) readRejects.push({ index, line, reject })
      else batch.push({ index, line, event: ev! })
      if (batch.length + readRejects.length >= limits.batchRows) await flush()
      else if ((state.rowsRead & 1023) === 0) progress()
    }

    // closed explicitly: a file-level problem can stop reading before the follower's own end (its file stays open
    // until it is returned)
    const source = follow(ctl, path, spool, hash)
    const closeSource = async (): Promise<void> => { await source.return(undefined).catch(() => undefined) }
    try {
      await checkCancel()
      const { head, stream } = await peek(source, (h) => h.indexOf(10) !== -1 || h.length >= 64 * 1024)
      state.format ??= formatFromName(input.filename) ?? formatFromType(input.contentType, readers) ?? formatFromBytes(head)
      const type = formatType(state.format)
      const reader = readers.forType(type)
      if (reader === null) throw new UploadStop('LS_ERR_UPLOAD_FORMAT', `no installed source reads ${type} (readable: ${readers.types().join(', ') || 'none'})`)
      progress()
      const file: BatchFile = {
        name: input.filename,
        type,
        options: Object.freeze({ kind: input.kind, mapping: input.mapping }),
        limits: Object.freeze({ maxRowBytes: limits.maxRowBytes, maxColumns: limits.maxColumns }),
        describe (how) {
          // kept for the record and the fingerprint; a parser says it before its first row
          const m = how.mapping
          if (m !== null && typeof m === 'object' && !Array.isArray(m) && Object.values(m).every((v) => v === null || typeof v === 'string')) state.mapping = { ...m as Record<string, string | null> }
          if (typeof how.delimiter === 'string') state.delimiter = how.delimiter
          const { mapping: _mapping, delimiter: _delimiter, ...extra } = how
          state.extra = { ...extra }
        },
      }
      // rows are counted by position: a resumed upload parses the file again and skips those before its checkpoint
      for await (const item of reader.parse(stream, input.sourceId, file)) {
        const line = isBatchRow(item) ? item.line : rowIndex + 1
        const value = isBatchRow(item) ? item.input : item
        if (isRefusedInput(value)) {
          const raw = value.refused.raw
          await addRow(line, null, { code: value.refused.code, reason: value.refused.reason, raw: typeof raw === 'string' ? raw : raw === undefined ? '' : JSON.stringify(raw) ?? '' })
        } else {
          await addRow(line, value as Record<string, unknown>, null)
        }
      }
      await flush()
      await settle()
      if (ctl.halt !== null) throw ctl.halt
    } catch (err) {
      clearInterval(heartbeat)
      await closeSource()
      if (ctl.halt instanceof UploadCancelled) {
        // the batch in flight is stored and counted; the rows read after it are not: counts stay exact
        await settle().catch((storeErr: unknown) => { deps.log.warn({ err: storeErr, uploadId: id }, 'storing the last batch of a cancelled upload failed') })
        if (progressRun !== null) await progressRun
        const error = { code: 'LS_ERR_UPLOAD_CANCELLED', message: ctl.halt.message }
        const snap = { ...snapshot(), rowsRead: storedEnd, status: 'failed' as const, error, finishedAt: now(), spool: null }
        try {
          await ctl.write(snap)
        } catch (writeErr) {
          deps.log.warn({ err: writeErr, uploadId: id }, 'marking the upload cancelled did not work')
        }
        await publish(id, { ...job, ...snap })
        throw new UploadFailed(error.code, error.message, null, report('failed'), { cause: err })
      }
      if (err instanceof UploadInterrupted) {
        // not failed: the batch in flight is stored and checkpointed, and the upload goes on elsewhere from there
        await settle().catch(() => undefined)
        if (progressRun !== null) await progressRun
        ctl.keepSpool = true
        if (stopping) {
          await ctl.write({ leaseUntil: new Date(0), updatedAt: now() })
            .catch((writeErr: unknown) => { deps.log.warn({ err: writeErr, uploadId: id }, 'could not give up an upload lease') })
        }
        throw new UploadFailed('LS_ERR_UPLOAD_INTERRUPTED', err.message, null, report('running'), { cause: err })
      }
      // keep what was read completely: the rows parsed before the problem are stored and counted
      if (!storeFailed) {
        try {
          await flush()
          await settle()
        } catch (storeErr) {
          deps.log.warn({ err: storeErr, uploadId: id }, 'storing the last rows of a failed upload failed')
        }
      }
      if (progressRun !== null) await progressRun
      const stop = err instanceof UploadStop ? err : stopOf(err)
      const code = stop?.code ?? (isAbort(err) ? 'LS_ERR_UPLOAD_ABORTED' : 'LS_ERR_INTERNAL')
      const message = stop?.message ?? (code === 'LS_ERR_UPLOAD_ABORTED' ? 'the client closed the connection before the whole file arrived' : 'the upload failed on the server; the rows counted were stored')
      const error: UploadDoc['error'] = stop?.line != null ? { code, message, line: stop.line } : { code, message }
      const t = now()
      const snap = { ...snapshot(), status: 'failed' as const, error, finishedAt: t, spool: null }
      try {
        await ctl.write(snap)
      } catch (writeErr) {
        deps.log.warn({ err: writeErr, uploadId: id }, 'marking the upload failed did not work')
      }
      await publish(id, { ...job, ...snap })
      throw new UploadFailed(code, message, stop?.line ?? null, report('failed'), { cause: err })
    }
    clearInterval(heartbeat)
    await closeSource()
    if (progressRun !== null) await progressRun

    const digest = hash.digest('hex')
    const fingerprint = sha256(`${interpretationKey({ kind: input.kind, format: state.format!, sourceId: input.sourceId, mapping: state.mapping, delimiter: state.delimiter, ...(Object.keys(state.extra).length > 0 ? { extra: state.extra } : {}) })}:${digest}`)
    const earlier = await c.uploads.find({ fingerprint, status: 'done', _id: { $ne: id } }).sort({ startedAt: 1 }).limit(1).project<{ _id: string }>({ _id: 1 }).next()
    const t = now()
    const done = { ...snapshot(), status: 'done' as const, sha256: digest, fingerprint, duplicateOf: earlier?._id ?? null, finishedAt: t, spool: null }
    await ctl.write(done)
    await publish(id, { ...job, ...done, error: null })
    return report('done', { sha256: digest, duplicateOf: done.duplicateOf })
  }

  /** Takes a slot for a new upload of `principal` (and its announced bytes in the spool), or says why not. */
  function admit (principal: string, expectedBytes: number | null): ReturnType<typeof admission.admit> {
    return admission.admit(principal, expectedBytes)
  }

  /**
   * Cancels an upload this process works on, at once (the flag on its record reaches any other process). Resolves
   * once its work here has ended; false when it does not run here.
   */
  async function cancel (id: string, by: string): Promise<boolean> {
    const r = running.get(id)
    if (r === undefined) return false
    r.halt ??= new UploadCancelled(`cancelled by ${by}`)
    r.cancelReceive()
    r.spool.wake()
    await r.finished
    return true
  }

  /** Upload records, newest first (ids start with their creation time), optionally before an id and of one status. */
  async function list (q: { status?: UploadDoc['status']; beforeId?: string; limit: number }): Promise<UploadRecord[]> {
    const filter: Record<string, unknown> = {}
    if (q.status !== undefined) filter.status = q.status
    if (q.beforeId !== undefined) filter._id = { $lt: q.beforeId }
    return await c.uploads.find(filter).sort({ _id: -1 }).limit(q.limit).toArray()
  }

  async function get (id: string): Promise<UploadRecord | null> {
    return await c.uploads.findOne({ _id: id })
  }

  /** Sets the cancel flag of a running upload (read by whichever process works on it); false when it is not running. */
  async function requestCancel (id: string, cancel: { at: Date; by: string }): Promise<boolean> {
    return (await c.uploads.updateOne({ _id: id, status: 'running' }, { $set: { cancel } as Partial<UploadDoc> })).matchedCount === 1
  }

  /** The stored rejects of an upload in file order, after a row index; null when there is no such upload. */
  async function rejects (id: string, q: { afterIndex?: number; limit: number }): Promise<RejectDoc[] | null> {
    const u = await c.uploads.findOne({ _id: id }, { projection: { _id: 1 } })
    if (u === null) return null
    const filter: Record<string, unknown> = { requestId: u._id }
    if (q.afterIndex !== undefined) filter.index = { $gt: q.afterIndex }
    return await c.ingestRejects.find(filter).sort({ index: 1 }).limit(q.limit).toArray()
  }

  /** Installs the parsers of the installed sources (the plugin host calls it at boot). */
  function useReaders (r: BatchReaders): void {
    readers = r
  }

  return {
    /** The host recorded with the files spooled here: only processes on it go on with them. */
    host,
    start, fail, process, recover, pause, admit, cancel, useReaders, list, get, requestCancel, rejects,
  }
}

/**
 * A parser's file-level problem as an {@link UploadStop}: a plugin error (SourceInputError) with its code and line.
 * Anything else a parser throws is a bug, answered as an internal error.
 */
function stopOf (err: unknown): UploadStop | null {
  const kind = pluginErrorKind(err)
  if (kind === null || kind === 'transient') return null
  const e = err as { code?: unknown; line?: unknown; message: string }
  return new UploadStop(typeof e.code === 'string' ? e.code : 'LS_ERR_SOURCE_INPUT', e.message, typeof e.line === 'number' ? e.line : null)
}

/** A request that ended before its body did (the client went away). */
function isAbort (err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null
  return e !== null && typeof e === 'object' && (e.code === 'FST_MP_PREMATURE_CLOSE' || e.code === 'ECONNRESET' || e.code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    /aborted|premature close|closed before|Unexpected end of (form|multipart data)/i.test(e.message ?? ''))
}

export type UploadService = ReturnType<typeof createUploadService>
