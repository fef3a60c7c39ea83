// `npm test`: type-checks (the benchmarks too), lints (style and import rules: eslint.config.js), starts one FerretDB for the run (unless
// MONGODB_URI names a MongoDB server), runs every tap test file, and ends with a plain "N passed, N failed" line
// counting the tests inside the files.
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { resolve, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensureFerretDb } from './ferretdb.mjs'
import { buildProjects } from './projects.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const tsc = resolve(root, 'node_modules', 'typescript', 'bin', 'tsc')
// the plugin packages too: tests that start the built server load the first-party plugins from their dist/; the
// benchmarks are type-checked with the tests, so that they keep compiling against the code they measure
execFileSync(process.execPath, [tsc, '-b', 'rules-dsl', ...buildProjects(root), 'test', 'bench'], { cwd: root, stdio: 'inherit' })
try {
  execFileSync(process.execPath, [resolve(root, 'node_modules', 'eslint', 'bin', 'eslint.js'), '.'], { cwd: root, stdio: 'inherit' })
} catch {
  console.log('# lint failed: `npm run lint` lists the problems, `npm run format` fixes the style ones')
  console.log('0 passed, 1 failed')
  process.exit(1)
}

const env = { ...process.env }
let ferret = null
let dataDir = null
if (env.MONGODB_URI === undefined) {
  const bin = ensureFerretDb()
  dataDir = mkdtempSync(join(tmpdir(), 'leadscore-test-'))
  const { startFerretDb } = await import('../server/dist/infra/ferretdb.js')
  // the test database is restarted if it dies; its last output is printed so the cause is on record
  ferret = await startFerretDb({
    dataDir, bin,
    onExit: (e) => console.error(`# test database: FerretDB ended (code ${e.code}, signal ${e.signal})${e.restarting ? '; restarting it' : ''}\n${e.output.split('\n').map((l) => `#   ${l}`).join('\n')}`),
  })
  env.LEADSCORE_TEST_MONGODB_URI = ferret.uri
  console.log(`# test database: FerretDB (SQLite) at ${ferret.uri}`)
} else {
  env.LEADSCORE_TEST_MONGODB_URI = env.MONGODB_URI
  console.log('# test database: MONGODB_URI')
}

// tap is given the files explicitly: with its TypeScript plugin off (tsx loads .ts instead), it does not find .ts
// test files by itself
function findTests (dir) {
  const out = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) { if (e.name !== 'fixtures' && e.name !== 'helpers' && e.name !== 'pending') out.push(...findTests(p)) } else if (e.name.endsWith('.test.ts')) out.push(p)
  }
  return out
}
const files = process.argv.length > 2 ? process.argv.slice(2) : findTests(join(root, 'test')).map((f) => f.slice(root.length + 1)).sort()
const tap = spawn(process.execPath, [resolve(root, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs'), '--reporter=tap', ...files], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] })
let passed = 0
let failed = 0
let buf = ''
// what failed, repeated just above the last line: CI often shows only the tail of a long log
const failures = []
let file = ''
let check = null // the first failed assertion inside the current test
const count = (line) => {
  const inner = /^ {8}not ok \d+ - (.*?)(?: # time=.*)?$/.exec(line)
  if (inner !== null && check === null) check = inner[1]
  const started = /^# Subtest: (\S+\.test\.ts)/.exec(line)
  if (started !== null) file = started[1]
  const fileFailed = /^not ok \d+ - (\S+\.test\.ts)/.exec(line)
  if (fileFailed !== null && !failures.some((f) => f.startsWith(`${fileFailed[1]}:`))) failures.push(`${fileFailed[1]}: the file failed (its exit code, a time-out or a teardown)`)
  // test points one level inside a file: "    ok 3 - name" / "    not ok 3 - name"
  const m = /^ {4}(not )?ok \d+(?: - (.*?))?(?: # time=.*)?$/.exec(line)
  if (m === null || /# SKIP/.test(line)) return
  if (m[1] !== undefined) {
    failed++
    failures.push(`${file}: ${m[2] ?? '(unnamed)'}${check !== null ? ` (first failed check: ${check.slice(0, 300)})` : ''}`)
  } else passed++
  check = null
}
tap.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  buf += chunk.toString()
  const lines = buf.split('\n')
  buf = lines.pop() ?? ''
  lines.forEach(count)
})
const code = await new Promise((r) => tap.on('exit', (c) => r(c ?? 1)))
count(buf)
if (ferret !== null) await ferret.stop()
if (dataDir !== null) rmSync(dataDir, { recursive: true, force: true })
if (code !== 0 && failed === 0) failed = 1
for (const f of failures) console.log(`# failed: ${f}`)
console.log(`${passed} passed, ${failed} failed`)
process.exit(code)
