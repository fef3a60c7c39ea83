// For the tests of the install step's FerretDB patches (scripts/ferretdb.mjs): FerretDB's own source, as the install
// step downloads it (each test patches a scratch copy of the files its patch edits), and the built binary, run on a
// scratch folder with its debug handler on.
import { execFileSync, spawn } from 'node:child_process'
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { MongoClient } from 'mongodb'
import { defaultFerretDbBin, freePort } from '../../server/src/infra/ferretdb.js'
// @ts-expect-error: a plain ES module script without types
import { makeWritable, patchSource, VERSION } from '../../scripts/ferretdb.mjs'

/** The downloaded FerretDB module's folder, or null where Go or the module proxy is not available. */
export function ferretDbModuleDir (): string | null {
  try {
    const info = JSON.parse(execFileSync('go', ['mod', 'download', '-json', `github.com/FerretDB/FerretDB@${VERSION as string}`], { encoding: 'utf8', cwd: tmpdir(), stdio: ['ignore', 'pipe', 'ignore'] })) as { Dir?: string }
    return info.Dir ?? null
  } catch { return null }
}

/** A scratch folder holding copies of `files` (paths inside the module), removed when the test ends. */
export function scratchSource (t: { teardown: (fn: () => void) => void }, moduleDir: string, files: readonly string[]): string {
  const src = mkdtempSync(join(tmpdir(), 'ferret-patch-'))
  t.teardown(() => { rmSync(src, { recursive: true, force: true }) })
  for (const rel of files) {
    mkdirSync(dirname(join(src, rel)), { recursive: true })
    copyFileSync(join(moduleDir, rel), join(src, rel))
  }
  return src
}

/**
 * A scratch copy of the whole module with every patch applied, as the install step builds it, ready for `go test`
 * (removed when the test ends).
 */
export function patchedModule (t: { teardown: (fn: () => void) => void }, moduleDir: string): string {
  const src = scratchSource(t, moduleDir, [])
  cpSync(moduleDir, src, { recursive: true })
  makeWritable(src)
  mkdirSync(join(src, '.git')) // FerretDB's test helpers find the module's root by it
  writeFileSync(join(src, 'build', 'version', 'version.txt'), `${VERSION as string}\n`) // the module zip omits it
  patchSource(src)
  return src
}

/** The FerretDB binary the patches' behaviour is checked on (the installed one, unless LEADSCORE_FERRETDB_BIN). */
export const ferretDbBin = process.env.LEADSCORE_FERRETDB_BIN ?? defaultFerretDbBin()

/**
 * A FerretDB of its own on a scratch folder, with its debug handler (`/debug/pprof/…` at `debug`) on, and a client
 * to it; both are stopped, and the folder removed, when the test ends.
 */
export async function debugFerretDb (t: { teardown: (fn: () => void | Promise<void>) => void }, opts: { maxPoolSize?: number } = {}): Promise<{ client: MongoClient; debug: string }> {
  const data = mkdtempSync(join(tmpdir(), 'ferret-debug-'))
  const [port, debugPort] = [await freePort(), await freePort()]
  const child = spawn(ferretDbBin, ['--handler=sqlite', `--sqlite-url=file:${data}/`, `--state-dir=${data}`, `--listen-addr=127.0.0.1:${port}`,
    `--debug-addr=127.0.0.1:${debugPort}`, '--telemetry=disable', '--log-level=error'], { stdio: 'ignore' })
  t.teardown(() => { child.kill('SIGKILL'); rmSync(data, { recursive: true, force: true }) })
  const client = new MongoClient(`mongodb://127.0.0.1:${port}/`, { serverSelectionTimeoutMS: 20_000, ...opts })
  t.teardown(async () => { await client.close() })
  return { client, debug: `http://127.0.0.1:${debugPort}/debug/pprof` }
}
