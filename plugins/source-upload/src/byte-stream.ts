import { isUtf8 } from 'node:buffer'
import { peek } from '@leadscore/server/contracts'

/**
 * A file-level problem that stops reading an upload: everything before `line` is kept (and counted), nothing after
 * it can be read reliably. `code` is an LS_ERR_* code.
 */
export class UploadStop extends Error {
  /** The bytes before the problem end at a line break, so a parser may read them to their end first. */
  cleanCut = false
  constructor (readonly code: string, message: string, readonly line: number | null = null) {
    super(message)
  }
}

export type TextEncodingName = 'utf-8' | 'utf-16le' | 'utf-16be'

/**
 * Turns the file into UTF-8 bytes: a UTF-8 byte order mark is dropped, UTF-16 (recognised by its byte order mark)
 * is transcoded. Invalid UTF-16 stops the upload; UTF-8 is checked later (per row, or by {@link checkUtf8}).
 */
export async function toUtf8 (src: AsyncIterable<Buffer>): Promise<{ encoding: TextEncodingName; stream: AsyncIterable<Buffer> }> {
  const { head, stream } = await peek(src, (h) => h.length >= 3)
  if (head.length >= 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) {
    return { encoding: 'utf-8', stream: skipBytes(stream, 3) }
  }
  const encoding: TextEncodingName | null = head.length >= 2 && head[0] === 0xff && head[1] === 0xfe
    ? 'utf-16le'
    : head.length >= 2 && head[0] === 0xfe && head[1] === 0xff ? 'utf-16be' : null
  if (encoding === null) return { encoding: 'utf-8', stream }
  return { encoding, stream: transcode(stream, encoding) }
}

async function * skipBytes (src: AsyncIterable<Buffer>, n: number): AsyncGenerator<Buffer> {
  let left = n
  for await (const chunk of src) {
    if (left > 0) {
      const cut = Math.min(left, chunk.length)
      left -= cut
      if (cut === chunk.length) continue
      yield chunk.subarray(cut)
    } else {
      yield chunk
    }
  }
}

async function * transcode (src: AsyncIterable<Buffer>, encoding: 'utf-16le' | 'utf-16be'): AsyncGenerator<Buffer> {
  // the decoder drops the byte order mark and refuses unpaired surrogates and odd trailing bytes
  const decoder = new TextDecoder(encoding, { fatal: true })
  let lines = 1
  const decode = (chunk?: Buffer): Buffer => {
    let text: string
    try {
      text = chunk === undefined ? decoder.decode() : decoder.decode(chunk, { stream: true })
    } catch {
      throw new UploadStop('LS_ERR_INVALID_ENCODING', `the file is not valid ${encoding.toUpperCase()}`, lines)
    }
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++
    return Buffer.from(text, 'utf8')
  }
  for await (const chunk of src) {
    const out = decode(chunk)
    if (out.length > 0) yield out
  }
  const tail = decode()
  if (tail.length > 0) yield tail
}

/** Length of the longest prefix of `b` that does not end inside a UTF-8 sequence. */
function completePrefix (b: Buffer): number {
  // look back at most 3 bytes for the start of the last sequence
  for (let i = b.length - 1, back = 0; i >= 0 && back < 4; i--, back++) {
    const x = b[i]!
    if ((x & 0xc0) === 0x80) continue // continuation byte
    const need = x < 0x80 ? 1 : (x & 0xe0) === 0xc0 ? 2 : (x & 0xf0) === 0xe0 ? 3 : (x & 0xf8) === 0xf0 ? 4 : 1
    return b.length - i >= need ? b.length : i
  }
  return b.length
}

function countNewlines (b: Buffer, end = b.length): number {
  let n = 0
  for (let i = b.indexOf(10); i !== -1 && i < end; i = b.indexOf(10, i + 1)) n++
  return n
}

/**
 * Passes the bytes through unchanged, stopping the upload at the first byte sequence that is not UTF-8 (no byte is
 * ever replaced by U+FFFD), with the line it is on.
 */
export async function * checkUtf8 (src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let carry: Buffer | null = null
  let lines = 1
  /** Where the first line that does not validate starts, and its number. */
  const locate = (b: Buffer): { offset: number; line: number } => {
    let start = 0
    let line = lines
    for (;;) {
      const nl = b.indexOf(10, start)
      const end = nl === -1 ? b.length : nl
      if (!isUtf8(b.subarray(start, end)) || nl === -1) return { offset: start, line }
      start = nl + 1
      line++
    }
  }
  for await (const chunk of src) {
    const b: Buffer = carry !== null ? Buffer.concat([carry, chunk]) : chunk
    const cut = completePrefix(b)
    const part = b.subarray(0, cut)
    carry = cut < b.length ? Buffer.from(b.subarray(cut)) : null
    if (!isUtf8(part)) {
      // the lines before the bad one are passed on first, so their rows are kept
      const at = locate(part)
      if (at.offset > 0) yield part.subarray(0, at.offset)
      const stop = new UploadStop('LS_ERR_INVALID_ENCODING', 'the file is not valid UTF-8', at.line)
      stop.cleanCut = true
      throw stop
    }
    lines += countNewlines(part)
    if (part.length > 0) yield part
  }
  if (carry !== null) throw new UploadStop('LS_ERR_INVALID_ENCODING', 'the file ends inside a UTF-8 sequence', lines)
}
