// The TypeScript projects `npm install` and `npm start` build: the server and every plugin package under plugins/
// (the first-party sources are plugin packages the server imports by name, from their built dist/).
import { existsSync, readdirSync } from 'node:fs'
import { resolve } from 'node:path'

export function buildProjects (root) {
  const dir = resolve(root, 'plugins')
  const plugins = existsSync(dir) ? readdirSync(dir).filter((n) => existsSync(resolve(dir, n, 'tsconfig.json'))).sort() : []
  return ['server', ...plugins.map((n) => `plugins/${n}`)]
}

/** Whether a project's build output is missing (the server's main.js, a plugin's dist/index.js). */
export function unbuilt (root) {
  return buildProjects(root).some((p) => !existsSync(resolve(root, p, 'dist', p === 'server' ? 'main.js' : 'index.js')))
}
