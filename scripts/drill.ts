/**
 * `npm run drill`: the recovery drill of docs/recovery.md, for real, timed. From a fresh clone of
 * the repository in a temporary directory it installs, builds and starts the stack (`npm start`),
 * checks its health, restores a backup into it and checks the data through the API; then the
 * same backup and restore in Redis Cluster mode (`--skip-cluster` leaves it out).
 *
 * The backup it restores is made first (drill setup): the cloned stack is started, filled with
 * lists and todos through the API, backed up with deploy/scripts/redis-backup, stopped, and its
 * data directory deleted, as if the disk were lost.
 */
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  getFreePort,
  type Proc,
  portInUse,
  repoRoot,
  run,
  type Service,
  startProcess,
  startRedisCluster,
  startService,
  waitFor,
} from '@tasktier/testkit';

const HELP = `Usage: npm run drill [-- options]

Rehearses the recovery in docs/recovery.md and prints each step with its time:
  1. restore from Git: git clone of the repository (HEAD) into a temporary directory
  2. install: npm ci --prefer-offline
  3. build: npm run build
  4. start the stack: npm start (redis-server, backend, frontend) on free ports
  5. verify service health: /readyz of the backend and the frontend, the API through the frontend
  6. restore data: stop the stack, deploy/scripts/redis-restore the backup, npm start again
  7. verify the data: every list and todo through the API, field by field
The backup comes from a stack started from the same clone before step 4 (drill setup).
Then the same for Redis Cluster mode (docs/recovery.md, "Redis Cluster"): six redis-server nodes
with the clone's ACL file, its backend in cluster mode, lists written, redis-backup --cluster,
every primary flushed, redis-restore --cluster, the data checked through the API.

Options:
  --repo PATH      the repository to clone (default: this one, ${repoRoot})
  --skip-cluster   leave out the Redis Cluster part
  --keep           keep the temporary directory (it is kept anyway when the drill fails)
  -h, --help       show this help`;

function fail(message: string): never {
  process.stderr.write(`drill: error: ${message}\n`);
  process.exit(1);
}

