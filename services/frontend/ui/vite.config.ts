import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

// The UI build: hashed files only, nothing inlined, so the server's CSP can be `'self'` with no
// 'unsafe-inline' and no data: scripts.
export default defineConfig({
  root,
  base: '/',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/public/', import.meta.url)),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    // lightningcss (the default) warns about a non-standard selector in todomvc-app-css on every build.
    cssMinify: 'esbuild',
    modulePreload: { polyfill: false },
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
  },
  // `vite` (dev server) proxies the API to a backend on its default port.
  server: {
    proxy: { '/api': { target: process.env.BACKEND_URL ?? 'http://127.0.0.1:5000', changeOrigin: false } },
  },
});
