// The install step's find-and-modify patch (scripts/ferretdb.mjs) applied to FerretDB's own source: the command runs
// under one mutex, and a source that no longer looks as expected fails the build instead of building unpatched.
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
// @ts-expect-error: a plain ES module script without types
import { patchFindAndModifyLock } from '../../scripts/ferretdb.mjs'
import { ferretDbModuleDir, scratchSource } from '../helpers/ferretdb-source.js'

const dir = ferretDbModuleDir()

t.test('findAndModify runs under one lock in the patched source', { skip: dir === null ? 'Go or the FerretDB module is not available' : false }, async (t) => {
  if (dir === null) return
  const rel = join('internal', 'handler', 'msg_findandmodify.go')
  const src = scratchSource(t, dir, [rel])
  const original = readFileSync(join(dir, rel), 'utf8')
  patchFindAndModifyLock(src)
  const patched = readFileSync(join(src, rel), 'utf8')
  t.match(patched, /\t"sync"\n/, 'sync is imported')
  t.match(patched, /findAndModifyMu\.Lock\(\)\n\tres, err := h\.findAndModifyDocument\(connCtx, params\)\n\tfindAndModifyMu\.Unlock\(\)\n/, 'the command runs between Lock and Unlock')
  t.match(patched, /\nvar findAndModifyMu sync\.Mutex\n$/, 'the mutex is declared once')
  t.equal(patched.split('findAndModifyDocument(connCtx').length, 2, 'the one call site is the locked one')
  // a source that changed shape is refused
  writeFileSync(join(src, rel), original.replace('res, err := h.findAndModifyDocument(connCtx, params)', 'res, err := h.other(connCtx, params)'))
  t.throws(() => patchFindAndModifyLock(src), /FerretDB source changed/)
})
