// Assertions shared by the REST reliability tests: the "nothing lost" ledger (L1/L2 of docs RELIABILITY.md) and the
// shape of error responses.
import type { LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import type { Database } from '../../server/src/infra/db.js'

type Assert = Pick<Test, 'equal' | 'ok' | 'match' | 'not'>

export const PROBLEM_TYPE = 'application/problem+json; charset=utf-8'

/** The response is an RFC 9457 problem with this status and stable code. */
export function assertProblem (t: Assert, res: LightMyRequestResponse, status: number, code: string, msg = ''): Record<string, unknown> {
  t.equal(res.statusCode, status, `${msg} status ${status}`.trim())
  t.equal(res.headers['content-type'], PROBLEM_TYPE, `${msg} problem+json`.trim())
  const body = res.json() as Record<string, unknown>
  t.match(body, { code, status, type: String, title: String, detail: String, requestId: String }, `${msg} code ${code}`.trim())
  return body
}

interface Counts { submitted: number; accepted: number; duplicates: number; rejected: number }

/**
 * L2 for one request answered by the ingest service: `submitted = accepted + duplicates + rejected` in the body, and
 * exactly `rejected` rejects stored for the request id, each with a code and a reason. Returns the stored rejects.
 */
export async function assertLedger (t: Assert, db: Database, res: LightMyRequestResponse, requestId: string, submitted?: number) {
  const body = res.json() as Counts
  t.match(body, { submitted: Number, accepted: Number, duplicates: Number, rejected: Number }, 'response carries the counts')
  t.equal(body.submitted, body.accepted + body.duplicates + body.rejected, `L2: ${body.submitted} = ${body.accepted} + ${body.duplicates} + ${body.rejected}`)
  if (submitted !== undefined) t.equal(body.submitted, submitted, 'submitted counts every item sent')
  const rejects = await db.c.ingestRejects.find({ requestId }).toArray()
  t.equal(rejects.length, body.rejected, 'every reject of the request is stored in ingestRejects')
  for (const r of rejects) {
    t.match(r, { code: /^LS_ERR_[A-Z_]+$/, reason: /\S/, sourceId: 'api', raw: String }, `reject #${r.index} has a code and a reason`)
  }
  return rejects
}

/** No event in the database contains U+FFFD (a silently repaired string). */
export async function assertNoReplacementChar (t: Assert, db: Database): Promise<void> {
  const events = await db.c.events.find({}).toArray()
  const leads = await db.c.leads.find({}).toArray()
  const rejects = await db.c.ingestRejects.find({}).toArray()
  t.not(JSON.stringify([events, leads, rejects]).includes('\ufffd'), true, 'no U+FFFD stored anywhere')
}

let n = 0
/** A unique request id for one request (sent as x-request-id, which the app uses as the request id). */
export function rid (label: string): string {
  return `t-${label}-${process.pid}-${++n}`
}
