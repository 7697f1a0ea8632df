import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

const processSuite = { testTimeout: 30_000, hookTimeout: 30_000 };

/** Whether a command runs here (e.g. `podman info`): a tool on PATH that does not work is missing too. */
function works(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * A suite that needs a tool: without it, `npm test` says which suite it skipped and why, unless
 * TASKTIER_REQUIRE_ALL_SUITES=1 (set by .ci/run), where a missing tool fails the run instead.
 */
function needs(
  available: boolean,
  why: string,
  project: TestProjectInlineConfiguration | string,
): Array<TestProjectInlineConfiguration | string> {
  if (available) return [project];
  const name = typeof project === 'string' ? project : (project.test?.name ?? 'a suite');
  if (process.env.TASKTIER_REQUIRE_ALL_SUITES === '1') {
    throw new Error(`suite ${name} cannot run: ${why} (TASKTIER_REQUIRE_ALL_SUITES=1 forbids skipping it)`);
  }
  process.stderr.write(`SKIPPED suite ${name}: ${why}\n`);
  return [];
}

const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// One project per suite. Suites that start browsers, containers or load run their files one at a
// time (fileParallelism: false): the machines have two cores.
export default defineConfig({
  test: {
    projects: [
      // What the repository promises about itself (the system package list and the README); reads files only.
      { test: { name: 'repository', include: ['test/*.test.ts'] } },
      { test: { name: 'backend', include: ['services/backend/test/**/*.test.ts'], ...processSuite } },
      {
        test: {
          name: 'frontend',
          include: ['services/frontend/test/**/*.test.ts'],
          exclude: ['services/frontend/test/e2e/**'],
          ...processSuite,
        },
      },
      // The Kubernetes verification suite; its podman test says itself what it skipped and why.
      'deploy/k8s/vitest.config.ts',
      // Images and the compose stack, built and run with podman; says itself what it skipped and why.
      'containers/vitest.config.ts',
      // Durability: kill -9 under load, storage full, ACL, backup and restore (real redis-server).
      'test/durability/vitest.config.ts',
      // deploy/scripts/rollout and blue-green against a stand-in kubectl (no API server can run here).
      'deploy/scripts/vitest.config.ts',
      ...needs(existsSync(chromium), `${chromium} not found (apt-get install -y chromium)`, {
        test: {
          name: 'frontend-e2e',
          include: ['services/frontend/test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          // One retry: a real browser on 2 busy cores. A test that needed it is reported as flaky and has
          // printed its diagnostics (the page's API traffic, a screenshot, the services' warnings) first;
          // see DEVELOPERS.md, "Flaky tests", for the case it caught.
          retry: 1,
        },
      }),
      // The benchmark harness in --quick mode: it runs and reports every figure (never judged by value).
      ...needs(works('nginx', ['-v']), 'nginx not found (apt-get install -y nginx)', 'bench/vitest.config.ts'),
      // Zero-downtime rollouts under load: 2+2 replicas behind nginx (the Ingress stand-in).
      ...needs(
        works('nginx', ['-v']),
        'nginx not found (apt-get install -y nginx libnginx-mod-stream)',
        'test/rollout/vitest.config.ts',
      ),
    ],
  },
});