let options: { repo?: string; keep?: boolean; 'skip-cluster'?: boolean; help?: boolean };
try {
  options = parseArgs({
    options: {
      repo: { type: 'string' },
      keep: { type: 'boolean' },
      'skip-cluster': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }).values;
} catch (error) {
  fail(`${error instanceof Error ? error.message : String(error)} (see npm run drill -- --help)`);
}
if (options.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

const repo = options.repo ?? repoRoot;
const work = mkdtempSync(join(tmpdir(), 'tasktier-drill-'));
const clone = join(work, 'tasktier');
const backups = join(work, 'backups');
const log = createWriteStream(join(work, 'drill.log'));
const started = performance.now();
const timings: Array<{ step: string; ms: number }> = [];

function say(text: string): void {
  process.stdout.write(`drill: ${text}\n`);
}

/** Runs a command in the clone, its output in drill.log; throws with the last lines on failure. */
async function inClone(command: string, args: string[], cwd = clone): Promise<string> {
  return (await run(command, args, { cwd, log, check: true })).output;
}

/** A recovery step (numbered, timed in the summary), drill setup, or a step of the cluster part. */
async function step<T>(name: string, fn: () => Promise<T>, kind: boolean | 'cluster' = true): Promise<T> {
  const timed = kind === true;
  const n = timings.length + 1;
  const label = timed ? `[${n}] ${name}` : kind === 'cluster' ? `[cluster] ${name}` : `[setup] ${name}`;
  process.stdout.write(`drill: ${label} ...\n`);
  const t0 = performance.now();
  try {
    const result = await fn();
    const ms = performance.now() - t0;
    if (timed) timings.push({ step: name, ms });
    say(`${label}: ok in ${(ms / 1000).toFixed(1)} s`);
    return result;
  } catch (error) {
    throw new Error(`${label} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

const ports = { redis: 0, backend: 0, frontend: 0 };
/** Requests go through the frontend (its /api proxy) when the clone has one, else to the backend. */
let apiPort = 0;
const services: Array<[string, number]> = [];
let stack: Proc | undefined;

/** `npm start` in the clone, in its own process group, until the frontend is ready. */
async function startStack(): Promise<void> {
  log.write('\n$ npm start\n');
  stack = await startProcess({
    name: 'npm start',
    command: 'npm',
    args: ['start', '--', '--redis-port', String(ports.redis)],
    cwd: clone,
    env: {
      BACKEND_PORT: String(ports.backend),
      FRONTEND_PORT: String(ports.frontend),
      BACKEND_METRICS_PORT: '0',
      FRONTEND_METRICS_PORT: '0',
      LOG_LEVEL: 'warn',
    },
    output: { stream: log },
    group: true,
    ready: { text: /tasktier (API )?is up/, timeoutMs: 120_000, intervalMs: 100 },
  });
}

async function stopStack(): Promise<void> {
  const proc = stack;
  stack = undefined;
  if (!proc?.running()) return;
  await proc.stop('SIGTERM');
  // The whole group (redis-server, backend, frontend) is gone once the Redis port is free.
  await waitFor('the stack to stop', async () => !(await portInUse(ports.redis)), {
    timeoutMs: 30_000,
    intervalMs: 100,
  });
}

const api = (path: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${apiPort}${path}`, {
    ...init,
    headers: init.body ? { 'content-type': 'application/json' } : {},
    signal: AbortSignal.timeout(10_000),
  });

async function json<T>(response: Response, expected: number): Promise<T> {
  const text = await response.text();
  if (response.status !== expected)
    throw new Error(`${response.url} answered ${response.status}: ${text.slice(0, 200)}`);
  return JSON.parse(text) as T;
}

async function checkHealth(): Promise<void> {
  for (const [name, port] of services) {
    for (const path of ['/healthz', '/readyz']) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
      if (response.status !== 200) throw new Error(`${name} ${path} answered ${response.status}`);
    }
  }
  // The API (through the frontend when there is one) down to Redis: a missing list is a clean 404.
  const missing = await api('/api/lists/AAAAAAAAAAAAAAAAAAAAAA');
  await missing.arrayBuffer();
  if (missing.status !== 404) throw new Error(`GET of a missing list answered ${missing.status}`);
}

type Snapshot = Record<string, { list: unknown; todos: unknown }>;

async function readAll(listIds: string[]): Promise<Snapshot> {
  const snapshot: Snapshot = {};
  for (const id of listIds) {
    const list = await json<unknown>(await api(`/api/lists/${id}`), 200);
    const todos = await json<unknown>(await api(`/api/lists/${id}/todos`), 200);
    // URLs name the host the request came to; compare the data, not the address.
    snapshot[id] = JSON.parse(JSON.stringify({ list, todos }).replaceAll(/https?:\/\/[^/"]+/g, ''));
  }
  return snapshot;
}

async function seed(): Promise<{ listIds: string[]; todos: number }> {
  const listIds: string[] = [];
  let todos = 0;
  for (let l = 0; l < 6; l++) {
    const { id } = await json<{ id: string }>(await api('/api/lists', { method: 'POST' }), 201);
    listIds.push(id);
    for (let t = 0; t < 4 + l * 3; t++) {
      const todo = await json<{ id: string }>(
        await api(`/api/lists/${id}/todos`, {
          method: 'POST',
          body: JSON.stringify({ title: `drill list ${l} todo ${t} ✓`, ...(t % 3 === 0 ? { order: t } : {}) }),
        }),
        201,
      );
      todos++;
      if (t % 2 === 0) {
        await json(
          await api(`/api/lists/${id}/todos/${todo.id}`, {
            method: 'PATCH',
            body: JSON.stringify({ completed: true }),
          }),
          200,
        );
      }
    }
  }
  return { listIds, todos };
}

async function main(): Promise<void> {
  say(`cloning ${repo} (HEAD) into ${work}; log: ${join(work, 'drill.log')}`);
  ports.redis = await getFreePort();
  ports.backend = await getFreePort();
  ports.frontend = await getFreePort();

  await step('restore from Git: git clone', () => inClone('git', ['clone', '--quiet', repo, clone], work));
  const head = (await inClone('git', ['rev-parse', '--short', 'HEAD'])).trim();
  say(`clone is at ${head}`);
  await step('install: npm ci --prefer-offline', () =>
    inClone('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error']),
  );
  await step('build: npm run build', () => inClone('npm', ['run', 'build', '--silent']));
  services.push(['backend', ports.backend]);
  apiPort = ports.backend;
  if (existsSync(join(clone, 'services/frontend/dist/server.js'))) {
    services.push(['frontend', ports.frontend]);
    apiPort = ports.frontend;
  } else {
    say('this revision has no frontend: the API is checked on the backend directly');
  }

  // Drill setup: the system before the disaster, its backup, and the loss of its data directory.
  await step('start the old stack', startStack, false);
  const { listIds, todos } = await step('write lists and todos through the API', seed, false);
  const expected = await readAll(listIds);
  const backup = await step(
    'back up: deploy/scripts/redis-backup',
    () =>
      inClone(join(clone, 'deploy/scripts/redis-backup'), [
        '--port',
        String(ports.redis),
        '--password-file',
        join(clone, '.data/redis/backup.password'),
        '--dir',
        backups,
      ]),
    false,
  );
  say(backup.split('\n').find((line) => line.includes(': kept ')) ?? '');
  await step(
    'disaster: stop the stack, delete .data/redis (data, ACL file, passwords)',
    async () => {
      await stopStack();
      rmSync(join(clone, '.data/redis'), { recursive: true, force: true });
    },
    false,
  );

  // The recovery, as docs/recovery.md says for `npm start`.
  await step('start the stack: npm start', startStack);
  await step('verify service health', checkHealth);
  const empty = await api(`/api/lists/${listIds[0]}`);
  await empty.arrayBuffer();
  if (empty.status !== 404)
    throw new Error(`the new stack should start empty, but list ${listIds[0]} answered ${empty.status}`);
  await step('restore data: stop, deploy/scripts/redis-restore, npm start', async () => {
    await stopStack();
    const output = await inClone(join(clone, 'deploy/scripts/redis-restore'), [
      '--data-dir',
      join(clone, '.data/redis'),
      backups,
    ]);
    say(output.trim().split('\n').at(-1) ?? '');
    await startStack();
    await checkHealth();
  });
  await step('verify the data through the API', async () => {
    const actual = await readAll(listIds);
    for (const id of listIds) {
      const want = JSON.stringify(expected[id]);
      const got = JSON.stringify(actual[id]);
      if (want !== got) throw new Error(`list ${id} differs after the restore:\n  expected ${want}\n  got      ${got}`);
    }
    say(`all ${listIds.length} lists and ${todos} todos are as they were backed up`);
  });
  await stopStack();
  const clusterMs = options['skip-cluster'] ? undefined : await clusterDrill();

  say('summary (time per recovery step):');
  for (const [i, { step: name, ms }] of timings.entries())
    say(`  ${i + 1}. ${name.padEnd(62)} ${(ms / 1000).toFixed(1).padStart(6)} s`);
  const recovery = timings.reduce((sum, t) => sum + t.ms, 0);
  if (clusterMs !== undefined)
    say(
      `  Redis Cluster: restore ${(clusterMs.restore / 1000).toFixed(1)} s; part total ${(clusterMs.total / 1000).toFixed(1)} s`,
    );
  say(
    `  recovery total ${(recovery / 1000).toFixed(1)} s; whole drill ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

/**
 * Redis Cluster mode, from the same clone: a six-node cluster with the clone's ACL file (replicas
 * log in as `backup`), its backend in cluster mode as `backend`, lists written through the API,
 * `redis-backup --cluster` as `backup`, every primary flushed (the data lost), `redis-restore
 * --cluster` as `admin` into the running cluster, the data checked through the API.
 */
async function clusterDrill(): Promise<{ restore: number; total: number }> {
  const t0 = performance.now();
  const secrets = join(work, 'cluster-redis');
  const passwordFile = (name: string) => join(secrets, `${name}.password`);
  const clusterBackups = join(work, 'cluster-backups');
  mkdirSync(secrets, { mode: 0o700 });
  const aclFile = join(secrets, 'users.acl');
  await inClone(join(clone, 'deploy/redis/generate-acl'), ['--password-dir', secrets, '--out', aclFile]);
  const password = (name: string) => readFileSync(passwordFile(name), 'utf8').split('\n')[0] ?? '';
  const cluster = await step(
    'start six redis-server nodes with the ACL file, form the cluster',
    () =>
      startRedisCluster({
        acl: { file: aclFile, passwords: { backup: password('backup'), admin: password('admin') } },
        // The nodes' logs stay in memory: on a failure, drill.log's last lines are the failed step's.
        args: ['--repl-diskless-sync-delay', '0'],
      }),
    'cluster',
  );
  let backend: Service | undefined;
  try {
    const port = await getFreePort();
    backend = await step(
      'start the backend in cluster mode, as the ACL user backend',
      () =>
        startService({
          name: 'backend',
          script: join(clone, 'services/backend/dist/server.js'),
          env: {
            PORT: String(port),
            HOST: '127.0.0.1',
            REDIS_CLUSTER_NODES: cluster.seeds,
            REDIS_USERNAME: 'backend',
            REDIS_PASSWORD: password('backend'),
            DRAIN_DELAY_MS: '0',
            LOG_LEVEL: 'warn',
          },
          readyUrl: `http://127.0.0.1:${port}/readyz`,
          output: { stream: log },
        }),
      'cluster',
    );
    apiPort = port;
    const { listIds, todos } = await step('write lists and todos through the API', seed, 'cluster');
    const expected = await readAll(listIds);
    const seedNode = String(cluster.nodes[0]?.port);
    const backedUp = await step(
      'back up every shard: deploy/scripts/redis-backup --cluster',
      () =>
        inClone(join(clone, 'deploy/scripts/redis-backup'), [
          '--cluster',
          '--port',
          seedNode,
          '--password-file',
          passwordFile('backup'),
          '--dir',
          clusterBackups,
        ]),
      'cluster',
    );
    say(backedUp.split('\n').find((line) => line.includes('shards backed up')) ?? '');
    await step(
      'disaster: every primary loses its data (FLUSHALL)',
      async () => {
        for (const node of cluster.topology().filter((info) => info.role === 'primary' && info.slots > 0))
          cluster.cli(node.port, 'FLUSHALL');
        const gone = await api(`/api/lists/${listIds[0]}`);
        await gone.arrayBuffer();
        if (gone.status !== 404) throw new Error(`after the flush a list answered ${gone.status}, not 404`);
      },
      'cluster',
    );
    const restoreStarted = performance.now();
    await step(
      'restore every shard: deploy/scripts/redis-restore --cluster',
      async () => {
        const output = await inClone(join(clone, 'deploy/scripts/redis-restore'), [
          '--cluster',
          '--port',
          seedNode,
          '--password-file',
          passwordFile('admin'),
          clusterBackups,
        ]);
        say(output.trim().split('\n').at(-1) ?? '');
      },
      'cluster',
    );
    const restoreMs = performance.now() - restoreStarted;
    await step(
      'verify the data through the API',
      async () => {
        const actual = await readAll(listIds);
        for (const id of listIds) {
          if (JSON.stringify(expected[id]) !== JSON.stringify(actual[id]))
            throw new Error(`a list differs after the cluster restore (see ${join(work, 'drill.log')})`);
        }
        say(`all ${listIds.length} lists and ${todos} todos are as they were backed up`);
      },
      'cluster',
    );
    return { restore: restoreMs, total: performance.now() - t0 };
  } finally {
    await backend?.stop();
    await cluster.stop();
  }
}

let exitCode = 0;
try {
  await main();
  say('PASSED');
} catch (error) {
  exitCode = 1;
  process.stderr.write(`drill: FAILED: ${error instanceof Error ? error.message : String(error)}\n`);
  if (existsSync(join(work, 'drill.log'))) {
    const tail = readFileSync(join(work, 'drill.log'), 'utf8').trim().split('\n').slice(-15).join('\n');
    process.stderr.write(`drill: last lines of ${join(work, 'drill.log')}:\n${tail}\n`);
  }
} finally {
  await stopStack().catch(() => {});
  log.end();
  if (exitCode === 0 && !options.keep) rmSync(work, { recursive: true, force: true });
  else say(`kept ${work}`);
}
process.exit(exitCode);
