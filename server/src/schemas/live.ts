import { Type, type Static } from '@sinclair/typebox'
import { ScoreParts, Reason } from './common.js'

/** The `data` of a `lead.scored` live message (topics `leaderboard`, `lead:<id>`, `events`). */
export const LeadScoredData = Type.Object({
  leadId: Type.String(),
  score: Type.Number(),
  stage: Type.String(),
  parts: ScoreParts,
  before: ScoreParts,
  delta: Type.Number(),
  lastSeq: Type.Integer(),
  events: Type.Integer(),
  rescored: Type.Boolean(),
  /** The batch's last (up to 20) ledger entries. */
  entries: Type.Array(Type.Object({
    id: Type.String(),
    eventId: Type.Union([Type.String(), Type.Null()]),
    type: Type.Union([Type.String(), Type.Null()]),
    delta: Type.Number(),
    reasons: Type.Array(Reason),
  })),
})
export type LeadScoredDataT = Static<typeof LeadScoredData>

/** One live message, as delivered inside a `batch` frame. */
export const LiveMessage = Type.Object({
  seq: Type.Integer(),
  type: Type.String(),
  topics: Type.Array(Type.String()),
  data: Type.Record(Type.String(), Type.Unknown()),
  at: Type.String({ format: 'date-time' }),
})
export type LiveMessageT = Static<typeof LiveMessage>

/** Frames the server sends on `/v1/live`. */
export type LiveFrameT =
  | { type: 'batch'; lastSeq: number; messages: LiveMessageT[] }
  | { type: 'subscribed'; topics: string[]; lastSeq: number }
  | { type: 'unsubscribed'; topics: string[] }
  | { type: 'reset'; reason: string; oldest: number }
  | { type: 'pong' }
  | { type: 'error'; code: string; message: string }

/** The answer of `POST /v1/live/tickets`. */
export const LiveTicket = Type.Object({
  ticket: Type.String({ description: 'Opens one WebSocket as `/v1/live?ticket=<ticket>`; single use' }),
  expiresAt: Type.String({ format: 'date-time' }),
  expiresIn: Type.Integer({ description: 'Seconds left to use it' }),
})
export type LiveTicketT = Static<typeof LiveTicket>
