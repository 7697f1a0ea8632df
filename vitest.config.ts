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

// Every test project, defined here and nowhere else. A service's unit and API tests live beside it
// (services/*/test); the system suites live under test/, one folder per subject, each folder one
// project of the same name. Suites that start browsers, containers or load run their files one at a
// time (fileParallelism: false): the machines have two cores.
export default defineConfig({
  test: {
    projects: [
      // What the repository promises about itself (the system package list, the folder maps); reads files only.
      { test: { name: 'repository', include: ['test/repository/**/*.test.ts'] } },
      { test: { name: 'backend', include: ['services/backend/test/**/*.test.ts'], ...processSuite } },
      { test: { name: 'frontend', include: ['services/frontend/test/**/*.test.ts'], ...processSuite } },
      // The Kubernetes verification suite. Render/validate/PSS/network-policy tests need only `kubectl`;
      // podman.test.ts also needs podman and the images (it says itself what it skipped and why).
      { test: { name: 'k8s', include: ['test/k8s/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 300_000 } },
      // Images and the compose stack: compose-file.test.ts checks the committed files (fast, no engine);
      // stack.test.ts and podman-compose.test.ts build the images and run the stack with podman (minutes;
      // they take /tmp/tasktier-heavy.lock themselves unless TASKTIER_HEAVY_LOCK_HELD=1, and say
      // themselves what they skipped and why).
      {
        test: {
          name: 'containers',
          include: ['test/containers/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          // Waiting for the heavy lock, building stand-ins and images, starting the stack.
          hookTimeout: 45 * 60_000,
        },
      },
      // Durability: kill -9 under load, storage full, ACL, backup and restore (real redis-server, the real
      // backend bundle built by `npm test`, the real deploy scripts).
      {
        test: {
          name: 'durability',
          include: ['test/durability/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 60_000,
        },
      },
      // deploy/scripts/rollout and blue-green run as users run them, against a stand-in kubectl that
      // records calls and answers from fixtures (no API server can run here).
      // Traces, logs, dashboards and alerts: the production bundles with tracing on and off (an OTLP
      // receiver stands in for the collector), and the real Prometheus, promtool and redis_exporter.
      { test: { name: 'observability', include: ['test/observability/**/*.test.ts'], ...processSuite } },
      { test: { name: 'deploy-scripts', include: ['test/deploy-scripts/**/*.test.ts'], testTimeout: 60_000 } },
      // Redis Cluster mode against a real six-node cluster (redis-server --cluster-enabled, formed by
      // redis-cli --cluster create), one per file: the backend's contract and concurrency tests once
      // more (TASKTIER_TEST_REDIS=cluster), then a primary killed and slots resharded under load.
      ...needs(works('redis-server', ['--version']), 'redis-server not found (apt-get install -y redis-server)', {
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts', 'services/backend/test/{api,concurrency}.test.ts'],
          env: { TASKTIER_TEST_REDIS: 'cluster' },
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      }),
      // The browser suite: Chromium against the real stack.
      ...needs(existsSync(chromium), `${chromium} not found (apt-get install -y chromium)`, {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
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
      // About 30 s of load on both cores, so its file runs alone.
      ...needs(works('nginx', ['-v']), 'nginx not found (apt-get install -y nginx)', {
        test: {
          name: 'bench',
          include: ['test/bench/**/*.test.ts'],
          testTimeout: 200_000,
          hookTimeout: 200_000,
          fileParallelism: false,
        },
      }),
      // Zero-downtime rollouts under load: 2+2 replicas behind nginx (the Ingress stand-in). Processes,
      // nginx, Redis and load on a 2-core machine: run it alone (`npm run test:rollout`).
      ...needs(works('nginx', ['-v']), 'nginx not found (apt-get install -y nginx libnginx-mod-stream)', {
        test: {
          name: 'rollout',
          include: ['test/rollout/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      }),
    ],
  },
});
