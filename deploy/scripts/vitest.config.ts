import { defineConfig } from 'vitest/config';

// The deploy scripts: rollout and blue-green run as users run them, against a stand-in
// kubectl that records calls and answers from fixtures (no API server can run here).
export default defineConfig({
  test: {
    name: 'deploy-scripts',
    root: import.meta.dirname,
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
  },
});
