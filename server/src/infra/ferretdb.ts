import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { resolve, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** A running FerretDB (SQLite backend) owned by this process. */
export interface EmbeddedDb {
  uri: string
  /** The loopback TCP port, when one was asked for (`port`); null when FerretDB listens on a Unix socket only. */
  port: number | null
  /** The Unix socket FerretDB listens on (in a folder only its owner may enter), or null with a TCP port. */
  socket: string | null
  stop(): Promise<void>
}

/**
 * The Go garbage collector's settings for the embedded FerretDB. It allocates a great deal per document (JSON decoding
 * and encoding), and with Go's default (GOGC=100) about a quarter of its CPU went to collecting; GOGC=400 cut its CPU
 * per scored event by about 25% (measured with the scoring stream), for a heap a few times the live data (tens of MB).
 * A soft memory limit brings collections back sooner if the heap ever grows past it. Either can be set from outside.
 */
export function ferretGcEnv (env: NodeJS.ProcessEnv): { GOGC: string; GOMEMLIMIT: string } {
  return { GOGC: env.GOGC ?? '400', GOMEMLIMIT: env.GOMEMLIMIT ?? '1GiB' }
}

/** The longest Unix socket path: sun_path holds 108 bytes on Linux, the last one a NUL (104 on macOS and BSDs). */
export const MAX_SOCKET_PATH = process.platform === 'linux' ? 107 : 103

/**
 * Where FerretDB's socket goes: `ferretdb.sock` in the data folder (private, 0700), or, when that path is too long
 * for a Unix socket, in a fresh private folder (mkdtemp: 0700) under the system's temporary folder, removed at stop.
 */
export function socketPathFor (dataDir: string, tmp: string = tmpdir()): { path: string; tempDir: string | null } {
  const inData = join(dataDir, 'ferretdb.sock')
  if (Buffer.byteLength(inData) <= MAX_SOCKET_PATH) return { path: inData, tempDir: null }
  // mkdtemp appends 6 characters to the prefix
  const inTemp = join(tmp, 'leadscore-db-XXXXXX', 'ferretdb.sock')
  if (Buffer.byteLength(inTemp) > MAX_SOCKET_PATH) {
    throw new Error(`the embedded database's socket path would be longer than ${MAX_SOCKET_PATH} bytes, both in the data folder ` +
      `(${inData}) and in the temporary folder (${inTemp}): use a shorter LEADSCORE_DATA_DIR or TMPDIR`)
  }
  const tempDir = mkdtempSync(join(tmp, 'leadscore-db-'))
  return { path: join(tempDir, 'ferretdb.sock'), tempDir }
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/** Where the install step puts the FerretDB binary unless LEADSCORE_FERRETDB_BIN says otherwise. */
export function defaultFerretDbBin (): string {
  return resolve(repoRoot, '.tools', 'bin', 'ferretdb')
}

/** Asks the OS for a free loopback port. */
export async function freePort (): Promise<number> {
  return await new Promise((resolvePort, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolvePort(port))
    })
  })
}

