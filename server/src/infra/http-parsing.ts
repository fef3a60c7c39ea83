import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify'
import fp from 'fastify-plugin'
import sjson from 'secure-json-parse'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Value } from '@sinclair/typebox/value'
import { FormatRegistry, type TSchema } from '@sinclair/typebox'
import { LS_ERR_BODY_TOO_DEEP, LS_ERR_FORBIDDEN_KEY, LS_ERR_INVALID_ENCODING, LS_ERR_MALFORMED_JSON } from '../errors.js'

declare module 'fastify' {
  interface FastifyRequest { rawBody?: Buffer }
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })
// A \uD800-\uDFFF escape in the text may decode to a lone surrogate, which the database driver would store as U+FFFD.
const SURROGATE_ESCAPE_RE = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}/
// in a u-mode pattern, a surrogate range matches only unpaired surrogates
const LONE_SURROGATE_RE = /[\uD800-\uDFFF]/u

/** true when a string or object key anywhere in a parsed JSON value holds an unpaired surrogate (iterative: no depth limit). */
function hasLoneSurrogate (root: unknown): boolean {
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const v = stack.pop()
    if (typeof v === 'string') {
      if (LONE_SURROGATE_RE.test(v)) return true
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x)
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (LONE_SURROGATE_RE.test(k)) return true
        stack.push(x)
      }
    }
  }
  return false
}

/** Deepest nesting of arrays and objects a JSON body may have. */
export const MAX_JSON_DEPTH = 64

const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * true when JSON bytes nest arrays/objects deeper than `max`. One linear pass, run before parsing: a megabyte of
 * `[[[[` otherwise costs the parser (and every recursive walk after it) far more than the check. Brackets inside
 * strings do not count; UTF-8 continuation bytes are >= 0x80, so scanning bytes is safe.
 */
export function jsonTooDeep (raw: Uint8Array, max = MAX_JSON_DEPTH): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]
    if (inString) {
      if (b === BACKSLASH) i++ // the escaped byte can neither end the string nor open a level
      else if (b === QUOTE) inString = false
    } else if (b === QUOTE) {
      inString = true
    } else if (b === 0x5b || b === 0x7b) { // [ {
      if (++depth > max) return true
    } else if (b === 0x5d || b === 0x7d) { // ] }
      depth--
    }
  }
  return false
}

/**
 * Nesting deeper than {@link MAX_JSON_DEPTH} refused (before any parsing), strict UTF-8 (never silently U+FFFD, including lone surrogates written as \u escapes), and JSON with
 * __proto__/constructor refused. Exported for non-HTTP callers.
 */
export function parseJsonStrict (raw: Buffer): unknown {
  if (jsonTooDeep(raw)) throw new LS_ERR_BODY_TOO_DEEP(MAX_JSON_DEPTH)
  let text: string
  try { text = decoder.decode(raw) } catch { throw new LS_ERR_INVALID_ENCODING() }
  if (text.trim() === '') throw new LS_ERR_MALFORMED_JSON('the body is empty')
  let value: unknown
  try {
    value = sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' })
  } catch (err) {
    const msg = (err as Error).message
    if (/prototype|constructor/i.test(msg)) throw new LS_ERR_FORBIDDEN_KEY(/constructor/i.test(msg) ? 'constructor' : '__proto__')
    throw new LS_ERR_MALFORMED_JSON(msg)
  }
  if (SURROGATE_ESCAPE_RE.test(text) && hasLoneSurrogate(value)) throw new LS_ERR_INVALID_ENCODING()
  return value
}

// string formats used by the schemas (TypeBox knows none by itself)
const DATE_TIME_RE = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => DATE_TIME_RE.test(v) && !Number.isNaN(Date.parse(v)))

// Bodies are validated exactly (no type coercion, no silently dropped properties); querystrings and params are
// strings on the wire, so they are converted to the schema's types first.
const compiled = new WeakMap<TSchema, ReturnType<typeof TypeCompiler.Compile>>()
export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  let check = compiled.get(schema)
  if (check === undefined) { check = TypeCompiler.Compile(schema); compiled.set(schema, check) }
  const c = check
  // a request without a body is an empty object for a body schema whose properties are all optional
  const emptyBodyOk = httpPart === 'body' && schema.type === 'object' && (schema.required ?? []).length === 0
  return (data: unknown) => {
    if (emptyBodyOk && (data === undefined || data === null)) return { value: {} }
    // params and querystrings arrive as null-prototype objects, which TypeBox's conversion leaves alone: copy them
    const input = httpPart === 'body' ? data : { ...(data ?? {}) as Record<string, unknown> }
    const withDefaults = Value.Default(schema, Value.Clone(input))
    const value = httpPart === 'body' ? withDefaults : Value.Convert(schema, withDefaults)
    if (c.Check(value)) return { value }
    const errs = [...c.Errors(value)].slice(0, 20).map((e) => ({ instancePath: e.path, message: e.message, params: {} }))
    const error = Object.assign(new Error(errs.map((e) => `${e.instancePath} ${e.message}`).join('; ')), { validation: errs, validationContext: httpPart })
    return { error }
  }
}

export default fp(async function httpParsing (app: FastifyInstance) {
  app.removeContentTypeParser(['application/json', 'text/plain'])
  app.addContentTypeParser(/^application\/([\w.+-]+\+)?json$/, { parseAs: 'buffer' }, async (req: FastifyRequest, body: Buffer) => {
    req.rawBody = body
    return parseJsonStrict(body)
  })
  app.addContentTypeParser('text/plain', { parseAs: 'buffer' }, async (req: FastifyRequest, body: Buffer) => {
    req.rawBody = body
    try { return decoder.decode(body) } catch { throw new LS_ERR_INVALID_ENCODING() }
  })
  app.setValidatorCompiler(validatorCompiler)
}, { name: 'ls-http-parsing', fastify: '5.x' })
