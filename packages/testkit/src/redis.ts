import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFreePort } from './ports.ts';
import { type Output, type Proc, startProcess } from './process.ts';

export interface RedisOptions {
  /** A redis.conf to start from (its settings, then the arguments); without one, persistence is off. */
  config?: string;
  /** Extra `redis-server` arguments, e.g. ['--appendonly', 'yes']. */
  args?: string[];
  /** Data directory; a fresh temporary one by default (removed by destroy). */
  dir?: string;
  port?: number;
  /** The redis-server binary (default: the one on PATH). */
  binary?: string;
  /** Where its output goes (default: kept in memory). */
  output?: Output;
  /** With output 'prefix': the prefix's color. */
  color?: number;
  /** Its open-file limit (see ProcessOptions.nofile). */
  nofile?: number;
}

export interface RedisServer {
  port: number;
  url: string;
  dir: string;
  /** The running process (a new one after restart). */
  proc(): Proc;
  /** Runs redis-cli against this server and returns its output (trimmed). */
  cli(...args: string[]): string;
  /** Stops gracefully (SHUTDOWN semantics via SIGTERM). */
  stop(): Promise<void>;
  /** Kills with SIGKILL: a crash, nothing flushed. */
  kill(): Promise<void>;
  /** Sends a signal, e.g. SIGSTOP to make Redis hang without closing connections, SIGCONT to resume. */
  signal(signal: NodeJS.Signals): void;
  /** Starts again on the same port and data directory. */
  restart(): Promise<void>;
  /** Stops and removes the temporary data directory. */
  destroy(): Promise<void>;
}

/** Starts a real `redis-server` on 127.0.0.1, on a free port unless given. Tests never use a Redis mock. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await getFreePort());
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'tasktier-redis-'));
  const args = [
    ...(options.config ? [options.config] : []),
    ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
    ...(options.config ? [] : ['--save', '', '--appendonly', 'no']),
    ...(options.args ?? []),
  ];
  let current: Proc | undefined;

  const cli = (...cliArgs: string[]): string =>
    execFileSync('redis-cli', ['-p', String(port), ...cliArgs], { encoding: 'utf8' }).trim();

  const launch = async (): Promise<void> => {
    current = await startProcess({
      name: 'redis',
      command: options.binary ?? 'redis-server',
      args,
      ...(options.output ? { output: options.output } : {}),
      ...(options.color === undefined ? {} : { color: options.color }),
      ...(options.nofile === undefined ? {} : { nofile: options.nofile }),
      ready: { text: 'Ready to accept connections', timeoutMs: 10_000 },
    });
  };

  const waitExit = async (signal: NodeJS.Signals): Promise<void> => {
    await current?.stop(signal);
  };

  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    proc: () => current as Proc,
    cli,
    stop: () => waitExit('SIGTERM'),
    kill: () => waitExit('SIGKILL'),
    signal: (signal) => current?.signal(signal),
    restart: launch,
    destroy: async () => {
      await waitExit('SIGTERM');
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
