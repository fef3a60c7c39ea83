// Builds FerretDB 1.24.2 (SQLite backend) from the Go module proxy into .tools/bin/ferretdb.
import { execFileSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, rmSync, renameSync, writeFileSync, readFileSync, chmodSync, readdirSync, statSync } from 'node:fs'
import { resolve, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const VERSION = 'v1.24.2'
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const BIN = resolve(root, '.tools', 'bin', 'ferretdb')
// what the binary was built from: a binary built before a change to the patches below is rebuilt
const BUILD_ID = `${VERSION}+id-index-1+update-close-1+id-in-2+id-and-1+id-range-1+update-batch-1+find-modify-lock-1+untracked-1+write-queue-1+sjson-decode-1+sjson-encode-1+update-many-1+schema-dict-1+group-commit-1+in-strings-1`
const STAMP = `${BIN}.build`

/**
 * Replaces, in the FerretDB source file `rel` (a `/` path under `src`), each `from` by its `to`. Each `from` must occur
 * exactly once: a source that changed shape fails the build instead of building unpatched.
 */
function editSource (src, rel, pairs) {
  const file = join(src, ...rel.split('/'))
  let text = readFileSync(file, 'utf8')
  for (const [from, to] of pairs) {
    if (text.split(from).length !== 2) throw new Error(`FerretDB source changed: ${file} no longer contains ${JSON.stringify(from.slice(0, 60))}…`)
    text = text.replace(from, () => to)
  }
  writeFileSync(file, text)
}

/**
 * FerretDB 1.24.2 creates the SQLite index of `_id` on the expression `_ferretdb_sjson->"_id"` but looks documents up
 * by `_ferretdb_sjson->'$._id'`. Both name the same value, yet SQLite only uses an index whose expression is written
 * the same way, so every lookup, update and delete by `_id` read the whole table (a lead update cost a scan of all
 * leads). The patch writes the lookup as the index is written; data files made by the unpatched build keep working,
 * since their indexes already have that form.
 */
export function patchSource (src) {
  const file = join(src, 'internal', 'backends', 'sqlite', 'metadata', 'metadata.go')
  const before = readFileSync(file, 'utf8')
  const from = `IDColumn = DefaultColumn + "->'$._id'"`
  if (!before.includes(from)) throw new Error(`FerretDB source changed: ${file} no longer defines IDColumn as expected`)
  writeFileSync(file, before.replace(from, 'IDColumn = DefaultColumn + `->"_id"`'))
  patchUpdateClose(src)
  patchIdIn(src)
  patchIdWithOthers(src)
  patchIdRange(src)
  patchUpdateBatch(src)
  patchFindAndModifyLock(src)
  patchResourceTracking(src)
  patchWriteQueue(src)
  patchSjsonDecode(src)
  patchSjsonEncode(src)
  patchUpdateMany(src)
  patchSchemaDict(src)
  patchGroupCommit(src)
  patchInStrings(src)
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
 * FerretDB 1.24.2 answers a range of `_id`s (`{ _id: { $gte: 'sc|', $lt: 'sc}' } }`, sorted by `_id`, with a limit)
 * by reading the whole table, filtering and sorting it in Go, and applying the limit last. The server keeps index
 * collections whose `_id`s are sort keys and pages through them this way, so every page would cost a scan.
 *
 * The `_id` index is on the JSON text of `_id` (quoted, with Go's escapes of `<`, `>`, `&`, `"`, `\` and control
 * characters), whose order is not MongoDB's bytewise order of the strings ('a b' sorts after 'a' there, but the
 * closing quote of "a" sorts after the space of "a b"). The patch therefore ranges and orders on the unescaped value,
 * `_ferretdb_sjson->>'$._id'`, which SQLite compares bytewise, and creates an index on exactly that expression the
 * first time a collection is queried this way (`_ferretdb_<table>_id_raw`; it is not in FerretDB's metadata, so
 * listIndexes does not show it, and it goes with its table). Only documents whose `_id` is a string are selected
 * (numbers sort before text in SQLite; an ObjectID, stored as hex text, is excluded by its schema type), so SQLite
 * returns exactly the matching documents in the requested order and the limit can be applied in SQL; the Go filter
 * still runs on every document. It is used only for a find (and its explain) whose filter is that one `_id` range of
 * strings, sorted by nothing or by `_id` alone, without skip, on a collection that is not capped; a backend that does
 * not apply the range says so and the handler sorts as before.
 */
function patchIdRange (src) {
  editSource(src, 'internal/backends/collection.go', [
    ['\tOnlyRecordIDs bool\n\tComment       string\n}\n', '\tOnlyRecordIDs bool\n\tComment       string\n\n\tIDRange *IDRange\n}\n'],
    ['type QueryResult struct {\n\tIter types.DocumentsIterator\n}\n', 'type QueryResult struct {\n\tIter types.DocumentsIterator\n\n\tIDRangeApplied bool\n}\n'],
    ['type ExplainParams struct {\n\tFilter *types.Document\n\tSort   *types.Document\n\tLimit  int64\n}\n', 'type ExplainParams struct {\n\tFilter *types.Document\n\tSort   *types.Document\n\tLimit  int64\n\n\tIDRange *IDRange\n}\n'],
  ])
  writeFileSync(join(src, 'internal', 'backends', 'idrange.go'), `package backends

// IDRange describes a query whose filter is exactly a range of string _id values.
//
// A backend may apply it (and then reports IDRangeApplied): it returns exactly the documents whose _id is a string
// within all Bounds, ordered by _id (bytewise) if Sort is 1 or -1, at most Limit of them if Limit is not zero.
// A backend that ignores it leaves the query as it would be without it.
type IDRange struct {
\tBounds []IDBound
\tSort   int64
\tLimit  int64
}

// IDBound is one bound of an IDRange: Op is "$gt", "$gte", "$lt" or "$lte".
type IDBound struct {
\tOp    string
\tValue string
}
`)
  editSource(src, 'internal/backends/sqlite/collection.go', [
    ['\tq += whereClause\n\tq += prepareOrderByClause(params.Sort)\n\n\tif params.Limit != 0 {\n\t\tq += ` LIMIT ?`\n\t\targs = append(args, params.Limit)\n\t}\n',
      '\tidRange := params.IDRange != nil && !meta.Capped() && params.Sort.Len() == 0 && params.Limit == 0\n' +
      '\tif idRange {\n\t\tensureIDRawIndex(ctx, db, c.dbName, meta)\n\t\twhereClause, args = idRangeWhere(params.IDRange)\n\t}\n\n' +
      '\tq += whereClause\n\tq += prepareOrderByClause(params.Sort)\n\n' +
      '\tif idRange {\n\t\tq += idRangeOrderBy(params.IDRange)\n\n\t\tif params.IDRange.Limit > 0 {\n\t\t\tq += ` LIMIT ?`\n\t\t\targs = append(args, params.IDRange.Limit)\n\t\t}\n\t}\n\n' +
      '\tif params.Limit != 0 {\n\t\tq += ` LIMIT ?`\n\t\targs = append(args, params.Limit)\n\t}\n'],
    ['\treturn &backends.QueryResult{\n\t\tIter: newQueryIterator(ctx, rows, params.OnlyRecordIDs),\n\t}, nil\n}\n\n// InsertAll',
      '\treturn &backends.QueryResult{\n\t\tIter:           newQueryIterator(ctx, rows, params.OnlyRecordIDs),\n\t\tIDRangeApplied: idRange,\n\t}, nil\n}\n\n// InsertAll'],
    ['\tq := `EXPLAIN QUERY PLAN ` + selectClause + whereClause + orderByClause\n\n\tvar limitPushdown bool\n',
      '\tidRange := params.IDRange != nil && !meta.Capped() && params.Sort.Len() == 0 && params.Limit == 0\n' +
      '\tif idRange {\n\t\tfilterPushdown = true\n\t\twhereClause, args = idRangeWhere(params.IDRange)\n\t\torderByClause = idRangeOrderBy(params.IDRange)\n\t\tsortPushdown = params.IDRange.Sort != 0\n\t}\n\n' +
      '\tq := `EXPLAIN QUERY PLAN ` + selectClause + whereClause + orderByClause\n\n\tvar limitPushdown bool\n\n' +
      '\tif idRange && params.IDRange.Limit > 0 {\n\t\tq += ` LIMIT ?`\n\t\targs = append(args, params.IDRange.Limit)\n\t\tlimitPushdown = true\n\t}\n'],
  ])
  writeFileSync(join(src, 'internal', 'backends', 'sqlite', 'idrange.go'), `package sqlite

import (
\t"context"
\t"fmt"
\t"strings"
\t"sync"

\t"github.com/FerretDB/FerretDB/internal/backends"
\t"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
\t"github.com/FerretDB/FerretDB/internal/util/fsql"
)

// idRawColumn is the value of _id as SQLite sees it: TEXT (unescaped) for a string, compared bytewise.
// The index created by ensureIDRawIndex is on this exact expression text; SQLite uses it only if written the same.
const idRawColumn = metadata.DefaultColumn + \`->>'$._id'\`

// idTypeColumn is the BSON type of _id recorded in the document's schema ("string", "objectId", ...).
const idTypeColumn = metadata.DefaultColumn + \`->>'$."$s".p._id.t'\`

// idRawIndexes holds the tables (by database, table name and collection UUID) known to have the index.
var idRawIndexes sync.Map

// ensureIDRawIndex creates the index on idRawColumn unless it is known to exist.
// Errors are ignored: the query is still right without the index, only slower.
func ensureIDRawIndex(ctx context.Context, db *fsql.DB, dbName string, meta *metadata.Collection) {
\tkey := dbName + "\\x00" + meta.TableName + "\\x00" + meta.Settings.UUID
\tif _, ok := idRawIndexes.Load(key); ok {
\t\treturn
\t}

\tq := fmt.Sprintf(\`CREATE INDEX IF NOT EXISTS %q ON %q (%s)\`, backends.ReservedPrefix+meta.TableName+"_id_raw", meta.TableName, idRawColumn)
\tif _, err := db.ExecContext(ctx, q); err != nil {
\t\treturn
\t}

\tidRawIndexes.Store(key, struct{}{})
}

// idRangeWhere returns the WHERE clause selecting the documents whose _id is a string in the range.
func idRangeWhere(r *backends.IDRange) (string, []any) {
\tvar conds []string
\tvar args []any
\tvar lower bool

\tfor _, b := range r.Bounds {
\t\tvar op string

\t\tswitch b.Op {
\t\tcase "$gt":
\t\t\top, lower = ">", true
\t\tcase "$gte":
\t\t\top, lower = ">=", true
\t\tcase "$lt":
\t\t\top = "<"
\t\tcase "$lte":
\t\t\top = "<="
\t\tdefault:
\t\t\tpanic("unexpected _id range operator " + b.Op)
\t\t}

\t\tconds = append(conds, idRawColumn+" "+op+" ?")
\t\targs = append(args, b.Value)
\t}

\t// numbers sort before all TEXT: without a lower bound, start at the first string anyway
\tif !lower {
\t\tconds = append(conds, idRawColumn+" >= ''")
\t}

\tconds = append(conds, idTypeColumn+" = 'string'")

\treturn " WHERE " + strings.Join(conds, " AND "), args
}

// idRangeOrderBy returns the ORDER BY clause for the range's sort (or "").
func idRangeOrderBy(r *backends.IDRange) string {
\tswitch r.Sort {
\tcase 1:
\t\treturn " ORDER BY " + idRawColumn
\tcase -1:
\t\treturn " ORDER BY " + idRawColumn + " DESC"
\tdefault:
\t\treturn ""
\t}
}
`)
  writeFileSync(join(src, 'internal', 'handler', 'idrange.go'), `package handler

import (
\t"github.com/FerretDB/FerretDB/internal/backends"
\t"github.com/FerretDB/FerretDB/internal/types"
\t"github.com/FerretDB/FerretDB/internal/util/must"
)

// findIDRange returns the backend IDRange for a find whose filter is exactly {_id: {$gt/$gte/$lt/$lte: string, ...}},
// sorted by nothing or by _id alone, without skip, on a collection that is not capped (or nil for any other find).
func findIDRange(filter, sort *types.Document, skip, limit int64, capped bool) *backends.IDRange {
\tif capped || skip != 0 || filter.Len() != 1 {
\t\treturn nil
\t}

\tv, err := filter.Get("_id")
\tif err != nil {
\t\treturn nil
\t}

\tops, ok := v.(*types.Document)
\tif !ok || ops.Len() == 0 {
\t\treturn nil
\t}

\tr := new(backends.IDRange)

\tfor _, k := range ops.Keys() {
\t\tswitch k {
\t\tcase "$gt", "$gte", "$lt", "$lte":
\t\tdefault:
\t\t\treturn nil
\t\t}

\t\ts, ok := must.NotFail(ops.Get(k)).(string)
\t\tif !ok {
\t\t\treturn nil
\t\t}

\t\tr.Bounds = append(r.Bounds, backends.IDBound{Op: k, Value: s})
\t}

\tswitch {
\tcase sort.Len() == 0:
\tcase sort.Len() == 1 && sort.Keys()[0] == "_id":
\t\tswitch must.NotFail(sort.Get("_id")) {
\t\tcase int64(1):
\t\t\tr.Sort = 1
\t\tcase int64(-1):
\t\t\tr.Sort = -1
\t\tdefault:
\t\t\treturn nil
\t\t}
\tdefault:
\t\treturn nil
\t}

\tif limit > 0 {
\t\tr.Limit = limit
\t}

\treturn r
}
`)
  editSource(src, 'internal/handler/msg_find.go', [
    ['\th.L.DebugContext(ctx, fmt.Sprintf("Converted %+v for %+v to %+v.", params, cInfo, qp))\n',
      '\tif !h.DisablePushdown {\n\t\tqp.IDRange = findIDRange(params.Filter, params.Sort, params.Skip, params.Limit, cInfo.Capped())\n\t}\n\n' +
      '\th.L.DebugContext(ctx, fmt.Sprintf("Converted %+v for %+v to %+v.", params, cInfo, qp))\n'],
    ['\titer, err := h.makeFindIter(queryRes.Iter, closer, params)\n',
      '\t// the backend returned the documents already in the requested _id order\n' +
      '\tif queryRes.IDRangeApplied && qp.IDRange.Sort != 0 {\n\t\tparams.Sort = nil\n\t}\n\n' +
      '\titer, err := h.makeFindIter(queryRes.Iter, closer, params)\n'],
  ])
  editSource(src, 'internal/handler/msg_explain.go', [
    ['\tres, err := coll.Explain(connCtx, qp)\n',
      '\tif !h.DisablePushdown && !params.Aggregate {\n\t\tqp.IDRange = findIDRange(params.Filter, params.Sort, params.Skip, params.Limit, cInfo.Capped())\n\t}\n\n' +
      '\tres, err := coll.Explain(connCtx, qp)\n'],
  ])
}

/**
 * FerretDB 1.24.2 hands SQLite only a filter on a single `_id` value; `{ _id: { $in: [...] } }` reads the whole table
 * (and filters in Go). The patch hands SQLite `_id IN (...)` for a list of up to 1,000 strings, ObjectIDs or 32-bit
 * integers, which it answers from the `_id` index; the documents are still filtered in Go afterwards, as for every
 * pushed-down filter. An integer is matched by its JSON text, which is the same for every stored number equal to it
 * (an int32, an int64, or a double with no fraction: Go writes 7.0 as 7), so no document the filter matches is left
 * out; a list holding 0 is not handed over (a stored -0.0 equals it and is written "-0"). The live feed's numeric seqs are looked up this way.
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
\t\tcase int32:
\t\t\t// a stored -0.0 equals 0 but is written "-0"
\t\t\tif e.(int32) == 0 {
\t\t\t\treturn "", nil
\t\t\t}
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

/**
 * FerretDB 1.24.2 runs the statements of an `update` command one by one, each as a query of its own and an SQLite
 * write transaction of its own, so committing a scoring batch (one compare-and-set per lead, all in one command) cost
 * two round trips through SQLite per lead: about 1,600 updates a second, against 3,500 for `updateMany` of an `_id`
 * list, which reads its documents in one query and writes them in one transaction.
 *
 * The patch gives a command of 2 to 1,000 single-document updates with update operators, each filtered on a string
 * `_id` of its own (no two alike), no upsert, the same shape of work: one query of those `_id`s (through the index,
 * patch 3), then each statement's whole filter and update applied in Go in the command's order, then one transaction
 * writing the documents that changed. The statements touch different documents, so the order between them cannot
 * change an outcome. If anything in that path fails before the write (a filter or update a document refuses), nothing
 * has been written and the statements run one by one as before, so errors come out as they always did. As before the
 * patch, a conditional update is not atomic against other connections (FerretDB reads, then writes); the server
 * never relies on it being so (see server/src/domain/locks.ts).
 */
function patchUpdateBatch (src) {
  const file = join(src, 'internal', 'handler', 'msg_update.go')
  const text = readFileSync(file, 'utf8')
  const loop = '\tfor _, u := range params.Updates {\n'
  if (text.split(loop).length !== 2) throw new Error(`FerretDB source changed: ${file} no longer loops over the update statements as expected`)
  const batch = '\tif c, err := db.Collection(params.Collection); err == nil {\n' +
    '\t\tm, mod, ok, err := common.UpdateBatchByID(ctx, c, params.Updates)\n' +
    '\t\tif err != nil {\n\t\t\treturn 0, 0, nil, lazyerrors.Error(err)\n\t\t}\n' +
    '\t\tif ok {\n\t\t\treturn m, mod, &upserted, nil\n\t\t}\n\t}\n\n'
  writeFileSync(file, text.replace(loop, () => batch + loop))
  writeFileSync(join(src, 'internal', 'handler', 'common', 'update_batch.go'), `package common

import (
\t"context"
\t"errors"

\t"github.com/FerretDB/FerretDB/internal/backends"
\t"github.com/FerretDB/FerretDB/internal/types"
\t"github.com/FerretDB/FerretDB/internal/util/iterator"
\t"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
\t"github.com/FerretDB/FerretDB/internal/util/must"
)

// UpdateBatchByID applies single-document updates that each name a distinct string _id with one query and one write
// transaction. ok is false, with nothing written, when the statements do not have that shape or one of them cannot be
// applied; the caller then runs them one by one.
func UpdateBatchByID(ctx context.Context, c backends.Collection, updates []Update) (matched, modified int32, ok bool, err error) {
\tif len(updates) < 2 || len(updates) > 1000 {
\t\treturn 0, 0, false, nil
\t}

\tkeys := make([]string, len(updates))
\tseen := make(map[string]struct{}, len(updates))
\tids := types.MakeArray(len(updates))

\tfor i, u := range updates {
\t\tif u.Multi || u.Upsert || !u.HasUpdateOperators || u.Filter == nil {
\t\t\treturn 0, 0, false, nil
\t\t}

\t\tv, gerr := u.Filter.Get("_id")
\t\tif gerr != nil {
\t\t\treturn 0, 0, false, nil
\t\t}

\t\ts, isString := v.(string)
\t\tif !isString {
\t\t\treturn 0, 0, false, nil
\t\t}

\t\tif _, dup := seen[s]; dup {
\t\t\treturn 0, 0, false, nil
\t\t}

\t\tseen[s] = struct{}{}
\t\tkeys[i] = s
\t\tids.Append(s)
\t}

\tfilter := must.NotFail(types.NewDocument("_id", must.NotFail(types.NewDocument("$in", ids))))

\tres, err := c.Query(ctx, &backends.QueryParams{Filter: filter})
\tif err != nil {
\t\treturn 0, 0, false, lazyerrors.Error(err)
\t}

\tbyID := make(map[string]*types.Document, len(updates))

\tfor {
\t\t_, doc, nerr := res.Iter.Next()
\t\tif nerr != nil {
\t\t\tres.Iter.Close()

\t\t\tif errors.Is(nerr, iterator.ErrIteratorDone) {
\t\t\t\tbreak
\t\t\t}

\t\t\treturn 0, 0, false, lazyerrors.Error(nerr)
\t\t}

\t\tif id, isString := must.NotFail(doc.Get("_id")).(string); isString {
\t\t\tbyID[id] = doc
\t\t}
\t}

\tvar changed []*types.Document

\tfor i, u := range updates {
\t\tdoc := byID[keys[i]]
\t\tif doc == nil {
\t\t\tcontinue
\t\t}

\t\tmatch, ferr := FilterDocument(doc, u.Filter)
\t\tif ferr != nil {
\t\t\treturn 0, 0, false, nil
\t\t}

\t\tif !match {
\t\t\tcontinue
\t\t}

\t\tmatched++

\t\tmod, uerr := processUpdateOperator("update", doc, u.Update, false)
\t\tif uerr != nil {
\t\t\treturn 0, 0, false, nil
\t\t}

\t\tif verr := doc.ValidateData(); verr != nil {
\t\t\treturn 0, 0, false, nil
\t\t}

\t\tif mod {
\t\t\tchanged = append(changed, doc)
\t\t\tmodified++
\t\t}
\t}

\tif len(changed) > 0 {
\t\tif _, err = c.UpdateAll(ctx, &backends.UpdateAllParams{Docs: changed}); err != nil {
\t\t\treturn 0, 0, false, lazyerrors.Error(err)
\t\t}
\t}

\treturn matched, modified, true, nil
}
`)
}

/**
 * FerretDB 1.24.2 runs `findAndModify` as a query, then a write of the document it read (by `_id`, as read): two
 * commands racing for one document both read it before either writes, so both "find and modify" it. Agenda claims a
 * job that way (`lockedAt: null` → now), so two workers, even of one process, ran the same job, and its processor,
 * counting each claim as a locked slot, let claims pile up until it ran nothing. The patch runs one `findAndModify` at
 * a time in the server (the embedded database is one FerretDB process): the read and the write of one command go
 * through before the next command reads, which is what a claim needs. Plain updates are unchanged (the server never
 * relies on a conditional update being atomic there; see server/src/domain/locks.ts).
 */
export function patchFindAndModifyLock (src) {
  const file = join(src, 'internal', 'handler', 'msg_findandmodify.go')
  const text = readFileSync(file, 'utf8')
  const imports = '\t"fmt"\n\t"time"\n'
  const call = '\tres, err := h.findAndModifyDocument(connCtx, params)\n'
  if (text.split(imports).length !== 2 || text.split(call).length !== 2) throw new Error(`FerretDB source changed: ${file} no longer runs findAndModify as expected`)
  const locked = '\t// one find-and-modify at a time: the document it reads is still the one it writes\n' +
    '\tfindAndModifyMu.Lock()\n' + call + '\tfindAndModifyMu.Unlock()\n'
  writeFileSync(file, text.replace(imports, '\t"fmt"\n\t"sync"\n\t"time"\n').replace(call, () => locked) +
  '\n// findAndModifyMu serializes findAndModify commands (see MsgFindAndModify).\nvar findAndModifyMu sync.Mutex\n')
}

/**
 * FerretDB 1.24.2 tracks every iterator, cursor, transaction and connection it opens, in release builds too: each is
 * added to a pprof profile (which records the caller's stack) and given a finalizer that panics if it was never
 * closed. That is a leak detector for FerretDB's own development. Under scoring it took 5% of the database's CPU and a
 * batch find of leads by `_id` 15% (a document iterator is made per document read), and every tracked object lives
 * one garbage collection longer for its finalizer. The patch tracks nothing unless FerretDB is built with its debug
 * build tag, as its stack capture already does.
 */
export function patchResourceTracking (src) {
  const heads = ['func Track(obj any, token *Token) {\n\tcheckArgs(obj, token)\n', 'func Untrack(obj any, token *Token) {\n\tcheckArgs(obj, token)\n']
  const guard = '\n\t// a leak detector for development builds only: its stack capture and finalizer cost every read\n\tif !debugbuild.Enabled {\n\t\treturn\n\t}\n'
  editSource(src, 'internal/util/resource/resource.go', heads.map((h) => [h, h + guard]))
}

/**
 * FerretDB 1.24.2 lets its connections race for SQLite's one write lock, and a connection that finds the lock held
 * waits in SQLite's busy handler, which sleeps between tries (1, 2, 5, 10 … up to 100 ms): under scoring, goroutine
 * dumps showed inserts and updates asleep there while no write ran, so the database idled with work waiting. It also
 * encoded each document inside its write transaction, holding the lock for work that needs none. The patch queues
 * the write transactions of a database file in the FerretDB process (a writer starts the moment the one before it
 * ends, or gives up when its command's context ends), encodes the documents of an insert or update before taking the
 * lock, and runs a delete as one of those transactions too. Another process writing the same file still meets the
 * busy handler, as before.
 */
export function patchWriteQueue (src) {
  editSource(src, 'internal/util/fsql/db.go', [
    ['\ttoken     *resource.Token\n\tBatchSize int\n}', '\ttoken     *resource.Token\n\tBatchSize int\n\n\t// writes holds one token while a write transaction of this database runs (see InTransaction)\n\twrites chan struct{}\n}'],
    ['\t\ttoken:            resource.NewToken(),\n\t}', '\t\ttoken:            resource.NewToken(),\n\t\twrites:           make(chan struct{}, 1),\n\t}'],
    ['\tvar sqlTx *sql.Tx\n\n\tif sqlTx, err = db.sqlDB.BeginTx(ctx, nil); err != nil {',
      '\tvar sqlTx *sql.Tx\n\n' +
      '\t// one write transaction at a time: a writer waits here and starts as the one before it ends, not in SQLite\'s\n' +
      '\t// busy handler, which sleeps between tries while the database may already be free\n' +
      '\tselect {\n\tcase db.writes <- struct{}{}:\n\tcase <-ctx.Done():\n\t\treturn lazyerrors.Error(ctx.Err())\n\t}\n\tdefer func() { <-db.writes }()\n\n' +
      '\tif sqlTx, err = db.sqlDB.BeginTx(ctx, nil); err != nil {'],
  ])
  editSource(src, 'internal/backends/sqlite/collection.go', [
    // insert: the statements (and the documents' encoding) are prepared before the transaction
    ['\terr := db.InTransaction(ctx, func(tx *fsql.Tx) error {\n\t\tbatchSize := c.r.BatchSize\n\t\tif batchSize < 1 {\n\t\t\tpanic("batch-size should be greater or equal to 1")\n\t\t}\n\n\t\tvar batch []*types.Document\n\t\tdocs := params.Docs\n\n\t\tfor len(docs) > 0 {\n\t\t\ti := min(batchSize, len(docs))\n\t\t\tbatch, docs = docs[:i], docs[i:]\n\n\t\t\tq, args, err := prepareInsertStatement(meta.TableName, meta.Capped(), batch)\n\t\t\tif err != nil {\n\t\t\t\treturn lazyerrors.Error(err)\n\t\t\t}\n\n\t\t\tif _, err = tx.ExecContext(ctx, q, args...); err != nil {',
      '\tbatchSize := c.r.BatchSize\n\tif batchSize < 1 {\n\t\tpanic("batch-size should be greater or equal to 1")\n\t}\n\n' +
      '\t// encoded before the write transaction, which holds the database\'s one write lock\n' +
      '\tvar queries []string\n\tvar argLists [][]any\n\n\tfor docs := params.Docs; len(docs) > 0; {\n\t\tvar batch []*types.Document\n\t\ti := min(batchSize, len(docs))\n\t\tbatch, docs = docs[:i], docs[i:]\n\n' +
      '\t\tq, args, err := prepareInsertStatement(meta.TableName, meta.Capped(), batch)\n\t\tif err != nil {\n\t\t\treturn nil, lazyerrors.Error(err)\n\t\t}\n\n\t\tqueries = append(queries, q)\n\t\targLists = append(argLists, args)\n\t}\n\n' +
      '\terr := db.InTransaction(ctx, func(tx *fsql.Tx) error {\n\t\tfor n, q := range queries {\n\t\t\tif _, err := tx.ExecContext(ctx, q, argLists[n]...); err != nil {'],
    // update: the same
    ['\terr := db.InTransaction(ctx, func(tx *fsql.Tx) error {\n\t\tfor _, doc := range params.Docs {\n\t\t\tb, err := sjson.Marshal(doc)\n\t\t\tif err != nil {\n\t\t\t\treturn lazyerrors.Error(err)\n\t\t\t}\n\n\t\t\tid, _ := doc.Get("_id")\n\t\t\tmust.NotBeZero(id)\n\n\t\t\targ := string(must.NotFail(sjson.MarshalSingleValue(id)))\n\n\t\t\tr, err := tx.ExecContext(ctx, q, string(b), arg)',
      '\t// encoded before the write transaction, which holds the database\'s one write lock\n' +
      '\tbodies := make([]string, len(params.Docs))\n\tids := make([]string, len(params.Docs))\n\n\tfor n, doc := range params.Docs {\n\t\tb, err := sjson.Marshal(doc)\n\t\tif err != nil {\n\t\t\treturn nil, lazyerrors.Error(err)\n\t\t}\n\n\t\tid, _ := doc.Get("_id")\n\t\tmust.NotBeZero(id)\n\n\t\tbodies[n] = string(b)\n\t\tids[n] = string(must.NotFail(sjson.MarshalSingleValue(id)))\n\t}\n\n' +
      '\terr := db.InTransaction(ctx, func(tx *fsql.Tx) error {\n\t\tfor n := range bodies {\n\t\t\tr, err := tx.ExecContext(ctx, q, bodies[n], ids[n])'],
    // delete: one of the queued write transactions
    ['\tres, err := db.ExecContext(ctx, q, args...)\n\tif err != nil {\n\t\treturn nil, lazyerrors.Error(err)\n\t}\n\n\tra, err := res.RowsAffected()\n\tif err != nil {\n\t\treturn nil, lazyerrors.Error(err)\n\t}\n',
      '\t// a write transaction like the others, so it waits its turn in the process instead of in SQLite\'s busy handler\n' +
      '\tvar ra int64\n\n\terr := db.InTransaction(ctx, func(tx *fsql.Tx) error {\n\t\tres, err := tx.ExecContext(ctx, q, args...)\n\t\tif err != nil {\n\t\t\treturn err\n\t\t}\n\n\t\tra, err = res.RowsAffected()\n\n\t\treturn err\n\t})\n\tif err != nil {\n\t\treturn nil, lazyerrors.Error(err)\n\t}\n'],
  ])
}

/** The Go sources some patches add to FerretDB, kept as Go files beside this script. */
export const PATCH_FILES = resolve(root, 'scripts', 'ferretdb')

/**
 * FerretDB 1.24.2 decodes every document it reads from SQLite with encoding/json one nesting level at a time: an
 * object is split into raw messages and each is decoded again by a new decoder, so a value at depth d is scanned d+1
 * times and every scalar costs a decoder. Under scoring that was a third of the database's CPU. The patch adds a
 * decoder that reads a document once, guided by its schema (`scripts/ferretdb/sjson_decode.go`), and keeps the
 * original as `unmarshalSlow` for anything not in the form FerretDB's encoder writes, malformed input included, so
 * results and errors are the original's. `sjson_decode_test.go` beside it checks the two agree.
 */
export function patchSjsonDecode (src) {
  editSource(src, 'internal/handler/sjson/sjson.go', [
    ['// Unmarshal decodes the top-level document.\n// It decodes document\'s schema from the `$s` field and uses it to decode the data of the document.\nfunc Unmarshal(data []byte) (*types.Document, error) {',
      '// unmarshalSlow is FerretDB\'s own decoder of the top-level document (see Unmarshal in sjson_decode.go).\n// It decodes document\'s schema from the `$s` field and uses it to decode the data of the document.\nfunc unmarshalSlow(data []byte) (*types.Document, error) {'],
  ])
  copyFileSync(join(PATCH_FILES, 'sjson_decode.go'), join(src, 'internal', 'handler', 'sjson', 'sjson_decode.go'))
}

/**
 * FerretDB 1.24.2 encodes every document it writes by building each nested schema and value in a buffer of its own,
 * copying it into its parent's, encoding each key and scalar through encoding/json and looking each field up by key.
 * Under scoring, once documents were decoded in one pass, that was 15% of the database's CPU. The patch adds an
 * encoder that appends the same bytes to one buffer (`scripts/ferretdb/sjson_encode.go`) and keeps the original as
 * `marshalSlow` for the documents it does not take (a repeated key, a double JSON cannot hold), which fail as before.
 * `sjson_encode_test.go` beside it checks the two write the same bytes.
 */
export function patchSjsonEncode (src) {
  editSource(src, 'internal/handler/sjson/sjson.go', [
    ['// Marshal encodes given document fields and set its schema in the field $s.\n// Use it when you need to encode a document with schema, for example, when you want to store it in a database.\nfunc Marshal(d *types.Document) ([]byte, error) {',
      '// marshalSlow is FerretDB\'s own encoder of the top-level document (see Marshal in sjson_encode.go).\n// It encodes given document fields and set its schema in the field $s.\nfunc marshalSlow(d *types.Document) ([]byte, error) {'],
  ])
  copyFileSync(join(PATCH_FILES, 'sjson_encode.go'), join(src, 'internal', 'handler', 'sjson', 'sjson_encode.go'))
}

/**
 * FerretDB 1.24.2 applies an update to the documents its query found one at a time, and writes each changed document
 * in a write transaction of its own: an `updateMany` of 1,000 ledger entries by `_id` (making a scoring batch's entries
 * visible) was 1,000 transactions, each waiting its turn for the database's one write lock, and cost twice what
 * inserting them had. The patch keeps the documents an update (not a find-and-modify, which returns the document it
 * wrote) changed and writes them 1,000 to a transaction. The documents are applied and counted as before; what was
 * changed before a failure is written before the error is returned, as it had been one by one.
 */
export function patchUpdateMany (src) {
  editSource(src, 'internal/handler/common/update.go', [
    ['\tresult := new(UpdateResult)\n\n\tisFindAndModify := (strings.ToLower(cmd) == "findandmodify")\n',
      '\tresult := new(UpdateResult)\n\n\tisFindAndModify := (strings.ToLower(cmd) == "findandmodify")\n\n' +
      '\t// documents changed and not yet written: written together, up to updateWriteBatch to a transaction\n' +
      '\tvar changed []*types.Document\n\tflush := func() error {\n\t\tif len(changed) == 0 {\n\t\t\treturn nil\n\t\t}\n\n' +
      '\t\tdocs := changed\n\t\tchanged = nil\n\t\t_, err := c.UpdateAll(ctx, &backends.UpdateAllParams{Docs: docs})\n\n\t\treturn err\n\t}\n'],
    ['\t\t_, doc, err := iter.Next()\n\t\tif err != nil {\n\t\t\tif !errors.Is(err, iterator.ErrIteratorDone) {\n\t\t\t\treturn nil, lazyerrors.Error(err)\n\t\t\t}\n',
      '\t\t_, doc, err := iter.Next()\n\t\tif err != nil {\n\t\t\tif !errors.Is(err, iterator.ErrIteratorDone) {\n\t\t\t\t_ = flush()\n\n\t\t\t\treturn nil, lazyerrors.Error(err)\n\t\t\t}\n'],
    ['\t\t\tif !upsert {\n\t\t\t\treturn result, nil\n\t\t\t}\n',
      '\t\t\tif !upsert {\n\t\t\t\tif err = flush(); err != nil {\n\t\t\t\t\treturn nil, lazyerrors.Error(err)\n\t\t\t\t}\n\n\t\t\t\treturn result, nil\n\t\t\t}\n'],
    ['\t\tif err != nil {\n\t\t\treturn nil, lazyerrors.Error(err)\n\t\t}\n\n\t\tif !doc.Has("_id") {',
      '\t\tif err != nil {\n\t\t\t_ = flush()\n\n\t\t\treturn nil, lazyerrors.Error(err)\n\t\t}\n\n\t\tif !doc.Has("_id") {'],
    ['\t\tif err = doc.ValidateData(); err != nil {\n\t\t\treturn nil, lazyerrors.Error(err)\n\t\t}\n',
      '\t\tif err = doc.ValidateData(); err != nil {\n\t\t\t_ = flush()\n\n\t\t\treturn nil, lazyerrors.Error(err)\n\t\t}\n'],
    ['\t\t} else if modified {\n\t\t\t_, err := c.UpdateAll(ctx, &backends.UpdateAllParams{Docs: []*types.Document{doc}})\n',
      '\t\t} else if modified && !isFindAndModify {\n\t\t\tchanged = append(changed, doc)\n\t\t\tif len(changed) >= updateWriteBatch {\n' +
      '\t\t\t\tif err = flush(); err != nil {\n\t\t\t\t\treturn nil, lazyerrors.Error(err)\n\t\t\t\t}\n\t\t\t}\n\n\t\t\tresult.Modified.Count++\n' +
      '\t\t} else if modified {\n\t\t\t_, err := c.UpdateAll(ctx, &backends.UpdateAllParams{Docs: []*types.Document{doc}})\n'],
    ['// processFilterEqualityCondition copies the fields with equality condition from filter to doc.\n',
      '// updateWriteBatch is the most changed documents an update writes in one transaction (see UpdateDocument).\nconst updateWriteBatch = 1000\n\n' +
      '// processFilterEqualityCondition copies the fields with equality condition from filter to doc.\n'],
  ])
}

/**
 * FerretDB 1.24.2 stores every document with its whole schema (the BSON type of every value) in the field `$s`:
 * half of a lead's stored text and 60% of a ledger entry's. Every write writes it, and SQLite reads it all again for
 * each index expression it computes. The documents of a collection have few shapes, so the patch stores each distinct
 * schema once per database (table `_ferretdb_schemas`, written in the transaction of the first document using it) and
 * each document refers to it by a hash of its text (`scripts/ferretdb/sjson_stored.go`, `schemas.go`). The `_id`'s
 * schema element stays inline, where SQL reads it. Documents stored inline before the patch read as before; a
 * document the one-pass encoder does not take is still stored inline. A database written by this build is not
 * readable by an unpatched FerretDB.
 */
export function patchSchemaDict (src) {
  editSource(src, 'internal/backends/sqlite/insert.go', [
    ['\t"github.com/FerretDB/FerretDB/internal/handler/sjson"\n', ''],
    ['func prepareInsertStatement(tableName string, capped bool, docs []*types.Document) (string, []any, error) {',
      'func prepareInsertStatement(tableName string, capped bool, docs []*types.Document, schemas storedSchemas) (string, []any, error) {'],
    ['\t\tb, err := sjson.Marshal(doc)\n', '\t\tb, err := schemas.marshal(doc)\n'],
  ])
  editSource(src, 'internal/backends/sqlite/collection.go', [
    // a query reads the database's schemas before its documents
    ['\trows, err := db.QueryContext(ctx, q, args...)\n\tif err != nil {\n\t\treturn nil, lazyerrors.Error(err)\n\t}\n\n\treturn &backends.QueryResult{\n\t\tIter:           newQueryIterator',
      '\tif !params.OnlyRecordIDs {\n\t\tif err := loadSchemas(ctx, db); err != nil {\n\t\t\treturn nil, err\n\t\t}\n\t}\n\n' +
      '\trows, err := db.QueryContext(ctx, q, args...)\n\tif err != nil {\n\t\treturn nil, lazyerrors.Error(err)\n\t}\n\n\treturn &backends.QueryResult{\n\t\tIter:           newQueryIterator'],
    // insert: documents encoded with schema references, the new schemas written in the same transaction
    ['\tvar queries []string\n\tvar argLists [][]any\n', '\tvar queries []string\n\tvar argLists [][]any\n\n\tschemas := storedSchemas{}\n'],
    ['prepareInsertStatement(meta.TableName, meta.Capped(), batch)', 'prepareInsertStatement(meta.TableName, meta.Capped(), batch, schemas)'],
    ['\terr := db.InTransaction(ctx, func(tx *fsql.Tx) error {\n\t\tfor n, q := range queries {\n',
      '\terr := db.InTransaction(ctx, func(tx *fsql.Tx) error {\n\t\tif err := schemas.write(ctx, db, tx); err != nil {\n\t\t\treturn err\n\t\t}\n\n\t\tfor n, q := range queries {\n'],
    ['\tif err != nil {\n\t\treturn nil, err\n\t}\n\n\treturn new(backends.InsertAllResult), nil\n',
      '\tif err != nil {\n\t\treturn nil, err\n\t}\n\n\tschemas.committed(db)\n\n\treturn new(backends.InsertAllResult), nil\n'],
    // update: the same
    ['\tfor n, doc := range params.Docs {\n\t\tb, err := sjson.Marshal(doc)\n',
      '\tschemas := storedSchemas{}\n\n\tfor n, doc := range params.Docs {\n\t\tb, err := schemas.marshal(doc)\n'],
    ['\terr := db.InTransaction(ctx, func(tx *fsql.Tx) error {\n\t\tfor n := range bodies {\n',
      '\terr := db.InTransaction(ctx, func(tx *fsql.Tx) error {\n\t\tif err := schemas.write(ctx, db, tx); err != nil {\n\t\t\treturn err\n\t\t}\n\n\t\tfor n := range bodies {\n'],
    ['\tif err != nil {\n\t\treturn nil, lazyerrors.Error(err)\n\t}\n\n\treturn &res, nil\n}\n\n// DeleteAll',
      '\tif err != nil {\n\t\treturn nil, lazyerrors.Error(err)\n\t}\n\n\tschemas.committed(db)\n\n\treturn &res, nil\n}\n\n// DeleteAll'],
  ])
  editSource(src, 'internal/backends/sqlite/query_iterator.go', [
    ['\t\tif doc, err = sjson.Unmarshal(b); err != nil {', '\t\tif doc, err = sjson.UnmarshalStored(b); err != nil {'],
  ])
  copyFileSync(join(PATCH_FILES, 'sjson_stored.go'), join(src, 'internal', 'handler', 'sjson', 'sjson_stored.go'))
  copyFileSync(join(PATCH_FILES, 'schemas.go'), join(src, 'internal', 'backends', 'sqlite', 'schemas.go'))
}

/**
 * With the write-queue patch, FerretDB's write transactions run one at a time and each ends in a commit that appends
 * every page it changed to the WAL; under scoring, commits and their page writes were a fifth of the database's CPU,
 * and consecutive transactions mostly change the same pages. The patch (`scripts/ferretdb/group_commit.go`) lets the
 * writer that holds the write lock run the write transactions queued behind it too, each in a savepoint of one SQLite
 * transaction, committed once: a write that fails is rolled back to its savepoint and gets its own error, the others
 * commit, and every caller is answered after the commit that holds its writes. A caller that gives up while queued is
 * dropped from the queue; once its write runs, its context no longer cancels statements, so it cannot roll back the
 * others'.
 */
export function patchGroupCommit (src) {
  editSource(src, 'internal/util/fsql/db.go', [
    ['\t"github.com/FerretDB/FerretDB/internal/util/lazyerrors"\n', ''],
    ['\t// writes holds one token while a write transaction of this database runs (see InTransaction)\n\twrites chan struct{}\n}',
      '\t// writes holds one token while a write transaction of this database runs (see InTransaction)\n\twrites chan struct{}\n\n\t// queue holds the write transactions waiting for it (see group_commit.go)\n\tqueue writeQueue\n}'],
    // the whole function: its body moves to commitGroup
    ["// InTransaction wraps the given function f in a transaction.\n//\n// If f returns an error or context is canceled, the transaction is rolled back.\nfunc (db *DB) InTransaction(ctx context.Context, f func(*Tx) error) (err error) {\n\tvar sqlTx *sql.Tx\n\n\t// one write transaction at a time: a writer waits here and starts as the one before it ends, not in SQLite's\n\t// busy handler, which sleeps between tries while the database may already be free\n\tselect {\n\tcase db.writes <- struct{}{}:\n\tcase <-ctx.Done():\n\t\treturn lazyerrors.Error(ctx.Err())\n\t}\n\tdefer func() { <-db.writes }()\n\n\tif sqlTx, err = db.sqlDB.BeginTx(ctx, nil); err != nil {\n\t\terr = lazyerrors.Error(err)\n\t\treturn\n\t}\n\n\ttx := wrapTx(sqlTx, db.l)\n\n\tvar done bool\n\n\tdefer func() {\n\t\t// It is not enough to check `err == nil` there,\n\t\t// because in tests `f` could contain testify/require.XXX or `testing.TB.FailNow()` calls\n\t\t// that call `runtime.Goexit()`, leaving `err` unset in `err = f(tx)` below.\n\t\t// This situation would hang a test.\n\t\t//\n\t\t// As a bonus, checking a separate variable also handles any panics in `f`,\n\t\t// including `panic(nil)` that is problematic for tests too.\n\t\tif done {\n\t\t\treturn\n\t\t}\n\n\t\tif err == nil {\n\t\t\terr = lazyerrors.Errorf(\"transaction was not committed\")\n\t\t}\n\n\t\t_ = tx.Rollback()\n\t}()\n\n\tif err = f(tx); err != nil {\n\t\t// do not wrap f's error because the caller depends on it in some cases\n\t\treturn\n\t}\n\n\tif err = tx.Commit(); err != nil {\n\t\terr = lazyerrors.Error(err)\n\t\treturn\n\t}\n\n\tdone = true\n\n\treturn\n}\n\n",
      '// InTransaction runs f in a write transaction, committed together with those waiting at the same time (see\n// group_commit.go). If f returns an error, its writes are rolled back.\nfunc (db *DB) InTransaction(ctx context.Context, f func(*Tx) error) error {\n\treturn db.inGroup(ctx, f)\n}\n\n'],
  ])
  const detach = '\tif tx.detached {\n\t\tctx = context.WithoutCancel(ctx)\n\t}\n\n'
  editSource(src, 'internal/util/fsql/tx.go', [
    ['type Tx struct {\n\tsqlTx *sql.Tx\n\tl     *slog.Logger\n\ttoken *resource.Token\n}',
      'type Tx struct {\n\tsqlTx *sql.Tx\n\tl     *slog.Logger\n\ttoken *resource.Token\n\n\t// detached: its statements are not cancelled with their caller\'s context (see group_commit.go)\n\tdetached bool\n}'],
    ['func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*Rows, error) {\n', `func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*Rows, error) {\n${detach}`],
    ['func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {\n', `func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {\n${detach}`],
    ['func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {\n', `func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {\n${detach}`],
  ])
  copyFileSync(join(PATCH_FILES, 'group_commit.go'), join(src, 'internal', 'util', 'fsql', 'group_commit.go'))
}

/**
 * Every document a query returns is filtered again in Go with the whole filter (see patchIdWithOthers), and FerretDB
 * 1.24.2 tests `{ field: { $in: [...] } }` by comparing the field with each listed value through its general
 * comparison, which converts between types. A read of a list of ids (hundreds of them, as scoring and ingest read
 * leads, events and markers) thus made a general comparison per document and listed id. A string equals only a
 * string under that comparison (it orders before or after every other type), so for a string field the patch
 * (`scripts/ferretdb/in_strings.go`) compares the listed strings with `==`, and matches regular expressions and
 * refuses a listed `{ $…: … }` exactly as before, in the same order.
 */
export function patchInStrings (src) {
  const head = '\t\t\t\t\t"$in needs an array",\n\t\t\t\t\texprKey,\n\t\t\t\t)\n\t\t\t}\n\n\t\t\tvar found bool\n'
  editSource(src, 'internal/handler/common/filter.go', [
    [head, `${head}\t\t\tif s, isString := fieldValue.(string); isString {\n\t\t\t\tif found, err = inStrings(s, arr, exprKey); err != nil {\n\t\t\t\t\treturn false, err\n\t\t\t\t}\n\n\t\t\t\tif !found {\n\t\t\t\t\treturn false, nil\n\t\t\t\t}\n\n\t\t\t\tcontinue\n\t\t\t}\n\n`],
  ])
  copyFileSync(join(PATCH_FILES, 'in_strings.go'), join(src, 'internal', 'handler', 'common', 'in_strings.go'))
}

/** Makes a copied module tree (read-only in Go's module cache) writable, so it can be patched and removed. */
export function makeWritable (dir) {
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
