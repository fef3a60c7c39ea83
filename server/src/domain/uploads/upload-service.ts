import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { Collections } from '../../infra/db.js'
import { retryTransient, isDuplicateKey } from '../../infra/db.js'
import type { IngestService } from '../events/ingest.js'
import type { LiveFeed } from '../live/live-feed.js'
import type { RejectDoc, UploadDoc, UploadFormat, UploadKind } from '../types.js'
import { newId, sha256 } from '../../lib/ids.js'
import { UploadStop, checkUtf8, peek, toUtf8 } from './byte-stream.js'
import { csvRecords, sniffDelimiter } from './csv-records.js'
import { jsonArrayRecords, ndjsonRecords, type RowReject } from './json-records.js'
import { compileCsvMapping, interpretationKey, jsonMapper, type CsvMapper } from './mapping.js'

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
  requestId: string
}

export interface UploadLimits { maxBytes: number; maxRowBytes: number; maxColumns: number; batchRows: number; idleTimeoutMs: number }

export interface UploadDeps {
  c: Collections
  ingest: IngestService
  live: LiveFeed
  now: () => Date
  limits: UploadLimits
  log: { warn(o: object, m: string): void }
  /** Minimum spacing of progress messages (ms). */
  progressEveryMs?: number
}

const MAX_REPORTED_REJECTS = 100
const RAW_LIMIT = 64 * 1024

function formatFromName (name: string | null): UploadFormat | null {
  if (name === null) return null
  if (/\.(csv|tsv|txt)$/i.test(name)) return 'csv'
  if (/\.json$/i.test(name)) return 'json'
  if (/\.(ndjson|jsonl|jsonlines)$/i.test(name)) return 'ndjson'
  return null
}

function formatFromType (type: string | null): UploadFormat | null {
  const t = (type ?? '').split(';')[0]!.trim().toLowerCase()
  if (['text/csv', 'application/csv', 'text/tab-separated-values'].includes(t)) return 'csv'
  if (t === 'application/json') return 'json'
  if (['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/jsonlines'].includes(t)) return 'ndjson'
  return null
}

function formatFromBytes (head: Buffer): UploadFormat {
  for (const b of head) {
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue
    return b === 0x5b ? 'json' : b === 0x7b ? 'ndjson' : 'csv'
  }
  return 'csv'
}

/**
 * Streams an uploaded file into ingest(): parse → map → batches of `batchRows` rows, one batch stored while the
 * next is parsed (so at most two batches are in memory, and a slow database slows the reading of the request: that
 * is the backpressure). The upload record is the job: created first, updated with progress, finished as `done` or
 * `failed` with what was stored until then.
 */
