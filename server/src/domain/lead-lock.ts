// How a writer other than scoring changes a lead: under the lead's lock (the document `lead:<id>` in `locks`, the
// one a scoring run holds), and when a scoring run holds it for longer than the writer waits, a 409 problem the
// client can retry.
import { LS_ERR_LEAD_BUSY } from '../errors.js'
import { newId } from '../lib/ids.js'
import type { LockService } from './locks.js'

export type WithLeadLock = <T>(leadId: string, fn: () => Promise<T>) => Promise<T>

/** A lead's lock stayed held (by a scoring run or another writer) for longer than the caller would wait. */
export class LockBusyError extends Error {
  constructor (readonly leadId: string) { super(`lead ${leadId} is busy`) }
}

/** The lock document's name for a lead: the scoring run takes the same one. */
export const leadLockName = (leadId: string): string => `lead:${leadId}`

/**
 * Runs `fn` holding the lead's lock, waiting up to `waitMs` for it (polling with jitter). The lease lasts
 * `lockLifetimeMs` and is not renewed: writers under it are short.
 */
export async function holdLeadLock<T> (locks: LockService, lockLifetimeMs: number, leadId: string, fn: () => Promise<T>, waitMs = 10_000): Promise<T> {
  const token = newId('lk')
  const name = leadLockName(leadId)
  const deadline = Date.now() + waitMs
  while (!await locks.acquire(name, token, lockLifetimeMs)) {
    if (Date.now() > deadline) throw new LockBusyError(leadId)
    await new Promise((r) => setTimeout(r, 25 + Math.random() * 75))
  }
  try {
    return await fn()
  } finally {
    await locks.release(name, token)
  }
}

/**
 * The lead lock for writers, with a hook after each release: a scoring run that found the lock held by a writer
 * gave up on the lead, so whoever runs scoring in this process looks again (the scoring runner listens).
 */
export function createLeadLocks (deps: { locks: LockService; lockLifetimeMs: number; log: { warn(o: object, m: string): void } }) {
  const released: Array<(leadId: string) => Promise<void>> = []
  return {
    async withLeadLock<T> (leadId: string, fn: () => Promise<T>, waitMs?: number): Promise<T> {
      try {
        return await holdLeadLock(deps.locks, deps.lockLifetimeMs, leadId, fn, waitMs)
      } finally {
        for (const l of released) await l(leadId).catch((err: unknown) => deps.log.warn({ err, leadId }, 'after-release hook failed'))
      }
    },
    /** Adds a listener called (and awaited) after every release by a writer. */
    onReleased (listener: (leadId: string) => Promise<void>): void { released.push(listener) },
  }
}

export type LeadLocks = ReturnType<typeof createLeadLocks>

/** Runs `fn` holding the lead's lock; a lock that stays held is `LS_ERR_LEAD_BUSY`. */
export async function underLeadLock<T> (withLeadLock: WithLeadLock, leadId: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await withLeadLock(leadId, fn)
  } catch (err) {
    if (err instanceof LockBusyError) throw new LS_ERR_LEAD_BUSY(leadId)
    throw err
  }
}
