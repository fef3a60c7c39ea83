// Errors the framework meets before or around a route (unknown route, bad URL, unparsable HTTP, malformed or
// oversized bodies, a request during shutdown) are RFC 9457 problem+json with a stable code, like every other error.
import t, { type Test } from 'tap'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import type { LightMyRequestResponse } from 'fastify'
import { buildApp } from '../../server/src/app.js'
import { buildTestApp, AUTH, freshDbName, testConfig, testMongoUri } from '../helpers/harness.js'

type Problem = { type: string; title: string; status: number; code: string; requestId: string; instance: string }

function problem (t: Test, res: LightMyRequestResponse, status: number, code: string, what: string): void {
  t.equal(res.statusCode, status, `${what}: ${status}`)
  t.match(res.headers['content-type'], /^application\/problem\+json/, `${what}: problem+json`)
  const body = res.json<Problem>()
  t.equal(body.code, code, `${what}: ${code}`)
  t.equal(body.status, status, `${what}: status member`)
  t.type(body.requestId, 'string', `${what}: requestId`)
}

/** Writes `parts` on a raw connection (running the functions between them) and resolves with all it reads until it closes. */
async function raw (port: number, parts: Array<string | (() => Promise<void>)>): Promise<string> {
  const socket = connect(port, '127.0.0.1')
  let got = ''
  socket.on('data', (b: Buffer) => { got += b.toString('utf8') })
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.on('error', () => undefined)
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  for (const p of parts) {
    if (typeof p === 'string') socket.write(p)
    else await p()
  }
  await closed
  return got
}

/** Status, headers (lower-case names) and JSON body of a raw HTTP/1.1 answer. */
function parseRaw (text: string): { status: number; headers: Record<string, string>; body: Problem } {
  const [head, ...rest] = text.split('\r\n\r\n')
  const [statusLine, ...lines] = head!.split('\r\n')
  const headers: Record<string, string> = {}
  for (const l of lines) { const i = l.indexOf(':'); headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim() }
  return { status: Number(statusLine!.split(' ')[1]), headers, body: JSON.parse(rest.join('\r\n')) as Problem }
}

