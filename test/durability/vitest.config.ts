import { defineConfig } from 'vitest/config';

// Durability, access, backup/restore: real redis-server, the real backend bundle
// (services/backend/dist/server.js, built by `npm test`) and the real deploy scripts. The files
// start processes and put load on the machine, so they run one at a time.
export default defineConfig({
  test: {
    name: 'durability',
    root: import.meta.dirname,
    include: ['**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 60_000,
  },
});
