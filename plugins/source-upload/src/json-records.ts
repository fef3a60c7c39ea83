import { parseJsonStrict } from '@leadscore/server/contracts'
import { UploadStop } from './byte-stream.js'

/** A row reject found while reading the file (before mapping). */
export interface RowReject { code: string; reason: string; raw: string }

/** One JSON record (an array element or an NDJSON line) with the line it starts on, or why it was rejected. */
export type JsonRecord = { line: number; value: Record<string, unknown> } | { line: number; reject: RowReject }

const PREVIEW = 1024

/** Collects one record's bytes up to a limit; past it only a preview is kept and the record is rejected. */
class RecordBuffer {
  private parts: Buffer[] = []
  private size = 0
  private preview: Buffer | null = null
  constructor (private readonly max: number) {}
  get length (): number { return this.size }
  add (b: Buffer): void {
    if (b.length === 0) return
    this.size += b.length
    if (this.preview !== null) return
    this.parts.push(b)
    if (this.size > this.max) {
      this.preview = Buffer.concat(this.parts).subarray(0, PREVIEW)
      this.parts = []
    }
  }

  take (line: number, trimCr = false): JsonRecord | null {
    const oversize = this.preview !== null
    const preview = this.preview
    let bytes = oversize ? Buffer.alloc(0) : Buffer.concat(this.parts)
    this.parts = []
    this.size = 0
    this.preview = null
    if (oversize) return { line, reject: { code: 'LS_ERR_UPLOAD_ROW_TOO_LARGE', reason: `the row is larger than ${this.max} bytes`, raw: preview!.toString('utf8') } }
    if (trimCr && bytes.length > 0 && bytes[bytes.length - 1] === 13) bytes = bytes.subarray(0, bytes.length - 1)
    if (isBlank(bytes)) return null
    return parseRecord(bytes, line)
  }
}

function isBlank (b: Buffer): boolean {
  for (const x of b) if (x !== 32 && x !== 9 && x !== 10 && x !== 13) return false
  return true
}

function parseRecord (bytes: Buffer, line: number): JsonRecord {
  let value: unknown
  try {
    value = parseJsonStrict(bytes)
  } catch (err) {
    const code = (err as { code?: string }).code
    const reason = code === 'LS_ERR_INVALID_ENCODING'
      ? 'the row is not valid UTF-8'
      : code === 'LS_ERR_FORBIDDEN_KEY' ? (err as Error).message.replace(/^The body/, 'the row') : `the row is not valid JSON: ${(err as Error).message.replace(/^The body is not valid JSON: /, '')}`
    return { line, reject: { code: 'LS_ERR_UPLOAD_ROW_INVALID', reason, raw: bytes.toString('utf8').slice(0, 64 * 1024) } }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { line, reject: { code: 'LS_ERR_UPLOAD_ROW_INVALID', reason: 'each record must be a JSON object', raw: bytes.toString('utf8').slice(0, 64 * 1024) } }
  }
  return { line, value: value as Record<string, unknown> }
}

/** NDJSON (JSON Lines): one object per line; blank lines are skipped; a bad line is a reject and reading goes on. */
export async function * ndjsonRecords (src: AsyncIterable<Buffer>, opts: { maxRowBytes: number }): AsyncGenerator<JsonRecord> {
  const buf = new RecordBuffer(opts.maxRowBytes)
  let line = 1
  for await (const chunk of src) {
    let start = 0
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      buf.add(chunk.subarray(start, nl))
      const rec = buf.take(line, true)
      if (rec !== null) yield rec
      line++
      start = nl + 1
    }
    buf.add(chunk.subarray(start))
  }
  const rec = buf.take(line, true)
  if (rec !== null) yield rec
}

const enum S { Start, FirstValue, Value, Element, After, End }
const WS = new Set([0x20, 0x09, 0x0a, 0x0d])

/**
 * A JSON array of objects, streamed: each element is cut out by a small scanner (brackets and strings) and parsed
 * on its own, so memory is bounded by the largest element, not the file. A malformed element is a reject and reading
 * goes on; a file that is not an array, or whose array structure breaks, stops at that line.
 */
export async function * jsonArrayRecords (src: AsyncIterable<Buffer>, opts: { maxRowBytes: number }): AsyncGenerator<JsonRecord> {
  const buf = new RecordBuffer(opts.maxRowBytes)
  let state: S = S.Start
  let line = 1
  let elemLine = 1
  let depth = 0
  let inString = false
  let escape = false
  let bare = false // a scalar element that is not a string
  let sawAny = false
  for await (const chunk of src) {
    let elemStart = state === S.Element ? 0 : -1
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!
      if (state === S.Element) {
        if (inString) {
          if (escape) escape = false
          else if (b === 0x5c) escape = true
          else if (b === 0x22) {
            inString = false
            if (depth === 0) { // a string scalar ends here
              buf.add(chunk.subarray(elemStart, i + 1))
              const rec = buf.take(elemLine)
              if (rec !== null) yield rec
              state = S.After
            }
          } else if (b === 0x0a) line++
          continue
        }
        if (bare) {
          if (WS.has(b) || b === 0x2c || b === 0x5d) {
            buf.add(chunk.subarray(elemStart, i))
            const rec = buf.take(elemLine)
            if (rec !== null) yield rec
            state = S.After
            bare = false
            i-- // the delimiter is handled in the After state
          }
          continue
        }
        if (b === 0x22) inString = true
        else if (b === 0x7b || b === 0x5b) depth++
        else if (b === 0x7d || b === 0x5d) {
          depth--
          if (depth === 0) {
            buf.add(chunk.subarray(elemStart, i + 1))
            const rec = buf.take(elemLine)
            if (rec !== null) yield rec
            state = S.After
          }
        } else if (b === 0x0a) line++
        continue
      }
      if (b === 0x0a) line++
      if (WS.has(b)) continue
      sawAny = true
      if (state === S.Start) {
        if (b !== 0x5b) throw new UploadStop('LS_ERR_UPLOAD_FORMAT', 'a JSON upload must be an array of objects ([{…},{…}]); for one object per line send NDJSON (format=ndjson)', line)
        state = S.FirstValue
      } else if (state === S.FirstValue || state === S.Value) {
        if (b === 0x5d) {
          if (state === S.Value) throw new UploadStop('LS_ERR_UPLOAD_PARSE', 'a comma is followed by the end of the array', line)
          state = S.End
          continue
        }
        state = S.Element
        elemStart = i
        elemLine = line
        depth = 0
        inString = b === 0x22
        escape = false
        bare = false
        if (b === 0x7b || b === 0x5b) depth = 1
        else if (b !== 0x22) bare = true
      } else if (state === S.After) {
        if (b === 0x2c) state = S.Value
        else if (b === 0x5d) state = S.End
        else throw new UploadStop('LS_ERR_UPLOAD_PARSE', `expected ',' or ']' between array elements, found '${String.fromCharCode(b)}'`, line)
      } else {
        throw new UploadStop('LS_ERR_UPLOAD_PARSE', 'there is text after the end of the array', line)
      }
    }
    if (state === S.Element) buf.add(chunk.subarray(elemStart === -1 ? 0 : elemStart))
  }
  if (state === S.Element && bare) {
    const rec = buf.take(elemLine)
    if (rec !== null) yield rec
    state = S.After
  }
  if (!sawAny) throw new UploadStop('LS_ERR_UPLOAD_FORMAT', 'the file is empty', null)
  if ((state as S) !== S.End) throw new UploadStop('LS_ERR_UPLOAD_PARSE', state === S.Element ? 'the file ends inside an array element' : 'the array is never closed', state === S.Element ? elemLine : line)
}
