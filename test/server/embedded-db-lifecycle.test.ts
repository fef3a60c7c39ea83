// The embedded FerretDB with real server processes: it dies with its server even on SIGKILL, a second server on the
// same data folder is refused while the first runs, a FerretDB orphaned on the folder is stopped at the next start,
// and the data folder is private (0700); a server started by a launcher (scripts/start.mjs) stops when the launcher dies.
import t from 'tap'
import { spawn } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../server/src/infra/ferretdb.js'
import { ROOT, spawnTs, waitUntil, type Child } from '../helpers/processes.js'
import { ADMIN_KEY } from '../helpers/harness.js'

t.setTimeout(240_000)

const root = mkdtempSync(join(tmpdir(), 'ls-embedded-'))
const dataDir = join(root, 'data')
const dbDir = join(dataDir, 'ferretdb')
t.teardown(() => {
  // nothing of ours may outlive the test, whatever failed
  for (const pid of ferretDbPidsOn(dbDir)) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
  rmSync(root, { recursive: true, force: true })
})

function alive (pid: number): boolean {
  try { process.kill(pid, 0) } catch { return false }
  try { return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8')) } catch { return false }
}

/** Pids of the FerretDB processes serving `dir`, read from /proc. */
function ferretDbPidsOn (dir: string): number[] {
  const pids: number[] = []
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue
    let argv: string[]
    try { argv = readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0') } catch { continue }
    if ((argv[0] ?? '').endsWith('ferretdb') && argv.includes(`--state-dir=${dir}`)) pids.push(Number(n))
  }
  return pids
}

function ppidOf (pid: number): number {
  return Number(/^\d+ \(.*\) \S (\d+)/s.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))![1])
}

interface Server extends Child { url: string }

/** Starts the real main.ts with no MONGODB_URI (so with the embedded FerretDB) on `dataDir`. */
async function start (): Promise<Server> {
  const port = await freePort()
  const child = spawnTs('server/src/main.ts', {
    MONGODB_URI: '', LEADSCORE_DATA_DIR: dataDir, LEADSCORE_BOOTSTRAP_API_KEY: ADMIN_KEY, LEADSCORE_DEMO: '0',
    PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn',
  })
  t.teardown(() => { child.proc.kill('SIGKILL') })
  return { ...child, url: `http://127.0.0.1:${port}` }
}

async function ready (s: Server): Promise<void> {
  let ended = false
  void s.exited.then(() => { ended = true })
  await waitUntil(async () => {
    if (ended) throw new Error(`server exited before it was ready: ${s.output()}`)
    try { return (await fetch(`${s.url}/healthz`, { signal: AbortSignal.timeout(2000) })).status === 200 } catch { return false }
  }, 90_000, () => s.output())
}

async function leadsStatus (s: Server): Promise<number> {
  return (await fetch(`${s.url}/v1/leads`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status
}

t.test('the data folder is 0700, also when it existed with broader permissions', async (t) => {
  mkdirSync(dataDir, { recursive: true })
  chmodSync(dataDir, 0o755)
  const s = await start()
  await ready(s)
  t.equal(statSync(dataDir).mode & 0o777, 0o700, 'data folder tightened to 0700')
  t.equal(statSync(dbDir).mode & 0o777, 0o700, 'database folder created 0700')
  s.proc.kill('SIGTERM')
  await s.exited
  t.same(ferretDbPidsOn(dbDir), [], 'a clean stop ends FerretDB')
})

t.test('SIGKILL of the server ends its FerretDB; a second server on the folder is refused; a restart works', async (t) => {
  const first = await start()
  await ready(first)
  const pids = ferretDbPidsOn(dbDir)
  t.equal(pids.length, 1, 'one FerretDB serves the folder')
  const ferret = pids[0]!
  // its garbage collector runs less often than Go's default (infra/ferretdb.ts: ferretGcEnv)
  const env = readFileSync(`/proc/${ferret}/environ`, 'utf8').split('\0')
  t.ok(env.includes('GOGC=400') && env.includes('GOMEMLIMIT=1GiB'), 'FerretDB runs with GOGC=400 and a 1 GiB soft memory limit')

  // a second server on the same folder while the first runs
  const second = await start()
  const code = await Promise.race([second.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 30_000))])
  t.not(code, 0, `the second server stops with an error (exit ${String(code)})`)
  t.match(second.output(), /in use by another Leadscore server \(process \d+\)/, 'its message names the server using the folder')
  t.same(ferretDbPidsOn(dbDir), [ferret], 'still only the first FerretDB on the folder')
  t.equal(await leadsStatus(first), 200, 'the first server still works')

  first.proc.kill('SIGKILL')
  await first.exited
  await waitUntil(async () => !alive(ferret), 5000, () => `FerretDB ${ferret} still runs after its server was killed`, 50)
  t.pass('FerretDB ended within 5 s of its server\'s SIGKILL')

  const again = await start()
  await ready(again)
  t.equal(await leadsStatus(again), 200, 'a new server on the same folder works')
  t.equal(ferretDbPidsOn(dbDir).length, 1, 'with one FerretDB')
  again.proc.kill('SIGTERM')
  await again.exited
})

