import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import multipart from '@fastify/multipart'
import type { FastifyError } from 'fastify'
import { problemResponses, Page, IdParams } from '../schemas/common.js'
import { UploadForm, UploadRejectEntry } from '../schemas/uploads.js'
import {
  ERROR_CODES, LS_ERR_INTERNAL, LS_ERR_INVALID_ENCODING, LS_ERR_TIMEOUT, LS_ERR_UNSUPPORTED_MEDIA_TYPE, LS_ERR_UPLOAD_ABORTED,
  LS_ERR_UPLOAD_FORMAT, LS_ERR_UPLOAD_HEADER, LS_ERR_UPLOAD_MAPPING, LS_ERR_UPLOAD_NOT_FOUND, LS_ERR_UPLOAD_PARSE,
  LS_ERR_UPLOAD_INTERRUPTED, LS_ERR_UPLOAD_TOO_LARGE, LS_ERR_VALIDATION, LS_ERR_UPLOAD_LIMIT, LS_ERR_UPLOAD_SPOOL_FULL,
  LS_ERR_UPLOAD_CANCELLED, LS_ERR_UPLOAD_NOT_RUNNING, LS_ERR_FORBIDDEN,
} from '../errors.js'
import { sendProblem } from '../infra/problem-details.js'
import { pluginErrorKind } from '../contracts/index.js'
import { encodeCursor, decodeCursor } from '../lib/cursor.js'
import { UploadFailed, type UploadInput, type UploadRecord, type UploadReport } from '../domain/uploads/upload-service.js'
import type { UploadDoc, UploadKind } from '../domain/types.js'

const SOURCE_LABEL_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/
// a format is a short name of the upload plugin's formats or the media type of any installed source's batch
const FORMAT_RE = /^(csv|json|ndjson|[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126})$/
const FIELDS = new Set(['kind', 'format', 'mapping', 'sourceId'])
// room for the form around the file (boundaries, part headers, the fields) when checking Content-Length up front
const FORM_OVERHEAD = 1024 * 1024
// when a refused upload may try again: uploads take seconds to minutes, so sooner is mostly refused again
const LIMIT_RETRY_AFTER_S = 30

function uploadOut (u: UploadDoc) {
  return {
    id: u._id, status: u.status, kind: u.kind, format: u.format, filename: u.filename, contentType: u.contentType, sourceId: u.sourceId,
    mapping: u.mapping ?? null, expectedBytes: u.expectedBytes ?? null, received: u.received ?? u.status === 'done', resumes: u.resumes ?? 0,
    bytes: u.bytes, rowsRead: u.rowsRead ?? u.rows, rows: u.rows,
    accepted: u.accepted, duplicates: u.duplicates, rejected: u.rejected, sha256: u.sha256 ?? null, duplicateOf: u.duplicateOf ?? null,
    error: u.error ?? null, createdBy: u.actor, startedAt: u.startedAt.toISOString(), updatedAt: u.updatedAt.toISOString(),
    finishedAt: u.finishedAt == null ? null : u.finishedAt.toISOString(),
    cancelRequested: (u as UploadRecord).cancel == null ? null : { at: (u as UploadRecord).cancel!.at.toISOString(), by: (u as UploadRecord).cancel!.by },
  }
}

function invalidField (name: string, detail: string): Error {
  return Object.assign(new LS_ERR_VALIDATION(`${name}: ${detail}`), { errors: [{ pointer: `#/${name}`, detail }] })
}

/**
 * The `mapping` field as the upload's option: a JSON object of column → field path (or null). Which paths exist is
 * the reading source's business; it refuses those it cannot use.
 */
function mappingField (raw: string, maxColumns: number): Record<string, string | null> {
  let value: unknown
  try { value = JSON.parse(raw) } catch { throw new LS_ERR_UPLOAD_MAPPING('mapping must be a JSON object') }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new LS_ERR_UPLOAD_MAPPING('mapping must be a JSON object of column → field path')
  const entries = Object.entries(value)
  if (entries.length > maxColumns) throw new LS_ERR_UPLOAD_MAPPING(`mapping names ${entries.length} columns; the limit is ${maxColumns}`)
  const mapping: Record<string, string | null> = Object.create(null) as Record<string, string | null>
  for (const [col, path] of entries) {
    if (col === '__proto__' || col === 'constructor' || col === 'prototype') throw new LS_ERR_UPLOAD_MAPPING(`the column name '${col}' is not allowed`)
    if (path !== null && typeof path !== 'string') throw new LS_ERR_UPLOAD_MAPPING(`the path of column '${col}' must be a string or null`)
    mapping[col] = path === '' ? null : path
  }
  return mapping
}

