// Bundles a service into one ESM file so the runtime image needs no node_modules and startup
// reads one file instead of hundreds.
import { readFile } from 'node:fs/promises';
import { build } from 'esbuild';

/** Builds `src/server.ts` of the service in the current directory into `dist/server.js`. */
export async function buildServiceBundle({ entry = 'src/server.ts', outfile = 'dist/server.js' } = {}) {
  const pkg = JSON.parse(await readFile('package.json', 'utf8'));
  await build({
    entryPoints: [entry],
    outfile,
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
}
