import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  getFreePort,
  type RedisServer,
  repoRoot,
  run,
  type Service,
  serviceScript,
  startRedis,
  startService,
} from '@tasktier/testkit';

export { repoRoot };

export const paths = {
  backup: join(repoRoot, 'deploy/scripts/redis-backup'),
  restore: join(repoRoot, 'deploy/scripts/redis-restore'),
  generateAcl: join(repoRoot, 'deploy/redis/generate-acl'),
  aclTemplate: join(repoRoot, 'deploy/redis/users.acl.template'),
  durability: (level: DurabilityLevel) => join(repoRoot, `deploy/redis/durability-${level}.conf`),
  shimSource: join(repoRoot, 'test/durability/lib/page-cache-shim.c'),
};

export type DurabilityLevel = 'always' | 'everysec';

/** A temporary directory, removed by the returned function. */
export function tempDir(name: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `tasktier-${name}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A redis.conf fragment as redis-server arguments (`key value...` -> `--key value...`), so the tests
 * start Redis with the very settings `npm start` uses (testkit's startRedis passes arguments only).
 */
export function confArgs(file: string): string[] {
  const args: string[] = [];
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [key, ...values] = line.split(/\s+/);
    args.push(`--${key}`, values.join(' '));
  }
  return args;
}

export interface Backend {
  url: string;
  service: Service;
  stop(): Promise<void>;
}

/** The real backend (dist/server.js) as a child process against `redisUrl`. */
export async function startBackend(
  redisUrl: string,
  env: Record<string, string> = {},
  readyPath = '/readyz',
): Promise<Backend> {
  const port = await getFreePort();
  const url = `http://127.0.0.1:${port}`;
  const service = await startService({
    name: 'backend',
    script: serviceScript('backend'),
    env: {
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: redisUrl,
      DRAIN_DELAY_MS: '0',
      LOG_LEVEL: 'warn',
      // The writers are load from one address; a test about the limits turns them on.
      RATE_LIMITS: 'off',
      ...env,
    },
    readyUrl: `${url}${readyPath}`,
  });
  return {
    url,
    service,
    stop: async () => {
      await service.stop();
    },
  };
}

/** Sets environment variables for the child processes spawned inside `fn` (e.g. LD_PRELOAD for Redis). */
export async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((key) => [key, process.env[key]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/** Starts Redis with a durability level's settings (and more arguments), optionally under LD_PRELOAD. */
export async function startDurableRedis(
  level: DurabilityLevel,
  options: { args?: string[]; dir?: string; preload?: string } = {},
): Promise<RedisServer> {
  const args = [...confArgs(paths.durability(level)), ...(options.args ?? [])];
  const env: Record<string, string> = options.preload ? { LD_PRELOAD: options.preload } : {};
  const redis = await withEnv(env, () => startRedis({ args, ...(options.dir ? { dir: options.dir } : {}) }));
  const restart = redis.restart;
  redis.restart = () => withEnv(env, restart);
  return redis;
}

/**
 * Compiles the page-cache shim (see page-cache-shim.c) into `dir`. Undefined when no C compiler
 * is installed.
 */
export function compileShim(dir: string): string | undefined {
  const out = join(dir, 'page-cache-shim.so');
  const result = spawnSync('gcc', ['-shared', '-fPIC', '-O2', '-o', out, paths.shimSource, '-ldl', '-lpthread'], {
    encoding: 'utf8',
  });
  if (result.error) return undefined;
  if (result.status !== 0) throw new Error(`gcc failed: ${result.stderr}`);
  return out;
}

export interface AclSetup {
  dir: string;
  file: string;
  passwords: { backend: string; backup: string; monitor: string; admin: string };
}

/** Runs deploy/redis/generate-acl with random passwords in `dir` (as `npm start` does). */
export function generateAcl(dir: string, prefix = 'tt:'): AclSetup {
  const file = join(dir, 'users.acl');
  execFileSync(paths.generateAcl, ['--password-dir', dir, '--out', file, '--prefix', prefix], { stdio: 'pipe' });
  const read = (name: string) => readFileSync(join(dir, `${name}.password`), 'utf8').split('\n')[0]!;
  return {
    dir,
    file,
    passwords: { backend: read('backend'), backup: read('backup'), monitor: read('monitor'), admin: read('admin') },
  };
}

/** redis-cli as an ACL user (password through REDISCLI_AUTH); the reply, errors included, trimmed. */
export function cliAs(port: number, user: string | undefined, password: string | undefined, ...args: string[]): string {
  const result = spawnSync('redis-cli', ['-p', String(port), ...(user ? ['--user', user] : []), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...(password ? { REDISCLI_AUTH: password } : {}) },
    timeout: 10_000,
  });
  return `${result.stdout}${result.stderr}`.trim();
}

export interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs one of the deploy scripts; never throws on a non-zero exit. */
export async function runScript(
  file: string,
  args: string[],
  env: Record<string, string> = {},
  options: { command?: string[]; timeoutMs?: number; pathOnly?: string } = {},
): Promise<ScriptResult> {
  const [command, ...prefix] = options.command ?? [file];
  const result = await run(command as string, [...prefix, ...(options.command ? [file] : []), ...args], {
    ...(options.pathOnly
      ? { inheritEnv: false, env: { PATH: options.pathOnly, HOME: process.env.HOME ?? '/root', ...env } }
      : { env }),
    timeoutMs: options.timeoutMs ?? 60_000,
  });
  return { code: result.code, stdout: result.stdout, stderr: result.stderr, ms: result.ms };
}

export type { RedisServer };
