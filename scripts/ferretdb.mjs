// Builds FerretDB 1.24.2 (SQLite backend) from the Go module proxy into .tools/bin/ferretdb.
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync, chmodSync, readdirSync, statSync } from 'node:fs'
import { resolve, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const VERSION = 'v1.24.2'
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const BIN = resolve(root, '.tools', 'bin', 'ferretdb')

function makeWritable (dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    const st = statSync(p)
    chmodSync(p, st.isDirectory() ? 0o755 : 0o644)
    if (st.isDirectory()) makeWritable(p)
  }
}

export function ensureFerretDb ({ quiet = false } = {}) {
  if (existsSync(BIN)) return BIN
  try { execFileSync('go', ['version'], { stdio: 'ignore' }) } catch {
    throw new Error('Go is not installed, so FerretDB cannot be built. Install Go >= 1.22, or download a FerretDB ' +
      `${VERSION} binary to ${BIN} (or set LEADSCORE_FERRETDB_BIN), or set MONGODB_URI to a MongoDB server.`)
  }
  if (!quiet) console.log(`leadscore: building FerretDB ${VERSION} with Go (first install only, about 2 minutes)…`)
  // `go install …@version` is refused by some proxies (it lists versions); download the module and build it instead.
  const info = JSON.parse(execFileSync('go', ['mod', 'download', '-json', `github.com/FerretDB/FerretDB@${VERSION}`], { encoding: 'utf8', cwd: root }))
  const src = resolve(root, '.tools', 'src', 'ferretdb')
  rmSync(src, { recursive: true, force: true })
  mkdirSync(dirname(src), { recursive: true })
  cpSync(info.Dir, src, { recursive: true })
  makeWritable(src)
  // the module zip omits the generated version file the build embeds
  writeFileSync(join(src, 'build', 'version', 'version.txt'), `${VERSION}\n`)
  mkdirSync(dirname(BIN), { recursive: true })
  execFileSync('go', ['build', '-trimpath', '-o', BIN, './cmd/ferretdb'], { cwd: src, stdio: quiet ? 'ignore' : 'inherit', env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' } })
  rmSync(src, { recursive: true, force: true })
  return BIN
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try { console.log(ensureFerretDb()) } catch (err) { console.error(`leadscore: ${err.message}`); process.exit(1) }
}
