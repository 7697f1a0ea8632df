import type { TracingCostRow } from '../tracing-cost.ts';
import type { FixedRateResult, PeakResult } from './load.ts';
import { GUARD_BUDGET, GUARDS } from './scenarios.ts';

export const WORKLOADS = ['get20', 'post', 'patch', 'mix'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];
export const PATHS = ['backend', 'frontend', 'nginx'] as const;
export type PathName = (typeof PATHS)[number];

export const WORKLOAD_LABELS: Record<WorkloadName, string> = {
  get20: 'GET 20 todos',
  post: 'POST a todo',
  patch: 'PATCH a todo',
  mix: '80/20 GET/PATCH',
};
export const PATH_LABELS: Record<PathName, string> = {
  backend: 'backend',
  frontend: 'frontend>backend',
  nginx: 'nginx>frontend>backend',
};

/** The path of the backend on the second runtime (e.g. Node 20 beside the Node 24 the images ship). */
export const secondRuntimePath = (major: number): string => `backend-node${major}`;
/** The workloads measured on the second runtime (straight to a backend). */
export const SECOND_RUNTIME_WORKLOADS: readonly WorkloadName[] = ['get20', 'post', 'patch', 'mix'];

/** The label of a path; other names are backend builds given with --compare (e.g. "before"). */
export const pathLabel = (path: string): string => {
  if (path in PATH_LABELS) return PATH_LABELS[path as PathName];
  const guard = GUARDS.find((g) => g.path === path);
  if (guard) return `backend, ${guard.label}`;
  const runtime = /^backend-node(\d+)$/.exec(path);
  if (runtime) return `backend on Node ${runtime[1]}`;
  return `backend build "${path}"`;
};

export interface Measured extends PeakResult {
  /** req/s as a fraction of the ceiling's req/s in this run. */
  ratio: number;
  /** The same workload at half of its own peak rate, open loop. */
  halfPeak: FixedRateResult;
  /**
   * CPU microseconds per request in each process on the path during the peak run (user + system,
   * from /proc). Robust to other load on a shared machine: the figure to compare builds with.
   */
  cpuUs: Record<string, number>;
}

/** Total CPU microseconds per request along a path. */
export const cpuTotal = (m: { cpuUs: Record<string, number> }): number =>
  Object.values(m.cpuUs).reduce((a, b) => a + b, 0);

export interface WorkloadResult extends Measured {
  workload: WorkloadName;
  /** One of PATHS, or the name of a backend build given with --compare. */
  path: string;
}

export interface ScaleResult extends Measured {
  todos: number;
  path: string;
  /** Bytes of one response body. */
  bodyBytes: number;
}

export interface FanOutResult {
  clients: number;
  /** Time to open every stream and receive its `ready` event. */
  connectMs: number;
  /** Milliseconds from sending the write until each client had the change event. */
  p50: number;
  p99: number;
  max: number;
  received: number;
  /** RSS per process (bytes) while every client is connected. */
  rss: Record<string, number>;
}

export interface Target {
  name: string;
  goal: string;
  measured: string;
  met: boolean;
}

export interface BenchResults {
  schema: 1;
  /** partial: --only ran some parts (for before/after comparisons). */
  mode: 'full' | 'quick' | 'partial';
  startedAt: string;
  durationS: number;
  settings: {
    connections: number;
    /** NODE_OPTIONS given to the services (--node-options), '' for none. */
    nodeOptions: string;
    /** MALLOC_ARENA_MAX given to the services, '' for none. */
    mallocArenaMax: string;
    warmupS: number;
    durationS: number;
    scaleSizes: number[];
    fanOutClients: number[];
  };
  machine: Record<string, string | number>;
  /** The Node.js the services and the ceiling ran on (e.g. v24.22.3). */
  runtime: string;
  /**
   * The same backend and a ceiling on a second Node.js (the machine's own, while it differs from
   * the images'): workloads on `secondRuntimePath(major)`, each ratio to this ceiling.
   */
  secondRuntime?: {
    node: string;
    major: number;
    ceiling: { rps: number; runs: PeakResult[]; cpuUs: Record<string, number> };
  };
  /** Milliseconds from process start to the first 200 of /readyz. */
  startupMs: Record<string, number>;
  ceiling: {
    rps: number;
    /** The ceiling measured before and after the workloads; `rps` is their mean. */
    runs: PeakResult[];
    /** CPU microseconds per request of the ceiling server (first run). */
    cpuUs: Record<string, number>;
    halfPeak: FixedRateResult;
  };
  workloads: WorkloadResult[];
  scale: ScaleResult[];
  fanOut: FanOutResult[];
  /** GET and POST through the frontend per tracing mode (bench/tracing-cost.ts); absent in older results. */
  tracing?: TracingCostRow[];
  /** Peak RSS per process (bytes): idle after start, under the workloads, during the scale runs. */
  rss: { idle: Record<string, number>; load: Record<string, number>; scale: Record<string, number> };
  targets: Target[];
}

const MB = 1024 * 1024;
/** Each service's peak RSS under the 50-connection workloads, on the runtime the images ship. */
export const RSS_UNDER_LOAD_MB = 150;
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const ms = (x: number) => `${x.toFixed(x < 10 ? 2 : 1)} ms`;

