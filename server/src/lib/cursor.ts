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

/** A cursor whose sort value is a string (a canonical order key); any other is refused as invalid. */
export function decodeStringCursor (s: string | undefined): { v: string; id: string } | null {
  const c = decodeCursor(s)
  if (c !== null && typeof c.v !== 'string') throw new LS_ERR_INVALID_CURSOR()
  return c as { v: string; id: string } | null
}

/** A page of a listing: its items and the cursor of the next page (null on the last). */
export interface CursorPage<T> { items: T[]; nextCursor: string | null }

/**
 * The page from items read one past the limit, in the listing's order: the extra item only tells that there is a
 * next page, whose cursor names the last item kept.
 */
export function pageOf<T> (docs: readonly T[], limit: number, cursorOf: (last: T) => Cursor): CursorPage<T> {
  const items = docs.slice(0, limit)
  const last = items[items.length - 1]
  return { items, nextCursor: docs.length > limit && last !== undefined ? encodeCursor(cursorOf(last)) : null }
}
