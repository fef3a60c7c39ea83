// Security headers (helmet) on every answer: the console's pages, API JSON, problem+json errors and Swagger
// UI carry a Content-Security-Policy (frame-ancestors 'none', the console's inline start-up script allowed by its
// hash only), X-Content-Type-Options: nosniff, Referrer-Policy and X-Frame-Options.
import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AUTH, buildTestApp } from '../helpers/harness.js'
import { inlineScriptHashes } from '../../server/src/infra/security-headers.js'

const START = '\n  window.started = true;\n'
const ui = mkdtempSync(join(tmpdir(), 'leadscore-ui-'))
writeFileSync(join(ui, 'index.html'), `<!doctype html><html><head><script src="/_app/x.js"></script></head><body><div style="display: contents"><script>${START}</script></div></body></html>`)
t.teardown(() => { rmSync(ui, { recursive: true, force: true }) })

function directives (csp: string): Map<string, string[]> {
  return new Map(csp.split(';').map((d) => d.trim()).filter((d) => d !== '').map((d) => {
    const [name, ...values] = d.split(/\s+/)
    return [name!, values]
  }))
}

t.test('inline script hashes', async (t) => {
  const h = `'sha256-${createHash('sha256').update(START).digest('base64')}'`
  t.same(inlineScriptHashes(`<script>${START}</script><script type="module" src="/a.js"></script><script>${START}</script>`), [h], 'scripts with src are skipped, duplicates kept once')
})

t.test('every kind of answer carries the headers', async (t) => {
  const { app } = await buildTestApp(t, { LEADSCORE_CONSOLE_DIR: ui }, { startWorkers: false })
  const answers = {
    'console page': await app.inject({ url: '/leads' }),
    'API JSON': await app.inject({ url: '/v1/leads', headers: AUTH }),
    'problem+json': await app.inject({ url: '/v1/leads' }),
    'not found': await app.inject({ url: '/v1/nothing-here', headers: AUTH }),
    'Swagger UI': await app.inject({ url: '/docs/static/index.html' }),
  }
  t.equal(answers['console page'].statusCode, 200)
  t.equal(answers['API JSON'].statusCode, 200)
  t.equal(answers['problem+json'].statusCode, 401)
  t.equal(answers['not found'].statusCode, 404)
  for (const [what, res] of Object.entries(answers)) {
    const csp = res.headers['content-security-policy']
    t.type(csp, 'string', `${what}: a CSP`)
    const d = directives(String(csp))
    t.same(d.get('frame-ancestors'), ["'none'"], `${what}: no framing`)
    t.same(d.get('object-src'), ["'none'"], `${what}: no plugins`)
    t.notOk(d.get('script-src')?.some((s) => s === "'unsafe-inline'" || s === "'unsafe-eval'"), `${what}: no inline or eval scripts`)
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`)
    t.equal(res.headers['referrer-policy'], 'no-referrer', `${what}: referrer policy`)
    t.equal(res.headers['x-frame-options'], 'DENY', `${what}: X-Frame-Options for older browsers`)
  }
  const d = directives(String(answers['console page'].headers['content-security-policy']))
  t.same(d.get('script-src'), ["'self'", ...inlineScriptHashes(`<script>${START}</script>`)], "the console's inline start-up script is allowed by its hash")
  t.ok(d.get('worker-src')?.includes("'self'"), "Monaco's worker may load")
})
