// A raw multipart/form-data client for POST /v1/uploads over real HTTP: fields first, then the file, sent whole
// (with Content-Length) or streamed chunked with backpressure; it can pace the file or drop the connection half way.
import http from 'node:http'
import { once } from 'node:events'
import { AUTH } from './harness.js'

const sleep = async (ms: number): Promise<void> => await new Promise((r) => setTimeout(r, ms))
type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

export interface UploadOptions {
  fields?: Record<string, string>
  filename?: string
  contentType?: string
  /** The file: bytes, or chunks streamed with backpressure (sent chunked). */
  file: string | Buffer | AsyncIterable<Buffer | string> | Iterable<Buffer | string>
  /** Stop sending and destroy the connection once this many file bytes were written (after `beforeAbort`). */
  abortAfterBytes?: number
  /** Awaited between the last bytes written and the connection being destroyed. */
  beforeAbort?: () => Promise<void>
  /** Called after each chunk is written (for pacing). */
  afterChunk?: () => Promise<void>
  headers?: Record<string, string>
}

export interface UploadAnswer { status: number; headers: http.IncomingHttpHeaders; body: Json; text: string }

/** A raw multipart/form-data POST /v1/uploads: fields first, then the file part. */
export async function upload (port: number, opts: UploadOptions): Promise<UploadAnswer | null> {
  const boundary = `----lsTest${Math.random().toString(16).slice(2)}`
  const head = [
    ...Object.entries(opts.fields ?? {}).map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`),
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${opts.filename ?? 'data.csv'}"\r\nContent-Type: ${opts.contentType ?? 'text/csv'}\r\n\r\n`,
  ].join('')
  const tail = `\r\n--${boundary}--\r\n`
  const whole = typeof opts.file === 'string' || Buffer.isBuffer(opts.file)
  const headers: Record<string, string> = { ...AUTH, 'content-type': `multipart/form-data; boundary=${boundary}`, ...opts.headers }
  if (whole) headers['content-length'] = String(Buffer.byteLength(head) + Buffer.byteLength(opts.file as string | Buffer) + Buffer.byteLength(tail))
  else headers['transfer-encoding'] = 'chunked'
  return await new Promise<UploadAnswer | null>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/uploads', headers }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { text += d })
      res.on('end', () => {
        let body: Json = {}
        try { body = JSON.parse(text) as Json } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text })
      })
    })
    let aborted = false
    // no answer: the client went away, or the server did after the whole request was sent
    req.on('error', (err) => { if (aborted || req.writableEnded) resolve(null); else reject(err) })
    void (async () => {
      req.write(head)
      if (whole) {
        req.end(Buffer.concat([Buffer.from(opts.file as string | Buffer), Buffer.from(tail)]))
        return
      }
      let sent = 0
      for await (const chunk of opts.file as AsyncIterable<Buffer | string>) {
        if (req.destroyed) return
        const b = Buffer.from(chunk)
        if (opts.abortAfterBytes !== undefined && sent + b.length > opts.abortAfterBytes) {
          req.write(b.subarray(0, Math.max(0, opts.abortAfterBytes - sent)))
          await (opts.beforeAbort ?? (async () => { await sleep(300) }))()
          aborted = true
          req.destroy()
          return
        }
        sent += b.length
        if (!req.write(b)) await once(req, 'drain')
        if (opts.afterChunk !== undefined) await opts.afterChunk()
      }
      req.end(tail)
    })().catch((err: unknown) => { if (!aborted && !req.destroyed) reject(err) })
  })
}
