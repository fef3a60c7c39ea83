// The error catalogue: every code the server uses is declared, well-formed, documented and never a retired one.
import t from 'tap'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, resolve, dirname, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ERROR_CODES, RETIRED_CODES } from '../../server/src/errors.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const docs = readFileSync(join(root, 'docs', 'errors.md'), 'utf8')
const CODE_RE = /LS_ERR_[A-Z_]+/g

function sourceFiles (dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p))
    else if (/\.(ts|mts|cts|js|mjs|json)$/.test(name)) out.push(p)
  }
  return out
}

function escapeRe (s: string): string { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') }

/** A markdown heading or table row naming the code (as a whole word). */
function documented (code: string): boolean {
  const word = `(?<![A-Z_])${escapeRe(code)}(?![A-Z_])`
  return new RegExp(`^#{1,6}\\s.*${word}`, 'm').test(docs) || new RegExp(`^\\|.*${word}.*\\|\\s*$`, 'm').test(docs)
}

t.test('every declared code is consistent with its constructor and documented', async (t) => {
  const codes = Object.keys(ERROR_CODES)
  t.ok(codes.length > 0, 'ERROR_CODES is not empty')
  for (const [key, E] of Object.entries(ERROR_CODES)) {
    const err = new E('a', 'b')
    t.equal(err.code, key, `${key}: key equals the constructor's code`)
    t.match(key, /^LS_ERR_[A-Z][A-Z_]*[A-Z]$/, `${key}: starts with LS_ERR_ and is upper snake case`)
    t.type(err.statusCode, 'number', `${key}: has an HTTP status`)
    t.ok(documented(key), `${key}: has a heading or table row in docs/errors.md`)
    t.notOk(RETIRED_CODES.includes(key), `${key}: is not a retired code`)
  }
})

t.test('every LS_ERR_ code used under server/src is declared', async (t) => {
  const files = sourceFiles(join(root, 'server', 'src'))
  t.ok(files.length > 10, 'found the server sources')
  const used = new Map<string, string>()
  for (const f of files) {
    for (const m of readFileSync(f, 'utf8').matchAll(CODE_RE)) if (!used.has(m[0])) used.set(m[0], relative(root, f))
  }
  t.ok(used.size > 0, 'some codes are used')
  for (const [code, file] of used) t.ok(code in ERROR_CODES, `${code} (used in ${file}) is declared in ERROR_CODES`)
})

t.test('docs/errors.md names no unknown code', async (t) => {
  const named = new Set([...docs.matchAll(CODE_RE)].map((m) => m[0]))
  t.ok(named.size >= Object.keys(ERROR_CODES).length, 'the catalogue names every code')
  for (const code of named) {
    t.ok(code in ERROR_CODES || RETIRED_CODES.includes(code), `${code} in docs/errors.md is a declared (or retired) code`)
  }
  for (const code of RETIRED_CODES) t.notOk(code in ERROR_CODES, `retired ${code} is not declared again`)
})
