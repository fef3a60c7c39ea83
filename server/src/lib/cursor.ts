import { LS_ERR_INVALID_CURSOR } from '../errors.js'

/** Opaque pagination cursor: the sort value and id of the last item of a page. */
export interface Cursor { v: string | number | null; id: string }

export function encodeCursor (c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url')
}

export function decodeCursor (s: string | undefined): Cursor | null {
  if (s === undefined || s === '') return null
  try {
    const c = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown
    if (c === null || typeof c !== 'object') throw new Error('bad')
    const { v, id } = c as Record<string, unknown>
    if (typeof id !== 'string' || !(v === null || typeof v === 'string' || typeof v === 'number')) throw new Error('bad')
    return { v, id }
  } catch {
    throw new LS_ERR_INVALID_CURSOR()
  }
}
