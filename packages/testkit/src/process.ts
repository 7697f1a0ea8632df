import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Where a process's output goes. It is kept in memory in every case but a file (then `output()`
 * reads the file):
 *  - 'keep' (default): only kept;
 *  - 'prefix': also printed to stdout line by line after `name |`, like `docker compose up`;
 *  - { stream }: also written to a stream (a log file the caller owns);
 *  - { file }: appended to a file by the process itself, never through a pipe into this process
 *    (whose CPU a benchmark needs).
 */
export type Output = 'keep' | 'prefix' | { stream: Writable } | { file: string };

/** When a process counts as ready: its URL answers, or it printed a line. */
export interface Readiness {
  /** Polled (one fresh connection each time) until it answers `status`. */
  url?: string;
  /** The status that means ready (default 200); 'any': any HTTP answer. */
  status?: number | 'any';
  /** Or: text (or a pattern) in the output. */
  text?: string | RegExp;
  /** Default 15 s. */
  timeoutMs?: number;
  /** Between two checks; default 25 ms. */
  intervalMs?: number;
}

export interface ProcessOptions {
  /** For log prefixes and error messages. */
  name: string;
  command: string;
  args?: string[];
  /** Added to this process's environment (or the whole environment with inheritEnv: false). */
  env?: Record<string, string | undefined>;
  /** Default true. */
  inheritEnv?: boolean;
  cwd?: string;
  output?: Output;
  /** With output 'prefix': which color of the prefix (when stdout is a terminal). */
  color?: number;
  /** Keep at most this many characters of output in memory (the newest); default all. */
  keepChars?: number;
  /** Runs it in its own process group: stop() and signal() reach the whole group. */
  group?: boolean;
  /** Starts it with this open-file limit (through prlimit, which execs it: the pid is its own). */
  nofile?: number;
  /** The signal stop() sends by default (SIGTERM unless given). */
  stopSignal?: NodeJS.Signals;
  /** stop() sends SIGKILL after this long (default: waits as long as it takes). */
  killAfterMs?: number;
}

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** The log file, with output { file }. */
  readonly logFile?: string;
  /** Milliseconds from spawn until it was ready (set by startProcess). */
  readyMs?: number;
  /** What it wrote to stdout and stderr so far, or to one of them (the newest keepChars of it). */
  output(from?: 'all' | 'stdout' | 'stderr'): string;
  /** Resolves to the exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  running(): boolean;
  /** Sends a signal (to its whole group with `group`). */
  signal(signal: NodeJS.Signals): void;
  /** Sends the stop signal and waits for the exit; resolves to the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const COLORS = ['\x1b[31m', '\x1b[32m', '\x1b[34m', '\x1b[35m', '\x1b[36m'];

/** Processes still running; killed when this process exits, so none is left behind. */
const live = new Set<Proc>();
let reaping = false;

/** Kills every process started here that still runs (SIGKILL): the last resort on errors and exits. */
export function killAll(): void {
  for (const proc of live) proc.signal('SIGKILL');
  live.clear();
}

