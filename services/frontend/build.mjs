// Builds the frontend: the UI with Vite into dist/public/, then the server bundled by esbuild into
// one ESM file, dist/server.js, so the runtime image needs no node_modules.
import { rm } from 'node:fs/promises';
import { buildServiceBundle } from '@tasktier/service-kit/build';
import { build as viteBuild } from 'vite';

const started = Date.now();

await rm('dist', { recursive: true, force: true });

await viteBuild({ configFile: 'ui/vite.config.ts', logLevel: 'warn' });

await buildServiceBundle();

console.log(`frontend: built dist/server.js and dist/public/ in ${Date.now() - started} ms`);