async function waitForListener (at: { port: number } | { path: string }, child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`FerretDB exited with code ${child.exitCode}: ${output()}`)
    const ok = await new Promise<boolean>((res) => {
      const s = 'path' in at ? connect(at.path) : connect(at.port, '127.0.0.1')
      s.once('connect', () => { s.destroy(); res(true) })
      s.once('error', () => res(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`FerretDB did not listen on ${'path' in at ? at.path : `port ${at.port}`} within ${timeoutMs} ms: ${output()}`)
}

/**
 * FerretDB is started through this `sh` script so that it dies with the server even when the server is killed with
 * SIGKILL (no exit handler runs then). The script keeps the read end of a pipe whose write end only the server holds;
 * the kernel closes it when the server dies in any way, the watcher reads EOF and kills FerretDB. Without a native
 * module Node has no prctl(PR_SET_PDEATHSIG), and this works on every POSIX system. SIGTERM to the script is passed on
 * for a clean stop; the script exits with FerretDB's status, so the restart logic below still sees FerretDB end.
 */
const GUARD = [
  'exec 3<&0',
  '"$@" </dev/null & p=$!',
  'trap \'kill -TERM $p 2>/dev/null\' TERM INT',
  // an asynchronous list gets /dev/null as stdin unless redirected explicitly, hence fd 3
  '(read -r _ignored; kill -KILL $p 2>/dev/null) <&3 & w=$!',
  'exec 3<&-',
  'wait $p; s=$?',
  // a trapped TERM interrupts wait: wait again until FerretDB has really ended
  'while kill -0 $p 2>/dev/null; do wait $p; s=$?; done',
  'kill $w 2>/dev/null',
  'exit $s',
].join('\n')

const LOCK_FILE = 'leadscore-server.lock'

/** Whether `pid` runs; a zombie (dead, not yet reaped by its parent) does not. */
function alive (pid: number): boolean {
  try { process.kill(pid, 0) } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
  try { return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8')) } catch { return true }
}

/** Pids of FerretDB processes serving `dataDir` (Linux /proc; elsewhere none are found). */
export function ferretDbPidsOn (dataDir: string): number[] {
  if (!existsSync('/proc/self/cmdline')) return []
  const want = `--state-dir=${dataDir}`
  const pids: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    let argv: string[]
    try { argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0') } catch { continue }
    if ((argv[0] ?? '').endsWith('ferretdb') && argv.includes(want)) pids.push(Number(name))
  }
  return pids
}

/**
 * Takes the data folder for this process: a lock file names the server process using it. A live other server makes the
 * start fail; a lock left by a dead one is taken over, and any FerretDB still serving the folder (an orphan of that
 * server) is stopped, so two FerretDBs never write the same SQLite files. Returns the function that releases it.
 */
function lockDataDir (dataDir: string): () => void {
  const lock = resolve(dataDir, LOCK_FILE)
  const mine = JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() })
  for (let attempt = 0; ; attempt++) {
    // written aside and hard-linked in: link is atomic and fails if a lock exists, so a reader never sees half a file
    const tmp = `${lock}.${process.pid}`
    writeFileSync(tmp, mine, { mode: 0o600 })
    try {
      linkSync(tmp, lock)
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
        if (attempt > 0 && (err as NodeJS.ErrnoException).code === 'EEXIST') throw inUse(dataDir, lock)
        throw err
      }
    } finally {
      unlinkSync(tmp)
    }
    let holder: number | null = null
    try { holder = (JSON.parse(readFileSync(lock, 'utf8')) as { pid?: number }).pid ?? null } catch { /* unreadable: stale */ }
    if (holder !== null && holder !== process.pid && alive(holder)) throw inUse(dataDir, lock, holder)
    try { unlinkSync(lock) } catch { /* removed meanwhile */ }
  }
  return () => {
    try {
      if ((JSON.parse(readFileSync(lock, 'utf8')) as { pid?: number }).pid === process.pid) unlinkSync(lock)
    } catch { /* already gone */ }
  }
}

function inUse (dataDir: string, lock: string, pid?: number): Error {
  return new Error(`the data folder ${dataDir} is in use by another Leadscore server${pid !== undefined ? ` (process ${pid})` : ''}: ` +
    `stop it first, or give this one another LEADSCORE_DATA_DIR (lock file: ${lock})`)
}

/** Stops FerretDB processes left serving `dataDir` by a server that died (SIGTERM, then SIGKILL after 3 s). */
async function stopOrphans (dataDir: string): Promise<void> {
  const pids = ferretDbPidsOn(dataDir)
  if (pids.length === 0) return
  for (const pid of pids) { try { process.kill(pid, 'SIGTERM') } catch { /* gone */ } }
  const deadline = Date.now() + 3000
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  for (const pid of pids.filter(alive)) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
  while (pids.some(alive)) await new Promise((r) => setTimeout(r, 50))
}

/** Creates `dir` readable by its owner only, and tightens it if it exists with broader permissions. */
export function ensurePrivateDir (dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700)
}

/** What `startFerretDb` reports when the server process ends without being asked to. */
export interface FerretDbExit { code: number | null; signal: string | null; output: string; restarting: boolean }

/**
 * WAL pages (4 KB each) after which a commit checkpoints them into the database file. A checkpoint runs inside the
 * committing write, so it holds the database's one writer: at SQLite's default of 1,000, checkpoints (their page
 * copies and their sync to disk) took 9% of the database's CPU under scoring, and pages that scoring rewrites again
 * and again were copied at each one. At 10,000, scoring alone took 9.7-9.9 s instead of 10.8-11.1 s for 20,000
 * events over 10,000 leads (alternating pairs; 40,000 was no better). The WAL file grows to about 40 MB. With
 * `synchronous=normal`, which syncs the WAL to disk only at checkpoints, a power loss or an OS crash can undo up to
 * that much of the latest writes (a kill of either process undoes none).
 */
const WAL_CHECKPOINT_PAGES = 10_000

/**
 * SQLite's statement and savepoint journals are kept in memory (`temp_store=memory`) instead of temporary files. A
 * statement that can fail part-way inside a transaction (every multi-row insert or update under a unique `_id`
 * index) and every write of a group commit (a savepoint each) journals the pages it changes; past 64 KB SQLite
 * spilled that journal to a file it created, wrote and deleted, once per command: a tenth of the database's CPU under
 * scoring went to those writes and files. The journal lives only until its transaction commits, and holds at most
 * the pages that transaction changed.
 */
const TEMP_STORE = 'memory'

