// `npm run build`: the rules language, the server and every plugin package under plugins/ (the server imports the
// first-party plugins from their dist/ by package name).
import { execFileSync } from 'node:child_process'
import { resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildProjects } from './projects.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
execFileSync(process.execPath, [resolve(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'rules-dsl', ...buildProjects(root)], { cwd: root, stdio: 'inherit' })
