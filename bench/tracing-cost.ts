/**
 * What OpenTelemetry tracing costs: GET of a 20-todo list and POST of a todo through the frontend
 * (frontend -> backend -> Redis), once per tracing mode, each as a ratio to the ceiling (a bare
 * node:http hello measured in the same run):
 *
 *   off          the default (no OTEL_* variables): only the log lines' trace and span ids
 *   unreachable  tracing on, 100% sampled, the OTLP endpoint a closed port (the collector is down)
 *   receiver     tracing on, 100% sampled, exporting to a local OTLP/HTTP receiver (protobuf)
 *   (baseline)   with --baseline DIR: the bundles of another checkout (e.g. one without tracing)
 *
 * Each mode gets its own frontend and backend over one Redis; the modes are measured interleaved,
 * round by round, and each figure is the median round (a shared machine drifts).
 * `npm run bench` calls tracingCost() with its own load generator and ceiling; run alone:
 *   npx tsx bench/tracing-cost.ts [--duration S] [--connections N] [--rounds N] [--baseline DIR]
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  getFreePort,
  type RedisServer,
  repoRoot,
  type Service,
  serviceScript,
  startRedis,
  startService,
} from '@tasktier/testkit';
import { ApiClient, type NextRequest, type PeakResult } from './lib/load.ts';
import { findWrk, writeWorkloadScript, wrkPeak } from './lib/wrk.ts';

export const TRACING_MODES = ['off', 'unreachable', 'receiver'] as const;
export type TracingMode = (typeof TRACING_MODES)[number] | 'baseline';

export interface TracingCostRow {
  mode: TracingMode;
  workload: 'get20' | 'post';
  rps: number;
  p99: number;
  errors: number;
  /** rps / the ceiling's rps in the same round (the median round of the mode). */
  ratio: number;
}

export interface TracingCostOptions {
  /** Closed-loop load on an origin (the harness's own generator). */
  measure: (origin: string, next: NextRequest) => Promise<Pick<PeakResult, 'rps' | 'p99' | 'errors'>>;
  /** Measures the ceiling's requests per second now (once per round, in the same run). */
  ceilingRps: () => Promise<number>;
  /** Rounds over all modes (default 3); each row is its median round. */
  rounds?: number;
  /** A Redis for the stacks (the harness's); one of its own when absent. */
  redisUrl?: string;
  /** Another checkout's services/*\/dist/server.js, measured as the `baseline` mode. */
  baselineDir?: string;
  /** Where each process's output goes (a log file per process); kept in memory otherwise. */
  logFile?: (name: string) => string;
  progress?: (message: string) => void;
}

