// RFC 4180 CSV writing that is safe to open in a spreadsheet: a text cell starting with = + - @ tab CR or NUL is
// prefixed with ' so it is never evaluated as a formula. Numbers and booleans are written as they are.

const DANGEROUS = /^[=+\-@\t\r\0]/

export function csvCell (v: unknown): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : ''
  if (typeof v === 'boolean') return v ? 'true' : 'false'
  let s = v instanceof Date ? v.toISOString() : typeof v === 'string' ? v : JSON.stringify(v)
  if (DANGEROUS.test(s)) s = `'${s}`
  return `"${s.replace(/"/g, '""')}"`
}

export function csvRow (values: readonly unknown[]): string {
  return values.map(csvCell).join(',') + '\r\n'
}
