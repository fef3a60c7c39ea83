import adapter from '@sveltejs/adapter-static'
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte'

/** @type {import('@sveltejs/kit').Config} */
const config = {
  preprocess: vitePreprocess(),
  kit: {
    // a single-page app: every path falls back to index.html, which the server sends for non-API paths
    adapter: adapter({ pages: 'build', assets: 'build', fallback: 'index.html', precompress: false, strict: true }),
    // server sources, for type-only imports (the API's types are generated: src/lib/api/openapi.d.ts)
    alias: { $server: '../server/src' },
    version: { pollInterval: 0 },
  },
}

export default config
