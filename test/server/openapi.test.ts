// The OpenAPI document at /docs/json describes every registered /v1 route, and nothing else under /v1.
import t from 'tap'
import { buildTestApp } from '../helpers/harness.js'

interface OpenApiDoc { openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, unknown>> }

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const

/** Every (method, path) the router knows, rebuilt from the printRoutes tree (each level indents by 4 columns). */
function registeredRoutes (tree: string): Array<{ method: string; path: string }> {
  const out: Array<{ method: string; path: string }> = []
  const stack: string[] = []
  for (const line of tree.split('\n')) {
    const m = /^([\s│├└─]*)(\S.*?) \(([A-Z, ]+)\)$/.exec(line)
    if (m === null) continue
    const depth = Math.round(m[1]!.length / 4)
    stack[depth] = m[2]!
    stack.length = depth + 1
    const path = stack.join('').replace(/\/{2,}/g, '/')
    for (const method of m[3]!.split(',').map((s) => s.trim())) out.push({ method, path })
  }
  return out
}

// WebSocket-only routes: @fastify/websocket hides them from the document (OpenAPI 3 cannot describe a WebSocket;
// a plain GET of them is not an HTTP endpoint). The protocol is documented in docs/architecture.md.
const WEBSOCKET_ROUTES = new Set(['/v1/live'])

const toOpenApiPath = (p: string): string => p.replace(/:([A-Za-z0-9_]+)/g, '{$1}')

t.test('GET /docs/json is an OpenAPI 3 document with every /v1 route', async (t) => {
  const { app } = await buildTestApp(t)
  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const doc = res.json<OpenApiDoc>()
  t.match(doc.openapi, /^3\.\d+\.\d+$/, 'an OpenAPI 3 document')
  t.equal(doc.info.title, 'Leadscore API')
  t.type(doc.paths, 'object')

  const routes = registeredRoutes(app.printRoutes({ commonPrefix: false }))
    .filter((r) => r.path.startsWith('/v1/') && (METHODS as readonly string[]).includes(r.method))
  t.ok(routes.length >= 25, `found the registered /v1 routes (${routes.length})`)
  for (const ws of WEBSOCKET_ROUTES) {
    t.ok(routes.some((r) => r.path === ws), `${ws} is registered (WebSocket)`)
    t.notOk(ws in doc.paths, `${ws} is a WebSocket route, not an operation in the document`)
  }
  for (const r of routes.filter((x) => !WEBSOCKET_ROUTES.has(x.path))) {
    const path = toOpenApiPath(r.path)
    const item = doc.paths[path]
    t.ok(item !== undefined && r.method.toLowerCase() in item, `${r.method} ${path} is in the OpenAPI document`)
  }
  // and the document describes no /v1 operation that does not exist
  const known = new Set(routes.map((r) => `${r.method.toLowerCase()} ${toOpenApiPath(r.path)}`))
  for (const [path, item] of Object.entries(doc.paths)) {
    if (!path.startsWith('/v1/')) continue
    for (const method of Object.keys(item).filter((k) => (METHODS as readonly string[]).includes(k.toUpperCase()))) {
      t.ok(known.has(`${method} ${path}`), `${method.toUpperCase()} ${path} in the document is a registered route`)
    }
  }
  // the API key scheme is declared
  t.ok('bearer' in (doc as unknown as { components: { securitySchemes: Record<string, unknown> } }).components.securitySchemes, 'the bearer scheme is declared')
})
