import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify'
import fp from 'fastify-plugin'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Value } from '@sinclair/typebox/value'
import { FormatRegistry, type TSchema } from '@sinclair/typebox'
import { decodeUtf8, parseJsonStrict } from '../lib/strict-json.js'
export { MAX_JSON_DEPTH, jsonTooDeep, parseJsonStrict } from '../lib/strict-json.js'

declare module 'fastify' {
  interface FastifyRequest { rawBody?: Buffer }
}

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
    return decodeUtf8(body)
  })
  app.setValidatorCompiler(validatorCompiler)
}, { name: 'ls-http-parsing', fastify: '5.x' })
