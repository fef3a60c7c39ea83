// Plugins use only the public contracts: first-party sources are workspace packages (plugins/source-*) like a third
// party's, and workspace plugins import nothing of the server but @leadscore/server/contracts. None reaches the
// database driver, the web framework or another plugin.
import t from 'tap'
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs'
import { join, resolve, dirname, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const FORBIDDEN_PACKAGES = /^(mongodb|fastify|fastify-plugin|@fastify\/|agenda|@agendajs\/)/

function files (dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...files(p))
    else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

function imports (file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/(?:^|\s)(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm)].map((m) => m[1] ?? m[2]!)
}

t.test('first-party sources are plugin packages: the server holds no source code or source library', async (t) => {
  t.notOk(existsSync(join(root, 'server', 'src', 'sources')), 'no server/src/sources')
  for (const name of ['webhook', 'segment', 'imap', 'upload']) {
    const pkg = JSON.parse(readFileSync(join(root, 'plugins', `source-${name}`, 'package.json'), 'utf8')) as { name: string }
    t.equal(pkg.name, `@leadscore/plugin-source-${name}`, `plugins/source-${name} is a package`)
  }
  const server = JSON.parse(readFileSync(join(root, 'server', 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  for (const lib of ['imapflow', 'csv-parse']) t.notOk(server.dependencies[lib], `the server does not depend on ${lib}`)
  for (const f of files(join(root, 'server', 'src'))) {
    for (const spec of imports(f)) t.notOk(/^@leadscore\/plugin-/.test(spec), `${relative(root, f)}: ${spec} is loaded by name, never imported`)
  }
})

t.test('workspace plugins import only @leadscore/server/contracts', async (t) => {
  const dir = join(root, 'plugins')
  const plugins = existsSync(dir) ? readdirSync(dir).filter((n) => statSync(join(dir, n)).isDirectory()) : []
  t.ok(plugins.length >= 1, 'found the workspace plugins')
  for (const p of plugins) {
    const src = join(dir, p, 'src')
    for (const f of files(src)) {
      for (const spec of imports(f)) {
        if (spec.startsWith('.')) t.ok(resolve(dirname(f), spec).startsWith(src + sep), `${relative(root, f)}: ${spec} stays in the plugin`)
        else if (spec.startsWith('@leadscore/')) t.equal(spec, '@leadscore/server/contracts', `${relative(root, f)}: ${spec}`)
        else t.notOk(FORBIDDEN_PACKAGES.test(spec), `${relative(root, f)}: ${spec}`)
      }
    }
    const pkg = JSON.parse(readFileSync(join(dir, p, 'package.json'), 'utf8')) as { name: string; dependencies?: Record<string, string>; peerDependencies?: Record<string, string> }
    t.match(pkg.name, /^@leadscore\/plugin-[a-z0-9-]+$/, `${p}: package name`)
    t.notOk(pkg.dependencies?.['@leadscore/server'], `${p}: the server is a peer dependency, not a dependency`)
    t.ok(pkg.peerDependencies?.['@leadscore/server'], `${p}: peer-depends on @leadscore/server`)
  }
})
