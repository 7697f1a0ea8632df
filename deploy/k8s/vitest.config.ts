import { defineConfig } from 'vitest/config';

// The Kubernetes verification suite. Render/validate/PSS/network-policy tests need only
// `kubectl`; podman.test.ts also needs podman and the images (it says what it skipped and why).
export default defineConfig({
  test: {
    name: 'k8s',
    root: import.meta.dirname,
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
