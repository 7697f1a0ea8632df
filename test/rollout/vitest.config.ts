import { defineConfig } from 'vitest/config';

// The rollout suite: processes, nginx, Redis and load on a 2-core machine. Run it alone,
// under the heavy-suite lock: `npm run test:rollout`.
export default defineConfig({
  test: {
    name: 'rollout',
    root: import.meta.dirname,
    include: ['**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
