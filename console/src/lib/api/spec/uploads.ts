// The upload routes' shapes as specified, for the console to build against until server/src/schemas/uploads.ts
// defines them. Only `import type`d by ../types.ts: nothing here is bundled. Names match the schemas the server will
// export, so types.ts switches with one changed import path.
import { Type } from '@sinclair/typebox'

export const UploadKind = Type.Union([Type.Literal('events'), Type.Literal('leads')])
export const UploadFormat = Type.Union([Type.Literal('csv'), Type.Literal('json'), Type.Literal('ndjson')])

export const UploadReject = Type.Object({ line: Type.Integer(), code: Type.String(), reason: Type.String() })

/** `POST /v1/uploads` → 201 when the file has been read to the end. */
export const UploadReport = Type.Object({
  id: Type.String(), rows: Type.Integer(), accepted: Type.Integer(), duplicates: Type.Integer(), rejected: Type.Integer(),
  duplicateOf: Type.Optional(Type.String()), rejects: Type.Array(UploadReject),
})

/** `GET /v1/uploads/:id`: the upload while it is processed, and after. */
export const Upload = Type.Object({
  id: Type.String(), kind: UploadKind, status: Type.String(),
  rowsRead: Type.Integer(), bytesRead: Type.Integer(), accepted: Type.Integer(), duplicates: Type.Integer(), rejected: Type.Integer(),
})

/** The `data` of a live `job.progress` message about an upload (topics `uploads`, `upload:<id>`), sent as rows are read. */
export const UploadProgress = Type.Object({
  jobId: Type.String(), uploadId: Type.String(), kind: Type.Literal('upload'), state: Type.String(), uploadKind: UploadKind,
  format: Type.Union([UploadFormat, Type.Null()]), filename: Type.Union([Type.String(), Type.Null()]),
  bytes: Type.Integer(), expectedBytes: Type.Union([Type.Integer(), Type.Null()]),
  rowsRead: Type.Integer(), rows: Type.Integer(), accepted: Type.Integer(), duplicates: Type.Integer(), rejected: Type.Integer(),
  duplicateOf: Type.Optional(Type.String()), error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
})
