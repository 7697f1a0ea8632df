/**
 * Redis Cluster scaling: the backend (one production build) against a Redis Cluster of 1 primary
 * and of 3 primaries, then 3 primaries with a replica each without and with WAIT for a replica
 * (REDIS_CLUSTER_WAIT_REPLICAS=1): req/s of GET 20 todos and of POST, and the CPU all Redis
 * processes used (in cores). Self-contained (its own closed-loop client on undici, CPU from
 * /proc): `npm run bench -- --cluster-scaling [--duration S] [--connections N]`.
 */
import { readFileSync } from 'node:fs';
import {
  getFreePort,
  type RedisCluster,
  type Service,
  serviceScriptPath,
  startRedisCluster,
  startService,
} from '@tasktier/testkit';
import { Pool } from 'undici';

const HELP = `Usage: npm run bench -- --cluster-scaling [--duration S] [--connections N]

The backend against a real Redis Cluster (redis-server --cluster-enabled) of 1 primary, of 3
primaries, and of 3 primaries with one replica each, without and with REDIS_CLUSTER_WAIT_REPLICAS=1.
Each: GET 20 todos and POST a todo, closed loop from N connections (default 32) for S seconds
(default 10) each, on 127.0.0.1. Prints req/s, p50/p99 latency, errors and the CPU the Redis
processes used (cores: all of them, and the busiest one). On a machine with few cores the backend
itself is the first limit: compare the Redis CPU per request, not only req/s.`;

interface Scenario {
  name: string;
  primaries: number;
  replicas: number;
  waitReplicas: number;
}

const SCENARIOS: Scenario[] = [
  { name: '1 primary', primaries: 1, replicas: 0, waitReplicas: 0 },
  { name: '3 primaries', primaries: 3, replicas: 0, waitReplicas: 0 },
  { name: '3 primaries + replicas', primaries: 3, replicas: 1, waitReplicas: 0 },
  { name: '3 primaries + replicas, WAIT 1', primaries: 3, replicas: 1, waitReplicas: 1 },
];

const TICKS_PER_S = 100;

/** CPU seconds (user + system) a process used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/** Closed loop: `connections` requests in flight, each followed by the next, for `seconds`. */
async function closedLoop(
  origin: string,
  next: () => { method: 'GET' | 'POST'; path: string; body?: string },
  connections: number,
  seconds: number,
): Promise<Load> {
  const pool = new Pool(origin, { connections, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const request = next();
      const started = performance.now();
      try {
        const response = await pool.request({
          method: request.method,
          path: request.path,
          ...(request.body ? { body: request.body, headers: { 'content-type': 'application/json' } } : {}),
        });
        await response.body.dump();
        if (response.statusCode >= 400) errors++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - started);
    }
  };
  const began = performance.now();
  await Promise.all(Array.from({ length: connections }, worker));
  const elapsed = (performance.now() - began) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return { rps: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), errors };
}

async function measure(scenario: Scenario, seconds: number, connections: number): Promise<string[]> {
  let cluster: RedisCluster | undefined;
  let backend: Service | undefined;
  try {
    cluster = await startRedisCluster({
      primaries: scenario.primaries,
      replicasPerPrimary: scenario.replicas,
      args: ['--repl-diskless-sync-delay', '0'],
    });
    const port = await getFreePort();
    backend = await startService({
      name: 'backend',
      script: serviceScriptPath('backend'),
      env: {
        PORT: String(port),
        HOST: '127.0.0.1',
        METRICS_PORT: String(await getFreePort()),
        REDIS_CLUSTER_NODES: cluster.seeds,
        REDIS_CLUSTER_WAIT_REPLICAS: String(scenario.waitReplicas),
        RATE_LIMITS: 'off',
        LOG_LEVEL: 'warn',
        MAX_TODOS_PER_LIST: '1000000',
        MAX_LIST_BYTES: String(1024 * 1024 * 1024),
      },
      readyUrl: `http://127.0.0.1:${port}/readyz`,
    });
    const origin = `http://127.0.0.1:${port}`;
    // Lists spread over the slots (their ids are random), each with 20 todos to read.
    const lists: string[] = [];
    for (let i = 0; i < 60; i++) {
      const created = (await (await fetch(`${origin}/api/lists`, { method: 'POST' })).json()) as { id: string };
      lists.push(created.id);
      for (let t = 0; t < 20; t++) {
        await fetch(`${origin}/api/lists/${created.id}/todos`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ title: `todo ${t}` }),
        });
      }
    }
    const pick = () => lists[Math.floor(Math.random() * lists.length)] as string;
    const pids = cluster.nodes.map((node) => node.server.proc().pid);
    const lines: string[] = [];
    for (const workload of ['GET 20 todos', 'POST'] as const) {
      const before = pids.map(cpuSeconds);
      const load = await closedLoop(
        origin,
        () =>
          workload === 'POST'
            ? { method: 'POST', path: `/api/lists/${pick()}/todos`, body: '{"title":"a todo from the benchmark"}' }
            : { method: 'GET', path: `/api/lists/${pick()}/todos` },
        connections,
        seconds,
      );
      const used = pids.map((pid, i) => (cpuSeconds(pid) - (before[i] ?? 0)) / seconds);
      const total = used.reduce((a, b) => a + b, 0);
      lines.push(
        [
          scenario.name.padEnd(32),
          workload.padEnd(13),
          `${Math.round(load.rps)} req/s`.padStart(12),
          `p50 ${load.p50.toFixed(1)} ms`.padStart(14),
          `p99 ${load.p99.toFixed(1)} ms`.padStart(14),
          `errors ${load.errors}`.padStart(10),
          `Redis CPU ${total.toFixed(2)} cores (busiest node ${Math.max(...used).toFixed(2)})`,
          `${((total * 1e6) / Math.max(1, load.rps)).toFixed(1)} us Redis CPU/request`,
        ].join('  '),
      );
      process.stdout.write(`cluster-scaling: ${lines.at(-1)}\n`);
    }
    return lines;
  } finally {
    await backend?.stop();
    await cluster?.stop();
  }
}

/** Runs the scenarios; resolves to the exit code. */
export async function runClusterScaling(args: string[]): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const value = (flag: string, fallback: number): number => {
    const at = args.indexOf(flag);
    if (at === -1) return fallback;
    const parsed = Number(args[at + 1]);
    if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`${flag} takes a whole number, got ${args[at + 1]}`);
    return parsed;
  };
  const seconds = value('--duration', args.includes('--quick') ? 3 : 10);
  const connections = value('--connections', 32);
  process.stdout.write(
    `cluster-scaling: ${SCENARIOS.length} clusters x 2 workloads x ${seconds} s, ${connections} connections\n`,
  );
  const all: string[] = [];
  for (const scenario of SCENARIOS) all.push(...(await measure(scenario, seconds, connections)));
  process.stdout.write(`\nRedis Cluster scaling (backend -> cluster, one backend process):\n${all.join('\n')}\n`);
  return 0;
}
