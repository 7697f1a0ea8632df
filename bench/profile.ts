/**
 * `npm run bench:profile`: CPU profile of one service under one benchmark workload. Starts
 * redis-server, the backend and (for --target frontend) the frontend, the target with
 * `node --cpu-prof` on the Node.js the images ship, loads it with wrk, stops it, and prints where its CPU time went:
 * by function and by source package (mapped through the bundle's source map). The .cpuprofile
 * opens as a flame chart in Chrome DevTools (Performance tab) or speedscope.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import {
  getFreePort,
  killAll,
  nodeRuntime,
  type Proc,
  repoRoot,
  serviceScriptPath,
  startRedis,
  startService,
} from '@tasktier/testkit';
import { imageRuntimeEnv } from './lib/image-settings.ts';
import { ApiClient, type NextRequest } from './lib/load.ts';
import { benchProcess, raiseFileLimit } from './lib/resources.ts';
import { findWrk, writeWorkloadScript, wrkPeak } from './lib/wrk.ts';

const HELP = `Usage: npm run bench:profile [-- options]

CPU-profiles one service (node --cpu-prof, on Node 24 with the images' NODE_OPTIONS) while wrk
loads it on 127.0.0.1 (as npm run bench does), then prints
the functions and source packages that used the most CPU. Writes the .cpuprofile (a flame chart in
Chrome DevTools or speedscope) to the output directory.

Options:
  --target NAME      backend (default) or frontend (the frontend in front of a backend)
  --workload NAME    get20 (default), post, patch or mix (80/20 GET/PATCH)
  --todos N          todos in the list the GET workloads read (default 20)
  --duration S       seconds of load (default 10)
  --connections N    load generator connections (default 50)
  --runtime N        the Node major the services run on (default 24, the images')
  --out DIR          where the .cpuprofile goes (default bench/results/profiles)
  -h, --help         show this help`;

function fail(message: string, code = 1): never {
  process.stderr.write(`bench:profile: ${message}\n`);
  killAll();
  process.exit(code);
}

let values: {
  target?: string;
  workload?: string;
  todos?: string;
  duration?: string;
  connections?: string;
  runtime?: string;
  out?: string;
  help?: boolean;
};
try {
  values = parseArgs({
    options: {
      target: { type: 'string', default: 'backend' },
      workload: { type: 'string', default: 'get20' },
      todos: { type: 'string', default: '20' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      runtime: { type: 'string', default: '24' },
      out: { type: 'string', default: join(repoRoot, 'bench/results/profiles') },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }).values;
} catch (error) {
  fail(`${error instanceof Error ? error.message : String(error)} (see --help)`, 2);
}
if (values.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}
const target = values.target as string;
const workloadName = values.workload as string;
if (target !== 'backend' && target !== 'frontend') fail(`--target must be backend or frontend, got "${target}"`, 2);
if (!['get20', 'post', 'patch', 'mix'].includes(workloadName)) {
  fail(`--workload must be get20, post, patch or mix, got "${workloadName}"`, 2);
}
const count = (name: string, value: string | undefined) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, got "${value}"`, 2);
  return n;
};
const todos = count('todos', values.todos);
const durationS = count('duration', values.duration);
const connections = count('connections', values.connections);
const runtimeMajor = count('runtime', values.runtime);
const wrk = findWrk() ?? fail('wrk is not installed: apt-get install -y wrk');
const outDir = values.out as string;

raiseFileLimit();
const workDir = mkdtempSync(join(tmpdir(), 'tasktier-profile-'));
const procs: Proc[] = [];
const step = (message: string) => process.stderr.write(`bench:profile: ${message}\n`);

try {
  const backendScript = serviceScriptPath('backend');
  const frontendScript = serviceScriptPath('frontend');
  const profileDir = mkdtempSync(join(workDir, 'prof-'));
  const profiled = ['--cpu-prof', '--cpu-prof-dir', profileDir];
  const nodeBinary =
    Number(process.versions.node.split('.')[0]) === runtimeMajor
      ? process.execPath
      : (await nodeRuntime(runtimeMajor, { log: step })).path;
  const common = {
    ...imageRuntimeEnv(),
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    DRAIN_DELAY_MS: '0',
    METRICS_PORT: '0',
    // All the load comes from one address: the per-client limits would refuse it.
    RATE_LIMITS: 'off',
  };

  /** A service's bundle on `port` (under the profiler if `profile`), ready when /readyz answers 200. */
  const service = (name: string, script: string, port: number, env: Record<string, string>, profile: boolean) =>
    startService({
      name,
      node: nodeBinary,
      script,
      nodeArgs: profile ? profiled : [],
      env: { ...common, ...env, PORT: String(port) },
      readyUrl: `http://127.0.0.1:${port}/readyz`,
      readyIntervalMs: 2,
      ...benchProcess(workDir, name),
    }).then((started) => started.proc);

  step('starting redis-server and the services');
  mkdirSync(join(workDir, 'redis'));
  const redis = await startRedis({ dir: join(workDir, 'redis'), ...benchProcess(workDir, 'redis') });
  procs.push(redis.proc());
  const backendPort = await getFreePort();
  const backend = await service('backend', backendScript, backendPort, { REDIS_URL: redis.url }, target === 'backend');
  procs.push(backend);
  let origin = `http://127.0.0.1:${backendPort}`;
  let profiledProc = backend;
  if (target === 'frontend') {
    const frontendPort = await getFreePort();
    profiledProc = await service('frontend', frontendScript, frontendPort, { BACKEND_URL: origin }, true);
    procs.push(profiledProc);
    origin = `http://127.0.0.1:${frontendPort}`;
  }

  const api = new ApiClient(`http://127.0.0.1:${backendPort}`);
  const listId = await api.createList();
  const ids = await api.addTodos(listId, todos);
  const postLists: string[] = [];
  for (let i = 0; i < 64; i++) postLists.push(await api.createList());
  await api.close();
  let n = 0;
  const patch = (): ReturnType<NextRequest> => ({
    method: 'PATCH',
    path: `/api/lists/${listId}/todos/${ids[n % ids.length]}`,
    body: `{"completed":${n % 2 === 0}}`,
  });
  const get = (): ReturnType<NextRequest> => ({ method: 'GET', path: `/api/lists/${listId}/todos` });
  const workloads: Record<string, NextRequest> = {
    get20: get,
    patch: () => {
      n++;
      return patch();
    },
    post: () => ({
      method: 'POST',
      path: `/api/lists/${postLists[n++ % postLists.length]}/todos`,
      body: '{"title":"a profiled todo"}',
    }),
    mix: () => (n++ % 5 === 4 ? patch() : get()),
  };
  const next = workloads[workloadName] as NextRequest;

  step(`${workloadName} on the ${target} for ${durationS} s (${connections} connections)`);
  const wrkScript = writeWorkloadScript(workDir, workloadName, origin, next);
  const result = await wrkPeak(origin, wrkScript, { wrk, dir: workDir, connections, durationS });
  step(
    `${Math.round(result.rps)} req/s, p99 ${result.p99.toFixed(2)} ms, ${result.errors} errors (slower than usual: profiling)`,
  );

  await profiledProc.stop();
  for (const proc of procs.reverse()) await proc.stop();

  const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) fail('no .cpuprofile was written');
  mkdirSync(outDir, { recursive: true });
  const outFile = join(
    outDir,
    `${target}-${workloadName}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`,
  );
  const text = readFileSync(join(profileDir, file), 'utf8');
  await import('node:fs/promises').then((fs) => fs.writeFile(outFile, text));
  const script = target === 'backend' ? backendScript : frontendScript;
  process.stdout.write(summarize(JSON.parse(text) as CpuProfile, script));
  step(`profile: ${relative(process.cwd(), outFile)} (open in Chrome DevTools > Performance, or speedscope)`);
} catch (error) {
  fail(`${error instanceof Error ? error.message : String(error)} (logs in ${workDir})`);
}

interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
    hitCount?: number;
  }>;
  samples: number[];
  timeDeltas: number[];
}

/** Self time by function and by original source package (through the bundle's source map). */
function summarize(profile: CpuProfile, script: string): string {
  let map: SourceMap | undefined;
  try {
    map = new SourceMap(JSON.parse(readFileSync(`${script}.map`, 'utf8')));
  } catch {
    map = undefined;
  }
  const total = profile.nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0) || 1;
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    const { functionName, url, lineNumber, columnNumber } = node.callFrame;
    let where = url ? url.replace(/^file:\/\//, '') : '';
    let pkg = functionName === '(garbage collector)' ? '(gc)' : where ? 'node internals' : functionName || '(native)';
    if (map && url.endsWith('/dist/server.js') && lineNumber >= 0) {
      const entry = map.findEntry(lineNumber, columnNumber) as { originalSource?: string; originalLine?: number };
      if (entry.originalSource) {
        const source = entry.originalSource.replace(/^.*?(node_modules\/|services\/|packages\/)/, '$1');
        where = `${source}:${(entry.originalLine ?? 0) + 1}`;
        const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source);
        pkg = modules ? (modules[1] as string) : source.replace(/:\d+$/, '');
      }
    } else if (where.startsWith('node:')) {
      pkg = 'node internals';
    }
    const key = `${functionName || '(anonymous)'}  ${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + hits);
  }
  const top = (entries: Map<string, number>, limit: number) =>
    [...entries]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, hits]) => `${((hits / total) * 100).toFixed(1).padStart(5)}%  ${name}`)
      .join('\n');
  return `Self time by source package (share of the profiled process's samples):\n${top(byPackage, 20)}\n\nSelf time by function:\n${top(byFunction, 30)}\n`;
}