/**
 * Starts FerretDB 1.24 with its SQLite backend, storing data in `dataDir` (kept across restarts). It listens on a Unix
 * socket in the data folder (see socketPathFor) and on no TCP port, so only this user's processes can reach it: a
 * loopback port is open to every local user, and FerretDB's SQLite backend has no authentication. `port` asks for a
 * loopback TCP port instead. Telemetry is off and the debug listener is disabled.
 * If the server process ends without `stop()`, it is started again on the same port and data (the driver reconnects
 * by itself), at most 5 times in a minute; `onExit` hears of each such end with the server's last output.
 *
 * `sync` is SQLite's `synchronous` setting (its journal is a WAL either way). `normal` (the default) syncs the WAL to
 * disk at checkpoints rather than at every commit: a commit survives the process being killed, and only a power loss
 * or an OS crash can undo the last commits before it, much as MongoDB's default write concern acknowledges a write
 * before its journal is flushed (every 100 ms). Every write costs one commit in FerretDB, so `full` slows every write
 * (measured in docs/architecture.md, section 5). The WAL is checkpointed into the database file every
 * WAL_CHECKPOINT_PAGES pages instead of SQLite's 1,000, and journals stay in memory (TEMP_STORE).
 */
export async function startFerretDb (opts: { dataDir: string; bin?: string | undefined; port?: number; sync?: 'normal' | 'full'; onExit?: (e: FerretDbExit) => void }): Promise<EmbeddedDb> {
  const bin = opts.bin ?? defaultFerretDbBin()
  if (!existsSync(bin)) {
    throw new Error(`FerretDB binary not found at ${bin}: run "npm install" (it builds FerretDB with Go), ` +
      'set LEADSCORE_FERRETDB_BIN, or point MONGODB_URI at a MongoDB server')
  }
  const dataDir = resolve(opts.dataDir)
  ensurePrivateDir(dataDir)
  const unlock = lockDataDir(dataDir)
  try {
    await stopOrphans(dataDir)
  } catch (err) {
    unlock()
    throw err
  }
  let listen: { port: number } | { path: string; tempDir: string | null }
  try {
    listen = opts.port !== undefined ? { port: opts.port } : socketPathFor(dataDir)
  } catch (err) {
    unlock()
    throw err
  }
  const at = listen
  const removeTempDir = (): void => { if ('tempDir' in at && at.tempDir !== null) rmSync(at.tempDir, { recursive: true, force: true }) }
  let out = ''
  const keep = (b: Buffer): void => { out = (out + b.toString()).slice(-4000) }
  let stopping = false
  const restarts: number[] = []
  let child: ChildProcess
  const launch = (): ChildProcess => {
    // a socket file left by a FerretDB that was killed would make the new one fail to listen (the lock says no
    // other server uses this folder)
    if ('path' in at) { try { unlinkSync(at.path) } catch { /* none */ } }
    const where = 'path' in at ? ['--listen-addr=', `--listen-unix=${at.path}`] : [`--listen-addr=127.0.0.1:${at.port}`]
    // stdin is the pipe the guard script watches: only this process holds its write end
    const c = spawn('/bin/sh', ['-c', GUARD, 'ferretdb-guard', bin,
      '--handler=sqlite', `--sqlite-url=file:${dataDir}/?_pragma=synchronous(${opts.sync ?? 'normal'})&_pragma=wal_autocheckpoint(${WAL_CHECKPOINT_PAGES})&_pragma=temp_store(${TEMP_STORE})`, `--state-dir=${dataDir}`,
      ...where, '--debug-addr=-', '--telemetry=disable', '--log-level=error',
    ], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...ferretGcEnv(process.env) } })
    c.stdin?.on('error', () => { /* the guard ended */ })
    c.stdout?.on('data', keep)
    c.stderr?.on('data', keep)
    c.once('exit', (code, signal) => {
      if (stopping || c !== child) return
      const now = Date.now()
      while (restarts.length > 0 && now - restarts[0]! > 60_000) restarts.shift()
      const restarting = restarts.length < 5
      opts.onExit?.({ code, signal, output: out, restarting })
      if (!restarting) return
      restarts.push(now)
      setTimeout(() => { if (!stopping) child = launch() }, 200)
    })
    return c
  }
  child = launch()
  // closing the pipe makes the guard kill FerretDB at once
  const onExit = (): void => { child.stdin?.destroy(); unlock(); removeTempDir() }
  process.once('exit', onExit)
  try {
    await waitForListener(at, child, () => out, 20_000)
  } catch (err) {
    stopping = true
    onExit()
    process.removeListener('exit', onExit)
    throw err
  }
  return {
    uri: 'path' in at ? `mongodb://${encodeURIComponent(at.path)}/` : `mongodb://127.0.0.1:${at.port}/`,
    port: 'port' in at ? at.port : null,
    socket: 'path' in at ? at.path : null,
    async stop () {
      stopping = true
      process.removeListener('exit', onExit)
      if (child.exitCode !== null || child.signalCode !== null) { unlock(); removeTempDir(); return }
      const exited = new Promise<void>((r) => child.once('exit', () => r()))
      child.kill('SIGTERM')
      const timer = setTimeout(() => { child.stdin?.destroy() }, 5000)
      await exited
      clearTimeout(timer)
      unlock()
      removeTempDir()
    },
  }
}