/** Checks the performance targets (docs/performance.md, Targets) against one run's figures. */
export function evaluateTargets(r: Omit<BenchResults, 'targets'>): Target[] {
  const targets: Target[] = [];
  const find = (workload: WorkloadName, path: PathName) =>
    r.workloads.find((w) => w.workload === workload && w.path === path);
  const ratioTarget = (workload: WorkloadName, path: PathName, min: number) => {
    const w = find(workload, path);
    if (!w) return;
    targets.push({
      name: `${WORKLOAD_LABELS[workload]}, ${pathLabel(path)}: req/s vs ceiling`,
      goal: `>= ${pct(min)}`,
      measured: pct(w.ratio),
      met: w.ratio >= min,
    });
  };
  ratioTarget('get20', 'backend', 0.5);
  ratioTarget('post', 'backend', 0.35);
  ratioTarget('patch', 'backend', 0.35);
  ratioTarget('get20', 'nginx', 0.25);
  for (const guard of GUARDS) {
    for (const workload of guard.workloads) {
      const off = find(workload, 'backend');
      const on = r.workloads.find((w) => w.workload === workload && w.path === guard.path);
      if (!off || !on) continue;
      targets.push({
        name: `${WORKLOAD_LABELS[workload]}, backend: cost of ${guard.label} (req/s)`,
        goal: `<= ${pct(GUARD_BUDGET)}`,
        measured: pct(1 - on.rps / off.rps),
        met: on.rps / off.rps >= 1 - GUARD_BUDGET,
      });
    }
  }
  for (const w of r.workloads) {
    if (!(PATHS as readonly string[]).includes(w.path)) continue;
    targets.push({
      name: `${WORKLOAD_LABELS[w.workload]}, ${pathLabel(w.path)}: p99 at half peak`,
      goal: '< 10 ms',
      measured: ms(w.halfPeak.p99),
      met: w.halfPeak.p99 < 10,
    });
  }
  // The workloads run through backend A and frontend A; the B replicas only serve the fan-out.
  for (const [name, bytes] of Object.entries(r.rss.load)) {
    if (name !== 'backend-a' && name !== 'frontend-a') continue;
    targets.push({
      name: `${name}: peak RSS under load`,
      goal: `<= ${RSS_UNDER_LOAD_MB} MB`,
      measured: `${(bytes / MB).toFixed(1)} MB`,
      met: bytes <= RSS_UNDER_LOAD_MB * MB,
    });
  }
  for (const [name, startup] of Object.entries(r.startupMs)) {
    targets.push({ name: `${name}: ready after start`, goal: '< 500 ms', measured: ms(startup), met: startup < 500 });
  }
  const largest = Math.max(0, ...r.settings.scaleSizes);
  const big = r.scale.find((s) => s.todos === largest && s.path === 'backend');
  if (big) {
    targets.push({
      name: `${largest.toLocaleString('en-US')}-todo list, backend: p50 at half peak`,
      goal: '< 50 ms',
      measured: ms(big.halfPeak.p50),
      met: big.halfPeak.p50 < 50,
    });
  }
  const most = r.fanOut.at(-1);
  if (most) {
    targets.push({
      name: `fan-out to ${most.clients.toLocaleString('en-US')} SSE clients: p99`,
      goal: '< 250 ms',
      measured: ms(most.p99),
      met: most.p99 < 250 && most.received === most.clients,
    });
    for (const [name, bytes] of Object.entries(most.rss)) {
      if (!name.startsWith('frontend')) continue;
      targets.push({
        name: `fan-out to ${most.clients.toLocaleString('en-US')}: ${name} RSS`,
        goal: '< 200 MB',
        measured: `${(bytes / MB).toFixed(1)} MB`,
        met: bytes < 200 * MB,
      });
    }
  }
  return targets;
}

const num = (x: number, digits = 0) =>
  Number.isFinite(x)
    ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '-';
const lat = (x: number) => (Number.isFinite(x) ? (x < 10 ? x.toFixed(2) : x.toFixed(1)) : '-');

