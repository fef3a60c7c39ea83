// The lead index: documents whose `_id` is a sort key, so a filtered, sorted page of leads is one `_id` range read in
// `_id` order (served from the `_id` index by MongoDB, and by the embedded build's range patch) instead of a scan
// of the leads. A key is `<view>|<filter>|<value>\u0001<lead id>`:
//   view   s (score, read descending), a (score, ascending), c (created), u (updated), e (last event), n (name),
//          q (search token)
//   filter '' for every lead, or `stage=…`, `status=…`, `source=…` (score view only; URI-encoded)
//   value  an order-preserving encoding of the sort value (numbers as 16 hex digits; null first)
// Keys are a function of the lead's summary only, so a writer knows which to add and remove.
import type { LeadSummary } from './summary.js'

export type View = 's' | 'a' | 'c' | 'u' | 'e' | 'n' | 'q'
export type FilterField = 'stage' | 'status' | 'source'

const SEP = '\u0001'

/** 16 hex digits that sort as the numbers do (IEEE 754 with the sign folded in). */
export function sortableNumber (x: number): string {
  const b = Buffer.alloc(8)
  b.writeDoubleBE(x === 0 ? 0 : x)
  if ((b[0]! & 0x80) !== 0) for (let i = 0; i < 8; i++) b[i] = ~b[i]! & 0xff
  else b[0] = b[0]! ^ 0x80
  return b.toString('hex')
}

const nullable = (v: string | null): string => v === null ? '0' : `1${v}`
// the separator and NUL may not appear inside a value
// eslint-disable-next-line no-control-regex -- these two control characters are the ones taken out
const clean = (s: string): string => s.replace(/[\u0000\u0001]/g, '')

/** The prefix of a view (and filter): every key of it starts so, and none of another. */
export function prefixOf (view: View, filter?: { field: FilterField; value: string }): string {
  return `${view}|${filter === undefined ? '' : `${filter.field}=${encodeURIComponent(filter.value)}`}|`
}

/** The first string after every key with this prefix (`|` is followed by `}`; filter values are URI-encoded). */
export const prefixEnd = (prefix: string): string => `${prefix.slice(0, -1)}}`

// Views read in descending order carry the lead id complemented (each character c as U+FFFF - c), so that leads with
// the same value still come in ascending id order, as the list's tie-break says. Complemented ids start at U+FF00 and
// above; plain ids are ASCII, so a key tells which it holds.
const complement = (id: string): string => String.fromCharCode(...[...id].map((ch) => 0xffff - ch.charCodeAt(0)))
const DESCENDING = new Set<View>(['s', 'c', 'u', 'e'])

export const keyOf = (prefix: string, value: string, leadId: string): string =>
  `${prefix}${value}${SEP}${DESCENDING.has(prefix[0] as View) ? complement(leadId) : leadId}`

/** The lead id at the end of a key. */
export function leadIdOfKey (key: string): string {
  const id = key.slice(key.lastIndexOf(SEP) + 1)
  return id !== '' && id.charCodeAt(0) >= 0xff00 ? complement(id) : id
}

/** The value part of a key with a known prefix. */
export function valueOfKey (key: string, prefix: string): string {
  return key.slice(prefix.length, key.lastIndexOf(SEP))
}

/** The score key range `[from, to)` of scores in `[min, max]` within a prefix. */
export function scoreRange (prefix: string, min?: number, max?: number): { from: string; to: string } {
  return {
    from: min === undefined ? prefix : `${prefix}${sortableNumber(min)}`,
    // the separator follows the value, so every key of `max` sorts before `max` + '\u0002'
    to: max === undefined ? prefixEnd(prefix) : `${prefix}${sortableNumber(max)}\u0002`,
  }
}

const MAX_TOKENS = 24
const MAX_TOKEN_LENGTH = 40

/** Lower case, accents removed, as search tokens and queries are compared. */
export function normalizeText (s: string): string {
  return s.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase()
}

/**
 * Search tokens of a lead: the words of its name and company, its email (whole, local part, domain and the domain's
 * labels) and its external id (whole and its words). A search matches leads with a token starting with the query's
 * longest word, so a token that begins another one (`ada` of `ada@acme.io`, `acme` of `acme.io`) matches nothing
 * the longer one does not, and is left out: each token is a key written with the lead and rewritten with its name.
 */
export function tokensOf (s: Pick<LeadSummary, 'name' | 'email' | 'company' | 'externalId'>): string[] {
  const out = new Set<string>()
  const words = (t: string): string[] => normalizeText(t).split(/[^\p{L}\p{N}]+/u).filter((w) => w !== '')
  for (const t of [s.name, s.company]) if (t !== null) for (const w of words(t)) out.add(w)
  if (s.email !== null) {
    const e = normalizeText(s.email)
    out.add(e)
    const at = e.lastIndexOf('@')
    if (at > 0) {
      out.add(e.slice(at + 1))
      for (const w of words(e.slice(0, at))) out.add(w)
      for (const w of words(e.slice(at + 1))) out.add(w)
    }
  }
  if (s.externalId !== null) {
    out.add(normalizeText(s.externalId))
    for (const w of words(s.externalId)) out.add(w)
  }
  const sorted = [...new Set([...out].map((t) => clean(t).slice(0, MAX_TOKEN_LENGTH)).filter((t) => t !== ''))].sort()
  // in sorted order, the tokens a token begins come right after it
  return sorted.filter((t, i) => sorted[i + 1]?.startsWith(t) !== true).slice(0, MAX_TOKENS)
}

/** The longest word of a search query, normalized as tokens are ('' when it has none). */
export function queryToken (q: string): string {
  const ws = normalizeText(q).split(/[^\p{L}\p{N}@.\-_]+/u).filter((w) => w !== '')
  return clean(ws.sort((a, b) => b.length - a.length)[0] ?? '').slice(0, MAX_TOKEN_LENGTH)
}

/** Every index key of a lead. */
export function keysOf (s: LeadSummary): string[] {
  const score = sortableNumber(s.score)
  const out = [keyOf(prefixOf('s'), score, s.id)]
  // no grade keys: no request filters the list by grade
  const filters: Array<{ field: FilterField; value: string }> = [
    { field: 'stage', value: s.stage }, { field: 'status', value: s.status },
    ...s.sources.map((value) => ({ field: 'source' as const, value })),
  ]
  for (const f of filters) out.push(keyOf(prefixOf('s', f), score, s.id))
  out.push(keyOf(prefixOf('a'), score, s.id))
  out.push(keyOf(prefixOf('c'), sortableNumber(s.createdAt), s.id))
  out.push(keyOf(prefixOf('u'), sortableNumber(s.updatedAt), s.id))
  out.push(keyOf(prefixOf('e'), nullable(s.lastEventAt === null ? null : sortableNumber(s.lastEventAt)), s.id))
  out.push(keyOf(prefixOf('n'), nullable(s.name === null ? null : clean(s.name)), s.id))
  for (const t of tokensOf(s)) out.push(keyOf(prefixOf('q'), t, s.id))
  return out
}