t.test('a FerretDB orphaned on the folder is stopped by the next start', async (t) => {
  const first = await start()
  await ready(first)
  const [ferret] = ferretDbPidsOn(dbDir)
  // kill the whole chain above FerretDB at once (server, guard script and its watcher): FerretDB is left orphaned
  const guard = ppidOf(ferret!)
  const watchers = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number)
    .filter((p) => p !== ferret && (() => { try { return ppidOf(p) === guard } catch { return false } })())
  for (const p of [...watchers, guard, first.proc.pid!]) process.kill(p, 'SIGKILL')
  await first.exited
  await new Promise((r) => setTimeout(r, 300))
  t.ok(alive(ferret!), 'the orphaned FerretDB still runs')

  const next = await start()
  await ready(next)
  t.notOk(alive(ferret!), 'the next start stopped the orphan')
  const now = ferretDbPidsOn(dbDir)
  t.equal(now.length, 1, 'one FerretDB serves the folder')
  t.equal(await leadsStatus(next), 200, 'the new server works')
  next.proc.kill('SIGTERM')
  await next.exited
})

t.test('SIGKILL of the launcher (scripts/start.mjs) stops the server and its FerretDB', async (t) => {
  const port = await freePort()
  // a launcher like scripts/start.mjs (which runs the built dist/main.js): fd 3 of the server is its pipe
  const script = `
    const { spawn } = require('node:child_process')
    const c = spawn(process.execPath, ['--import', 'tsx', '--conditions=leadscore-source', 'server/src/main.ts'], {
      stdio: ['ignore', 'ignore', 'inherit', 'pipe'], env: { ...process.env, LEADSCORE_LAUNCHER_FD: '3' } })
    process.stdout.write(String(c.pid) + '\\n')
    setInterval(() => {}, 1000)`
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'NODE_OPTIONS' && !k.startsWith('TAP')) env[k] = v
  const proc = spawn(process.execPath, ['-e', script], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...env, MONGODB_URI: '', LEADSCORE_DATA_DIR: dataDir, LEADSCORE_BOOTSTRAP_API_KEY: ADMIN_KEY, LEADSCORE_DEMO: '0', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
  })
  let out = ''
  proc.stdout.on('data', (b: Buffer) => { out += b.toString() })
  proc.stderr.on('data', (b: Buffer) => { out += b.toString() })
  t.teardown(() => { proc.kill('SIGKILL') })
  const url = `http://127.0.0.1:${port}`
  await waitUntil(async () => {
    try { return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) })).status === 200 } catch { return false }
  }, 90_000, () => out)
  const server = Number(/^(\d+)\n/.exec(out)![1])
  const [ferret] = ferretDbPidsOn(dbDir)
  t.ok(alive(server) && ferret !== undefined && alive(ferret), 'server and FerretDB run')
  t.teardown(() => { try { process.kill(server, 'SIGKILL') } catch { /* gone */ } })

  proc.kill('SIGKILL')
  await waitUntil(async () => !alive(server) && !alive(ferret!), 20_000, () => `server ${server} or FerretDB ${ferret} still runs: ${out}`, 100)
  t.pass('both ended after the launcher was killed')
})
