// Outbound HTTP for webhooks: receiver URL rules, private-address blocking (checked on the addresses actually
// connected to, so a name that resolves to a private address — or starts to, DNS rebinding — is refused too), and a
// bounded POST that never follows redirects.
import http from 'node:http'
import https from 'node:https'
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { isPrivateAddress, localHostProblem } from '../../lib/address-guard.js'

// re-exported: the guard lives in lib/address-guard.ts, shared with polled sources (IMAP)
export { isPrivateAddress }

/** Why a receiver URL is refused, or null when it is acceptable. DNS names are checked again on every send. */
export function webhookUrlProblem (raw: string, allowPrivate: boolean): string | null {
  let url: URL
  try { url = new URL(raw) } catch { return 'not an absolute URL' }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'only http and https URLs are allowed'
  if (url.username !== '' || url.password !== '') return 'credentials in the URL are not allowed (receivers authenticate requests by their signature)'
  if (url.hostname === '') return 'the URL has no host'
  if (allowPrivate) return null
  return localHostProblem(url.hostname)
}

export interface SendResult { statusCode: number | null; error: string | null; response: string | null; durationMs: number }

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

/** A dns.lookup that refuses private addresses (used as the socket's lookup, so the checked address is the one used). */
function guardedLookup (hostname: string, options: { all?: boolean; family?: number | string }, cb: LookupCallback): void {
  dnsLookup(hostname, { all: true, family: typeof options.family === 'number' ? options.family : 0 }, (err, addresses) => {
    if (err !== null) { cb(err, []); return }
    const bad = addresses.find((a) => isPrivateAddress(a.address))
    if (bad !== undefined) {
      const e = new Error(`${hostname} resolves to the private address ${bad.address}`) as NodeJS.ErrnoException
      e.code = 'ELS_PRIVATE_ADDRESS'
      cb(e, [])
      return
    }
    if (options.all === true) cb(null, addresses)
    else cb(null, addresses[0]!.address, addresses[0]!.family)
  })
}

/**
 * POSTs a body and reports the outcome without throwing: the status code (any status; redirects are not followed),
 * or the error (timeout, refused address, connection failure), and the first 200 characters of the answer.
 */
export async function postWebhook (opts: {
  url: string; headers: Record<string, string>; body: string; timeoutMs: number; allowPrivate: boolean; signal?: AbortSignal
}): Promise<SendResult> {
  const started = Date.now()
  const done = (r: Omit<SendResult, 'durationMs'>): SendResult => ({ ...r, durationMs: Date.now() - started })
  const problem = webhookUrlProblem(opts.url, opts.allowPrivate)
  if (problem !== null) return done({ statusCode: null, error: `refused: ${problem}`, response: null })
  const url = new URL(opts.url)
  const mod = url.protocol === 'https:' ? https : http
  return await new Promise<SendResult>((resolve) => {
    let settled = false
    const finish = (r: Omit<SendResult, 'durationMs'>): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(done(r))
    }
    const req = mod.request(url, {
      method: 'POST',
      headers: { ...opts.headers, 'content-length': String(Buffer.byteLength(opts.body)) },
      ...(opts.allowPrivate ? {} : { lookup: guardedLookup as never }),
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    }, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        if (size < 200) { chunks.push(chunk); size += chunk.length }
      })
      const end = (): void => finish({ statusCode: res.statusCode ?? null, error: null, response: Buffer.concat(chunks).toString('utf8').slice(0, 200) })
      res.on('end', end)
      res.on('error', end)
      res.on('aborted', end)
    })
    const timer = setTimeout(() => {
      finish({ statusCode: null, error: `timed out after ${opts.timeoutMs} ms`, response: null })
      req.destroy()
    }, opts.timeoutMs)
    req.on('error', (err: NodeJS.ErrnoException) => {
      finish({ statusCode: null, error: err.code === 'ELS_PRIVATE_ADDRESS' ? `refused: ${err.message}` : `${err.code ?? 'error'}: ${err.message}`, response: null })
    })
    req.end(opts.body)
  })
}
