import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

// For running the frontend suites on their own (`npx vitest run --config services/frontend/vitest.config.ts`);
// `npm test` runs them through the root vitest.config.ts projects.
export default defineConfig({
  test: {
    projects: [
      {
        root,
        test: {
          name: 'frontend',
          include: ['test/**/*.test.ts'],
          exclude: ['test/e2e/**'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        root,
        test: {
          name: 'frontend-e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          // One retry: a real browser on 2 busy cores. A test that needed it is reported as flaky and has
          // printed its diagnostics (the page's API traffic, a screenshot, the services' warnings) first;
          // see DEVELOPERS.md, "Flaky tests", for the case it caught.
          retry: 1,
        },
      },
    ],
  },
});
