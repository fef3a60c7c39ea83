// Idle benchmark: the CPU a worker process (scoring pool, Agenda, webhook dispatcher, intent rounds) and its database
// use while nothing happens, in % of one core. Run from the repository root:
//   npm run bench:idle
// Starts an embedded FerretDB (SQLite) in a temporary folder, or uses MONGODB_URI (then only the server is measured).
// Environment: BENCH_IDLE_SECONDS (the measured window, default 60, after 20 s to settle); any LEADSCORE_* variable
// is passed to the server's configuration, so the share of one poller can be found by lengthening its period (for
// example LEADSCORE_PROCESS_EVERY_MS=60000 slows the marker poll and Agenda's, LEADSCORE_WEBHOOKS_POLL_MS the
// recurring webhook run). BENCH_COMMANDS=1 also lists the database commands sent in the window. Linux only (it reads
// /proc).
import { readFileSync, readdirSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { buildApp } from '../server/src/app.js'
import { loadConfig } from '../server/src/config.js'
import { openDatabase } from '../server/src/infra/db.js'
import { benchDatabase, commandCosts, recordCommands } from './database.js'

const SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 60)
const SETTLE_MS = 20_000

/** CPU time (user + system) of a process so far, in clock ticks (100 per second on Linux). */
function ticks (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return Number(fields[11]) + Number(fields[12])
}

/** The FerretDB process listening at `uri` (its command line names the socket's folder or the port). */
function ferretPid (uri: string): number | null {
  const where = decodeURIComponent(uri.replace(/^mongodb:\/\//, '').split('/?')[0]!.split('/')[0]!)
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0')
      if (argv[0]!.endsWith('ferretdb') && argv.some((a) => a.includes(where))) return Number(name)
    } catch { /* gone meanwhile */ }
  }
  return null
}

const database = await benchDatabase()
const dbName = `bench_idle_${randomBytes(3).toString('hex')}`
const db = await openDatabase(database.uri, dbName, { monitorCommands: recordCommands })
const extra = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('LEADSCORE_'))) as Record<string, string>
const app = await buildApp(loadConfig({
  MONGODB_URI: database.uri, MONGODB_DB: dbName, LEADSCORE_BOOTSTRAP_API_KEY: `lsk_bench_${randomBytes(12).toString('hex')}`,
  LEADSCORE_DEMO: '0', LOG_LEVEL: 'silent', ...extra,
}), { database: db, logger: false, startWorkers: true })
try {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const ferret = database.embedded ? ferretPid(database.uri) : null
  process.stderr.write(`# ${database.label}; settling ${SETTLE_MS / 1000} s, then measuring ${SECONDS} s\n`)
  await new Promise((r) => setTimeout(r, SETTLE_MS))
  const before = { server: ticks(process.pid), ferret: ferret !== null ? ticks(ferret) : 0 }
  const costs = recordCommands ? commandCosts(db.client) : null
  await new Promise((r) => setTimeout(r, SECONDS * 1000))
  const pct = (now: number, then: number): string => `${((now - then) / SECONDS).toFixed(2)}%`
  console.log(`idle for ${SECONDS} s: server ${pct(ticks(process.pid), before.server)} of a core` +
    (ferret !== null ? `, embedded FerretDB ${pct(ticks(ferret), before.ferret)}` : ' (the database is not measured)') +
    (Object.keys(extra).length > 0 ? `; with ${Object.entries(extra).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''))
  if (costs !== null) console.log(`database commands in those ${SECONDS} s:\n${costs.report()}`)
} finally {
  await app.close()
  await db.db.dropDatabase().catch(() => undefined)
  await db.close()
  await database.stop()
}
