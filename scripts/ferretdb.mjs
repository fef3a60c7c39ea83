// Builds FerretDB 1.24.2 (SQLite backend) from the Go module proxy into .tools/bin/ferretdb.
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync, readFileSync, chmodSync, readdirSync, statSync } from 'node:fs'
import { resolve, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const VERSION = 'v1.24.2'
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const BIN = resolve(root, '.tools', 'bin', 'ferretdb')
// what the binary was built from: a binary built before a change to the patches below is rebuilt
const BUILD_ID = `${VERSION}+id-index-1+update-close-1`
const STAMP = `${BIN}.build`

/**
 * FerretDB 1.24.2 creates the SQLite index of `_id` on the expression `_ferretdb_sjson->"_id"` but looks documents up
 * by `_ferretdb_sjson->'$._id'`. Both name the same value, yet SQLite only uses an index whose expression is written
 * the same way, so every lookup, update and delete by `_id` read the whole table (a lead update cost a scan of all
 * leads). The patch writes the lookup as the index is written; data files made by the unpatched build keep working,
 * since their indexes already have that form.
 */
function patchSource (src) {
  const file = join(src, 'internal', 'backends', 'sqlite', 'metadata', 'metadata.go')
  const before = readFileSync(file, 'utf8')
  const from = `IDColumn = DefaultColumn + "->'$._id'"`
  if (!before.includes(from)) throw new Error(`FerretDB source changed: ${file} no longer defines IDColumn as expected`)
  writeFileSync(file, before.replace(from, 'IDColumn = DefaultColumn + `->"_id"`'))
  patchUpdateClose(src)
}

/**
 * An `update` command with several statements runs them one after another, each reading its matches through an
 * SQLite query, but it closes those queries only when the whole command ends (a `defer` inside the loop). A statement
 * that updates one document stops reading after the first match, so its query keeps one of the database's 100 SQLite
 * connections. A command of more than about 100 single-document updates then waits for a connection that only its
 * own end would free, and the database stops answering anyone. The patch closes each statement's query as soon as
 * the statement is done.
 */
function patchUpdateClose (src) {
  const file = join(src, 'internal', 'handler', 'msg_update.go')
  const before = readFileSync(file, 'utf8')
  const deferred = '\t\tcloser := iterator.NewMultiCloser()\n\t\tdefer closer.Close()\n'
  const update = '\t\tresult, err := common.UpdateDocument(ctx, c, "update", iter, &u)\n'
  if (!before.includes(deferred) || !before.includes(update)) throw new Error(`FerretDB source changed: ${file} no longer closes update queries as expected`)
  writeFileSync(file, before.replace(deferred, '\t\tcloser := iterator.NewMultiCloser()\n').replace(update, `${update}\t\tcloser.Close()\n`))
}

function makeWritable (dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    const st = statSync(p)
    chmodSync(p, st.isDirectory() ? 0o755 : 0o644)
    if (st.isDirectory()) makeWritable(p)
  }
}

export function ensureFerretDb ({ quiet = false } = {}) {
  if (existsSync(BIN) && existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === BUILD_ID) return BIN
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
  patchSource(src)
  mkdirSync(dirname(BIN), { recursive: true })
  execFileSync('go', ['build', '-trimpath', '-o', BIN, './cmd/ferretdb'], { cwd: src, stdio: quiet ? 'ignore' : 'inherit', env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' } })
  rmSync(src, { recursive: true, force: true })
  writeFileSync(STAMP, `${BUILD_ID}\n`)
  return BIN
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try { console.log(ensureFerretDb()) } catch (err) { console.error(`leadscore: ${err.message}`); process.exit(1) }
}
