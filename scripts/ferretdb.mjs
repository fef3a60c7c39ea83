// Builds FerretDB 1.24.2 (SQLite backend) from the Go module proxy into .tools/bin/ferretdb.
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, rmSync, renameSync, writeFileSync, readFileSync, chmodSync, readdirSync, statSync } from 'node:fs'
import { resolve, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const VERSION = 'v1.24.2'
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const BIN = resolve(root, '.tools', 'bin', 'ferretdb')
// what the binary was built from: a binary built before a change to the patches below is rebuilt
const BUILD_ID = `${VERSION}+id-index-1+update-close-1+id-in-1+id-and-1`
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
  patchIdIn(src)
  patchIdWithOthers(src)
}

/**
 * FerretDB 1.24.2 hands SQLite the `_id` of a filter only when `_id` is the filter's one condition: `{ _id, owner }`
 * or `{ _id: { $in: [...] }, committed: false }` read the whole table. Every document a query returns is filtered
 * again in Go with the whole filter (and a limit is pushed down only for an empty filter), so handing SQLite the `_id`
 * condition of a filter with others is as right as handing it a lone one. The patch does that, which makes the
 * conditional writes of scoring (a lead's compare-and-set, a lock's owner check) index lookups.
 */
function patchIdWithOthers (src) {
  const file = join(src, 'internal', 'backends', 'sqlite', 'collection.go')
  const text = readFileSync(file, 'utf8')
  const from = '\tif params.Filter.Len() == 1 {\n\t\tv, _ := params.Filter.Get("_id")\n'
  if (text.split(from).length !== 3) throw new Error(`FerretDB source changed: ${file} no longer pushes down a lone _id as expected`)
  writeFileSync(file, text.split(from).join('\tif params.Filter.Len() >= 1 {\n\t\tv, _ := params.Filter.Get("_id")\n'))
}

/**
 * FerretDB 1.24.2 hands SQLite only a filter on a single `_id` value; `{ _id: { $in: [...] } }` reads the whole table
 * (and filters in Go). The patch hands SQLite `_id IN (...)` for a list of up to 1,000 strings or ObjectIDs, which it
 * answers from the `_id` index; the documents are still filtered in Go afterwards, as for every pushed-down filter.
 * Ingest reads all the leads of a request this way, in one query (see `Database.idIn` in server/src/infra/db.ts,
 * which finds out through `explain` whether the server does this).
 */
function patchIdIn (src) {
  const file = join(src, 'internal', 'backends', 'sqlite', 'collection.go')
  let text = readFileSync(file, 'utf8')
  const query = '\t\tcase string, types.ObjectID:\n\t\t\twhereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)\n\t\t\targs = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}\n\t\t}\n'
  const explain = '\t\tcase string, types.ObjectID:\n\t\t\tfilterPushdown = true\n\t\t\twhereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)\n\t\t\targs = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}\n\t\t}\n'
  if (text.split(query).length !== 2 || text.split(explain).length !== 2) throw new Error(`FerretDB source changed: ${file} no longer pushes down _id as expected`)
  const inCase = (pushdown) => '\t\tcase *types.Document:\n\t\t\tif w, a := idInClause(v.(*types.Document)); w != "" {\n' +
    (pushdown ? '\t\t\t\tfilterPushdown = true\n' : '') + '\t\t\t\twhereClause, args = w, a\n\t\t\t}\n'
  text = text.replace(query, query.slice(0, -4) + inCase(false) + '\t\t}\n')
  text = text.replace(explain, explain.slice(0, -4) + inCase(true) + '\t\t}\n')
  text += `
// idInClause turns {$in: [...]} of strings and ObjectIDs into an IN clause on the _id index (or "" when it cannot).
func idInClause(d *types.Document) (string, []any) {
\tif d.Len() != 1 {
\t\treturn "", nil
\t}
\tin, err := d.Get("$in")
\tif err != nil {
\t\treturn "", nil
\t}
\tarr, ok := in.(*types.Array)
\tif !ok || arr.Len() == 0 || arr.Len() > 1000 {
\t\treturn "", nil
\t}
\targs := make([]any, 0, arr.Len())
\tfor i := 0; i < arr.Len(); i++ {
\t\te := must.NotFail(arr.Get(i))
\t\tswitch e.(type) {
\t\tcase string, types.ObjectID:
\t\t\targs = append(args, string(must.NotFail(sjson.MarshalSingleValue(e))))
\t\tdefault:
\t\t\treturn "", nil
\t\t}
\t}
\treturn fmt.Sprintf(\` WHERE %s IN (?%s)\`, metadata.IDColumn, strings.Repeat(", ?", len(args)-1)), args
}
`
  writeFileSync(file, text)
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
  // built beside the binary and renamed over it: a FerretDB still running from the old binary keeps running
  execFileSync('go', ['build', '-trimpath', '-o', `${BIN}.new`, './cmd/ferretdb'], { cwd: src, stdio: quiet ? 'ignore' : 'inherit', env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' } })
  renameSync(`${BIN}.new`, BIN)
  rmSync(src, { recursive: true, force: true })
  writeFileSync(STAMP, `${BUILD_ID}\n`)
  return BIN
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try { console.log(ensureFerretDb()) } catch (err) { console.error(`leadscore: ${err.message}`); process.exit(1) }
}
