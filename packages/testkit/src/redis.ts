import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFreePort, waitFor } from './wait.ts';

export interface RedisOptions {
  /** Extra `redis-server` arguments, e.g. ['--appendonly', 'yes']. Persistence is off unless given. */
  args?: string[];
  /** Data directory; a fresh temporary one by default (removed on stop). */
  dir?: string;
  port?: number;
}

export interface RedisServer {
  port: number;
  url: string;
  dir: string;
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

/** Starts a real `redis-server` from PATH on a free port. Tests never use a Redis mock. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await getFreePort());
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'tasktier-redis-'));
  const baseArgs = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'];
  let child: ChildProcess | undefined;

  const cli = (...args: string[]): string =>
    execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();

  const launch = async (): Promise<void> => {
    const proc = spawn('redis-server', [...baseArgs, ...(options.args ?? [])], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    // Never leave a redis-server behind when the test process ends without reaching its cleanup.
    const reap = () => proc.kill('SIGKILL');
    process.once('exit', reap);
    proc.once('exit', () => process.removeListener('exit', reap));
    let output = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    await waitFor(
      `redis-server on port ${port} to accept connections`,
      () => {
        if (proc.exitCode !== null) throw new Error(`redis-server exited: ${output.slice(-500)}`);
        return output.includes('Ready to accept connections');
      },
      { timeoutMs: 10_000 },
    );
  };

  const waitExit = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    await exited;
  };

  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    cli,
    stop: () => waitExit('SIGTERM'),
    kill: () => waitExit('SIGKILL'),
    signal: (signal) => {
      child?.kill(signal);
    },
    restart: launch,
    destroy: async () => {
      await waitExit('SIGTERM');
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
