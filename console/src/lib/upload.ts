// The upload page's helpers (pure; tested by test/console/logic.test.ts).
import type { Upload, UploadFormat } from './api/types.js'

/**
 * The `data` of a live `job.progress` message about an upload (topics `uploads`, `upload:<id>`), sent as its rows are
 * read: the upload's counts, named as in `GET /v1/uploads/:id`.
 */
export type UploadProgress = { jobId: string; uploadId: string; kind: 'upload'; state: Upload['status']; uploadKind: Upload['kind'] }
  & Pick<Upload, 'format' | 'filename' | 'bytes' | 'expectedBytes' | 'rowsRead' | 'rows' | 'accepted' | 'duplicates' | 'rejected'>

/** 0 B, 512 B, 1.5 KB, 12 MB (powers of 1024). */
export function formatBytes (n: number): string {
  if (!Number.isFinite(n) || n < 0) return '—'
  if (n < 1024) return `${n} B`
  const units = ['KB', 'MB', 'GB', 'TB']
  let v = n / 1024
  let u = 0
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++ }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`
}

/** The format a file name implies, or null (the server then looks at the content). */
export function formatOfName (name: string): UploadFormat | null {
  const m = /\.([a-z0-9]+)$/i.exec(name.trim())
  const ext = m?.[1]?.toLowerCase()
  if (ext === 'csv' || ext === 'tsv') return 'csv'
  if (ext === 'json') return 'json'
  if (ext === 'ndjson' || ext === 'jsonl') return 'ndjson'
  return null
}

export const ACCEPT = '.csv,.json,.ndjson,.jsonl,text/csv,application/json,application/x-ndjson'

/**
 * An optional mapping of the file's columns (or JSON keys) to fields — `lead.email`, `lead.name`, `type`,
 * `occurredAt`, `properties.<name>`, `lead.attributes.<name>`… — written one `column = field` per line (an empty
 * field drops the column) or as a JSON object. Columns it does not name are matched by the server from their names.
 */
export function parseMapping (text: string): { mapping: Record<string, string | null>; error: null } | { mapping: null; error: string } {
  const t = text.trim()
  if (t === '') return { mapping: {}, error: null }
  if (t.startsWith('{')) {
    try {
      const v: unknown = JSON.parse(t)
      if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => x === null || typeof x === 'string')) return { mapping: null, error: 'The mapping must be an object of column → field (or null to drop the column)' }
      return { mapping: v as Record<string, string | null>, error: null }
    } catch (err) {
      return { mapping: null, error: `Not valid JSON: ${(err as Error).message}` }
    }
  }
  const mapping: Record<string, string | null> = {}
  for (const [i, line] of t.split('\n').entries()) {
    if (line.trim() === '') continue
    const m = /^\s*([^=]+?)\s*=\s*(.*?)\s*$/.exec(line)
    if (m === null) return { mapping: null, error: `Line ${i + 1}: write column = field` }
    const column = m[1]!
    if (Object.prototype.hasOwnProperty.call(mapping, column)) return { mapping: null, error: `Line ${i + 1}: the column "${column}" is mapped twice` }
    mapping[column] = m[2] === '' ? null : m[2]!
  }
  return { mapping, error: null }
}

/** An upload's live progress from a `job.progress` message's data, or null when the message is about something else. */
export function uploadProgressOf (data: Record<string, unknown>): UploadProgress | null {
  if (data.kind !== 'upload' || typeof data.uploadId !== 'string') return null
  for (const k of ['bytes', 'rowsRead', 'rows', 'accepted', 'duplicates', 'rejected'] as const) if (typeof data[k] !== 'number') return null
  return data as unknown as UploadProgress
}

/**
 * Whether a live upload progress is about the upload this page is sending: the server names no id before it answers,
 * so the first message with the same file name and request size is taken as ours, and its id from then on.
 */
export function isOurUpload (p: Pick<UploadProgress, 'uploadId' | 'filename' | 'expectedBytes'>, ours: { id: string | null; filename: string; requestBytes: number }): boolean {
  if (ours.id !== null) return p.uploadId === ours.id
  return p.filename === ours.filename && (p.expectedBytes === null || ours.requestBytes === 0 || p.expectedBytes === ours.requestBytes)
}
