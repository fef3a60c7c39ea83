// How a writer other than scoring changes a lead: under the lead's lock, and when a scoring run holds it for longer
// than the writer waits, a 409 problem the client can retry.
import { LS_ERR_LEAD_BUSY } from '../errors.js'
import { LockBusyError } from './scoring/processor.js'

export type WithLeadLock = <T>(leadId: string, fn: () => Promise<T>) => Promise<T>

/** Runs `fn` holding the lead's lock; a lock that stays held is `LS_ERR_LEAD_BUSY`. */
export async function underLeadLock<T> (withLeadLock: WithLeadLock, leadId: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await withLeadLock(leadId, fn)
  } catch (err) {
    if (err instanceof LockBusyError) throw new LS_ERR_LEAD_BUSY(leadId)
    throw err
  }
}
