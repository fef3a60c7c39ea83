// Finishing touches on the OpenAPI 3.0 document @fastify/swagger builds from the route schemas (its transformObject
// option), so that the document says what the server does:
// - a numeric exclusiveMinimum/exclusiveMaximum (JSON Schema 2019+, what TypeBox writes) is spelled the OpenAPI 3.0
//   way, a boolean beside minimum/maximum (the server still validates with the TypeBox schema, unchanged);
// - a query parameter or body property with a default is not required of the client (the validator fills it in);
// - a JSON body is optional when nothing in it is required (the validator reads a missing body as {});
// - problems (every response whose schema is ProblemDetails) are application/problem+json, as they are sent.

import type { SwaggerTransformObject } from '@fastify/swagger'

type Json = Record<string, unknown>
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

export const PROBLEM_REF = '#/components/schemas/ProblemDetails'
export const PROBLEM_MEDIA_TYPE = 'application/problem+json'

/** Every schema object under `s` (itself included), depth first; $ref'd schemas are not followed. */
function walkSchema (s: unknown, visit: (s: Json) => void): void {
  if (Array.isArray(s)) { for (const x of s) walkSchema(x, visit); return }
  if (!isObj(s)) return
  visit(s)
  for (const k of ['properties', 'patternProperties', 'definitions', '$defs']) if (isObj(s[k])) for (const x of Object.values(s[k])) walkSchema(x, visit)
  for (const k of ['items', 'additionalProperties', 'not', 'anyOf', 'allOf', 'oneOf', 'prefixItems']) walkSchema(s[k], visit)
}

/** exclusiveMinimum: n (JSON Schema) as minimum: n, exclusiveMinimum: true (OpenAPI 3.0); the same for maxima. */
function exclusiveBounds (s: Json): void {
  for (const [ex, bound, stricter] of [['exclusiveMinimum', 'minimum', (a: number, b: number) => a > b], ['exclusiveMaximum', 'maximum', (a: number, b: number) => a < b]] as const) {
    const e = s[ex]
    if (typeof e !== 'number') continue
    const b = s[bound]
    // both given: the stricter one holds
    if (typeof b === 'number' && stricter(b, e)) { delete s[ex]; continue }
    s[bound] = e
    s[ex] = true
  }
}

/** Drops from `required` the properties that have a default (a missing one is filled in by the validator). */
function defaultsNotRequired (s: Json): void {
  if (!Array.isArray(s.required) || !isObj(s.properties)) return
  const props = s.properties
  const required = (s.required as string[]).filter((k) => !(isObj(props[k]) && props[k].default !== undefined))
  if (required.length > 0) s.required = required
  else delete s.required
}

const METHODS = new Set(['get', 'put', 'post', 'patch', 'delete', 'head', 'options', 'trace'])

/** For @fastify/swagger's transformObject option: changes the generated document in place and returns it. */
export const transformOpenapi: SwaggerTransformObject = (documentObject) => {
  if (!('openapiObject' in documentObject)) return documentObject.swaggerObject
  const doc = documentObject.openapiObject as Json
  const components = isObj(doc.components) ? doc.components : {}
  if (isObj(components.schemas)) for (const s of Object.values(components.schemas)) walkSchema(s, exclusiveBounds)
  for (const item of Object.values(isObj(doc.paths) ? doc.paths : {})) {
    if (!isObj(item)) continue
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.has(method) || !isObj(op)) continue
      for (const p of Array.isArray(op.parameters) ? op.parameters as Json[] : []) {
        walkSchema(p.schema, exclusiveBounds)
        if (p.in !== 'path' && isObj(p.schema) && p.schema.default !== undefined) p.required = false
      }
      const body = op.requestBody
      if (isObj(body) && isObj(body.content)) {
        for (const media of Object.values(body.content)) if (isObj(media)) walkSchema(media.schema, (s) => { exclusiveBounds(s); defaultsNotRequired(s) })
        const types = Object.keys(body.content)
        const json = body.content['application/json']
        const schema = isObj(json) ? json.schema : undefined
        // the same rule as the validator's (infra/http-parsing.ts): an object body with nothing required may be left out
        if (types.length === 1 && isObj(schema) && schema.type === 'object' && schema.required === undefined) body.required = false
      }
      for (const res of Object.values(isObj(op.responses) ? op.responses : {})) {
        if (!isObj(res) || !isObj(res.content)) continue
        const medias = Object.values(res.content).filter(isObj)
        if (medias.length > 0 && medias.every((m) => isObj(m.schema) && m.schema.$ref === PROBLEM_REF)) {
          res.content = { [PROBLEM_MEDIA_TYPE]: { schema: { $ref: PROBLEM_REF } } }
        } else {
          for (const m of medias) walkSchema(m.schema, exclusiveBounds)
        }
      }
    }
  }
  return documentObject.openapiObject
}
