import { once } from 'node:events'
import type { TransformCallback } from 'node:stream'
import { Parser, CsvError, type Options } from 'csv-parse'
import { UploadStop } from './byte-stream.js'

/** One CSV record with the line it starts on (1-based; a quoted field may span several lines). */
export interface CsvRecord { cells: string[]; line: number }

const DELIMITERS = [',', ';', '\t', '|'] as const

/** The delimiter of a CSV file, guessed from its first line: whichever of , ; TAB | occurs most outside quotes. */
export function sniffDelimiter (head: Buffer, filename: string | null): string {
  if (filename !== null && /\.tsv$/i.test(filename)) return '\t'
  const nl = head.indexOf(10)
  const first = head.subarray(0, nl === -1 ? head.length : nl).toString('utf8')
  const counts = new Map<string, number>(DELIMITERS.map((d) => [d, 0]))
  let quoted = false
  for (const ch of first) {
    if (ch === '"') quoted = !quoted
    else if (!quoted && counts.has(ch)) counts.set(ch, counts.get(ch)! + 1)
  }
  let best = ','
  for (const d of DELIMITERS) if (counts.get(d)! > counts.get(best)!) best = d
  return best
}

function linesIn (cells: readonly string[]): number {
  let n = 0
  for (const c of cells) {
    if (c.indexOf('\n') === -1 && c.indexOf('\r') === -1) continue
    const m = c.match(/\r\n|\r|\n/g)
    n += m === null ? 0 : m.length
  }
  return n
}

const FAILED = Symbol('csv read error')
type Failure = { [FAILED]: unknown }
type Item = string[] | Failure

/**
 * csv-parse's stream, except that errors arrive in order, as an item after the records read before them: both its
 * own parse errors and a failure of the source (written in as a {@link Failure}). The stock stream fails at once and
 * drops the records still in its buffer, so the rows before an unclosed quote, an invalid byte or a dropped
 * connection would be lost; and a source that fails must not be flushed either, or the cut-off last row would be
 * read as a whole one.
 */
class OrderedParser extends Parser {
  private stopped = false
  constructor (opts: Options) { super({ ...opts, writableObjectMode: true } as Options) }
  override _transform (chunk: Buffer | Failure, encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.stopped) { callback(); return }
    if (!Buffer.isBuffer(chunk)) {
      this.stopped = true
      this.push(chunk)
      callback()
      return
    }
    super._transform(chunk, encoding, (err?: Error | null) => {
      if (err != null) {
        this.stopped = true
        this.push({ [FAILED]: err })
      }
      callback()
    })
  }

  override _flush (callback: TransformCallback): void {
    if (this.stopped) { callback(); return }
    super._flush((err?: Error | null) => {
      if (err != null) this.push({ [FAILED]: err })
      callback()
    })
  }
}

/**
 * Streams CSV records through csv-parse, with the line each starts on. Blank lines are skipped. Quotes, quoted
 * newlines and CRLF are handled by csv-parse; rows may have any number of cells (the caller rejects ragged rows one
 * by one). A record longer than `maxRowBytes` (typically an unclosed quote swallowing the rest of the file) or a
 * quote that is never closed stops the upload at the line where that record starts: csv-parse cannot resume
 * reliably after either. Every record before the problem is delivered first.
 */
export async function * csvRecords (src: AsyncIterable<Buffer>, opts: { delimiter: string; maxRowBytes: number }): AsyncGenerator<CsvRecord> {
  const parser = new OrderedParser({
    delimiter: opts.delimiter,
    bom: true,
    relax_column_count: true,
    // a quote inside an unquoted field is kept as a character (e.g. 5" screen), rather than failing the file
    relax_quotes: true,
    skip_empty_lines: false,
    max_record_size: opts.maxRowBytes,
  })
  const stop = new AbortController()
  // feeds the parser with backpressure; a failing source is written in as the last item instead of ending it, unless
  // what it passed on ends at a line break: then the parser reads it to its end (csv-parse holds the last record of a
  // chunk back until it sees what follows) and the failure is raised after that
  let after: unknown = null
  void (async () => {
    try {
      for await (const chunk of src) {
        if (stop.signal.aborted) return
        if (!parser.write(chunk)) await once(parser, 'drain', { signal: stop.signal })
      }
      if (!stop.signal.aborted) parser.end()
    } catch (err) {
      if (stop.signal.aborted) return
      if (err instanceof UploadStop && err.cleanCut) {
        after = err
        parser.end()
      } else {
        parser.end({ [FAILED]: err })
      }
    }
  })().catch(() => undefined)
  let line = 1
  try {
    for await (const item of parser as AsyncIterable<Item>) {
      if (!Array.isArray(item)) throw item[FAILED]
      const cells = item
      const at = line
      line += 1 + linesIn(cells)
      if (cells.length === 1 && cells[0]!.trim() === '') continue
      yield { cells, line: at }
    }
    if (after !== null) throw after
  } catch (err) {
    if (err instanceof CsvError) {
      if (err.code === 'CSV_MAX_RECORD_SIZE') throw new UploadStop('LS_ERR_UPLOAD_PARSE', `a row is longer than ${opts.maxRowBytes} bytes (is a quote left open?)`, line)
      if (err.code === 'CSV_QUOTE_NOT_CLOSED') throw new UploadStop('LS_ERR_UPLOAD_PARSE', 'a quoted field is never closed', line)
      throw new UploadStop('LS_ERR_UPLOAD_PARSE', err.message.replace(/ at line \d+.*$/s, ''), line)
    }
    throw err
  } finally {
    // the feeding loop ends at its next chunk (or when the request is torn down)
    stop.abort()
    parser.destroy()
  }
}
