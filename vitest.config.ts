import { defineConfig } from 'vitest/config';

// One project per suite. Suites that start processes, browsers or containers run their files
// one at a time: the machines have two cores.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'backend',
          include: ['services/backend/test/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
    ],
  },
});
