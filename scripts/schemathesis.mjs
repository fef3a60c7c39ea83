// Property-based API testing with schemathesis against a real server: builds the server, starts it on a fresh
// database (the test run's database, MONGODB_URI, or an embedded FerretDB started here) with workers on, and runs
//   schemathesis --config-file scripts/schemathesis.toml run <url>/docs/json --mode all ...
// with every check on positive and negative data, but for the checks scripts/schemathesis.toml turns off (each with
// its reason; see docs/api-testing.md).
// Exit code: schemathesis's (0 = no check failed).
// Environment: SCHEMATHESIS_MAX_EXAMPLES (default 10), SCHEMATHESIS_PHASES (default examples,coverage,fuzzing),
// SCHEMATHESIS_WORKERS (default 2), SCHEMATHESIS_SEED, SCHEMATHESIS_MAX_TIME (seconds), SCHEMATHESIS_REPORT_DIR (HAR
// files of every request, for finding what a failure did), SCHEMATHESIS_CHECKS (instead of the configured checks),
// SCHEMATHESIS_ARGS (more arguments, split on spaces).
import { spawn, spawnSync, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { resolve, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildProjects } from './projects.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const bin = process.env.SCHEMATHESIS_BIN ?? 'schemathesis'
const probe = spawnSync(bin, ['--version'], { encoding: 'utf8' })
if (probe.status !== 0) {
  console.error(`schemathesis is not installed (${bin} --version failed). Install it with: pip install "schemathesis>=4.32,<5"`)
  process.exit(2)
}
console.log(`# ${probe.stdout.trim()}`)

execFileSync(process.execPath, [resolve(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', ...buildProjects(root)], { cwd: root, stdio: 'inherit' })
const { buildApp } = await import('../server/dist/app.js')
const { loadConfig } = await import('../server/dist/config.js')
const { openDatabase } = await import('../server/dist/infra/db.js')
const { startFerretDb } = await import('../server/dist/infra/ferretdb.js')

let ferret = null
let dataDir = null
let uri = process.env.LEADSCORE_TEST_MONGODB_URI ?? process.env.MONGODB_URI
if (uri === undefined) {
  const { ensureFerretDb } = await import('./ferretdb.mjs')
  dataDir = mkdtempSync(join(tmpdir(), 'leadscore-st-'))
  ferret = await startFerretDb({ dataDir, bin: ensureFerretDb({ quiet: true }) })
  uri = ferret.uri
}
const key = `lsk_st_${randomBytes(16).toString('hex')}`
const dbName = `ls_st_${randomBytes(6).toString('hex')}`
const config = loadConfig({
  MONGODB_URI: uri, MONGODB_DB: dbName, LEADSCORE_BOOTSTRAP_API_KEY: key, LEADSCORE_DEMO: '0', LOG_LEVEL: process.env.SCHEMATHESIS_LOG_LEVEL ?? 'silent',
  LEADSCORE_PROCESS_EVERY_MS: '100', LEADSCORE_SWEEP_EVERY_MS: '1000',
})
const db = await openDatabase(uri, dbName)
const app = await buildApp(config, { database: db, startWorkers: true })
await app.listen({ port: 0, host: '127.0.0.1' })
const base = `http://127.0.0.1:${app.server.address().port}`
// a few stored leads and events so read endpoints have something to return
await fetch(`${base}/v1/events`, {
  method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  body: JSON.stringify({ events: Array.from({ length: 20 }, (_, i) => ({ externalId: `seed-${i}`, lead: { email: `seed${i % 5}@example.com` }, type: ['page_view', 'demo_request', 'odd_type'][i % 3], properties: { 'a.b': i, $c: true } })) }),
})

// Revoking API keys runs last, in a second pass: schemathesis reuses ids it saw in responses, so DELETE
// /v1/api-keys/{id} revokes the very key it authenticates with (a legitimate 204), and every operation tested after
// that would only see 401s. Nothing is left out: the second pass tests that one operation.
const REVOKE = 'DELETE /v1/api-keys/{id}'
const common = [
  // positive and negative data; every check runs but the ones scripts/schemathesis.toml turns off, with its reasons
  '--mode', 'all',
  '-H', `Authorization: Bearer ${key}`,
  '--max-examples', process.env.SCHEMATHESIS_MAX_EXAMPLES ?? '10',
  '--workers', process.env.SCHEMATHESIS_WORKERS ?? '2',
  '--request-timeout', '60', // generous: a loaded 2-core CI machine has served single requests in 15 s
  '--suppress-health-check', 'all',
  '--generation-database', 'none',
  '--no-color',
  // the stateful phase (link-following sequences) is left out by default: it takes minutes on a slow database, and
  // the fuzzing phase already reuses ids seen in responses
  '--phases', process.env.SCHEMATHESIS_PHASES ?? 'examples,coverage,fuzzing',
]
// --checks overrides the configuration file, its per-operation entries included
if (process.env.SCHEMATHESIS_CHECKS !== undefined) common.push('--checks', process.env.SCHEMATHESIS_CHECKS)
if (process.env.SCHEMATHESIS_SEED !== undefined) common.push('--seed', process.env.SCHEMATHESIS_SEED)
if (process.env.SCHEMATHESIS_MAX_TIME !== undefined) common.push('--max-time', process.env.SCHEMATHESIS_MAX_TIME)
// more arguments for schemathesis run, split on spaces (e.g. SCHEMATHESIS_ARGS='--include-path-regex ^/v1/events')
if (process.env.SCHEMATHESIS_ARGS !== undefined) common.push(...process.env.SCHEMATHESIS_ARGS.split(' ').filter((a) => a !== ''))

let code = 0
for (const [pass, filter] of [['all but key revocation', ['--exclude-name', REVOKE]], ['key revocation', ['--include-name', REVOKE]]]) {
  const args = ['--config-file', resolve(root, 'scripts', 'schemathesis.toml'), 'run', `${base}/docs/json`, ...filter, ...common]
  if (process.env.SCHEMATHESIS_REPORT_DIR !== undefined) args.push('--report', 'har', '--report-dir', join(process.env.SCHEMATHESIS_REPORT_DIR, pass.replaceAll(' ', '-')))
  console.log(`# pass: ${pass}\n# ${bin} ${args.join(' ').replace(key, '<key>')}`)
  const child = spawn(bin, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, SCHEMATHESIS_HOOKS: '' } })
  const c = await new Promise((r) => child.on('exit', (c, sig) => r(c ?? (sig !== null ? 1 : 0))))
  if (c !== 0 && code === 0) code = c
}

await app.close()
await db.db.dropDatabase().catch(() => undefined)
await db.close()
if (ferret !== null) await ferret.stop()
if (dataDir !== null) rmSync(dataDir, { recursive: true, force: true })
console.log(code === 0 ? '# schemathesis: no server errors, every response matches its schema' : `# schemathesis: failures found (exit code ${code})`)
process.exit(code)