t.test('routing, URL and body errors are problems with codes', async (t) => {
  // without the web console, whose catch-all route would take the over-long path as a page request (404)
  const { app } = await buildTestApp(t, { LEADSCORE_BODY_LIMIT: '2048', LEADSCORE_CONSOLE_DIR: tmpdir() })
  problem(t, await app.inject({ url: '/v1/no-such-route', headers: AUTH }), 404, 'LS_ERR_NOT_FOUND', 'an unknown route')
  const other = await app.inject({ method: 'PATCH', url: '/healthz' })
  problem(t, other, 405, 'LS_ERR_METHOD_NOT_ALLOWED', 'a known path with another method')
  t.equal(other.headers.allow, 'GET, HEAD', 'with the methods it answers')
  {
    // with the web console served, its catch-all GET route leaves /v1/ paths to the not-found handler: a 405 too
    const consoleDir = mkdtempSync(join(tmpdir(), 'ls-console-'))
    writeFileSync(join(consoleDir, 'index.html'), '<!doctype html><title>console</title>')
    t.teardown(() => rmSync(consoleDir, { recursive: true, force: true }))
    const { app: withConsole } = await buildTestApp(t, { LEADSCORE_CONSOLE_DIR: consoleDir })
    const res = await withConsole.inject({ url: '/v1/suppressions/lift', headers: AUTH })
    problem(t, res, 405, 'LS_ERR_METHOD_NOT_ALLOWED', 'GET of a POST-only /v1 path, console served')
    t.equal(res.headers.allow, 'POST')
    t.equal((await withConsole.inject({ url: '/some/console/page' })).statusCode, 200, 'a console page')
    // a problem slug over the parameter length limit misses its route and reaches the catch-all: not a page
    const slug = await withConsole.inject({ url: `/problems/${'x'.repeat(250)}` })
    problem(t, slug, 404, 'LS_ERR_NOT_FOUND', 'a /problems/ slug over the parameter length limit, console served')
  }
  for (const [method, url, allow] of [['DELETE', '/v1/leads', 'GET, HEAD, POST'], ['PUT', '/v1/leads/ld_x', 'DELETE, GET, HEAD, PATCH'], ['TRACE', '/v1/rulesets/3/publish', 'POST'],
    // routed to a parameter's route by the method alone: the path names another resource
    ['PUT', '/v1/rulesets/validate', 'POST'], ['GET', '/v1/models/train', 'POST'], ['DELETE', '/v1/suppressions/lift', 'POST'],
    // Fastify would refuse a QUERY without a Content-Type first (400)
    ['QUERY', '/healthz', 'GET, HEAD']] as const) {
    const res = await app.inject({ method, url, headers: AUTH })
    problem(t, res, 405, 'LS_ERR_METHOD_NOT_ALLOWED', `${method} ${url}`)
    t.equal(res.headers.allow, allow, `${method} ${url}: Allow`)
  }
  problem(t, await app.inject({ method: 'DELETE', url: '/v1/no-such-route/x', headers: AUTH }), 404, 'LS_ERR_NOT_FOUND', 'an unknown path with any method')
  problem(t, await app.inject({ method: 'POST', url: '/v1/api-keys', headers: { ...AUTH, 'content-type': 'application/json' }, payload: '{"name": "x",' }), 400, 'LS_ERR_MALFORMED_JSON', 'malformed JSON')
  problem(t, await app.inject({ method: 'POST', url: '/v1/api-keys', headers: { ...AUTH, 'content-type': 'text/csv' }, payload: 'name\nx' }), 415, 'LS_ERR_UNSUPPORTED_MEDIA_TYPE', 'an unsupported content type')
  problem(t, await app.inject({ method: 'POST', url: '/v1/api-keys', headers: { ...AUTH, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'x'.repeat(4000), scopes: ['read'] }) }), 413, 'LS_ERR_BODY_TOO_LARGE', 'a body over the limit')
  // these two never reach the router: Fastify answers them through its frameworkErrors option
  problem(t, await app.inject({ url: '/v1/leads/%E0%A4%A', headers: AUTH }), 400, 'LS_ERR_VALIDATION', 'a malformed URL escape')
  problem(t, await app.inject({ url: `/v1/leads/${'a'.repeat(300)}`, headers: AUTH }), 414, 'LS_ERR_URL_TOO_LONG', 'a path parameter over 200 characters')
})

t.test('HTTP Node cannot parse, and requests during shutdown, are answered with problems on the wire', async (t) => {
  const uri = await testMongoUri(t)
  const app = await buildApp(testConfig(uri, freshDbName(), { LEADSCORE_WORKER: '0' }), { logger: false, startWorkers: false })
  let closing: Promise<void> | null = null
  t.teardown(async () => { await (closing ?? app.close()) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port

  const garbage = parseRaw(await raw(port, ['NOT HTTP AT ALL\r\n\r\n']))
  t.equal(garbage.status, 400, 'unparsable HTTP: 400')
  t.match(garbage.headers['content-type'], /^application\/problem\+json/, 'unparsable HTTP: problem+json')
  t.equal(garbage.body.code, 'LS_ERR_VALIDATION')

  const big = parseRaw(await raw(port, [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`]))
  t.equal(big.status, 431, 'headers over the limit: 431')
  t.match(big.headers['content-type'], /^application\/problem\+json/, 'headers over the limit: problem+json')
  t.equal(big.body.code, 'LS_ERR_HEADERS_TOO_LARGE')

  // a request whose headers are still arriving when the server starts closing is routed after closing began
  const late = parseRaw(await raw(port, [
    'GET /v1/leads HTTP/1.1\r\nHost: x\r\n',
    async () => {
      closing = app.close()
      await new Promise((resolve) => setTimeout(resolve, 300))
    },
    `Authorization: ${AUTH.authorization}\r\n\r\n`,
  ]))
  t.equal(late.status, 503, 'a request during shutdown: 503')
  t.match(late.headers['content-type'], /^application\/problem\+json/, 'a request during shutdown: problem+json')
  t.equal(late.headers['retry-after'], '1', 'a request during shutdown: Retry-After')
  t.equal(late.body.code, 'LS_ERR_SHUTTING_DOWN')
})
