/**
 * Admission of uploads on this server process: how many may run at once (per principal and in all), and how many
 * bytes their spool files may hold together. A ticket is taken before an upload starts and given back when it ends;
 * it reserves the bytes the request announced (its Content-Length) or, sent chunked, the bytes spooled so far.
 */

export interface AdmissionLimits {
  /** Uploads one principal (API key or console user) may have running at once. */
  perPrincipal: number
  /** Uploads that may run at once on this process. */
  concurrent: number
  /** Bytes the spool files of all running uploads may hold together. */
  spoolMaxBytes: number
}

export interface AdmissionTicket {
  /** Records the bytes spooled so far; false when that takes the spool past its quota (the upload must stop). */
  spooled: (bytes: number) => boolean
  /** Gives the slot and the reserved bytes back (idempotent). */
  release: () => void
}

export type Admission = { ok: true; ticket: AdmissionTicket } | { ok: false; reason: 'principal' | 'concurrent' | 'spool' }

export function createUploadAdmission (limits: AdmissionLimits) {
  const byPrincipal = new Map<string, number>()
  let slots = 0
  // reserved bytes of every live ticket
  const reserved = new Map<object, number>()
  let total = 0

  const reserve = (key: object, bytes: number): void => {
    total += bytes - (reserved.get(key) ?? 0)
    reserved.set(key, bytes)
  }

  function ticket (principal: string | null, initial: number): AdmissionTicket {
    const key = {}
    let released = false
    reserve(key, initial)
    return {
      spooled (bytes) {
        if (released) return true
        // never below what the request announced: the rest of it is still to come
        if (bytes > (reserved.get(key) ?? 0)) reserve(key, bytes)
        return total <= limits.spoolMaxBytes
      },
      release () {
        if (released) return
        released = true
        total -= reserved.get(key) ?? 0
        reserved.delete(key)
        if (principal === null) return
        slots--
        const n = (byPrincipal.get(principal) ?? 1) - 1
        if (n <= 0) byPrincipal.delete(principal)
        else byPrincipal.set(principal, n)
      },
    }
  }

  /** A new upload of `principal`, announcing `expectedBytes` (null when sent chunked). */
  function admit (principal: string, expectedBytes: number | null): Admission {
    if ((byPrincipal.get(principal) ?? 0) >= limits.perPrincipal) return { ok: false, reason: 'principal' }
    if (slots >= limits.concurrent) return { ok: false, reason: 'concurrent' }
    if (expectedBytes !== null && total + expectedBytes > limits.spoolMaxBytes) return { ok: false, reason: 'spool' }
    slots++
    byPrincipal.set(principal, (byPrincipal.get(principal) ?? 0) + 1)
    return { ok: true, ticket: ticket(principal, expectedBytes ?? 0) }
  }

  /** An upload taken over from a stopped process: its spool file counts, it takes no slot (nobody waits on it). */
  function resumed (bytes: number): AdmissionTicket {
    return ticket(null, bytes)
  }

  return { admit, resumed, usage: () => ({ running: slots, spooledBytes: total }) }
}

export type UploadAdmission = ReturnType<typeof createUploadAdmission>
