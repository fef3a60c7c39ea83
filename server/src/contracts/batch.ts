/**
 * The upload side of the source contract: what a batch source is told about the file it parses, and how it gives
 * each row with its line. Re-exported by `@leadscore/server/contracts`.
 * @packageDocumentation
 */
import type { EventInput, RefusedInput } from './index.js'

/** The event type of a lead profile change: its `lead` fields and attributes are applied to the lead, nothing is scored for it. */
export const LEAD_UPDATED = 'lead_updated'

/** What the host knows about an uploaded file, given to {@link SourceBatch.parse} with its bytes. */
export interface BatchFile {
  /** The file's name as the client sent it, or null. */
  readonly name: string | null
  /**
   * The media type the host chose this source by (without parameters): from the upload's `format` field, else the
   * file name's extension, else the part's `Content-Type`, else the first bytes. Always one of the source's `accepts`.
   */
  readonly type: string
  /**
   * The upload's options as the client gave them, not interpreted by the host: `kind` (`events` or `leads`) and
   * `mapping` (an object of column → field path, or null). Refuse options you cannot honour with a
   * {@link SourceInputError} whose code says why.
   */
  readonly options: Readonly<Record<string, unknown>>
  /** The server's limits: refuse a row longer than `maxRowBytes` (a {@link RefusedInput}) and a file with more columns than `maxColumns`. */
  readonly limits: { readonly maxRowBytes: number; readonly maxColumns: number }
  /**
   * Tells the host how the file is being read, once that is known (e.g. `{ mapping, delimiter }` after a CSV
   * header): a `mapping` object is shown on the upload record, and everything given here is part of the upload's
   * fingerprint, so the same bytes read the same way are recognised as a repeat (`duplicateOf`). Values are JSON.
   */
  describe(how: Readonly<Record<string, unknown>>): void
}

/** One row of a file with the line it starts on (1-based; a CSV header is line 1). */
export interface BatchRow {
  readonly line: number
  /** The event the row became, or why it could not become one (stored as the row's reject, with this line). */
  readonly input: EventInput | RefusedInput
}

/** A {@link BatchRow}. */
export function batchRow (line: number, input: EventInput | RefusedInput): BatchRow {
  return { line, input }
}

/** Whether an item yielded by `parse` is a {@link BatchRow} (rather than a bare event or refused input). */
export function isBatchRow (v: unknown): v is BatchRow {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  const r = v as { line?: unknown; input?: unknown; lead?: unknown }
  return Number.isSafeInteger(r.line) && r.input !== null && typeof r.input === 'object' && r.lead === undefined
}
