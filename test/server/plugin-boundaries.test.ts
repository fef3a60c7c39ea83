// Plugins use only the public contracts: first-party sources (server/src/sources/<name>/) import nothing of the
// server but contracts/, and workspace plugins (plugins/*) nothing of it but @leadscore/server/contracts. Neither
// reaches the database driver, the web framework or another plugin.
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

t.test('first-party sources import only the contracts of the server', async (t) => {
  const base = join(root, 'server', 'src', 'sources')
  const contracts = join(root, 'server', 'src', 'contracts', 'index.ts')
  const all = files(base)
  t.ok(all.length >= 4, 'found the first-party sources')
  for (const f of all) {
    const own = relative(base, f).split(sep)[0]!
    const ownDir = join(base, own)
    for (const spec of imports(f)) {
      if (spec.startsWith('.')) {
        const target = resolve(dirname(f), spec).replace(/\.js$/, '.ts')
        const ok = target === contracts || (f !== join(base, 'index.ts') ? target.startsWith(ownDir + sep) : target.startsWith(base + sep))
        t.ok(ok, `${relative(root, f)}: ${spec}`)
      } else {
        t.notOk(FORBIDDEN_PACKAGES.test(spec) || spec.startsWith('@leadscore/'), `${relative(root, f)}: ${spec}`)
      }
    }
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
