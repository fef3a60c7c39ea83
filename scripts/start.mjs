// `npm start`: runs the built server (building it first if needed). With no MONGODB_URI it starts the embedded
// FerretDB and seeds demo data.
import { spawn, execFileSync } from 'node:child_process'
import { resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildProjects, unbuilt } from './projects.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const main = resolve(root, 'server', 'dist', 'main.js')
if (unbuilt(root)) execFileSync(process.execPath, [resolve(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', ...buildProjects(root)], { cwd: root, stdio: 'inherit' })
// fd 3 of the server is a pipe whose other end only this launcher holds: the server stops when it closes, so killing
// the launcher in any way (even SIGKILL) stops the server, and with it the embedded database
const child = spawn(process.execPath, [main], {
  cwd: root, stdio: ['inherit', 'inherit', 'inherit', 'pipe'], env: { ...process.env, LEADSCORE_LAUNCHER_FD: '3' },
})
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig))
child.on('exit', (code, signal) => process.exit(code ?? (signal !== null ? 1 : 0)))