/** A plain-text table; the first `left` columns are left-aligned, the others (numbers) right-aligned. */
function table(head: string[], rows: string[][], left = 1): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < left ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The run as plain-text tables (stdout), also used in docs/performance.md. */
export function formatTables(r: BenchResults): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(
    `tasktier benchmark (${r.mode}) ${r.startedAt}, ${num(r.durationS)} s`,
    `machine: ${m.cpus} x ${m.cpuModel}, ${m.memoryGb} GB, ${m.os}; redis ${m.redis}, nginx ${m.nginx}, wrk ${m.wrk}, load avg at start ${m.loadAvg}`,
    `runtime: services and ceiling on Node ${r.runtime}${r.secondRuntime ? `; Node ${r.secondRuntime.node} columns: the same backend and ceiling on it` : ''}`,
    `load: peak runs wrk -t1 (its own process), ${r.settings.connections} connections, ${r.settings.warmupS} s warm-up (discarded), ${r.settings.durationS} s measured; half-peak runs open loop at a fixed rate`,
    '',
    `ceiling (bare node:http, fixed JSON): ${num(r.ceiling.rps)} req/s (runs: ${r.ceiling.runs.map((c) => num(c.rps)).join(', ')}), half-peak p99 ${lat(r.ceiling.halfPeak.p99)} ms${r.secondRuntime ? `; on Node ${r.secondRuntime.node}: ${num(r.secondRuntime.ceiling.rps)} req/s` : ''}`,
    `ceiling CPU per request: ${num(cpuTotal(r.ceiling), 1)} us. CPU us/req: CPU time per request summed over the processes on the path (the figure that other load on the machine hardly changes)`,
    'other CPU: cores used by other processes on the machine during a peak run (noise; 0 on a quiet machine)',
    '',
  );
  const second = r.secondRuntime;
  const secondPath = second ? secondRuntimePath(second.major) : undefined;
  const onSecond = (w: WorkloadResult) =>
    w.path === 'backend' && secondPath
      ? r.workloads.find((x) => x.workload === w.workload && x.path === secondPath)
      : undefined;
  const secondHead = second ? [`node ${second.major} req/s`, `node ${second.major} ceiling`] : [];
  out.push(
    table(
      [
        'workload',
        'path',
        'req/s',
        'ceiling',
        'p50 ms',
        'p99 ms',
        'errors',
        'half-peak req/s',
        'p50 ms',
        'p99 ms',
        'errors',
        'CPU us/req',
        'other CPU',
        ...secondHead,
      ],
      r.workloads
        .filter((w) => w.path !== secondPath)
        .map((w) => {
          const s2 = onSecond(w);
          return [
            WORKLOAD_LABELS[w.workload],
            pathLabel(w.path),
            num(w.rps),
            pct(w.ratio),
            lat(w.p50),
            lat(w.p99),
            num(w.errors),
            num(w.halfPeak.rps),
            lat(w.halfPeak.p50),
            lat(w.halfPeak.p99),
            num(w.halfPeak.errors),
            num(cpuTotal(w)),
            num(w.otherCpu ?? 0, 2),
            ...(second ? (s2 ? [num(s2.rps), pct(s2.ratio)] : ['-', '-']) : []),
          ];
        }),
      2,
    ),
    '',
  );
  for (const guard of GUARDS) {
    const cost = guard.workloads.flatMap((workload) => {
      const off = r.workloads.find((w) => w.workload === workload && w.path === 'backend');
      const on = r.workloads.find((w) => w.workload === workload && w.path === guard.path);
      if (!off || !on) return [];
      return [
        `${WORKLOAD_LABELS[workload]} ${num(off.rps)} -> ${num(on.rps)} req/s (${pct(on.rps / off.rps)}), CPU ${num(cpuTotal(off))} -> ${num(cpuTotal(on))} us/req`,
      ];
    });
    if (cost.length > 0) out.push(`cost of ${guard.label} (backend, off -> on): ${cost.join('; ')}`);
  }
  out.push('');
  out.push(
    table(
      [
        'GET list of',
        'path',
        'body KB',
        'req/s',
        'ceiling',
        'p50 ms',
        'p99 ms',
        'errors',
        'half-peak p50',
        'p99 ms',
        'CPU us/req',
      ],
      r.scale.map((s) => [
        `${num(s.todos)} todos`,
        pathLabel(s.path),
        num(s.bodyBytes / 1024, 1),
        num(s.rps),
        pct(s.ratio),
        lat(s.p50),
        lat(s.p99),
        num(s.errors + s.halfPeak.errors),
        lat(s.halfPeak.p50),
        lat(s.halfPeak.p99),
        num(cpuTotal(s)),
      ]),
      2,
    ),
    '',
  );
  const fanNames = [...new Set(r.fanOut.flatMap((f) => Object.keys(f.rss)))];
  out.push(
    table(
      ['SSE fan-out', 'connect s', 'p50 ms', 'p99 ms', 'max ms', 'received', ...fanNames.map((n) => `${n} MB`)],
      r.fanOut.map((f) => [
        `${num(f.clients)} clients`,
        num(f.connectMs / 1000, 1),
        lat(f.p50),
        lat(f.p99),
        lat(f.max),
        num(f.received),
        ...fanNames.map((n) => num((f.rss[n] ?? 0) / MB, 1)),
      ]),
    ),
    '',
  );
  const names = Object.keys(r.rss.load);
  out.push(
    table(
      ['process', 'ready ms', 'RSS idle MB', 'RSS load MB', 'RSS scale MB'],
      names.map((n) => [
        n,
        r.startupMs[n] === undefined ? '-' : lat(r.startupMs[n]),
        num((r.rss.idle[n] ?? 0) / MB, 1),
        num((r.rss.load[n] ?? 0) / MB, 1),
        num((r.rss.scale[n] ?? 0) / MB, 1),
      ]),
    ),
    '',
  );
  out.push(
    table(
      ['target', 'goal', 'measured', 'met'],
      r.targets.map((t) => [t.name, t.goal, t.measured, t.met ? 'yes' : 'NO']),
      2,
    ),
  );
  return out.join('\n');
}
