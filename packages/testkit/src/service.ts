import type { ChildProcess } from 'node:child_process';
import { type Output, type Proc, startProcess } from './process.ts';

export interface ServiceOptions {
  /** A name for log prefixes and error messages. */
  name: string;
  /** The script to run with the current `node` (for example a service's dist/server.js). */
  script: string;
  /** The node binary (default: the one running this, process.execPath), e.g. from nodeRuntime(). */
  node?: string;
  /** Node's own arguments before the script (e.g. --cpu-prof). */
  nodeArgs?: string[];
  env: Record<string, string>;
  /** Polled until it answers 200. */
  readyUrl: string;
  /** How often it is polled (default 25 ms). */
  readyIntervalMs?: number;
  /** Where its output goes (default: kept in memory, see output()). */
  output?: Output;
  /** Its open-file limit (see ProcessOptions.nofile). */
  nofile?: number;
  /** stop() sends SIGKILL after this long (default: waits). */
  killAfterMs?: number;
}

export interface Service {
  process: ChildProcess;
  proc: Proc;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Sends a signal and waits for exit; resolves to the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts a service as a real child process and waits until its ready URL answers. */
export async function startService(options: ServiceOptions): Promise<Service> {
  const proc = await startProcess({
    name: options.name,
    command: options.node ?? process.execPath,
    args: [...(options.nodeArgs ?? []), options.script],
    // Metrics on a free port unless the test reads them: tests run many services on one host.
    env: { METRICS_PORT: '0', ...options.env },
    ...(options.output ? { output: options.output } : {}),
    ...(options.nofile === undefined ? {} : { nofile: options.nofile }),
    ...(options.killAfterMs === undefined ? {} : { killAfterMs: options.killAfterMs }),
    ready: { url: options.readyUrl, ...(options.readyIntervalMs ? { intervalMs: options.readyIntervalMs } : {}) },
  });
  return { process: proc.child, proc, output: proc.output, stop: proc.stop };
}
