// The request id names a request in logs, problem answers and everything it stores (events, rejects). A client may
// choose it with `x-request-id`, but only a short id of safe characters is taken: anything else is replaced, so a
// client cannot make every stored event carry kilobytes of its choosing, or put markup or newlines in the logs.
import type { IncomingMessage } from 'node:http'
import { newId } from './ids.js'

export const REQUEST_ID_HEADER = 'x-request-id'
/** 1–128 characters of letters, digits and `.`, `_`, `:`, `-`. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/

/** The client's `x-request-id` when it is valid, else a fresh server-generated id (`req_…`). */
export function requestIdOf (req: Pick<IncomingMessage, 'headers'>): string {
  const sent = req.headers[REQUEST_ID_HEADER]
  return typeof sent === 'string' && REQUEST_ID_PATTERN.test(sent) ? sent : newId('req')
}