/** A stand-in for the OpenTelemetry Collector: takes OTLP/HTTP exports, answers 200, counts them. */
async function otlpSink(): Promise<{ endpoint: string; exports: () => number; close: () => Promise<void> }> {
  let exports = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      exports++;
      response.writeHead(200, { 'content-type': request.headers['content-type'] ?? 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exports: () => exports,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function startPair(
  redisUrl: string,
  mode: TracingMode,
  env: Record<string, string>,
  scripts: { backend: string; frontend: string },
  logFile: TracingCostOptions['logFile'],
): Promise<{ origin: string; stop: () => Promise<void> }> {
  const output = (name: string) => (logFile ? { output: { file: logFile(`tracing-${mode}-${name}`) } } : {});
  // Production settings, as the manifests set them (the bench's own, see run.ts).
  const common = { NODE_ENV: 'production', HOST: '127.0.0.1', LOG_LEVEL: 'info', DRAIN_DELAY_MS: '0', ...env };
  const backendPort = await getFreePort();
  const backend: Service = await startService({
    name: `backend-${mode}`,
    script: scripts.backend,
    env: { ...common, PORT: String(backendPort), REDIS_URL: redisUrl, RATE_LIMITS: 'off' },
    readyUrl: `http://127.0.0.1:${backendPort}/readyz`,
    ...output('backend'),
  });
  const frontendPort = await getFreePort();
  const frontend: Service = await startService({
    name: `frontend-${mode}`,
    script: scripts.frontend,
    env: { ...common, PORT: String(frontendPort), BACKEND_URL: `http://127.0.0.1:${backendPort}` },
    readyUrl: `http://127.0.0.1:${frontendPort}/readyz`,
    ...output('frontend'),
  });
  return {
    origin: `http://127.0.0.1:${frontendPort}`,
    stop: async () => {
      await frontend.stop();
      await backend.stop();
    },
  };
}

/** Measures GET and POST through the frontend in each tracing mode; one row per mode and workload. */
export async function tracingCost(options: TracingCostOptions): Promise<TracingCostRow[]> {
  const progress = options.progress ?? (() => {});
  const ownRedis: RedisServer | undefined = options.redisUrl ? undefined : await startRedis();
  const redisUrl = options.redisUrl ?? (ownRedis as RedisServer).url;
  const sink = await otlpSink();
  const closedPort = await getFreePort();
  const current = { backend: serviceScript('backend'), frontend: serviceScript('frontend') };
  const tracingOn = { OTEL_TRACES_SAMPLER: 'always_on' };
  const modes: Array<{ mode: TracingMode; env: Record<string, string>; scripts: typeof current }> = [
    { mode: 'off', env: {}, scripts: current },
    {
      mode: 'unreachable',
      env: { ...tracingOn, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closedPort}` },
      scripts: current,
    },
    { mode: 'receiver', env: { ...tracingOn, OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint }, scripts: current },
  ];
  if (options.baselineDir) {
    const dist = (tier: string) => join(options.baselineDir!, 'services', tier, 'dist', 'server.js');
    modes.unshift({ mode: 'baseline', env: {}, scripts: { backend: dist('backend'), frontend: dist('frontend') } });
  }
  const pairs: Array<{ mode: TracingMode; origin: string; stop: () => Promise<void> }> = [];
  const samples: TracingCostRow[] = [];
  try {
    // All pairs at once (idle ones cost nothing), then the modes interleaved round by round, so
    // that a shared machine's drift falls on every mode alike; each row is the median round.
    for (const { mode, env, scripts } of modes) {
      progress(`tracing ${mode}: starting a frontend and a backend`);
      pairs.push({ mode, ...(await startPair(redisUrl, mode, env, scripts, options.logFile)) });
    }
    const workloadsOf = new Map<TracingMode, Array<[TracingCostRow['workload'], NextRequest]>>();
    for (const pair of pairs) {
      const api = new ApiClient(pair.origin);
      const getList = await api.createList();
      await api.addTodos(getList, 20);
      const postLists: string[] = [];
      for (let i = 0; i < 64; i++) postLists.push(await api.createList());
      await api.close();
      let posted = 0;
      workloadsOf.set(pair.mode, [
        ['get20', () => ({ method: 'GET', path: `/api/lists/${getList}/todos` })],
        [
          'post',
          () => ({
            method: 'POST',
            path: `/api/lists/${postLists[posted++ % postLists.length]}/todos`,
            body: '{"title":"a benchmark todo"}',
          }),
        ],
      ]);
    }
    const rounds = options.rounds ?? 3;
    for (let round = 1; round <= rounds; round++) {
      const ceilingRps = await options.ceilingRps();
      for (const pair of pairs) {
        for (const [workload, next] of workloadsOf.get(pair.mode) ?? []) {
          progress(`round ${round}/${rounds}: tracing ${pair.mode}, ${workload}`);
          const result = await options.measure(pair.origin, next);
          samples.push({ mode: pair.mode, workload, ...result, ratio: result.rps / ceilingRps });
        }
      }
    }
    if (sink.exports() === 0) throw new Error('the OTLP receiver got no export: tracing did not export');
  } finally {
    for (const pair of pairs) await pair.stop();
    await sink.close();
    await ownRedis?.destroy();
  }
  const rows: TracingCostRow[] = [];
  for (const { mode } of modes) {
    for (const workload of ['get20', 'post'] as const) {
      const mine = samples.filter((row) => row.mode === mode && row.workload === workload);
      const sorted = mine.sort((a, b) => a.ratio - b.ratio);
      const median = sorted[Math.floor(sorted.length / 2)];
      if (median) rows.push(median);
    }
  }
  return rows;
}

/** The rows as a table: one line per mode, GET and POST side by side as a share of the ceiling. */
export function formatTracingCost(rows: TracingCostRow[]): string {
  const modes = [...new Set(rows.map((row) => row.mode))];
  const cell = (mode: TracingMode, workload: TracingCostRow['workload']) => {
    const row = rows.find((candidate) => candidate.mode === mode && candidate.workload === workload);
    if (!row) return '-';
    const errors = row.errors > 0 ? ` (${row.errors} errors)` : '';
    return `${(row.ratio * 100).toFixed(1)}% ${row.rps.toFixed(0)}/s p99 ${row.p99} ms${errors}`;
  };
  const lines = [
    'Tracing cost, through the frontend (share of the ceiling; requests/s; p99)',
    `${'mode'.padEnd(12)} ${'GET 20 todos'.padEnd(34)} POST a todo`,
    ...modes.map((mode) => `${mode.padEnd(12)} ${cell(mode, 'get20').padEnd(34)} ${cell(mode, 'post')}`),
  ];
  return lines.join('\n');
}

const HELP = `Usage: npx tsx bench/tracing-cost.ts [options]

Measures GET and POST through the frontend with tracing off (the default), on with the OTLP
endpoint unreachable, and on exporting every span to a local OTLP receiver; prints each as a share
of a bare node:http hello (the ceiling) measured in the same run. Needs \`npm run build\` first.

  --duration S       seconds of load per measurement (default 5)
  --connections N    keep-alive connections (default 32)
  --rounds N         rounds over all modes, interleaved; each figure is the median round (default 3)
  --baseline DIR     also measure the bundles of another checkout (DIR/services/*/dist/server.js)
  -h, --help         this text`;

async function main(): Promise<void> {
  let values: { duration?: string; connections?: string; rounds?: string; baseline?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        duration: { type: 'string' },
        connections: { type: 'string' },
        rounds: { type: 'string' },
        baseline: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`tracing-cost: ${(error as Error).message} (see --help)\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const durationS = Number(values.duration ?? 5);
  const connections = Number(values.connections ?? 32);
  const rounds = Number(values.rounds ?? 3);
  if (!(durationS > 0) || ![connections, rounds].every((n) => Number.isInteger(n) && n >= 1)) {
    process.stderr.write(
      'tracing-cost: --duration must be a positive number, --connections and --rounds positive integers\n',
    );
    process.exit(2);
  }
  const progress = (message: string) => process.stderr.write(`tracing-cost: ${message}\n`);
  const ceilingPort = await getFreePort();
  const ceiling = await startService({
    name: 'ceiling',
    script: join(repoRoot, 'bench/lib/ceiling-server.mjs'),
    env: { PORT: String(ceilingPort) },
    readyUrl: `http://127.0.0.1:${ceilingPort}/`,
  });
  const wrk = findWrk();
  if (!wrk) {
    process.stderr.write('tracing-cost: wrk not found (apt-get install wrk)\n');
    process.exit(1);
  }
  const scriptDir = mkdtempSync(join(tmpdir(), 'tasktier-tracing-cost-'));
  let scripts = 0;
  // wrk takes whole seconds.
  const wholeSeconds = Math.max(1, Math.round(durationS));
  const measure = async (origin: string, next: NextRequest) => {
    const script = writeWorkloadScript(scriptDir, `${++scripts}`, origin, next);
    await wrkPeak(origin, script, { wrk, dir: scriptDir, connections, durationS: Math.min(2, wholeSeconds) });
    return wrkPeak(origin, script, { wrk, dir: scriptDir, connections, durationS: wholeSeconds });
  };
  try {
    const ceilingRps = async () => {
      progress('ceiling');
      return (await measure(`http://127.0.0.1:${ceilingPort}`, () => ({ method: 'GET', path: '/' }))).rps;
    };
    const rows = await tracingCost({ measure, ceilingRps, rounds, baselineDir: values.baseline, progress });
    process.stdout.write(`${formatTracingCost(rows)}\n`);
  } finally {
    await ceiling.stop();
    rmSync(scriptDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
