/**
 * `npm start`: runs the local stack in the foreground: Redis (or REDIS_URL), the backend on
 * :5000 and the frontend on :8080, with logs prefixed by service. Ctrl-C stops everything.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  findOnPath,
  type Proc,
  portInUse,
  repoRoot,
  serviceScriptPath,
  startProcess,
  startRedis,
} from '@tasktier/testkit';

const HELP = `Usage: npm start [-- options]

Runs tasktier locally in the foreground: redis-server, the backend (API) and the frontend (UI).

Options:
  --redis-port N      port for the spawned redis-server (default: REDIS_PORT or 6379, or a free one)
  --durability LEVEL  everysec (default: lose at most ~1 s of writes if the host crashes)
                      or always (fsync every write: no acknowledged write is ever lost)
  -h, --help          show this help

Environment:
  REDIS_URL           use this Redis instead of spawning one (REDIS_PASSWORD/REDIS_USERNAME honoured)
  BACKEND_PORT        default 5000
  FRONTEND_PORT       default 8080
  BACKEND_METRICS_PORT, FRONTEND_METRICS_PORT
                      Prometheus /metrics of each (default 9464 and 9465; 0 picks a free one)
Data of the spawned Redis lives in .data/redis (AOF and RDB snapshots, settings from
deploy/redis/durability-LEVEL.conf). Its ACL users (default user off, backend, backup, probe,
admin) are generated into .data/redis/users.acl, their passwords into .data/redis/*.password.
Back up: deploy/scripts/redis-backup --help; restore: deploy/scripts/redis-restore --help.`;

function fail(message: string): never {
  process.stderr.write(`start: ${message}\n`);
  process.exit(1);
}

function parseOptions() {
  try {
    const { values } = parseArgs({
      options: {
        'redis-port': { type: 'string' },
        durability: { type: 'string', default: process.env.REDIS_APPENDFSYNC ?? 'everysec' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
    return values;
  } catch (error) {
    fail(`${error instanceof Error ? error.message : String(error)} (see npm start -- --help)`);
  }
}

/** A service's METRICS_PORT when one is asked for; otherwise the service's own default. */
function metricsPort(value: string | undefined): { METRICS_PORT?: string } {
  return value === undefined || value === '' ? {} : { METRICS_PORT: value };
}

function parsePort(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    fail(`${name} must be a port number (1-65535), got "${value}"`);
  return port;
}

