// The console's API types (console/src/lib/api/openapi.d.ts) are generated from the OpenAPI document the server
// serves, and the console's calls are typed by them: this fails while the committed file differs from what
// `npm run api:generate` writes from the current routes, so the console cannot drift from the server.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { buildTestApp } from '../helpers/harness.js'
import { API_TYPES_FILE, renderApiTypes, servedDocument } from '../../scripts/gen-api.js'

t.test('the committed API types are generated from the served OpenAPI document', async (t) => {
  const { app } = await buildTestApp(t)
  const doc = await servedDocument(app)
  const expected = await renderApiTypes(doc)
  const committed = readFileSync(API_TYPES_FILE, 'utf8')
  const want = expected.split('\n')
  const have = committed.split('\n')
  const at = want.findIndex((line, i) => have[i] !== line)
  const first = at === -1 && have.length !== want.length ? want.length : at
  t.equal(first, -1, 'console/src/lib/api/openapi.d.ts is up to date (if not: run `npm run api:generate` and commit it)', {
    ...(first !== -1 ? { line: first + 1, generated: want.slice(first, first + 5).join('\n'), committed: have.slice(first, first + 5).join('\n') } : {}),
  })

  // every operation of the document is typed in the generated file, under its own path and method
  const paths = Object.entries(doc.paths ?? {}) as Array<[string, Record<string, unknown>]>
  t.ok(paths.length >= 80, `the document has the API's paths (${paths.length})`)
  const mismatched: string[] = []
  for (const [path, item] of paths) {
    const start = committed.indexOf(`\n    ${JSON.stringify(path)}: {\n`)
    if (start === -1) { mismatched.push(`${path} (missing)`); continue }
    const block = committed.slice(start, committed.indexOf('\n    };\n', start))
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      if (new RegExp(`\\n {8}${method}: \\{`).test(block) !== (item[method] !== undefined)) mismatched.push(`${method.toUpperCase()} ${path}`)
    }
  }
  t.same(mismatched, [], 'each path and method of the document is typed, and no other')
})
