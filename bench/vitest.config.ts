import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

// For running the harness's own test alone (`npx vitest run --config bench/vitest.config.ts`);
// `npm test` runs it through the root vitest.config.ts projects. It runs the quick benchmark
// (about 30 s of load on both cores), so it runs alone: one file, no parallel files.
export default defineConfig({
  test: {
    projects: [
      {
        root,
        test: {
          name: 'bench',
          include: ['test/**/*.test.ts'],
          testTimeout: 200_000,
          hookTimeout: 200_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
