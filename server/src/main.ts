// The runner: load config, start the embedded database when no MONGODB_URI is given, build, listen, close on signals.
import closeWithGrace from 'close-with-grace'
import { resolve } from 'node:path'
import { Socket } from 'node:net'
import { loadConfig, type AppConfig } from './config.js'
import { buildApp } from './app.js'
import { ensurePrivateDir, startFerretDb, type EmbeddedDb } from './infra/ferretdb.js'
import { seedDemo } from './demo/seed.js'

/**
 * Started by scripts/start.mjs, the server holds one end of a pipe from the launcher (LEADSCORE_LAUNCHER_FD): when it
 * closes, the launcher is gone (even killed with SIGKILL), and the server shuts down as on SIGTERM.
 */
function stopWithLauncher (): void {
  const fd = Number(process.env.LEADSCORE_LAUNCHER_FD)
  delete process.env.LEADSCORE_LAUNCHER_FD
  if (!Number.isInteger(fd) || fd < 3) return
  const pipe = new Socket({ fd, readable: true, writable: false })
  pipe.on('error', () => { /* closed either way */ })
  pipe.once('close', () => { process.kill(process.pid, 'SIGTERM') })
  pipe.resume()
  pipe.unref()
}

async function main (): Promise<void> {
  try { process.loadEnvFile() } catch { /* no .env file */ }
  let config: AppConfig
  try {
    config = loadConfig(process.env)
  } catch (err) {
    process.stderr.write(`leadscore: ${(err as Error).message}\n`)
    process.exit(1)
  }
  // the data folder holds the database files and running uploads: owner only (0700), tightened if it was broader
  ensurePrivateDir(resolve(config.dataDir))
  let embedded: EmbeddedDb | null = null
  // set once the app (and its logger) exists; an end of the embedded database before that goes to stderr
  let logExit = (msg: string): void => { process.stderr.write(`leadscore: ${msg}\n`) }
  if (config.mongoUri === undefined) {
    embedded = await startFerretDb({
      dataDir: resolve(config.dataDir, 'ferretdb'), bin: config.ferretdbBin, sync: config.embeddedDbSync,
      onExit: (e) => { logExit(`embedded FerretDB ended (code ${e.code}, signal ${e.signal}); ${e.restarting ? 'restarting it' : 'not restarting it: it ended 5 times within a minute'}. Its last output: ${e.output.slice(-1500)}`) },
    })
    config = Object.freeze({ ...config, mongoUri: embedded.uri })
  }
  const app = await buildApp(config)
  logExit = (msg) => { app.log.error(msg) }
  if (embedded !== null) app.log.info({ uri: embedded.uri, dataDir: resolve(config.dataDir) }, 'embedded FerretDB (SQLite) started')
  if (config.demo) {
    const seeded = await seedDemo(app.core)
    if (seeded !== null) app.log.info(seeded, 'demo data seeded (set LEADSCORE_DEMO=0 to skip)')
  }
  closeWithGrace({ delay: 20_000 }, async ({ signal, err }) => {
    if (err !== undefined) app.log.error({ err }, 'closing after an error')
    else app.log.info({ signal }, 'shutting down')
    await app.close()
    if (embedded !== null) await embedded.stop()
  })
  stopWithLauncher()
  const address = await app.listen({ port: config.port, host: config.host })
  if (app.initialAdminKey !== null) {
    process.stdout.write(`\n  Leadscore admin API key (shown once, store it now):\n\n    ${app.initialAdminKey}\n\n`)
  }
  const admin = app.initialAdminUser
  if (admin !== null && admin.password !== null) {
    process.stdout.write(`\n  Console admin (shown once, store it now):\n\n    email:    ${admin.email}\n    password: ${admin.password}\n\n`)
  } else if (admin !== null) {
    app.log.info('console admin user created from LEADSCORE_ADMIN_EMAIL/LEADSCORE_ADMIN_PASSWORD')
  }
  process.stdout.write(`  Leadscore is running at ${address}  (API docs: ${address}/docs)\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`leadscore: failed to start: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
