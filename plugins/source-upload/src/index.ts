import { Type } from '@sinclair/typebox'
import {
  batchRow, defineSourcePlugin, peek, refuseInput, SourceInputError,
  type BatchFile, type BatchRow, type EventInput, type RefusedInput,
} from '@leadscore/server/contracts'
import { UploadStop, checkUtf8, toUtf8 } from './byte-stream.js'
import { csvRecords, sniffDelimiter } from './csv-records.js'
import { jsonArrayRecords, ndjsonRecords, type RowReject } from './json-records.js'
import { checkMapping, compileCsvMapping, jsonMapper, type CsvMapper, type MappedRow, type UploadKind } from './mapping.js'

/** Media types of the three formats this plugin reads. */
export const CSV_TYPES = ['text/csv', 'application/csv', 'text/tab-separated-values'] as const
export const JSON_TYPES = ['application/json'] as const
export const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/jsonlines'] as const

/** An upload has no settings of its own: what a file means is given per upload (`kind`, `mapping`). */
export const UploadConfig = Type.Object({}, { additionalProperties: false })

function bytes (src: AsyncIterable<Uint8Array>): AsyncIterable<Buffer> {
  return (async function * () {
    for await (const c of src) yield Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength)
  })()
}

/** The upload's options, checked: what its rows are, and the column mapping it gives (if any). */
function optionsOf (file: BatchFile): { kind: UploadKind; mapping: Record<string, string | null> | null } {
  const kind = file.options.kind ?? 'events'
  if (kind !== 'events' && kind !== 'leads') throw new SourceInputError('kind must be events or leads', { code: 'LS_ERR_UPLOAD_MAPPING' })
  const given = file.options.mapping ?? null
  if (given === null) return { kind, mapping: null }
  const m = checkMapping(given, kind, file.limits.maxColumns)
  if ('error' in m) throw new SourceInputError(m.error, { code: 'LS_ERR_UPLOAD_MAPPING' })
  return { kind, mapping: m.mapping }
}

function row (line: number, m: MappedRow | { ok: false; reject: RowReject }): BatchRow {
  return batchRow(line, m.ok ? m.event as unknown as EventInput : refuseInput(m.reject.code, m.reject.reason, m.reject.raw) as RefusedInput)
}

async function * parseFile (input: AsyncIterable<Uint8Array>, file: BatchFile): AsyncGenerator<BatchRow> {
  const { kind, mapping } = optionsOf(file)
  const utf8 = await toUtf8(bytes(input))
  const { head, stream } = await peek(utf8.stream, (h) => h.indexOf(10) !== -1 || h.length >= 64 * 1024)
  if (head.length === 0) throw new UploadStop('LS_ERR_UPLOAD_FORMAT', 'the file is empty')
  const limits = { maxRowBytes: file.limits.maxRowBytes }
  if ((CSV_TYPES as readonly string[]).includes(file.type)) {
    const delimiter = sniffDelimiter(head, file.name)
    let mapper: CsvMapper | null = null
    for await (const rec of csvRecords(checkUtf8(stream), { delimiter, ...limits })) {
      if (mapper === null) {
        const m = compileCsvMapping(rec.cells, kind, mapping, file.limits.maxColumns)
        if ('headerError' in m) throw new UploadStop('LS_ERR_UPLOAD_HEADER', m.headerError, rec.line)
        if ('mappingError' in m) throw new UploadStop('LS_ERR_UPLOAD_MAPPING', m.mappingError, rec.line)
        mapper = m.mapper
        // the columns as resolved (given or recognised) and the delimiter: a file read another way is another upload
        file.describe({ mapping: m.mapper.resolved, delimiter })
        continue
      }
      yield row(rec.line, mapper.map(rec.cells))
    }
    if (mapper === null) throw new UploadStop('LS_ERR_UPLOAD_FORMAT', 'the file has no header line')
    return
  }
  file.describe({ mapping, delimiter: null })
  const map = jsonMapper(kind, mapping)
  const records = (JSON_TYPES as readonly string[]).includes(file.type) ? jsonArrayRecords(stream, limits) : ndjsonRecords(stream, limits)
  for await (const rec of records) yield row(rec.line, 'reject' in rec ? { ok: false, reject: rec.reject } : map(rec.value))
}

/**
 * Files of events or leads: CSV (a header line, then one row per event; `,` `;` tab or `|` delimited, UTF-8 or
 * UTF-16), a JSON array of objects, or NDJSON (one object per line). Columns and keys map to event fields by
 * name or by the upload's `mapping`; a row that cannot become an event is refused with its line and reason.
 */
export const uploadSource = defineSourcePlugin({
  kind: 'source',
  manifest: { id: 'upload', version: '1.0.0', contract: 1, config: UploadConfig },
  batch: {
    accepts: [...CSV_TYPES, ...JSON_TYPES, ...NDJSON_TYPES],
    async * parse (input, _ctx, file) {
      try {
        yield * parseFile(input, file)
      } catch (err) {
        // a problem of the file itself: the host keeps the rows before it and answers with this code and line
        if (err instanceof UploadStop) throw new SourceInputError(err.message, { code: err.code, ...(err.line !== null ? { line: err.line } : {}), cause: err })
        throw err
      }
    },
  },
})

export default uploadSource
