import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify'
import fp from 'fastify-plugin'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Value } from '@sinclair/typebox/value'
import { FormatRegistry, type TSchema } from '@sinclair/typebox'
import { decodeUtf8, parseJsonStrict } from '../lib/strict-json.js'
import { LS_ERR_VALIDATION } from '../errors.js'
export { MAX_JSON_DEPTH, jsonTooDeep, parseJsonStrict } from '../lib/strict-json.js'

declare module 'fastify' {
  interface FastifyRequest { rawBody?: Buffer }
}

const DATE_TIME_RE = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => DATE_TIME_RE.test(v) && !Number.isNaN(Date.parse(v)))

// A query or path value read as a number: a plain decimal, nothing else. TypeBox's Value.Convert is laxer: it reads
// "true"/"false" as 1/0, "0x10" as 0 and "1.5" as the integer 1, so numbers are converted here instead (and anything
// else is kept as a string, which fails the check).
const DECIMAL_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/
const isNumberSchema = (s: TSchema | undefined): boolean => s !== undefined && (s.type === 'number' || s.type === 'integer' ||
  (Array.isArray(s.anyOf) && s.anyOf.length > 0 && (s.anyOf as TSchema[]).every(isNumberSchema)))
/** Converts query or path strings to the schema's types, but a number only from a decimal string. */
function convertStrings (schema: TSchema, input: Record<string, unknown>): unknown {
  const raw = { ...input } // Value.Convert may convert in place
  const value = Value.Convert(schema, input)
  const props = schema.properties as Record<string, TSchema> | undefined
  if (props === undefined || typeof value !== 'object' || value === null) return value
  for (const [k, s] of Object.entries(props)) {
    // TypeBox reads an integer with parseInt ("1.5" and "1e-38" become 1): the number as written, or the string
    const v = raw[k]
    if (typeof v === 'string' && isNumberSchema(s)) (value as Record<string, unknown>)[k] = DECIMAL_RE.test(v) ? Number(v) : v
  }
  return value
}

// Bodies are validated exactly (no type coercion, no silently dropped properties); querystrings and params are
// strings on the wire, so they are converted to the schema's types first (numbers only from decimal strings).
const compiled = new WeakMap<TSchema, ReturnType<typeof TypeCompiler.Compile>>()
export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  let check = compiled.get(schema)
  if (check === undefined) { check = TypeCompiler.Compile(schema); compiled.set(schema, check) }
  const c = check
  // a request without a body is an empty object (then given its defaults) for a body schema whose properties are all
  // optional or have a default; the OpenAPI document marks such bodies optional (infra/openapi.ts)
  const props = (schema.properties ?? {}) as Record<string, TSchema | undefined>
  const emptyBodyOk = httpPart === 'body' && schema.type === 'object' &&
    ((schema.required ?? []) as string[]).every((k) => props[k]?.default !== undefined)
  return (data: unknown) => {
    // Fastify passes a missing body as null; a JSON `null` body never gets here (see the preValidation hook below)
    if (emptyBodyOk && (data === undefined || data === null)) data = {}
    // params and querystrings arrive as null-prototype objects, which TypeBox's conversion leaves alone: copy them
    const input = httpPart === 'body' ? data : { ...(data ?? {}) as Record<string, unknown> }
    const withDefaults = Value.Default(schema, Value.Clone(input))
    const value = httpPart === 'body' ? withDefaults : convertStrings(schema, withDefaults as Record<string, unknown>)
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
    return decodeUtf8(body)
  })
  app.setValidatorCompiler(validatorCompiler)
  // Fastify hands the validator a missing body and a JSON `null` body alike (both null), and a missing body may be left
  // out where nothing in it is required: a `null` sent for an object body is refused here, before validation
  app.addHook('preValidation', async (req) => {
    if (req.body !== null || req.rawBody === undefined) return
    const schema = req.routeOptions.schema?.body as TSchema | undefined
    if (schema?.type === 'object') throw new LS_ERR_VALIDATION('the body is null; an object is expected')
  })
}, { name: 'ls-http-parsing', fastify: '5.x' })