export function createUploadService (deps: UploadDeps) {
  const { c, now, limits } = deps
  const progressEveryMs = deps.progressEveryMs ?? 250

  async function start (input: UploadInput): Promise<UploadDoc> {
    const t = now()
    const doc: UploadDoc = {
      _id: newId('up'), status: 'running', kind: input.kind, format: input.format, filename: input.filename, contentType: input.contentType,
      sourceId: input.sourceId, mapping: input.mapping, expectedBytes: input.expectedBytes, bytes: 0, rowsRead: 0, rows: 0, accepted: 0,
      duplicates: 0, rejected: 0, sha256: null, fingerprint: null, duplicateOf: null, error: null, actor: input.actor, requestId: input.requestId,
      startedAt: t, updatedAt: t, finishedAt: null,
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
   * Reads the file to the end (or to the first file-level problem) and returns the report. Throws {@link UploadFailed}
   * when the upload cannot complete; the record is then `failed` and counts everything stored before.
   */
  async function process (job: UploadDoc, input: UploadInput, file: Readable & { truncated?: boolean }): Promise<UploadReport> {
    const id = job._id
    const given = { kind: input.kind, format: input.format, filename: input.filename, contentType: input.contentType, sourceId: input.sourceId, mapping: input.mapping }
    await c.uploads.updateOne({ _id: id }, { $set: { ...given, updatedAt: now() } })
    job = { ...job, ...given }
    const hash = createHash('sha256')
    const state = {
      format: input.format, bytes: 0, rowsRead: 0, accepted: 0, duplicates: 0, rejected: 0,
      mapping: input.mapping, delimiter: null as string | null,
    }
    const firstRejects: UploadReject[] = []
    const report = (status: UploadDoc['status'], extra: { sha256?: string | null; duplicateOf?: string | null } = {}): UploadReport => {
      const r: UploadReport = {
        id, status, kind: input.kind, format: state.format, filename: input.filename, bytes: state.bytes,
        rows: state.accepted + state.duplicates + state.rejected, accepted: state.accepted, duplicates: state.duplicates, rejected: state.rejected,
        sha256: extra.sha256 ?? null, rejects: firstRejects,
      }
      if (extra.duplicateOf != null) r.duplicateOf = extra.duplicateOf
      return r
    }
    const snapshot = (): Omit<UploadDoc, '_id' | 'kind' | 'filename' | 'contentType' | 'sourceId' | 'expectedBytes' | 'sha256' | 'fingerprint' | 'duplicateOf' | 'error' | 'actor' | 'requestId' | 'startedAt' | 'finishedAt'> => ({
      status: 'running', format: state.format, mapping: state.mapping, bytes: state.bytes, rowsRead: state.rowsRead,
      rows: state.accepted + state.duplicates + state.rejected, accepted: state.accepted, duplicates: state.duplicates, rejected: state.rejected, updatedAt: now(),
    })

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
          await c.uploads.updateOne({ _id: id }, { $set: snap })
          await publish(id, { ...job, ...snap, error: null })
        } catch (err) {
          deps.log.warn({ err, uploadId: id }, 'upload progress write failed')
        } finally {
          nextProgress = t + Math.max(progressEveryMs, 5 * (Date.now() - t))
          progressRun = null
        }
      })()
    }

    // the file's bytes: counted, hashed, and watched for a client that stops sending
    let waitingSince: number | null = null
    async function * counted (): AsyncGenerator<Buffer> {
      const it = (file as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
      try {
        for (;;) {
          waitingSince = Date.now()
          const r = await it.next()
          waitingSince = null
          if (r.done === true) break
          state.bytes += r.value.length
          hash.update(r.value)
          yield r.value
        }
        // busboy ends a file at the size limit and only flags it: fail instead of ending, so the parser never takes
        // the cut-off last row for a whole one (the rows before it are stored)
        if (file.truncated === true) throw new UploadStop('LS_ERR_UPLOAD_TOO_LARGE', `the file is larger than ${limits.maxBytes} bytes`)
      } finally {
        waitingSince = null
        await it.return?.()
      }
    }
    const watchdog = setInterval(() => {
      if (waitingSince !== null && Date.now() - waitingSince > limits.idleTimeoutMs) {
        file.destroy(new UploadStop('LS_ERR_TIMEOUT', `no data arrived for ${Math.round(limits.idleTimeoutMs / 1000)} s`))
      }
    }, Math.min(1000, Math.max(50, Math.floor(limits.idleTimeoutMs / 4))))
    watchdog.unref()

    // batches: rows to ingest and rows already rejected while reading, in file order
    let batch: Array<{ index: number; line: number; event: Record<string, unknown> }> = []
    let readRejects: Array<{ index: number; line: number; reject: RowReject }> = []
    let inflight: Promise<void> | null = null
    let storeFailed = false
    const store = async (items: typeof batch, rejects: typeof readRejects): Promise<void> => {
      const found: UploadReject[] = []
      if (rejects.length > 0) {
        const receivedAt = now()
        const docs: RejectDoc[] = rejects.map((r) => ({
          _id: newId('rj'), sourceId: input.sourceId, requestId: id, index: r.index, line: r.line, code: r.reject.code, reason: r.reject.reason,
          raw: r.reject.raw.slice(0, RAW_LIMIT), rawTruncated: r.reject.raw.length > RAW_LIMIT, receivedAt,
        }))
        await retryTransient(async () => {
          try { await c.ingestRejects.insertMany(docs, { ordered: false }) } catch (err) { if (!isDuplicateKey(err)) throw err }
        })
        for (const r of rejects) found.push({ line: r.line, code: r.reject.code, reason: r.reject.reason })
      }
      let accepted = 0; let duplicates = 0; let rejected = rejects.length
      if (items.length > 0) {
        const summary = await deps.ingest.ingest(items.map((i) => i.event), {
          sourceId: input.sourceId, requestId: id, indexes: items.map((i) => i.index), lines: items.map((i) => i.line), lookupDuplicates: false,
        })
        accepted += summary.accepted
        duplicates += summary.duplicates
        rejected += summary.rejected
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
      progress()
    }
    const settle = async (): Promise<void> => {
      if (inflight === null) return
      const p = inflight
      inflight = null
      try { await p } catch (err) { storeFailed = true; throw err }
    }
    const flush = async (): Promise<void> => {
      await settle()
      if (batch.length === 0 && readRejects.length === 0) return
      const p = store(batch, readRejects)
      p.catch(() => undefined) // awaited by the next settle(); not an unhandled rejection meanwhile
      inflight = p
      batch = []
      readRejects = []
    }
    let rowIndex = 0
    const addRow = async (line: number, ev: Record<string, unknown> | null, reject: RowReject | null): Promise<void> => {
      const index = rowIndex++
      state.rowsRead++
      if (reject !== null) readRejects.push({ index, line, reject })
      else batch.push({ index, line, event: ev! })
      if (batch.length + readRejects.length >= limits.batchRows) await flush()
      else if ((state.rowsRead & 1023) === 0) progress()
    }

    try {
      const utf8 = await toUtf8(counted())
      const { head, stream } = await peek(utf8.stream, (h) => h.indexOf(10) !== -1 || h.length >= 64 * 1024)
      state.format ??= formatFromName(input.filename) ?? formatFromType(input.contentType) ?? formatFromBytes(head)
      if (head.length === 0) throw new UploadStop('LS_ERR_UPLOAD_FORMAT', 'the file is empty')
      progress()
      if (state.format === 'csv') {
        state.delimiter = sniffDelimiter(head, input.filename)
        let mapper: CsvMapper | null = null
        for await (const rec of csvRecords(checkUtf8(stream), { delimiter: state.delimiter, maxRowBytes: limits.maxRowBytes })) {
          if (mapper === null) {
            const m = compileCsvMapping(rec.cells, input.kind, input.mapping, limits.maxColumns)
            if ('headerError' in m) throw new UploadStop('LS_ERR_UPLOAD_HEADER', m.headerError, rec.line)
            if ('mappingError' in m) throw new UploadStop('LS_ERR_UPLOAD_MAPPING', m.mappingError, rec.line)
            mapper = m.mapper
            state.mapping = m.mapper.resolved
            continue
          }
          const m = mapper.map(rec.cells)
          await addRow(rec.line, m.ok ? m.event : null, m.ok ? null : m.reject)
        }
        if (mapper === null) throw new UploadStop('LS_ERR_UPLOAD_FORMAT', 'the file has no header line')
      } else {
        const map = jsonMapper(input.kind, input.mapping)
        const records = state.format === 'json' ? jsonArrayRecords(stream, { maxRowBytes: limits.maxRowBytes }) : ndjsonRecords(stream, { maxRowBytes: limits.maxRowBytes })
        for await (const rec of records) {
          if ('reject' in rec) { await addRow(rec.line, null, rec.reject); continue }
          const m = map(rec.value)
          await addRow(rec.line, m.ok ? m.event : null, m.ok ? null : m.reject)
        }
      }
      await flush()
      await settle()
    } catch (err) {
      clearInterval(watchdog)
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
      const stop = err instanceof UploadStop ? err : null
      const code = stop?.code ?? (isAbort(err) ? 'LS_ERR_UPLOAD_ABORTED' : 'LS_ERR_INTERNAL')
      const message = stop?.message ?? (code === 'LS_ERR_UPLOAD_ABORTED' ? 'the client closed the connection before the whole file arrived' : 'the upload failed on the server; the rows counted were stored')
      const error: UploadDoc['error'] = stop?.line != null ? { code, message, line: stop.line } : { code, message }
      const t = now()
      const snap = { ...snapshot(), status: 'failed' as const, error, finishedAt: t }
      try {
        await c.uploads.updateOne({ _id: id }, { $set: snap })
      } catch (writeErr) {
        deps.log.warn({ err: writeErr, uploadId: id }, 'marking the upload failed did not work')
      }
      await publish(id, { ...job, ...snap })
      throw new UploadFailed(code, message, stop?.line ?? null, report('failed'), { cause: err })
    }
    clearInterval(watchdog)
    if (progressRun !== null) await progressRun

    const digest = hash.digest('hex')
    const fingerprint = sha256(`${interpretationKey({ kind: input.kind, format: state.format!, sourceId: input.sourceId, mapping: state.mapping, delimiter: state.delimiter })}:${digest}`)
    const earlier = await c.uploads.find({ fingerprint, status: 'done', _id: { $ne: id } }).sort({ startedAt: 1 }).limit(1).project<{ _id: string }>({ _id: 1 }).next()
    const t = now()
    const done = { ...snapshot(), status: 'done' as const, sha256: digest, fingerprint, duplicateOf: earlier?._id ?? null, finishedAt: t }
    await c.uploads.updateOne({ _id: id }, { $set: done })
    await publish(id, { ...job, ...done, error: null })
    return report('done', { sha256: digest, duplicateOf: done.duplicateOf })
  }

  return { start, fail, process }
}

/** A request that ended before its body did (the client went away). */
function isAbort (err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null
  return e !== null && typeof e === 'object' && (e.code === 'FST_MP_PREMATURE_CLOSE' || e.code === 'ECONNRESET' || e.code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    /aborted|premature close|closed before|Unexpected end of (form|multipart data)/i.test(e.message ?? ''))
}

export type UploadService = ReturnType<typeof createUploadService>
