// The console's API types (console/src/lib/api/openapi.d.ts) are generated from the OpenAPI document the server
// serves, and the console's calls are typed by them: this fails while the committed file differs from what
// `npm run api:generate` writes from the current routes, or while a page does not type-check against it, so the
// console cannot drift from the server. The generated client's own behaviour is checked over a real socket.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { buildTestApp } from '../helpers/harness.js'
import { API_TYPES_FILE, renderApiTypes, servedDocument } from '../../scripts/gen-api.js'
import { ApiError, http, ok, setUnauthorizedHandler } from '../../console/src/lib/api/client.js'

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

// The generated file only helps if the pages are checked against it: svelte-check (as `npm run check --workspace
// @leadscore/console`) fails on any call whose path, parameters, body or use of the answer the document does not allow.
t.test('every page of the console type-checks against the committed API types', { timeout: 300_000 }, async (t) => {
  const consoleDir = fileURLToPath(new URL('../../console/', import.meta.url))
  const bin = (p: string): string => fileURLToPath(new URL(`../../node_modules/${p}`, import.meta.url))
  const run = promisify(execFile)
  await run(process.execPath, [bin('@sveltejs/kit/svelte-kit.js'), 'sync'], { cwd: consoleDir })
  const res = await run(process.execPath, [bin('svelte-check/bin/svelte-check'), '--fail-on-warnings', '--output', 'machine'], { cwd: consoleDir, maxBuffer: 64 << 20 })
    .catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? String(err) }))
  const problems = res.stdout.split('\n').filter((l) => /^\d+ (ERROR|WARNING) /.test(l))
  t.same(problems, [], 'svelte-check reports no error or warning')
  t.match(res.stdout, /COMPLETED \d+ FILES 0 ERRORS 0 WARNINGS/, 'svelte-check ran over the console', { stderr: res.stderr.slice(-2000) })
})

// The console's client itself (console/src/lib/api/client.ts), over a real socket: the console calls the same origin,
// a test names the server's address per call (`baseUrl`) and carries the session cookie itself.
t.test('the generated client sends the CSRF header, throws problems as ApiError and reports a lapsed session', async (t) => {
  const admin = { email: 'client-admin@example.com', password: 'client-admin-password' }
  const { app } = await buildTestApp(t, { LEADSCORE_ADMIN_EMAIL: admin.email, LEADSCORE_ADMIN_PASSWORD: admin.password })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  let lapsed = 0
  setUnauthorizedHandler(() => { lapsed++ })
  t.teardown(() => { setUnauthorizedHandler(null) })

  const signIn = await http.POST('/v1/session', { baseUrl, body: admin })
  t.equal(signIn.response.status, 200, 'signed in')
  t.equal(signIn.data?.user.email, admin.email)
  const cookie = signIn.response.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
  t.match(cookie, /^ls_session=./, 'the session cookie')
  const headers = { cookie }

  // a cookie-authenticated write: refused without the CSRF header, accepted through the client, which sends it
  const bare = await fetch(`${baseUrl}/v1/api-keys`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'k', scopes: ['read'] }) })
  t.equal(bare.status, 403, 'a write without the header is refused')
  const created = await ok(http.POST('/v1/api-keys', { baseUrl, headers, body: { name: 'from the client', scopes: ['read'] } }))
  t.same(created.scopes, ['read'], 'the client\'s write is accepted')
  t.match(created.key, /^lsk_/, 'and answers the typed body')

  // an empty or null query value is left out (the server's default applies): sent, `sort=` would be refused
  const page = await ok(http.GET('/v1/leads', { baseUrl, headers, params: { query: { limit: 5, cursor: null as unknown as undefined, sort: '' as never } } }))
  t.same(page.items, [], 'the empty and null query values were not sent')
  const sent = await fetch(`${baseUrl}/v1/leads?limit=5&sort=`, { headers })
  t.equal(sent.status, 400, '(an empty sort is refused when sent)')

  // a problem answer is thrown as ApiError with the problem's code and detail
  const missing = await ok(http.GET('/v1/leads/{id}', { baseUrl, headers, params: { path: { id: 'no-such-lead' } } })).catch((e: unknown) => e)
  t.ok(missing instanceof ApiError, 'a 404 is thrown as ApiError')
  t.equal((missing as ApiError).status, 404)
  t.equal((missing as ApiError).code, 'LS_ERR_LEAD_NOT_FOUND')
  t.match((missing as ApiError).message, /no-such-lead/, 'the message is the problem\'s detail')
  t.equal(lapsed, 0, 'a 404 is not a lapsed session')

  // a 401 calls the unauthorized handler, except on /v1/session (where it only means "not signed in")
  const noSession = await ok(http.GET('/v1/session', { baseUrl })).catch((e: unknown) => e)
  t.equal((noSession as ApiError).status, 401)
  t.equal(lapsed, 0, 'a 401 of /v1/session is not reported')
  const lapsedCall = await ok(http.GET('/v1/stats', { baseUrl, headers: { cookie: 'ls_session=expired' } })).catch((e: unknown) => e)
  t.equal((lapsedCall as ApiError).code, 'LS_ERR_UNAUTHORIZED')
  t.equal(lapsed, 1, 'a 401 elsewhere is reported once')

  // a 204 resolves to undefined
  t.equal(await ok(http.DELETE('/v1/api-keys/{id}', { baseUrl, headers, params: { path: { id: created.id } } })), undefined, 'a 204 resolves to undefined')

  // a server that cannot be reached is an ApiError with status 0
  await app.close()
  const down = await ok(http.GET('/v1/stats', { baseUrl, headers })).catch((e: unknown) => e)
  t.ok(down instanceof ApiError, 'a network failure is thrown as ApiError')
  t.equal((down as ApiError).code, 'NETWORK')
})