/** The problem an upload that stopped answers with, carrying what it stored until then. */
function problemOf (f: UploadFailed, maxBytes: number): Error {
  let err: Error
  switch (f.code) {
    case 'LS_ERR_UPLOAD_PARSE': err = new LS_ERR_UPLOAD_PARSE(f.line ?? '?', f.message); break
    case 'LS_ERR_UPLOAD_FORMAT': err = new LS_ERR_UPLOAD_FORMAT(f.message); break
    case 'LS_ERR_UPLOAD_HEADER': err = new LS_ERR_UPLOAD_HEADER(f.message); break
    case 'LS_ERR_UPLOAD_MAPPING': err = new LS_ERR_UPLOAD_MAPPING(f.message); break
    case 'LS_ERR_UPLOAD_TOO_LARGE': err = new LS_ERR_UPLOAD_TOO_LARGE(maxBytes); break
    case 'LS_ERR_INVALID_ENCODING': err = new LS_ERR_INVALID_ENCODING(); break
    case 'LS_ERR_TIMEOUT': err = new LS_ERR_TIMEOUT(); break
    case 'LS_ERR_UPLOAD_ABORTED': err = new LS_ERR_UPLOAD_ABORTED(f.message); break
    case 'LS_ERR_UPLOAD_INTERRUPTED': err = new LS_ERR_UPLOAD_INTERRUPTED(f.message); break
    case 'LS_ERR_UPLOAD_SPOOL_FULL': err = new LS_ERR_UPLOAD_SPOOL_FULL(f.message); break
    case 'LS_ERR_UPLOAD_CANCELLED': err = new LS_ERR_UPLOAD_CANCELLED(f.message); break
    default: return f.cause instanceof Error ? f.cause : new LS_ERR_INTERNAL()
  }
  return Object.assign(err, { extensions: reportExtensions(f) })
}

/** What an upload that stopped had stored, as problem extension members. */
function reportExtensions (f: UploadFailed): Record<string, unknown> {
  const r = f.report
  const extensions: Record<string, unknown> = { uploadId: r.id, rows: r.rows, accepted: r.accepted, duplicates: r.duplicates, rejected: r.rejected, rejects: r.rejects }
  if (f.line !== null) extensions.line = f.line
  return extensions
}

// the codes problemOf answers with their own status
const UPLOAD_STOPS = new Set(['LS_ERR_UPLOAD_PARSE', 'LS_ERR_UPLOAD_FORMAT', 'LS_ERR_UPLOAD_HEADER', 'LS_ERR_UPLOAD_MAPPING', 'LS_ERR_UPLOAD_TOO_LARGE',
  'LS_ERR_INVALID_ENCODING', 'LS_ERR_TIMEOUT', 'LS_ERR_UPLOAD_ABORTED', 'LS_ERR_UPLOAD_INTERRUPTED', 'LS_ERR_UPLOAD_SPOOL_FULL', 'LS_ERR_UPLOAD_CANCELLED'])

/**
 * A file-level problem a batch source reported with another code (its own, or LS_ERR_SOURCE_INPUT when it gave
 * none): answered 422 with that code.
 */
function pluginStop (f: UploadFailed): boolean {
  return !UPLOAD_STOPS.has(f.code) && pluginErrorKind(f.cause) !== null
}

/** Errors of the multipart reader itself, as our codes. */
function multipartProblem (err: FastifyError): Error | null {
  switch (err.code) {
    case 'FST_FIELDS_LIMIT': case 'FST_PARTS_LIMIT': case 'FST_FILES_LIMIT':
      return new LS_ERR_VALIDATION('the form has too many parts: fields kind, format, mapping, sourceId and one file')
    case 'FST_PROTO_VIOLATION': return new LS_ERR_VALIDATION('a form field name is not allowed')
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE': return new LS_ERR_UNSUPPORTED_MEDIA_TYPE('not multipart/form-data')
    case 'FST_INVALID_JSON_FIELD_ERROR': return new LS_ERR_VALIDATION('a form field declared as JSON is not valid JSON')
    case 'FST_MP_PREMATURE_CLOSE': return new LS_ERR_UPLOAD_ABORTED('the client closed the connection')
  }
  if (/Malformed|Unexpected end of (form|multipart data)|boundary/i.test(err.message)) return new LS_ERR_VALIDATION(`the multipart body is malformed: ${err.message}`)
  return null
}

