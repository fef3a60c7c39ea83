// The OpenAPI document says what the server does (what schemathesis checks, tested here without it): problems are
// application/problem+json, bounds are spelled the OpenAPI 3.0 way, defaults are not required, bodies with nothing
// required are optional (and the server reads a missing one as {}), and /metrics and /problems/{slug} document
// their answers.
import t from 'tap'
import { buildTestApp, AUTH } from '../helpers/harness.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const METHODS = ['get', 'put', 'post', 'patch', 'delete']

function * operations (doc: Json): Generator<[string, string, Json]> {
  for (const [path, item] of Object.entries(doc.paths as Json)) {
    for (const m of METHODS) if (item[m] !== undefined) yield [m, path, item[m] as Json]
  }
}
function * schemas (s: unknown): Generator<Json> {
  if (Array.isArray(s)) { for (const x of s) yield * schemas(x); return }
  if (typeof s !== 'object' || s === null) return
  yield s as Json
  for (const v of Object.values(s)) yield * schemas(v)
}

t.test('the OpenAPI document', async (t) => {
  const { app } = await buildTestApp(t)
  const doc = (await app.inject({ url: '/docs/json' })).json() as Json

  t.test('problems are application/problem+json', async (t) => {
    let n = 0
    for (const [m, path, op] of operations(doc)) {
      for (const [status, res] of Object.entries(op.responses as Json)) {
        for (const [type, media] of Object.entries((res.content ?? {}) as Json)) {
          if (media.schema?.$ref !== '#/components/schemas/ProblemDetails') continue
          n++
          if (type !== 'application/problem+json') t.fail(`${m.toUpperCase()} ${path} ${status}: ${type}`)
        }
      }
    }
    t.ok(n > 100, `${n} problem responses, every one application/problem+json`)
    const res = await app.inject({ url: '/v1/leads/nope', headers: AUTH })
    t.match(res.headers['content-type'], /^application\/problem\+json/, 'as they are sent')
  })

  t.test('exclusive bounds are OpenAPI 3.0 booleans', async (t) => {
    for (const s of schemas(doc)) {
      for (const k of ['exclusiveMinimum', 'exclusiveMaximum']) if (k in s && typeof s[k] !== 'boolean') t.fail(`${k}: ${JSON.stringify(s[k])}`)
    }
    const alarm = (doc.paths['/v1/models/{id}/drift'].get.parameters as Json[]).find((p) => p.name === 'alarm')!
    t.match(alarm.schema, { minimum: 0, exclusiveMinimum: true })
    // and the server still refuses 0
    const res = await app.inject({ url: '/v1/models/m_nope/drift?alarm=0', headers: AUTH })
    t.equal(res.statusCode, 400, res.body)
    t.equal(res.json().code, 'LS_ERR_VALIDATION')
  })

  t.test('what has a default is not required', async (t) => {
    for (const [m, path, op] of operations(doc)) {
      for (const p of (op.parameters ?? []) as Json[]) {
        if (p.in !== 'path' && p.schema?.default !== undefined && p.required === true) t.fail(`${m.toUpperCase()} ${path}: ?${p.name} has a default but is required`)
      }
      const body = op.requestBody?.content?.['application/json']?.schema as Json | undefined
      for (const s of schemas(body)) {
        for (const k of (Array.isArray(s.required) ? s.required : []) as string[]) {
          if (s.properties?.[k]?.default !== undefined) t.fail(`${m.toUpperCase()} ${path}: body property ${k} has a default but is required`)
        }
      }
    }
    const adj = doc.paths['/v1/leads/{id}/adjustments'].post.requestBody.content['application/json'].schema
    t.notOk((adj.required as string[]).includes('dimension'), 'an adjustment\'s dimension (default engagement)')
    t.same(adj.required, ['points', 'note'])
    t.equal((doc.paths['/v1/leads'].get.parameters as Json[]).find((p) => p.name === 'limit')?.required, false, 'GET /v1/leads ?limit')
  })

  t.test('a body with nothing required is optional, and a missing one reads as {}', async (t) => {
    const optional: string[] = []
    for (const [m, path, op] of operations(doc)) {
      if (op.requestBody === undefined) continue
      const schema = op.requestBody.content['application/json']?.schema as Json | undefined
      const nothingRequired = schema?.type === 'object' && (schema.required ?? []).length === 0
      if (nothingRequired && Object.keys(op.requestBody.content).length === 1) {
        t.equal(op.requestBody.required, false, `${m.toUpperCase()} ${path}: optional body`)
        optional.push(`${m.toUpperCase()} ${path}`)
      } else {
        t.equal(op.requestBody.required, true, `${m.toUpperCase()} ${path}: required body`)
      }
    }
    t.ok(optional.length >= 10, `${optional.length} optional bodies`)
    for (const op of optional) {
      const [method, path] = op.split(' ') as [string, string]
      const url = path.replace('{version}', '1').replace(/\{\w+\}/g, 'nope')
      const none = await app.inject({ method: method as 'POST', url, headers: AUTH })
      // accepted (e.g. POST /v1/models/train starts a job, and a second one is a 409 while it runs)
      if (none.statusCode < 300) { t.pass(`${op}: no body is accepted (${none.statusCode})`); continue }
      const empty = await app.inject({ method: method as 'POST', url, headers: AUTH, payload: {} })
      t.equal(none.statusCode, empty.statusCode, `${op}: no body is answered as {} (${empty.statusCode}) ${none.body.slice(0, 200)}`)
      if (none.statusCode >= 400) t.equal(none.json().code, empty.json().code, `${op}: the same problem`)
    }
    // a JSON null is a body, and not the object the schema asks for
    for (const op of ['PATCH /v1/users/me', 'POST /v1/models/train', 'POST /v1/rulesets/1/publish']) {
      const [method, url] = op.split(' ') as [string, string]
      const res = await app.inject({ method: method as 'POST', url, headers: { ...AUTH, 'content-type': 'application/json' }, payload: 'null' })
      t.equal(res.statusCode, 400, `${op} with a null body: ${res.body.slice(0, 200)}`)
      t.equal(res.json().code, 'LS_ERR_VALIDATION', `${op} with a null body`)
    }
  })

  t.test('/metrics and /problems/{slug} document their answers', async (t) => {
    const metrics = doc.paths['/metrics'].get.responses
    t.match(metrics['200'], { content: { 'text/plain': { schema: { type: 'string' } } } }, '/metrics: 200 text/plain')
    const res = await app.inject({ url: '/metrics', headers: AUTH })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^text\/plain/)
    const problems = doc.paths['/problems/{slug}'].get.responses
    t.ok(problems['400'] !== undefined, '/problems/{slug}: 400 documented')
    const long = await app.inject({ url: `/problems/${'x'.repeat(101)}` })
    t.equal(long.statusCode, 400, 'a slug over 100 characters is a 400')
    t.equal((await app.inject({ url: '/problems/validation' })).statusCode, 200)
  })
})
