import { Type, type Static } from '@sinclair/typebox'

/** The answer of `POST /v1/events`: one result per submitted event, in order. */
export const IngestResult = Type.Object({
  submitted: Type.Integer(),
  accepted: Type.Integer(),
  duplicates: Type.Integer(),
  rejected: Type.Integer(),
  results: Type.Array(Type.Object({
    index: Type.Integer(),
    status: Type.Union([Type.Literal('accepted'), Type.Literal('duplicate'), Type.Literal('rejected')]),
    eventId: Type.Optional(Type.String()),
    leadId: Type.Optional(Type.String()),
    error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String(), pointer: Type.Optional(Type.String()) })),
    warnings: Type.Optional(Type.Array(Type.Object({ code: Type.String(), message: Type.String(), pointer: Type.String() }), {
      description: 'An accepted event whose properties the tracking plan flagged (mode warn): what did not match, pointing into the event',
    })),
  })),
}, { $id: 'IngestResult' })
export type IngestResultT = Static<typeof IngestResult>

/** A stored reject (`GET /v1/rejects`): a refused event or delivery with its reason. */
export const Reject = Type.Object({
  id: Type.String(), sourceId: Type.String(), requestId: Type.String(), index: Type.Integer(), code: Type.String(), reason: Type.String(),
  raw: Type.String({ description: 'the refused event as received (JSON), or for a refused delivery its headers and size' }), rawTruncated: Type.Boolean(),
  receivedAt: Type.String({ format: 'date-time' }),
})
export type RejectT = Static<typeof Reject>
