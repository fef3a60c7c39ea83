// The embedded FerretDB is reachable by the server's user only: it listens on a Unix socket in the private (0700)
// data folder and on no TCP port (a loopback port is open to every local user, and FerretDB on SQLite has no
// authentication). A data folder whose socket path would be too long for a Unix socket uses a private temporary
// folder instead, and a clear error says when even that is too long.
import t from 'tap'
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { freePort, socketPathFor, MAX_SOCKET_PATH } from '../../server/src/infra/ferretdb.js'
import { spawnTs, waitUntil } from '../helpers/processes.js'
import { ADMIN_KEY } from '../helpers/harness.js'

t.setTimeout(180_000)

const root = mkdtempSync(join(tmpdir(), 'ls-sock-'))
const dataDir = join(root, 'data')
const dbDir = join(dataDir, 'ferretdb')
t.teardown(() => { rmSync(root, { recursive: true, force: true }) })

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

/** The TCP ports a process listens on: its socket inodes (/proc/<pid>/fd) in LISTEN state in /proc/net/tcp{,6}. */
function listeningTcpPorts (pid: number): number[] {
  const inodes = new Set<string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (m !== null) inodes.add(m[1]!)
    } catch { /* closed meanwhile */ }
  }
  const ports: number[] = []
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      // local_address is f[1] (hex ip:port), st is f[3] (0A = LISTEN), inode is f[9]
      if (f.length > 9 && f[3] === '0A' && inodes.has(f[9]!)) ports.push(parseInt(f[1]!.split(':')[1]!, 16))
    }
  }
  return ports
}

t.test('the embedded start: a Unix socket in the private data folder, no TCP listener, and the product works', async (t) => {
  const port = await freePort()
  const s = spawnTs('server/src/main.ts', {
    MONGODB_URI: '', LEADSCORE_DATA_DIR: dataDir, LEADSCORE_BOOTSTRAP_API_KEY: ADMIN_KEY, LEADSCORE_DEMO: '0',
    PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn',
  })
  t.teardown(() => { s.proc.kill('SIGKILL') })
  const url = `http://127.0.0.1:${port}`
  let ended = false
  void s.exited.then(() => { ended = true })
  await waitUntil(async () => {
    if (ended) throw new Error(`server exited before it was ready: ${s.output()}`)
    try { return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) })).status === 200 } catch { return false }
  }, 90_000, () => s.output())

  const pids = ferretDbPidsOn(dbDir)
  t.equal(pids.length, 1, 'one FerretDB serves the folder')
  const argv = readFileSync(`/proc/${pids[0]!}/cmdline`, 'utf8').split('\0')
  const sock = join(dbDir, 'ferretdb.sock')
  t.ok(argv.includes(`--listen-unix=${sock}`), 'it listens on the socket in the data folder')
  t.ok(statSync(sock).isSocket(), 'the socket exists')
  t.equal(statSync(dirname(sock)).mode & 0o777, 0o700, 'in a folder only its owner may enter')
  t.equal(statSync(dataDir).mode & 0o777, 0o700)
  t.same(listeningTcpPorts(pids[0]!), [], 'FerretDB listens on no TCP port')

  const auth = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }
  const posted = await fetch(`${url}/v1/events`, { method: 'POST', headers: auth, body: JSON.stringify({ externalId: 'sock-1', type: 'demo_request', lead: { email: 'sock@example.com' } }) })
  t.equal(posted.status, 202, 'an event is stored through the socket')
  t.equal((await fetch(`${url}/v1/leads`, { headers: auth })).status, 200, 'and leads are read')
  s.proc.kill('SIGTERM')
  await s.exited
  t.same(ferretDbPidsOn(dbDir), [], 'a clean stop ends FerretDB')
})

t.test('socket paths too long for a Unix socket', async (t) => {
  const short = socketPathFor('/tmp/x')
  t.same(short, { path: '/tmp/x/ferretdb.sock', tempDir: null }, 'in the data folder when it fits')
  const long = join(root, 'd'.repeat(MAX_SOCKET_PATH))
  const fallback = socketPathFor(long)
  t.ok(fallback.tempDir !== null && fallback.path.startsWith(fallback.tempDir), 'too long: a private temporary folder')
  t.equal(statSync(fallback.tempDir!).mode & 0o777, 0o700, 'owner only')
  t.ok(Buffer.byteLength(fallback.path) <= MAX_SOCKET_PATH)
  rmSync(fallback.tempDir!, { recursive: true, force: true })
  t.throws(() => socketPathFor(long, join(root, 't'.repeat(MAX_SOCKET_PATH))), /socket path would be longer than \d+ bytes.*shorter LEADSCORE_DATA_DIR or TMPDIR/, 'and a clear error when that is too long too')
})
