import { sveltekit } from '@sveltejs/kit/vite'
import { defineConfig } from 'vite'

export default defineConfig({
  plugins: [sveltekit()],
  server: {
    // `npm run dev --workspace @leadscore/console` against a server on :3000
    proxy: { '/v1': { target: 'http://127.0.0.1:3000', ws: true } },
  },
  build: { target: 'es2022', chunkSizeWarningLimit: 800 },
})
