// Runs after `npm install`: builds the embedded database, the TypeScript packages and the console.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensureFerretDb } from './ferretdb.mjs'
import { buildProjects } from './projects.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const run = (cmd, args, cwd = root) => execFileSync(cmd, args, { cwd, stdio: 'inherit' })

if (process.env.MONGODB_URI === undefined) {
  try { ensureFerretDb() } catch (err) { console.warn(`leadscore: ${err.message}`) }
}
run(process.execPath, [resolve(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', ...buildProjects(root)])
if (existsSync(resolve(root, 'console', 'svelte.config.js'))) run('npm', ['run', 'build', '--workspace', '@leadscore/console'])
