// A source's config form, driven by its type's JSON Schema (GET /v1/source-types): which fields to show, their
// starting values, and the config object built from what was typed. The server validates the config again; this
// catches what it can before sending.

export type FieldKind = 'enum' | 'text' | 'secret' | 'integer' | 'number' | 'boolean' | 'list' | 'json'

export interface ConfigField {
  key: string
  label: string
  kind: FieldKind
  /** Must be given (in the schema's `required`, with no default, and not a secret the server generates). */
  required: boolean
  description: string | null
  default: unknown
  options: string[]
  minimum: number | null
  maximum: number | null
  minLength: number | null
  maxLength: number | null
  pattern: string | null
  /** A secret the server generates when left empty. */
  generated: boolean
}

/** What the form holds: text for every field, a checkbox state for booleans. */
export type FieldValues = Record<string, string | boolean>

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v)
const num = (v: unknown): number | null => typeof v === 'number' ? v : null

/** `toleranceSeconds` → `Tolerance seconds`. */
export function humanize (key: string): string {
  const words = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ').toLowerCase()
  return words.charAt(0).toUpperCase() + words.slice(1)
}

function kindOf (schema: Json, secret: boolean): { kind: FieldKind; options: string[] } {
  const variants = Array.isArray(schema.anyOf) ? schema.anyOf.filter(isObject) : null
  if (variants !== null && variants.length > 0 && variants.every((v) => typeof v.const === 'string')) {
    return { kind: 'enum', options: variants.map((v) => v.const as string) }
  }
  if (Array.isArray(schema.enum) && schema.enum.every((v) => typeof v === 'string')) return { kind: 'enum', options: schema.enum as string[] }
  if (secret) return { kind: 'secret', options: [] }
  switch (schema.type) {
    case 'string': return { kind: 'text', options: [] }
    case 'integer': return { kind: 'integer', options: [] }
    case 'number': return { kind: 'number', options: [] }
    case 'boolean': return { kind: 'boolean', options: [] }
    case 'array':
      if (isObject(schema.items) && schema.items.type === 'string') return { kind: 'list', options: [] }
      return { kind: 'json', options: [] }
    default: return { kind: 'json', options: [] }
  }
}

/** The fields of a config schema, in the schema's order. */
export function configFields (schema: unknown, secrets: readonly string[], supplied: readonly string[] = []): ConfigField[] {
  if (!isObject(schema) || !isObject(schema.properties)) return []
  const required = new Set(Array.isArray(schema.required) ? schema.required as string[] : [])
  return Object.entries(schema.properties).filter(([, s]) => isObject(s)).map(([key, raw]) => {
    const s = raw as Json
    const secret = secrets.includes(key)
    const { kind, options } = kindOf(s, secret)
    const generated = secret && !supplied.includes(key)
    return {
      key, label: humanize(key), kind, options,
      required: required.has(key) && !('default' in s) && !generated,
      description: typeof s.description === 'string' ? s.description : null,
      default: s.default,
      minimum: num(s.minimum), maximum: num(s.maximum), minLength: num(s.minLength), maxLength: num(s.maxLength),
      pattern: typeof s.pattern === 'string' ? s.pattern : null,
      generated,
    }
  })
}

function textOf (f: ConfigField, v: unknown): string {
  if (v === undefined || v === null) return ''
  if (f.kind === 'list' && Array.isArray(v)) return v.map(String).join('\n')
  if (f.kind === 'json') return JSON.stringify(v, null, 2)
  return String(v)
}

/** Starting values: each field's default. */
export function initialValues (fields: readonly ConfigField[]): FieldValues {
  return Object.fromEntries(fields.map((f) => [f.key, f.kind === 'boolean' ? f.default === true : textOf(f, f.default)]))
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

function patternOk (pattern: string, value: string): boolean {
  try { return new RegExp(pattern, 'u').test(value) } catch { return true }
}

/**
 * The config to send: every field whose value differs from its default (the server fills in defaults), and a message
 * per field that cannot be right. An empty optional field is left out.
 */
export function buildConfig (fields: readonly ConfigField[], values: FieldValues): { config: Record<string, unknown>; errors: Record<string, string> } {
  const config: Record<string, unknown> = {}
  const errors: Record<string, string> = {}
  for (const f of fields) {
    const v = values[f.key]
    if (f.kind === 'boolean') {
      const b = v === true
      if (!same(b, f.default ?? false)) config[f.key] = b
      continue
    }
    const text = typeof v === 'string' ? (f.kind === 'secret' || f.kind === 'json' ? v : v.trim()) : ''
    if (text.trim() === '') {
      if (f.required) errors[f.key] = `Enter ${f.label.toLowerCase()}`
      continue
    }
    let value: unknown
    switch (f.kind) {
      case 'integer':
      case 'number': {
        const n = Number(text)
        if (!Number.isFinite(n) || (f.kind === 'integer' && !Number.isInteger(n))) { errors[f.key] = f.kind === 'integer' ? 'Enter a whole number' : 'Enter a number'; continue }
        if (f.minimum !== null && n < f.minimum) { errors[f.key] = `At least ${f.minimum}`; continue }
        if (f.maximum !== null && n > f.maximum) { errors[f.key] = `At most ${f.maximum}`; continue }
        value = n
        break
      }
      case 'list':
        value = text.split(/\r?\n|,/).map((x) => x.trim()).filter((x) => x !== '')
        break
      case 'json':
        try { value = JSON.parse(text) } catch { errors[f.key] = 'Enter valid JSON'; continue }
        if (!isObject(value) && !Array.isArray(value)) { errors[f.key] = 'Enter a JSON object'; continue }
        break
      default:
        if (f.kind === 'enum' && !f.options.includes(text)) { errors[f.key] = `Choose one of ${f.options.join(', ')}`; continue }
        if (f.minLength !== null && text.length < f.minLength) { errors[f.key] = `At least ${f.minLength} characters`; continue }
        if (f.maxLength !== null && text.length > f.maxLength) { errors[f.key] = `At most ${f.maxLength} characters`; continue }
        if (f.pattern !== null && !patternOk(f.pattern, text)) { errors[f.key] = 'This value has the wrong format'; continue }
        value = text
    }
    if (!same(value, f.default)) config[f.key] = value
  }
  return { config, errors }
}

/** The full URL of an endpoint path on this server. */
export function endpointUrl (origin: string, path: string): string {
  return new URL(path, origin).toString()
}
