/**
 * Closed-loop peak runs with wrk (C, its own process, one thread): the generator costs far less
 * per request than any server here and never shares this harness's event loop, so a ratio to the
 * ceiling compares servers, not the generator's share of the two cores. Requests are formatted
 * once, before the run, into a Lua script: wrk sends them in turn without calling back into Lua
 * for anything but picking the next string.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findOnPath, run } from '@tasktier/testkit';
import type { BenchRequest, NextRequest, PeakResult } from './load.ts';

/** How many requests of a workload go into the script, sent in turn: a multiple of every cycle the workloads have (128 lists, 20 todos x 2 states, 5-request mix). */
export const PREFORMATTED_REQUESTS = 3200;

export function findWrk(): string | undefined {
  return findOnPath('wrk');
}

export function wrkVersion(wrk: string): string {
  const out = (() => {
    try {
      return execFileSync(wrk, ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      // wrk -v prints its version and usage, then exits 1.
      return String((error as { stdout?: string }).stdout ?? '');
    }
  })();
  return /^wrk (\S+)/m.exec(out)?.[1] ?? 'unknown';
}

/** One HTTP/1.1 request on the wire, keep-alive. */
export function formatRequest(host: string, r: BenchRequest): string {
  const head = [`${r.method} ${r.path} HTTP/1.1`, `Host: ${host}`];
  if (r.body !== undefined) {
    head.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(r.body)}`);
  }
  return `${head.join('\r\n')}\r\n\r\n${r.body ?? ''}`;
}

/** A Lua string literal (the requests are ASCII: JSON's escapes for quotes, backslashes, CR and LF are Lua's too). */
const lua = (s: string) => JSON.stringify(s);

/** The wrk script: the requests in turn, and a JSON line with the figures at the end. */
export function wrkScript(requests: string[]): string {
  return `-- written by bench/lib/wrk.ts
local requests = {
${requests.map((r) => `  ${lua(r)},`).join('\n')}
}
local n = #requests
local i = 0
request = function()
  i = i + 1
  if i > n then i = 1 end
  return requests[i]
end
done = function(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50Us":%d,"p99Us":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;
}

interface WrkFigures {
  requests: number;
  durationUs: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50Us: number;
  p99Us: number;
}

export interface WrkOptions {
  wrk: string;
  /** Where the script is written. */
  dir: string;
  connections: number;
  /** Whole seconds (wrk takes no fractions). */
  durationS: number;
}

/** Writes the workload's script once; returns its path. */
export function writeWorkloadScript(dir: string, name: string, origin: string, next: NextRequest): string {
  const host = new URL(origin).host;
  const requests = Array.from({ length: PREFORMATTED_REQUESTS }, () => formatRequest(host, next()));
  // A workload that sends one request over and over needs it once.
  const distinct = new Set(requests).size === 1 ? requests.slice(0, 1) : requests;
  const file = join(dir, `${name.replace(/[^a-z0-9-]+/gi, '_')}.lua`);
  writeFileSync(file, wrkScript(distinct));
  return file;
}

/**
 * A closed-loop peak run: wrk -t1 with `connections` keep-alive connections, each sending its
 * next request when the previous one was answered, for `durationS` seconds.
 */
export async function wrkPeak(origin: string, script: string, options: WrkOptions): Promise<PeakResult> {
  const duration = Math.max(1, Math.round(options.durationS));
  const result = await run(
    options.wrk,
    ['-t1', `-c${options.connections}`, `-d${duration}s`, '--timeout', '10s', '-s', script, `${origin}/`],
    { timeoutMs: (duration + 30) * 1000 },
  );
  const line = /^WRK_RESULT (.*)$/m.exec(result.stdout)?.[1];
  if (result.code !== 0 || line === undefined) {
    throw new Error(`wrk against ${origin} exited ${result.code}: ${result.output.trim().slice(-800)}`);
  }
  const f = JSON.parse(line) as WrkFigures;
  return {
    rps: f.requests / (f.durationUs / 1e6),
    p50: f.p50Us / 1000,
    p99: f.p99Us / 1000,
    errors: f.connect + f.read + f.write + f.status + f.timeout,
    requests: f.requests,
  };
}
