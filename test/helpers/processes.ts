// Real server processes (and helper scripts) as children: `node --import tsx --conditions=leadscore-source <file>`.
import { spawn, type ChildProcess } from 'node:child_process'
import { resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '../../server/src/infra/ferretdb.js'
import { ADMIN_KEY } from './harness.js'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

interface Tap { teardown(fn: () => unknown): void }

export interface Child { proc: ChildProcess; output: () => string; exited: Promise<number | null> }

/** Spawns a TypeScript entry point of the repository as a child process, keeping the tail of its output. */
export function spawnTs (file: string, env: Record<string, string>, opts: { keepStdout?: boolean } = {}): Child & { stdout: () => string } {
  const childEnv: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'NODE_OPTIONS' && !k.startsWith('TAP')) childEnv[k] = v
  const proc = spawn(process.execPath, ['--import', 'tsx', '--conditions=leadscore-source', file], {
    cwd: ROOT, env: { ...childEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  })
  let tail = ''
  let out = ''
  proc.stdout!.on('data', (b: Buffer) => { if (opts.keepStdout === true) out += b.toString(); else tail = (tail + b.toString()).slice(-4000) })
  proc.stderr!.on('data', (b: Buffer) => { tail = (tail + b.toString()).slice(-4000) })
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
  return { proc, output: () => tail, stdout: () => out, exited }
}

export interface ServerProcess extends Child { url: string; port: number; kill(signal?: NodeJS.Signals): Promise<void> }

/** Starts `server/src/main.ts` on a free port against `uri`/`dbName`; resolves once /healthz answers. */
export async function startServer (t: Tap, uri: string, dbName: string, env: Record<string, string> = {}, timeoutMs = 60_000): Promise<ServerProcess> {
  const port = await freePort()
  const child = spawnTs('server/src/main.ts', {
    MONGODB_URI: uri, MONGODB_DB: dbName, LEADSCORE_BOOTSTRAP_API_KEY: ADMIN_KEY, LEADSCORE_DEMO: '0', PORT: String(port), HOST: '127.0.0.1',
    LEADSCORE_PROCESS_EVERY_MS: '50', LOG_LEVEL: 'warn', ...env,
  })
  let dead = false
  void child.exited.then(() => { dead = true })
  const kill = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (dead) return
    child.proc.kill(signal)
    const timer = setTimeout(() => { if (!dead) child.proc.kill('SIGKILL') }, 10_000)
    await child.exited
    clearTimeout(timer)
  }
  t.teardown(async () => { await kill('SIGKILL') })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (dead) throw new Error(`server process exited before it was ready: ${child.output()}`)
    try {
      const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) })
      if (r.status === 200) break
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { await kill('SIGKILL'); throw new Error(`server did not start within ${timeoutMs} ms: ${child.output()}`) }
    await new Promise((r) => setTimeout(r, 200))
  }
  return { ...child, url, port, kill }
}

/** JSON over real HTTP with the admin key. */
export async function http (base: string, path: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await fetch(`${base}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    signal: AbortSignal.timeout(60_000),
  })
  const text = await r.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch { /* not JSON */ }
  return { status: r.status, body }
}

/** Polls until `check` returns true; throws with `describe()` after the timeout. */
export async function waitUntil (check: () => Promise<boolean>, timeoutMs: number, describe: () => Promise<string> | string, everyMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${await describe()}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
