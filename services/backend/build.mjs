// Bundles the service into one ESM file so the runtime image needs no node_modules
// and startup reads one file instead of hundreds.
import { build } from 'esbuild';

const pkg = JSON.parse(await import('node:fs/promises').then((fs) => fs.readFile('package.json', 'utf8')));

await build({
  entryPoints: ['src/server.ts'],
  outfile: 'dist/server.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'process.env.BUNDLED_VERSION': JSON.stringify(pkg.version) },
  // Some dependencies are CommonJS and call require(); give the ESM bundle a real one.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
});
