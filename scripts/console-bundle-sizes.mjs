// `node scripts/console-bundle-sizes.mjs [--json]`: the built console's JavaScript by what loads it, from Vite's
// manifest (run `npm run build --workspace @leadscore/console` first):
//   initial  — what a first visit to /leads loads (the SvelteKit entry, the layouts and the leads page)
//   rules    — the rules page's own code (with the rules language library), fetched when the page is opened
//   monaco   — the editor (core, the features the rules editor uses, its one worker), fetched when the editor mounts
//   charts   — layerchart and the chart components, fetched when a chart is shown
// Sizes are raw and gzip (level 9) bytes; CSS and fonts are listed apart.
import { readFileSync, readdirSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'console', '.svelte-kit', 'output', 'client')
const generated = join(root, 'console', '.svelte-kit', 'generated', 'client-optimized', 'app.js')

export function bundleGroups () {
  const manifest = JSON.parse(readFileSync(join(out, '.vite', 'manifest.json'), 'utf8'))
  const app = readFileSync(generated, 'utf8')
  const routeNodes = (id) => {
    const m = new RegExp(`"${id.replace(/[()/]/g, (c) => `\\${c}`)}": \\[(\\d+),\\[([\\d,]*)\\]`).exec(app)
    if (m === null) throw new Error(`route ${id} not found in ${generated}`)
    return [0, ...m[2].split(',').filter(Boolean).map(Number), Number(m[1])].map((n) => `.svelte-kit/generated/client-optimized/nodes/${n}.js`)
  }
  const key = (suffix) => {
    const k = Object.keys(manifest).find((x) => x.endsWith(suffix))
    if (k === undefined) throw new Error(`${suffix} is not in the manifest`)
    return k
  }
  /** the static-import closure of some manifest keys, minus `exclude` */
  const closure = (keys, exclude = new Set()) => {
    const seen = new Set()
    const walk = (k) => {
      if (seen.has(k) || exclude.has(k)) return
      seen.add(k)
      for (const i of manifest[k]?.imports ?? []) walk(i)
    }
    keys.forEach(walk)
    return seen
  }
  const entry = [key('@sveltejs/kit/src/runtime/client/entry.js'), '.svelte-kit/generated/client-optimized/app.js']
  const initial = closure([...entry, ...routeNodes('/(app)/leads')])
  const rulesNode = routeNodes('/(app)/rules').at(-1)
  const rules = closure([rulesNode], initial)
  const monaco = closure([key('monaco-editor/esm/vs/editor/editor.api.js'), key('src/lib/editor/monaco-features.ts'), key('editor.worker.js?worker')], new Set([...initial, ...rules]))
  const chartKeys = Object.keys(manifest).filter((k) => k.startsWith('src/lib/charts/') && k.endsWith('.svelte'))
  const charts = closure(chartKeys, initial)

  const size = (file) => {
    const buf = readFileSync(join(out, file))
    return { raw: buf.length, gzip: gzipSync(buf, { level: 9 }).length }
  }
  const sum = (files) => files.map(size).reduce((a, b) => ({ raw: a.raw + b.raw, gzip: a.gzip + b.gzip }), { raw: 0, gzip: 0 })
  const group = (keys, extraFiles = []) => {
    const js = [...new Set([...[...keys].map((k) => manifest[k].file).filter((f) => f.endsWith('.js')), ...extraFiles])]
    const css = [...new Set([...keys].flatMap((k) => manifest[k].css ?? []))]
    const assets = [...new Set([...keys].flatMap((k) => manifest[k].assets ?? []))]
    return { files: js, js: sum(js), css: sum(css), assets: sum(assets) }
  }
  const workers = readdirSync(join(out, '_app', 'immutable', 'workers')).map((f) => `_app/immutable/workers/${f}`)
  return {
    initial: group(initial),
    rules: group(rules),
    monaco: { ...group(monaco, workers), workers },
    charts: group(charts),
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const groups = bundleGroups()
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(groups, null, 2))
  } else {
    const kb = (n) => `${(n / 1024).toFixed(1)} KB`
    console.log('group     JS raw      JS gzip     CSS gzip    files')
    for (const [name, g] of Object.entries(groups)) {
      console.log(`${name.padEnd(9)} ${kb(g.js.raw).padStart(10)}  ${kb(g.js.gzip).padStart(10)}  ${kb(g.css.gzip).padStart(10)}  ${String(g.files.length).padStart(5)}${g.assets.raw > 0 ? `  (+ ${kb(g.assets.raw)} fonts/assets)` : ''}`)
    }
    console.log(`monaco workers: ${groups.monaco.workers.join(', ')}`)
  }
}