/** Starts a process (without waiting for anything). */
export function spawnProcess(options: ProcessOptions): Proc {
  if (!reaping) {
    reaping = true;
    process.once('exit', killAll);
  }
  const output = options.output ?? 'keep';
  const file = typeof output === 'object' && 'file' in output ? output.file : undefined;
  const fd = file === undefined ? undefined : openSync(file, 'a');
  const [command, args] =
    options.nofile === undefined
      ? [options.command, options.args ?? []]
      : ['prlimit', [`--nofile=${options.nofile}:${options.nofile}`, '--', options.command, ...(options.args ?? [])]];
  const child = spawn(command, args, {
    env: options.inheritEnv === false ? options.env : { ...process.env, ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdio: ['ignore', fd ?? 'pipe', fd ?? 'pipe'],
    detached: options.group === true,
  });
  if (fd !== undefined) closeSync(fd);

  // Both streams as they came, and each on its own.
  const kept = { all: '', stdout: '', stderr: '' };
  const keep = (text: string, from: 'stdout' | 'stderr') => {
    for (const key of ['all', from] as const) {
      kept[key] += text;
      if (options.keepChars !== undefined && kept[key].length > options.keepChars)
        kept[key] = kept[key].slice(-options.keepChars);
    }
  };
  if (output === 'prefix') {
    const color = process.stdout.isTTY ? (COLORS[(options.color ?? 0) % COLORS.length] ?? '') : '';
    const prefix = `${color}${options.name.padEnd(8)}|${color ? '\x1b[0m' : ''} `;
    for (const from of ['stdout', 'stderr'] as const) {
      createInterface({ input: child[from] as NodeJS.ReadableStream }).on('line', (line) => {
        keep(`${line}\n`, from);
        process.stdout.write(`${prefix}${line}\n`);
      });
    }
  } else if (file === undefined) {
    const sink = typeof output === 'object' && 'stream' in output ? output.stream : undefined;
    for (const from of ['stdout', 'stderr'] as const) {
      child[from]?.on('data', (chunk: Buffer) => {
        keep(chunk.toString(), from);
        sink?.write(chunk);
      });
    }
  }

  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    // A command that cannot start (not found) exits too, as far as its callers are concerned.
    child.once('error', (error) => {
      keep(`${error.message}\n`, 'stderr');
      resolve(null);
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null && child.pid !== undefined;
  const signal = (sig: NodeJS.Signals) => {
    if (!running()) return;
    try {
      if (options.group && child.pid) process.kill(-child.pid, sig);
      else child.kill(sig);
    } catch {
      // already gone
    }
  };
  const proc: Proc = {
    name: options.name,
    child,
    pid: child.pid ?? 0,
    ...(file === undefined ? {} : { logFile: file }),
    output: (from = 'all') => (file === undefined ? kept[from] : readText(file)),
    exited,
    running,
    signal,
    stop: async (sig = options.stopSignal ?? 'SIGTERM') => {
      if (!running()) return child.exitCode;
      signal(sig);
      const killer =
        options.killAfterMs === undefined ? undefined : setTimeout(() => signal('SIGKILL'), options.killAfterMs);
      const code = await exited;
      clearTimeout(killer);
      return code;
    },
  };
  live.add(proc);
  void exited.then(() => live.delete(proc));
  return proc;
}

/** Starts a process and waits until it is ready; kills it and throws when it exits or times out first. */
export async function startProcess(options: ProcessOptions & { ready?: Readiness }): Promise<Proc> {
  const started = performance.now();
  const proc = spawnProcess(options);
  if (options.ready) {
    await waitReady(proc, options.ready, options.output ?? 'keep');
    proc.readyMs = performance.now() - started;
  }
  return proc;
}

async function waitReady(proc: Proc, ready: Readiness, output: Output): Promise<void> {
  const timeoutMs = ready.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  const tail = () =>
    output === 'prefix'
      ? ' (see its output above)'
      : proc.logFile
        ? `; its log (${proc.logFile}) ends with:\n${proc.output().slice(-1500)}`
        : `:\n${proc.output().slice(-2000)}`;
  for (;;) {
    if (!proc.running()) {
      throw new Error(`${proc.name} exited with code ${proc.child.exitCode} before it was ready${tail()}`);
    }
    if (ready.text !== undefined) {
      const text = proc.output();
      if (typeof ready.text === 'string' ? text.includes(ready.text) : ready.text.test(text)) return;
    }
    if (ready.url !== undefined) {
      const status = await httpStatus(ready.url, Math.min(1000, timeoutMs));
      if (ready.status === 'any' ? status > 0 : status === (ready.status ?? 200)) return;
    }
    if (Date.now() > deadline) {
      proc.signal('SIGKILL');
      throw new Error(`${proc.name} was not ready within ${timeoutMs / 1000} s${tail()}`);
    }
    await delay(ready.intervalMs ?? 25);
  }
}

/** GET url, resolving to the status code (0 when the connection failed). One connection per call. */
function httpStatus(url: string, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(0));
    req.end();
  });
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export interface RunResult {
  /** The exit code; null when a signal ended it or it could not start. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr as they came. */
  output: string;
  /** True when timeoutMs passed and it was sent timeoutSignal. */
  timedOut: boolean;
  ms: number;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Default true. */
  inheritEnv?: boolean;
  /** Also write the output here (a log file the caller owns). */
  log?: Writable;
  timeoutMs?: number;
  /** Default SIGTERM. */
  timeoutSignal?: NodeJS.Signals;
  /** Reject when it does not exit 0, with the last lines of its output. */
  check?: boolean;
}

/** Runs a command to its end and collects its output (never through a shell). */
export async function run(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const t0 = performance.now();
  options.log?.write(`\n$ ${command} ${args.join(' ')}\n`);
  const proc = spawnProcess({
    name: command,
    command,
    args,
    ...(options.env ? { env: options.env } : {}),
    ...(options.inheritEnv === undefined ? {} : { inheritEnv: options.inheritEnv }),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.log ? { output: { stream: options.log } } : {}),
  });
  let timedOut = false;
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          proc.signal(options.timeoutSignal ?? 'SIGTERM');
        }, options.timeoutMs);
  // Until its output has been read to the end ('close'), or it could not start ('error').
  const started = await new Promise<boolean>((resolve) => {
    proc.child.once('close', () => resolve(true));
    proc.child.once('error', () => resolve(false));
  });
  clearTimeout(timer);
  const code = started ? proc.child.exitCode : null;
  if (options.check && code !== 0) {
    const why = proc.output().trim().split('\n').slice(-5).join(' | ');
    throw new Error(`${command} ${args.join(' ')} exited with ${code}: ${why}`);
  }
  const result = { code, output: proc.output(), timedOut, ms: performance.now() - t0 };
  return { ...result, stdout: proc.output('stdout'), stderr: proc.output('stderr') };
}
