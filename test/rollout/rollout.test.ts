import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { getFreePort, repoRoot, waitFor } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Cluster, type Release, type Replica } from './lib/cluster.ts';
import { between, type RequestRecord } from './lib/load.ts';
import {
  addTodo,
  createList,
  json,
  loadFor,
  measureCapacity,
  report,
  type ScenarioResult,
  seedReadLists,
  underLoad,
} from './lib/scenario.ts';

/*
 * Zero-downtime rollouts, proven under load. This machine stands in for the cluster:
 * 2 backend and 2 frontend replicas are processes of the production builds, Redis is a real
 * redis-server, nginx is the Ingress (configured like ingress-nginx, see lib/nginx.ts) and the
 * harness plays the kubelet, the endpoints controller and the Deployment controller
 * (lib/cluster.ts). Load: lib/load.ts at half of the capacity measured first, plus live-sync
 * (SSE) clients. Every scenario prints its figures.
 */

const V1: Release = { version: '1.0.0' };
const V2: Release = { version: '2.0.0' };
const GREEN: Release = { version: '3.0.0-green' };

let cluster: Cluster;
let readLists: string[];
let rate: number;
let capacity: number;

beforeAll(async () => {
  for (const tier of ['backend', 'frontend']) {
    const script = join(repoRoot, 'services', tier, 'dist', 'server.js');
    if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first`);
  }
  cluster = await Cluster.start();
  await cluster.startSet('blue', V1);
  readLists = await seedReadLists(cluster.origin, 4, 20);
  capacity = await measureCapacity(cluster, readLists);
  rate = Math.round(capacity / 2);
  console.log(
    `[rollout] capacity of the request mix through nginx -> frontend -> backend -> Redis: ${capacity.toFixed(0)} req/s; load: ${rate} req/s (half)`,
  );
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
});

const slotOf = (record: RequestRecord) => cluster.replicaAt(record.upstream)?.slot;
const failed = (records: RequestRecord[]) => records.map((record) => `${record.route}: ${record.error}`);

/** What "zero downtime" means here: no failed request, no lost write, no resend that a reload does not explain. */
function expectZeroDowntime(result: ScenarioResult): void {
  expect(failed(result.failures)).toEqual([]);
  expect(result.lostWrites).toEqual([]);
  expect(failed(result.resentAwayFromReload)).toEqual([]);
  expect(result.sse.flatMap((client) => [...client.connectFailures, ...client.refetchFailures])).toEqual([]);
}

describe('rollouts under load', () => {
  test('1. rolling update of every backend and frontend replica: no failed request, no lost write, live sync caught up', async () => {
    const old = [...cluster.select('backend'), ...cluster.select('frontend')];
    let minServing = Number.POSITIVE_INFINITY;
    const watch = setInterval(() => {
      const routes = cluster.routes();
      minServing = Math.min(
        minServing,
        routes.ingress.length,
        routes.backendServices.get(cluster.servicePorts.blue)!.length,
      );
    }, 20);
    const results: { tier: string; ms: number; ok: boolean }[] = [];
    const result = await underLoad(
      cluster,
      '1. rolling update (maxSurge 1, maxUnavailable 0)',
      rate,
      readLists,
      async () => {
        // `kubectl apply` with new tags: both Deployments roll at the same time, each one replica at a time.
        const [backend, frontend] = await Promise.all([
          cluster.rollingUpdate('backend', 'blue', V2),
          cluster.rollingUpdate('frontend', 'blue', V2),
        ]);
        results.push({ tier: 'backend', ...backend }, { tier: 'frontend', ...frontend });
        await cluster.settled();
      },
    );
    clearInterval(watch);
    const reconnected = result.sse.filter((client) => client.connects > 1).length;
    console.log(
      report(result, {
        'rollout took': results.map((r) => `${r.tier} ${(r.ms / 1000).toFixed(1)} s`).join(', '),
        'fewest replicas in the endpoints at any time': minServing,
        'old replicas exit codes': old.map((replica) => replica.exits.at(-1)?.code).join(', '),
      }),
    );

    expect(results.every((r) => r.ok)).toBe(true);
    expectZeroDowntime(result);
    expect(result.acknowledged).toBeGreaterThan(100);
    // Every replica was replaced: the old ones drained and exited 0 on SIGTERM, never killed.
    for (const replica of old) {
      expect(replica.signals).toEqual(['SIGTERM']);
      expect(replica.exits.at(-1)).toEqual({ code: 0, signal: null });
    }
    expect(cluster.select('backend').map((r) => r.release.version)).toEqual(['2.0.0', '2.0.0']);
    expect(cluster.select('frontend').map((r) => r.release.version)).toEqual(['2.0.0', '2.0.0']);
    // The new replica was in the endpoints before an old one left: never fewer than 2 serving.
    expect(minServing).toBeGreaterThanOrEqual(2);
    // Every stream was ended by a drain and every client reconnected and caught up (underLoad checked).
    expect(reconnected).toBe(result.sse.length);
  }, 180_000);

  test('2. bad releases (never ready; crashes at start): stopped at the first new replica, rolled back, no failed request', async () => {
    const oldBackends = cluster.select('backend');
    const oldFrontends = cluster.select('frontend');
    const pids = [...oldBackends, ...oldFrontends].map((replica) => replica.pid);
    // Never ready: the new backend cannot reach Redis (a wrong address in the release), so /readyz stays 503.
    const neverReady: Release = {
      version: '2.1.0-never-ready',
      env: { backend: { REDIS_URL: `redis://127.0.0.1:${await getFreePort()}` } },
    };
    // Crashes at start: the new frontend's configuration is invalid, it exits 1 at once, every restart.
    const crashes: Release = { version: '2.1.0-crashes', env: { frontend: { BACKEND_URL: 'not a url' } } };
    const outcomes: { release: string; ok: boolean; reason?: string; created: Replica[] }[] = [];
    const result = await underLoad(cluster, '2. bad releases rolled back', rate, readLists, async () => {
      outcomes.push({ release: neverReady.version, ...(await cluster.rollingUpdate('backend', 'blue', neverReady)) });
      outcomes.push({ release: crashes.version, ...(await cluster.rollingUpdate('frontend', 'blue', crashes)) });
      await cluster.settled();
    });
    console.log(
      report(result, {
        outcomes: outcomes
          .map((o) => `${o.release}: ${o.ok ? 'rolled out' : 'rolled back'} after ${o.created.length} new replica(s)`)
          .join('; '),
        reasons: outcomes.map((o) => o.reason ?? '-').join(' | '),
      }),
    );

    for (const outcome of outcomes) {
      expect(outcome.ok).toBe(false);
      // The rollout stopped at its first new replica, which never received traffic and is gone.
      expect(outcome.created).toHaveLength(1);
      expect(outcome.created[0]!.everRouted).toBe(false);
      expect(outcome.created[0]!.alive).toBe(false);
    }
    expect(outcomes[0]!.created[0]!.exits.some((exit) => exit.code === 0)).toBe(true); // it ran until deleted
    expect(outcomes[1]!.created[0]!.restarts).toBeGreaterThanOrEqual(1); // crash loop
    // The old replicas served throughout: same processes, never signalled.
    expect([...cluster.select('backend'), ...cluster.select('frontend')].map((replica) => replica.pid)).toEqual(pids);
    for (const replica of [...oldBackends, ...oldFrontends]) expect(replica.signals).toEqual([]);
    expectZeroDowntime(result);
  }, 180_000);

  test('3. blue-green: second set smoke-tested on its own port, switched in one reload and back, no failed request', async () => {
    let green: Replica[] = [];
    const marks = {
      switched: 0,
      backStart: 0,
      back: 0,
      switchMs: 0,
      backMs: 0,
      reloadsPerSwitch: [] as number[],
      smoke: '',
    };
    const result = await underLoad(cluster, '3. blue-green switch and switch back', rate, readLists, async () => {
      green = await cluster.startSet('green', GREEN);
      // Smoke test through the preview entry point only: the new version answers, reads and writes.
      const version = await json<{ version: string }>(await fetch(`${cluster.previewOrigin}/version`));
      expect(version.version).toBe(GREEN.version);
      const list = await createList(cluster.previewOrigin);
      const todo = await addTodo(cluster.previewOrigin, list, 'smoke test');
      const read = await fetch(`${cluster.previewOrigin}/api/lists/${list}/todos/${todo}`);
      expect(read.status).toBe(200);
      expect(cluster.replicaAt(read.headers.get('x-upstream') ?? undefined)?.slot).toBe('green');
      await read.arrayBuffer();
      marks.smoke = `preview answered version ${version.version}, created list and todo, read back from a green frontend`;

      let reloads = cluster.nginx.reloads();
      marks.switchMs = await cluster.switchTo('green');
      marks.switched = performance.now();
      marks.reloadsPerSwitch.push(cluster.nginx.reloads() - reloads);
      await loadFor(4000); // traffic on green for a while
      reloads = cluster.nginx.reloads();
      marks.backStart = performance.now();
      marks.backMs = await cluster.switchTo('blue');
      marks.back = performance.now();
      marks.reloadsPerSwitch.push(cluster.nginx.reloads() - reloads);
      await loadFor(4000); // traffic back on blue
      await Promise.all(green.map((replica) => replica.terminate())); // retire the idle set
      await cluster.settled();
    });
    // Requests sent after a switch took effect (and, for green, over before the switch back began).
    const onGreen = between(result.records, marks.switched, marks.backStart).filter((r) => r.end < marks.backStart);
    const afterBack = between(result.records, marks.back, result.phases.end);
    const wrongSlot = (records: RequestRecord[], slot: string) => records.filter((r) => r.ok && slotOf(r) !== slot);
    console.log(
      report(result, {
        smoke: marks.smoke,
        'switch to green': `${marks.switchMs.toFixed(0)} ms (one nginx reload), then ${onGreen.length} requests, all answered by green: ${wrongSlot(onGreen, 'green').length === 0}`,
        'switch back to blue': `${marks.backMs.toFixed(0)} ms (one nginx reload), then ${afterBack.length} requests, all answered by blue: ${wrongSlot(afterBack, 'blue').length === 0}`,
      }),
    );

    expect(marks.reloadsPerSwitch).toEqual([1, 1]);
    expect(onGreen.length).toBeGreaterThan(100);
    expect(wrongSlot(onGreen, 'green')).toEqual([]);
    expect(wrongSlot(afterBack, 'blue')).toEqual([]);
    expectZeroDowntime(result);
    for (const replica of green) expect(replica.exits.at(-1)).toEqual({ code: 0, signal: null });
  }, 180_000);

  test('4. a replica killed with SIGKILL: failures only around the crash, restarted, service continues', async () => {
    const crashes: { tier: string; killedAt: number; recoveredAt: number; restartMs: number }[] = [];
    const result = await underLoad(
      cluster,
      '4. SIGKILL of a backend, then of a frontend replica',
      rate,
      readLists,
      async () => {
        for (const tier of ['backend', 'frontend'] as const) {
          const victim = cluster.select(tier)[0]!;
          const killedAt = performance.now();
          victim.kill();
          // The kubelet restarts it; it is back when ready again and in nginx's upstreams.
          await waitFor(`${victim.name} to be restarted and serving`, () => victim.restarts > 0 && victim.ready, {
            timeoutMs: 30_000,
          });
          await cluster.settled();
          const recoveredAt = performance.now();
          crashes.push({ tier, killedAt, recoveredAt, restartMs: recoveredAt - killedAt });
          await loadFor(3000); // service after recovery, before the next crash
        }
      },
    );
    const windows = crashes.map((crash) => ({
      ...crash,
      failed: result.failures.filter((f) => f.end >= crash.killedAt && f.start <= crash.recoveredAt),
      requests: result.records.filter((r) => r.end >= crash.killedAt && r.start <= crash.recoveredAt).length,
    }));
    const outside = result.failures.filter((f) => !windows.some((w) => w.failed.includes(f)));
    console.log(
      report(
        result,
        Object.fromEntries(
          windows.map((w) => [
            `SIGKILL ${w.tier}`,
            `${w.failed.length} failed of ${w.requests} requests between the kill and recovery (${(w.restartMs / 1000).toFixed(1)} s: restart, ready, back in nginx); ${w.failed.filter((f) => f.start < w.killedAt).length} in flight at the kill, ${w.failed.filter((f) => f.start >= w.killedAt).length} sent after it, the last ${Math.max(0, ...w.failed.map((f) => f.start - w.killedAt)).toFixed(0)} ms after it`,
          ]),
        ),
      ),
    );

    // Bounded: failures only between a kill and the replica's recovery; none before, between or after.
    expect(failed(outside)).toEqual([]);
    for (const w of windows) expect(w.failed.length).toBeLessThan(w.requests);
    // Recovered: the load after the last recovery had no failures, and no acknowledged write was lost.
    const last = crashes.at(-1)!;
    const afterRecovery = result.records.filter((r) => r.start > last.recoveredAt);
    expect(afterRecovery.length).toBeGreaterThan(100);
    expect(failed(afterRecovery.filter((r) => !r.ok))).toEqual([]);
    expect(result.lostWrites).toEqual([]);
    expect(failed(result.resentAwayFromReload)).toEqual([]);
  }, 180_000);
});
