import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

/** A running FerretDB (SQLite backend) owned by this process. */
export interface EmbeddedDb {
  uri: string
  port: number
  stop(): Promise<void>
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/** Where the install step puts the FerretDB binary unless LEADSCORE_FERRETDB_BIN says otherwise. */
export function defaultFerretDbBin (): string {
  return resolve(repoRoot, '.tools', 'bin', 'ferretdb')
}

/** Asks the OS for a free loopback port. */
export async function freePort (): Promise<number> {
  return await new Promise((resolvePort, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolvePort(port))
    })
  })
}

async function waitForPort (port: number, child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`FerretDB exited with code ${child.exitCode}: ${output()}`)
    const ok = await new Promise<boolean>((res) => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => { s.destroy(); res(true) })
      s.once('error', () => res(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`FerretDB did not listen on port ${port} within ${timeoutMs} ms: ${output()}`)
}

/** What `startFerretDb` reports when the server process ends without being asked to. */
export interface FerretDbExit { code: number | null; signal: string | null; output: string; restarting: boolean }

/**
 * Starts FerretDB 1.24 with its SQLite backend on a loopback port, storing data in `dataDir`
 * (kept across restarts). Telemetry is off and the debug listener is disabled.
 * If the server process ends without `stop()`, it is started again on the same port and data (the driver reconnects
 * by itself), at most 5 times in a minute; `onExit` hears of each such end with the server's last output.
 */
export async function startFerretDb (opts: { dataDir: string; bin?: string | undefined; port?: number; onExit?: (e: FerretDbExit) => void }): Promise<EmbeddedDb> {
  const bin = opts.bin ?? defaultFerretDbBin()
  if (!existsSync(bin)) {
    throw new Error(`FerretDB binary not found at ${bin}: run "npm install" (it builds FerretDB with Go), ` +
      'set LEADSCORE_FERRETDB_BIN, or point MONGODB_URI at a MongoDB server')
  }
  const dataDir = resolve(opts.dataDir)
  mkdirSync(dataDir, { recursive: true })
  const port = opts.port ?? await freePort()
  let out = ''
  const keep = (b: Buffer): void => { out = (out + b.toString()).slice(-4000) }
  let stopping = false
  const restarts: number[] = []
  let child: ChildProcess
  const launch = (): ChildProcess => {
    const c = spawn(bin, [
      '--handler=sqlite', `--sqlite-url=file:${dataDir}/`, `--state-dir=${dataDir}`,
      `--listen-addr=127.0.0.1:${port}`, '--debug-addr=-', '--telemetry=disable', '--log-level=error',
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    c.stdout?.on('data', keep)
    c.stderr?.on('data', keep)
    c.once('exit', (code, signal) => {
      if (stopping || c !== child) return
      const now = Date.now()
      while (restarts.length > 0 && now - restarts[0]! > 60_000) restarts.shift()
      const restarting = restarts.length < 5
      opts.onExit?.({ code, signal, output: out, restarting })
      if (!restarting) return
      restarts.push(now)
      setTimeout(() => { if (!stopping) child = launch() }, 200)
    })
    return c
  }
  child = launch()
  const onExit = (): void => { child.kill('SIGKILL') }
  process.once('exit', onExit)
  await waitForPort(port, child, () => out, 20_000)
  return {
    uri: `mongodb://127.0.0.1:${port}/`,
    port,
    async stop () {
      stopping = true
      process.removeListener('exit', onExit)
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>((r) => child.once('exit', () => r()))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    },
  }
}
