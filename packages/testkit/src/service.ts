import { type ChildProcess, spawn } from 'node:child_process';
import { waitFor, waitForHttp } from './wait.ts';

export interface ServiceOptions {
  /** A name for log prefixes and error messages. */
  name: string;
  /** The script to run with the current `node` (for example a service's dist/server.js). */
  script: string;
  env: Record<string, string>;
  /** Polled until it answers 200. */
  readyUrl: string;
  /** Print the service's output (default: only on failure). */
  verbose?: boolean;
}

export interface Service {
  process: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Sends a signal and waits for exit; resolves to the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts a service as a real child process and waits until its ready URL answers. */
export async function startService(options: ServiceOptions): Promise<Service> {
  const child = spawn(process.execPath, [options.script], {
    // Metrics on a free port unless the test reads them: tests run many services on one host.
    env: { ...process.env, METRICS_PORT: '0', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output += chunk.toString();
    if (options.verbose) process.stderr.write(`[${options.name}] ${chunk}`);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.removeListener('exit', reap));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  try {
    await Promise.race([
      waitForHttp(options.readyUrl),
      exited.then((code) => {
        throw new Error(`${options.name} exited with code ${code} before it was ready:\n${output.slice(-2000)}`);
      }),
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }

  return {
    process: child,
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const code = await exited;
      await waitFor(`${options.name} to exit`, () => child.exitCode !== null || child.signalCode !== null);
      return code;
    },
  };
}
