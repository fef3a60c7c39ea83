import { Type, type Static } from '@sinclair/typebox'

const Kind = Type.Union([Type.Literal('events'), Type.Literal('leads')])
// csv, json and ndjson are read by the upload plugin; another installed source's format is named by its media type
const Format = Type.String({
  pattern: '^(csv|json|ndjson|[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126})$',
  description: 'csv, json or ndjson, or the media type of a format another installed source reads (see GET /v1/source-types, batch)',
})

/** One rejected row of an upload, as listed in its report. */
export const UploadReject = Type.Object({
  line: Type.Integer({ description: 'Line of the file where the row starts (1-based; the CSV header is line 1).' }),
  code: Type.String({ description: 'An LS_ERR_* code (see docs/errors.md).' }),
  reason: Type.String(),
}, { $id: 'UploadReject' })

/** The answer of `POST /v1/uploads` once the file is read: `rows = accepted + duplicates + rejected`. */
export const UploadReport = Type.Object({
  id: Type.String({ description: 'The upload id (up_…); also in the Location header.' }),
  status: Type.Literal('done'),
  kind: Kind,
  format: Format,
  filename: Type.Union([Type.String(), Type.Null()]),
  bytes: Type.Integer({ description: 'Bytes of the file read.' }),
  rows: Type.Integer(),
  accepted: Type.Integer(),
  duplicates: Type.Integer(),
  rejected: Type.Integer(),
  sha256: Type.String({ description: 'SHA-256 of the file, computed while streaming.' }),
  duplicateOf: Type.Optional(Type.String({ description: 'An earlier completed upload of the same content, read the same way (kind, format, mapping, source).' })),
  rejects: Type.Array(Type.Ref('UploadReject'), { maxItems: 100, description: 'The first 100 rejects in file order; GET /v1/uploads/{id}/rejects lists all.' }),
}, { $id: 'UploadReport' })
export type UploadReportT = Static<typeof UploadReport>

/** An upload record (the job): its state, counts and progress. */
export const Upload = Type.Object({
  id: Type.String(),
  status: Type.Union([Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]),
  kind: Kind,
  format: Type.Union([Format, Type.Null()]),
  filename: Type.Union([Type.String(), Type.Null()]),
  contentType: Type.Union([Type.String(), Type.Null()]),
  sourceId: Type.String({ description: 'Source id of the events: upload or upload:<label>.' }),
  mapping: Type.Union([Type.Record(Type.String(), Type.Union([Type.String(), Type.Null()])), Type.Null()], { description: 'Column → field path (CSV: every column, as resolved).' }),
  expectedBytes: Type.Union([Type.Integer(), Type.Null()], { description: 'The request\'s Content-Length, when sent: an upper bound of the file size for progress bars.' }),
  received: Type.Boolean({ description: 'Whether the whole file has arrived (it is kept on the server until the upload ends).' }),
  resumes: Type.Integer({ description: 'How many times another server process took the upload over from its checkpoint after the one working on it stopped.' }),
  bytes: Type.Integer(),
  rowsRead: Type.Integer({ description: 'Rows read so far; rows (= accepted + duplicates + rejected) counts those already stored.' }),
  rows: Type.Integer(),
  accepted: Type.Integer(),
  duplicates: Type.Integer(),
  rejected: Type.Integer(),
  sha256: Type.Union([Type.String(), Type.Null()]),
  duplicateOf: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.Object({ code: Type.String(), message: Type.String(), line: Type.Optional(Type.Integer()) }), Type.Null()]),
  createdBy: Type.String(),
  startedAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  cancelRequested: Type.Union([Type.Object({ at: Type.String({ format: 'date-time' }), by: Type.String() }), Type.Null()], {
    description: 'Set by DELETE /v1/uploads/{id}: when and by whom the upload was cancelled (it then ends failed with LS_ERR_UPLOAD_CANCELLED).',
  }),
}, { $id: 'Upload' })
export type UploadT = Static<typeof Upload>

/** One stored reject of an upload. */
export const UploadRejectEntry = Type.Object({
  id: Type.String(),
  index: Type.Integer({ description: 'Position of the row among the file\'s rows (0-based, header excluded).' }),
  line: Type.Union([Type.Integer(), Type.Null()]),
  code: Type.String(),
  reason: Type.String(),
  raw: Type.String({ description: 'The row (CSV: its cells by column; JSON: the record or the event it became), up to 64 KiB.' }),
  rawTruncated: Type.Boolean(),
})

/** The multipart form of `POST /v1/uploads` (for the API reference; fields must come before the file). */
export const UploadForm = Type.Object({
  kind: Type.Optional(Kind),
  format: Type.Optional(Format),
  mapping: Type.Optional(Type.String({ description: 'JSON object: column → field path (lead.email, lead.externalId, lead.name, lead.company, lead.attributes.<x>, type, occurredAt, externalId, properties.<x>) or null to drop a column.' })),
  sourceId: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description: 'A label: events get the source id upload:<label>.' })),
  file: Type.String({ format: 'binary' }),
}, { description: 'multipart/form-data; the optional fields must come before the file part.' })
