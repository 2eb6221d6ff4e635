import { defineConfig } from 'vite';

// The Go server (giveathon serve) the dev server passes /graphql to, websocket included.
const api = process.env.GIVEATHON_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  // JSX through Preact's automatic runtime (no Babel plugin needed).
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  resolve: {
    alias: { react: 'preact/compat', 'react-dom': 'preact/compat' },
  },
  build: {
    outDir: 'dist/app',
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
    // No inline data: modules or styles: everything is a hashed file under assets/ (CSP 'self').
    assetsInlineLimit: 0,
  },
  server: {
    proxy: {
      '/graphql': { target: api, ws: true },
      '/readyz': { target: api },
    },
  },
});
