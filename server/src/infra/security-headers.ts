// Security headers on every answer (API JSON, problem+json, the console's files, Swagger UI) with helmet. Its
// middleware is built once, at boot: the Fastify wrapper builds it again for every request (its directives parsed
// each time), which was 5% of the server's time under single-event ingest.
//
// The Content-Security-Policy is one header set by the server, not SvelteKit's `kit.csp`: the console is a static SPA
// whose only inline script is the start-up block of its fallback page (index.html). SvelteKit can only put a policy
// for such a page in a <meta> tag, and a <meta> policy cannot carry `frame-ancestors` (and nonces need a page rendered
// per request, which a static build is not). So the server reads the built index.html once at boot and allows exactly
// its inline scripts by their SHA-256 hashes; a rebuilt console gets its new hashes at the next start.
import fp from 'fastify-plugin'
import helmet from 'helmet'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** `'sha256-…'` sources of the inline `<script>` blocks (no `src`) of an HTML page. */
export function inlineScriptHashes (html: string): string[] {
  const out: string[] = []
  for (const m of html.matchAll(/<script(\s[^>]*)?>([\s\S]*?)<\/script>/gi)) {
    if (/\ssrc\s*=/i.test(m[1] ?? '')) continue
    out.push(`'sha256-${createHash('sha256').update(m[2] ?? '', 'utf8').digest('base64')}'`)
  }
  return [...new Set(out)]
}

/**
 * The policy's directives. Scripts: same origin plus the console's inline start-up hashes, never `unsafe-inline` or
 * `unsafe-eval`. Styles allow inline: Monaco and Svelte set style attributes and insert <style> elements at run time,
 * and Swagger UI sets style attributes. Workers: Monaco's editor worker is a same-origin module (`blob:` is allowed
 * for the worker fallback). `connect-src 'self'` covers the API and the `/v1/live` WebSocket on the same host.
 */
export function cspDirectives (scriptHashes: readonly string[]): Record<string, string[]> {
  return {
    'default-src': ["'self'"],
    'base-uri': ["'self'"],
    'script-src': ["'self'", ...scriptHashes],
    'script-src-attr': ["'none'"],
    'style-src': ["'self'", "'unsafe-inline'"],
    'img-src': ["'self'", 'data:', 'blob:'],
    'font-src': ["'self'", 'data:'],
    'connect-src': ["'self'"],
    'worker-src': ["'self'", 'blob:'],
    'object-src': ["'none'"],
    'form-action': ["'self'"],
    'frame-ancestors': ["'none'"],
  }
}

export interface SecurityHeadersOptions {
  /** The console's build folder (its index.html is hashed), or null when no console is served. */
  consoleDir: string | null
}

export default fp<SecurityHeadersOptions>(async (app, opts) => {
  const hashes = opts.consoleDir === null ? [] : inlineScriptHashes(readFileSync(join(opts.consoleDir, 'index.html'), 'utf8'))
  const apply = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: cspDirectives(hashes) },
    // the console loads nothing from other origins; these stay at helmet's defaults except where noted
    crossOriginEmbedderPolicy: false,
    referrerPolicy: { policy: 'no-referrer' },
    // browsers heed it over HTTPS only (behind a TLS proxy); other hosts of the domain are left alone
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: false },
    xFrameOptions: { action: 'deny' },
  })
  app.addHook('onRequest', (request, reply, done) => {
    apply(request.raw, reply.raw, (err?: unknown) => { done(err instanceof Error ? err : undefined) })
  })
}, { name: 'ls-security-headers' })