async function main(): Promise<void> {
  const options = parseOptions();
  if (options.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  if (options.durability !== 'everysec' && options.durability !== 'always') {
    fail(`--durability must be "everysec" or "always", got "${options.durability}"`);
  }
  const backendPort = parsePort(process.env.BACKEND_PORT, 'BACKEND_PORT', 5000);
  const frontendPort = parsePort(process.env.FRONTEND_PORT, 'FRONTEND_PORT', 8080);
  const backendScript = serviceScriptPath('backend');
  const frontendScript = serviceScriptPath('frontend');
  if (!existsSync(backendScript))
    fail('services/backend/dist/server.js is missing: run `npm run build` (npm start does)');

  const children: Proc[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('start: stopping...\n');
    for (const child of [...children].reverse()) await child.stop('SIGTERM');
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));
  const supervise = (proc: Proc) => {
    children.push(proc);
    proc.child.once('exit', (code, signal) => {
      if (stopping) return;
      process.stderr.write(
        `start: ${proc.name} stopped unexpectedly (${signal ?? `exit code ${code}`}); stopping the stack\n`,
      );
      void stopAll(1);
    });
  };
  /** Waits for a process to be ready; one that is not stops the stack. */
  const started = async (starting: Promise<Proc>): Promise<void> => {
    try {
      supervise(await starting);
    } catch (error) {
      process.stderr.write(`start: ${error instanceof Error ? error.message : String(error)}\n`);
      await stopAll(1);
    }
  };
  /** A service of this repository (its bundle), output prefixed, ready when its /readyz answers 200. */
  const startTier = (name: string, color: number, script: string, port: number, env: Record<string, string>) =>
    started(
      startProcess({
        name,
        command: process.execPath,
        args: ['--enable-source-maps', script],
        env: { HOST: process.env.HOST ?? '127.0.0.1', PORT: String(port), ...env },
        output: 'prefix',
        color,
        ready: { url: `http://127.0.0.1:${port}/readyz` },
      }),
    );

  let redisUrl = process.env.REDIS_URL;
  let redisUsername = process.env.REDIS_USERNAME;
  let redisPassword = process.env.REDIS_PASSWORD;
  if (!redisUrl) {
    const redisServer = findOnPath('redis-server');
    if (!redisServer) {
      fail(
        'redis-server not found: install it (Debian/Ubuntu: sudo apt-get install -y redis-server) or set REDIS_URL=redis://host:6379',
      );
    }
    let redisPort = parsePort(options['redis-port'] ?? process.env.REDIS_PORT, 'redis port', 6379);
    if (await portInUse(redisPort)) {
      if (options['redis-port'] ?? process.env.REDIS_PORT) fail(`port ${redisPort} is already in use`);
      redisPort = 6380 + Math.floor(Math.random() * 1000);
    }
    const dataDir = join(repoRoot, '.data/redis');
    mkdirSync(dataDir, { recursive: true });
    // ACL users instead of one shared password: passwords are created once and kept in .data/redis.
    const aclFile = join(dataDir, 'users.acl');
    try {
      execFileSync(join(repoRoot, 'deploy/redis/generate-acl'), ['--password-dir', dataDir, '--out', aclFile], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, REDIS_KEY_PREFIX: process.env.REDIS_KEY_PREFIX ?? 'tt:' },
      });
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
      fail(`could not generate the Redis ACL file: ${stderr || String(error)}`);
    }
    redisUsername = 'backend';
    redisPassword = readFileSync(join(dataDir, 'backend.password'), 'utf8').split('\n')[0] ?? '';
    process.stdout.write(
      `start: redis-server on 127.0.0.1:${redisPort}, data in .data/redis (AOF, appendfsync ${options.durability}), users from .data/redis/users.acl\n`,
    );
    await started(
      startRedis({
        binary: redisServer,
        port: redisPort,
        dir: dataDir,
        config: join(repoRoot, `deploy/redis/durability-${options.durability}.conf`),
        args: ['--aclfile', aclFile],
        output: 'prefix',
        color: 0,
      }).then((redis) => redis.proc()),
    );
    redisUrl = `redis://127.0.0.1:${redisPort}`;
    process.stdout.write(
      `start: back up with: deploy/scripts/redis-backup --port ${redisPort} --password-file .data/redis/backup.password --dir .data/backups\n`,
    );
  }

  process.stdout.write(`start: backend on http://localhost:${backendPort}\n`);
  await startTier('backend', 1, backendScript, backendPort, {
    ...metricsPort(process.env.BACKEND_METRICS_PORT),
    REDIS_URL: redisUrl,
    ...(redisUsername ? { REDIS_USERNAME: redisUsername } : {}),
    ...(redisPassword ? { REDIS_PASSWORD: redisPassword } : {}),
    DRAIN_DELAY_MS: process.env.DRAIN_DELAY_MS ?? '0',
    // The frontend, on loopback, is the backend's one proxy: its X-Forwarded-For names the client.
    TRUST_PROXY: 'loopback',
  });

  if (existsSync(frontendScript)) {
    process.stdout.write(`start: frontend on http://localhost:${frontendPort}\n`);
    await startTier('frontend', 2, frontendScript, frontendPort, {
      ...metricsPort(process.env.FRONTEND_METRICS_PORT),
      BACKEND_URL: `http://127.0.0.1:${backendPort}`,
      DRAIN_DELAY_MS: process.env.DRAIN_DELAY_MS ?? '0',
    });
    process.stdout.write(
      `start: tasktier is up: open http://localhost:${frontendPort} (API: http://localhost:${backendPort}/api). Ctrl-C stops it.\n`,
    );
  } else {
    process.stdout.write(`start: tasktier API is up at http://localhost:${backendPort}/api. Ctrl-C stops it.\n`);
  }
}

await main();
