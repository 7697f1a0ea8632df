import { defineProject } from 'vitest/config';

// The container suites: compose-file.test.ts checks the committed files (fast, no engine);
// stack.test.ts builds the images and runs the stack with podman (minutes; it takes
// /tmp/tasktier-heavy.lock itself unless TASKTIER_HEAVY_LOCK_HELD=1).
export default defineProject({
  test: {
    name: 'containers',
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
    // Waiting for the heavy lock, building stand-ins and images, starting the stack.
    hookTimeout: 45 * 60_000,
  },
});
