import { sveltekit } from '@sveltejs/kit/vite'
import { defaultClientConditions, defineConfig } from 'vite'

export default defineConfig({
  plugins: [sveltekit()],
  resolve: {
    // @leadscore/rules-dsl is compiled from its TypeScript sources (its `leadscore-source` export), so the console
    // never depends on a stale rules-dsl/dist
    conditions: ['leadscore-source', ...defaultClientConditions],
  },
  server: {
    // `npm run dev --workspace @leadscore/console` against a server on :3000
    proxy: { '/v1': { target: 'http://127.0.0.1:3000', ws: true } },
  },
  // Monaco's one web worker (editor.worker, imported with `?worker` in src/lib/editor/monaco.ts) is built as an ES
  // module into _app/immutable/workers/, served like every other static file; no language-service workers are built
  worker: { format: 'es' },
  build: { target: 'es2022', chunkSizeWarningLimit: 800 },
})
