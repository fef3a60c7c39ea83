// File uploads with XMLHttpRequest: unlike fetch, it reports the bytes sent (`upload.onprogress`), which drives the
// upload page's progress bar. So this one route is called by hand, not through the generated client (fetch, ./client.ts).
import { ApiError, failure, parseJsonBody } from './client.js'
import type { UploadFormat, UploadKind, UploadReport } from './types.js'

export interface UploadRequest {
  file: Blob & { name?: string }
  kind: UploadKind
  /** Omitted: the server tells the format from the file name and content. */
  format?: UploadFormat
  /** Column (or JSON key) → field path (null drops the column), sent as JSON. */
  mapping?: Record<string, string | null>
  /** Bytes of the request body sent so far (the file plus a little multipart framing). */
  onProgress?: (sent: number, total: number) => void
  /** Called once the whole body has been sent; the server may still be reading rows. */
  onSent?: () => void
  signal?: AbortSignal
}

/** `POST /v1/uploads` (multipart: kind, format?, mapping?, then the file part `file`) → the upload's report. */
export function uploadFile (req: UploadRequest): Promise<UploadReport> {
  const path = '/v1/uploads'
  const form = new FormData()
  // the fields come first, so the server knows them before the file's bytes arrive
  form.append('kind', req.kind)
  if (req.format !== undefined) form.append('format', req.format)
  if (req.mapping !== undefined && Object.keys(req.mapping).length > 0) form.append('mapping', JSON.stringify(req.mapping))
  form.append('file', req.file, req.file.name ?? 'upload')

  return new Promise<UploadReport>((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', path)
    xhr.withCredentials = true
    xhr.responseType = 'text'
    xhr.setRequestHeader('accept', 'application/json')
    xhr.setRequestHeader('x-leadscore-csrf', '1')
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) req.onProgress?.(e.loaded, e.total) }
    xhr.upload.onload = () => { req.onSent?.() }
    xhr.onload = () => {
      const json = parseJsonBody(xhr.getResponseHeader('content-type'), xhr.responseText)
      if (xhr.status >= 200 && xhr.status < 300 && json !== null) resolve(json as UploadReport)
      else reject(failure(xhr.status, xhr.statusText, json, path))
    }
    xhr.onerror = () => { reject(new ApiError(0, null, 'The upload was interrupted: the server could not be reached. Check your connection and try again.')) }
    xhr.onabort = () => { reject(new DOMException('The upload was cancelled', 'AbortError')) }
    if (req.signal !== undefined) {
      if (req.signal.aborted) { reject(new DOMException('The upload was cancelled', 'AbortError')); return }
      req.signal.addEventListener('abort', () => { xhr.abort() }, { once: true })
    }
    xhr.send(form)
  })
}