const uploadsRoutes: FastifyPluginAsyncTypebox = async function uploadsRoutes (app) {
  const { core } = app
  const limits = core.config.uploads
  // encapsulated here: only this route reads multipart bodies; a file over the limit is an error, never truncated
  await app.register(multipart, {
    limits: { fieldNameSize: 100, fieldSize: 1024 * 1024, fields: 8, fileSize: limits.maxBytes, files: 1, parts: 10, headerPairs: 100 },
    throwFileSizeLimit: true,
  })

  app.post('/v1/uploads', {
    config: { scope: 'ingest', streamingBody: true },
    // the body is a multipart stream read by the handler; the schema documents the form
    validatorCompiler: () => (data: unknown) => ({ value: data }),
    schema: {
      tags: ['uploads'],
      summary: 'Upload a CSV, JSON array or NDJSON file of events or leads (streamed; answers when the whole file is stored, or with Prefer: respond-async once it has arrived)',
      description: 'multipart/form-data with optional fields kind, format, mapping, sourceId, then the file part `file`. The upload id is in the Location header; '
        + 'progress is on GET /v1/uploads/{id} and on the live topics uploads and upload:<id>. With the header `Prefer: respond-async` the answer is 202 with the '
        + 'running upload as soon as the whole file has arrived, and the rows are stored in the background. See docs/uploads.md.',
      consumes: ['multipart/form-data'],
      body: UploadForm,
      headers: Type.Object({ prefer: Type.Optional(Type.String({ description: 'respond-async: answer 202 once the file has arrived.' })) }),
      response: {
        201: Type.Ref('UploadReport'), 202: Type.Ref('Upload'), 408: Type.Ref('ProblemDetails'), 413: Type.Ref('ProblemDetails'), 415: Type.Ref('ProblemDetails'),
        ...problemResponses, 409: Type.Ref('ProblemDetails'), 429: Type.Ref('ProblemDetails'),
      },
    },
  }, async (req, reply) => {
    if (!req.isMultipart()) throw new LS_ERR_UNSUPPORTED_MEDIA_TYPE(String(req.headers['content-type'] ?? '(none)').split(';')[0]!)
    // without a boundary the form cannot be read (the reader's own error has no code, and would be a 500)
    if (!/;\s*boundary=/i.test(String(req.headers['content-type']))) throw new LS_ERR_VALIDATION('multipart/form-data needs a boundary parameter')
    const length = Number(req.headers['content-length'])
    const expectedBytes = Number.isSafeInteger(length) && length >= 0 ? length : null
    if (expectedBytes !== null && expectedBytes > limits.maxBytes + FORM_OVERHEAD) {
      void reply.header('connection', 'close')
      throw new LS_ERR_UPLOAD_TOO_LARGE(limits.maxBytes)
    }
    const respondAsync = /(^|[\s,;])respond-async\b/i.test(String(req.headers.prefer ?? ''))
    const input: UploadInput = {
      kind: 'events', format: null, mapping: null, sourceId: 'upload', filename: null, contentType: null, expectedBytes,
      actor: req.principal?.name ?? 'unknown', principal: req.principal?.keyId ?? 'unknown', requestId: String(req.id),
    }
    // refused before anything is stored or read: too many uploads running, or no room for the announced bytes
    const admitted = core.uploads.admit(input.principal, expectedBytes)
    if (!admitted.ok) {
      void reply.header('connection', 'close').header('retry-after', String(LIMIT_RETRY_AFTER_S))
      if (admitted.reason === 'spool') throw new LS_ERR_UPLOAD_SPOOL_FULL(`the files of the running uploads and this one would take more than ${limits.spoolMaxBytes} bytes`)
      throw new LS_ERR_UPLOAD_LIMIT(admitted.reason === 'principal' ? `at most ${limits.perPrincipal} per API key or user` : `at most ${limits.concurrent} on this server`, LIMIT_RETRY_AFTER_S)
    }
    const ticket = admitted.ticket
    // the ticket goes with the upload once its file is read; until then this handler gives it back
    let handedOver = false
    const job = await core.uploads.start(input).catch((err: unknown) => { ticket.release(); throw err })
    void reply.header('location', `/v1/uploads/${job._id}`)
    let reading = false
    try {
      const fields = new Map<string, string>()
      for await (const part of req.parts()) {
        if (part.type === 'field') {
          if (!FIELDS.has(part.fieldname)) throw invalidField(part.fieldname, 'unknown form field (fields are kind, format, mapping, sourceId, then the file part file)')
          if (fields.has(part.fieldname)) throw invalidField(part.fieldname, 'given twice')
          if (part.valueTruncated) throw invalidField(part.fieldname, 'too long')
          fields.set(part.fieldname, String(part.value))
          continue
        }
        if (part.fieldname !== 'file') throw invalidField(part.fieldname, "the file part must be named 'file'")
        const kind = fields.get('kind') ?? 'events'
        if (kind !== 'events' && kind !== 'leads') throw invalidField('kind', 'must be events or leads')
        input.kind = kind as UploadKind
        const format = fields.get('format')
        if (format !== undefined && format !== '' && !FORMAT_RE.test(format.toLowerCase())) throw invalidField('format', 'must be csv, json, ndjson or the media type of a format an installed source reads')
        input.format = format !== undefined && format !== '' ? format.toLowerCase() : null
        const label = fields.get('sourceId')
        if (label !== undefined && label !== '') {
          if (!SOURCE_LABEL_RE.test(label)) throw invalidField('sourceId', 'must be 1-64 of a-z 0-9 _ - (starting with a letter or digit)')
          input.sourceId = `upload:${label}`
        }
        const mapping = fields.get('mapping')
        if (mapping !== undefined && mapping.trim() !== '') {
          input.mapping = mappingField(mapping, limits.maxColumns)
        }
        input.filename = part.filename !== '' ? part.filename.slice(0, 255) : null
        input.contentType = part.mimetype !== '' ? part.mimetype.slice(0, 255) : null
        reading = true
        const run = await core.uploads.process(job, input, part.file, ticket)
        handedOver = true
        const counted = (report: UploadReport): void => {
          core.metrics.ingestEvents.inc(report.accepted, { source: input.sourceId, outcome: 'accepted' })
          core.metrics.ingestEvents.inc(report.duplicates, { source: input.sourceId, outcome: 'duplicate' })
          core.metrics.ingestEvents.inc(report.rejected, { source: input.sourceId, outcome: 'rejected' })
          req.log.info({ uploadId: job._id, rows: report.rows, accepted: report.accepted, duplicates: report.duplicates, rejected: report.rejected }, 'upload done')
        }
        if (respondAsync && await run.received) {
          // the file is all here (spooled): the rows go on being stored after the answer
          run.done.then(counted, (err: unknown) => {
            const f = err instanceof UploadFailed ? err : null
            req.log.info({ uploadId: job._id, code: f?.code, line: f?.line, rows: f?.report.rows, err: f === null ? err : undefined }, 'upload did not complete')
          })
          const doc = await core.uploads.get(job._id)
          void reply.header('preference-applied', 'respond-async')
          return await reply.code(202).send(uploadOut(doc!) as never)
        }
        const report = await run.done
        counted(report)
        return await reply.code(201).send(report)
      }
      throw invalidField('file', "the form has no file part named 'file'")
    } catch (err) {
      if (!handedOver) ticket.release()
      if (!req.raw.complete) void reply.header('connection', 'close') // do not wait for the rest of a body we will not read
      if (err instanceof UploadFailed) {
        req.log.info({ uploadId: job._id, code: err.code, line: err.line, rows: err.report.rows }, 'upload failed')
        if (pluginStop(err)) return sendProblem(req, reply, 422, err.code, err.message, reportExtensions(err))
        throw problemOf(err, limits.maxBytes)
      }
      const mapped = !reading && (err as FastifyError).code !== undefined && !((err as FastifyError).code! in ERROR_CODES)
        ? multipartProblem(err as FastifyError)
        : null
      const failure = mapped ?? err
      const code = (failure as FastifyError).code
      await core.uploads.fail(job, typeof code === 'string' && code in ERROR_CODES ? code : 'LS_ERR_INTERNAL', (failure as Error).message)
      throw failure
    }
  })

  app.get('/v1/uploads', {
    config: { scope: 'read' },
    schema: {
      tags: ['uploads'], summary: 'Uploads, newest first (running ones show their progress)',
      querystring: Type.Object({
        status: Type.Optional(Type.Union([Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')])),
        limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
        cursor: Type.Optional(Type.String({ maxLength: 500 })),
      }, { additionalProperties: false }),
      response: { 200: Page(Type.Ref('Upload')), ...problemResponses },
    },
  }, async (req) => {
    const cur = decodeCursor(req.query.cursor)
    const docs = await core.uploads.list({ ...(req.query.status !== undefined ? { status: req.query.status } : {}), ...(cur !== null ? { beforeId: cur.id } : {}), limit: req.query.limit + 1 })
    const more = docs.length > req.query.limit
    const page = docs.slice(0, req.query.limit)
    return { items: page.map(uploadOut) as never[], nextCursor: more ? encodeCursor({ v: null, id: page[page.length - 1]!._id }) : null }
  })

  app.get('/v1/uploads/:id', {
    config: { scope: 'read' },
    schema: { tags: ['uploads'], summary: 'One upload: state, counts and progress', params: IdParams, response: { 200: Type.Ref('Upload'), ...problemResponses } },
  }, async (req) => {
    const u = await core.uploads.get(req.params.id)
    if (u === null) throw new LS_ERR_UPLOAD_NOT_FOUND(req.params.id)
    return uploadOut(u) as never
  })

  app.delete('/v1/uploads/:id', {
    config: { scope: 'ingest' },
    schema: {
      tags: ['uploads'],
      summary: 'Cancel a running upload (its creator or an admin): it stops after the batch in flight and ends failed with LS_ERR_UPLOAD_CANCELLED',
      description: 'Answers 200 with the ended upload when this server process was working on it, else 202 with the upload still running and '
        + '`cancelRequested` set (the process holding it stops after its batch in flight). An upload that has ended is 409 LS_ERR_UPLOAD_NOT_RUNNING '
        + '(its record and stored rows stay). See docs/uploads.md.',
      params: IdParams,
      response: { 200: Type.Ref('Upload'), 202: Type.Ref('Upload'), 409: Type.Ref('ProblemDetails'), ...problemResponses },
    },
  }, async (req, reply) => {
    const id = req.params.id
    const u = await core.uploads.get(id)
    if (u === null) throw new LS_ERR_UPLOAD_NOT_FOUND(id)
    const p = req.principal!
    // the upload's own key or user, or an admin; the upload is readable by any read key, so 403 hides nothing
    if (u.principal !== p.keyId && !p.scopes.includes('admin')) throw new LS_ERR_FORBIDDEN('admin')
    if (u.status !== 'running') throw new LS_ERR_UPLOAD_NOT_RUNNING(id, u.status)
    const cancel = { at: core.now(), by: p.name }
    const flag = async (): Promise<boolean> => await core.uploads.requestCancel(id, cancel)
    if (!await flag()) throw new LS_ERR_UPLOAD_NOT_RUNNING(id, 'ended')
    if (await core.uploads.cancel(id, p.name)) {
      const ended = await core.uploads.get(id)
      return await reply.code(200).send(uploadOut(ended!) as never)
    }
    // held by another process: it reads the flag after its next batch or lease renewal. On FerretDB a write of that
    // process racing this one can drop the flag, so it is checked once more and set again if lost.
    await new Promise((resolve) => setTimeout(resolve, 200))
    const again = await core.uploads.get(id)
    if (again?.status === 'running' && again.cancel == null) await flag()
    const now = await core.uploads.get(id)
    return await reply.code(now!.status === 'running' ? 202 : 200).send(uploadOut(now!) as never)
  })

  app.get('/v1/uploads/:id/rejects', {
    config: { scope: 'read' },
    schema: {
      tags: ['uploads'], summary: 'The rejected rows of an upload, in file order, with line numbers and reasons',
      params: IdParams,
      querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }), cursor: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }),
      response: { 200: Page(UploadRejectEntry), ...problemResponses },
    },
  }, async (req) => {
    const cur = decodeCursor(req.query.cursor)
    const docs = await core.uploads.rejects(req.params.id, { ...(cur !== null ? { afterIndex: Number(cur.v) } : {}), limit: req.query.limit + 1 })
    if (docs === null) throw new LS_ERR_UPLOAD_NOT_FOUND(req.params.id)
    const more = docs.length > req.query.limit
    const page = docs.slice(0, req.query.limit)
    return {
      items: page.map((d) => ({ id: d._id, index: d.index, line: d.line ?? null, code: d.code, reason: d.reason, raw: d.raw, rawTruncated: d.rawTruncated })),
      nextCursor: more ? encodeCursor({ v: page[page.length - 1]!.index, id: page[page.length - 1]!._id }) : null,
    }
  })
}

export default uploadsRoutes
