import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFreePort, waitFor } from '@tasktier/testkit';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { stringify } from 'yaml';
import {
  acquireHeavyLock,
  buildMissingImages,
  containerName,
  podman,
  podmanOk,
  podmanUnavailable,
  probeOnce,
  processStatus,
  run,
  TEST_LABEL,
  toPodmanKube,
} from './lib/podman.ts';
import { parseQuantity } from './lib/quantity.ts';
import { k8sDir, RenderTree } from './lib/render.ts';
import { type Container, envValue, type PodTemplate, podTemplates } from './lib/types.ts';

// The rendered prod pod specs, run for real under `podman kube play` with the images `npm run
// images` builds: security contexts, resource limits, the ConfigMap, the Secrets and the claims in
// force, probes run as the kubelet runs them, the tiers talking through their Service names, Redis
// with the ACL users of a file made by deploy/redis/generate-acl (the backend logged in as
// `backend`), the backup CronJob's pod run once, SIGTERM drains and a Redis restart that keeps its
// data. Needs podman and the images
// (`npm run images`); without them this file says what it skipped and why, unless
// TASKTIER_REQUIRE_ALL_SUITES=1, which turns a skip into a failure. Takes the heavy-suite lock.

const REQUIRED = process.env.TASKTIER_REQUIRE_ALL_SUITES === '1';
const TARGET = 'overlays/prod';

const tree = new RenderTree();
const objects = await tree.render(TARGET);
const templates = podTemplates(objects);
const images = [
  ...new Set(templates.flatMap((template) => template.spec.containers.map((container) => container.image!))),
];
await buildMissingImages(images);
const unavailable = await podmanUnavailable(images);

const log = (message: string): void => {
  process.stdout.write(`[k8s/podman] ${message}\n`);
};

if (unavailable !== undefined) {
  afterAll(() => tree.dispose());
  const reason = `podman kube play of ${TARGET} (${images.join(', ')}): ${unavailable}`;
  if (REQUIRED) {
    test('podman kube play suite (required: TASKTIER_REQUIRE_ALL_SUITES=1)', () => {
      throw new Error(`cannot run ${reason}`);
    });
  } else {
    process.stdout.write(`\n[k8s/podman] SKIPPED ${reason}\n\n`);
    test.skip(`SKIPPED ${reason}`, () => {});
  }
} else {
  describe(`podman kube play ${TARGET}`, () => {
    const runId = `tt-k8s-${randomBytes(4).toString('hex')}`;
    const network = `${runId}-net`;
    // The passwords a user makes with deploy/redis/generate-acl (prod README): the backend's goes
    // into the Secret redis-auth, the ACL file and the backup user's into redis-acl. admin is the
    // on-call user, here for the test's own look inside Redis (CONFIG GET, CLIENT LIST).
    const passwords = {
      backend: randomBytes(24).toString('hex'),
      backup: randomBytes(24).toString('hex'),
      admin: randomBytes(24).toString('hex'),
    };
    const workdir = mkdtempSync(join(tmpdir(), 'tasktier-k8s-podman-'));
    const hostPorts: Record<string, number> = {};
    const readyAfterMs: Record<string, number> = {};
    let releaseLock: (() => void) | undefined;
    let configMapVolumes: string[] = [];
    let configMapArgs: string[] = [];
    let runOnce: ReturnType<typeof toPodmanKube>['runOnce'] = [];

    /** redis-cli inside the Redis container as an ACL user; the password travels in the environment. */
    async function redisCli(user: keyof typeof passwords, ...args: string[]): Promise<string> {
      const result = await run(
        'podman',
        ['exec', '--env', 'REDISCLI_AUTH', 'redis-redis', 'redis-cli', '--user', user, '-h', '127.0.0.1', ...args],
        30_000,
        { REDISCLI_AUTH: passwords[user] },
      );
      if (result.code !== 0) throw new Error(`redis-cli as ${user} failed (${result.code}): ${result.stderr.trim()}`);
      return result.stdout;
    }

    const template = (name: string): PodTemplate =>
      templates.find((candidate) => candidate.owner.metadata.name === name)!;
    const mainContainer = (name: string): Container => template(name).spec.containers[0]!;
    const hostPortOf = (pod: string) => (containerPort: number) => hostPorts[`${pod}/${containerPort}`];
    const appUrl = (pod: 'frontend' | 'backend', path: string): string => {
      const port = mainContainer(pod).ports![0]!.containerPort;
      return `http://127.0.0.1:${hostPorts[`${pod}/${port}`]}${path}`;
    };

    /** Runs `kind` of a container's probes at its period until it passes or `budgetMs` is spent. */
    async function probeUntilPass(
      pod: string,
      kind: 'startupProbe' | 'readinessProbe' | 'livenessProbe',
      budgetMs: number,
    ) {
      const container = mainContainer(pod);
      const probe = container[kind]!;
      let last = 'never ran';
      const started = Date.now();
      try {
        await waitFor(
          `${pod} ${kind}`,
          async () => {
            const result = await probeOnce(probe, pod, container, hostPortOf(pod));
            last = result.detail;
            return result.ok;
          },
          { timeoutMs: budgetMs, intervalMs: (probe.periodSeconds ?? 10) * 1000 },
        );
      } catch (error) {
        const logs = await podman('logs', '--tail', '20', containerName(pod, container.name));
        throw new Error(
          `${pod} ${kind} did not pass within ${budgetMs} ms (last: ${last}): ${String(error)}\n${logs.stdout}${logs.stderr}`,
        );
      }
      return Date.now() - started;
    }

    const startupBudgetMs = (pod: string): number => {
      const probe = mainContainer(pod).startupProbe!;
      return ((probe.initialDelaySeconds ?? 0) + (probe.periodSeconds ?? 10) * (probe.failureThreshold ?? 3)) * 1000;
    };

    async function waitUntilReady(pod: string): Promise<number> {
      const owner = template(pod).owner as unknown as IDeployment;
      // A Deployment's rollout fails after progressDeadlineSeconds; a StatefulSet has the startup budget.
      const budget = owner.kind === 'Deployment' ? owner.spec!.progressDeadlineSeconds! * 1000 : startupBudgetMs(pod);
      const startup = await probeUntilPass(pod, 'startupProbe', startupBudgetMs(pod));
      const ready = await probeUntilPass(pod, 'readinessProbe', budget);
      await probeUntilPass(pod, 'livenessProbe', (mainContainer(pod).livenessProbe!.periodSeconds ?? 10) * 3000);
      return startup + ready;
    }

    async function restartCount(pod: string): Promise<number> {
      return Number((await podmanOk('inspect', '--format', '{{.RestartCount}}', containerName(pod, pod))).trim());
    }

    async function cleanUp(id?: string): Promise<void> {
      const pods = await podman(
        'pod',
        'ls',
        '--filter',
        id ? `label=${TEST_LABEL}=${id}` : `label=${TEST_LABEL}`,
        '--format',
        '{{.Name}}',
      );
      for (const pod of pods.stdout.split('\n').filter(Boolean)) await podman('pod', 'rm', '-f', pod);
      const volumes = (await podman('volume', 'ls', '--format', '{{.Name}}')).stdout.split('\n');
      for (const volume of volumes.filter(
        (name) => name.includes(id ?? 'tt-k8s-') || configMapVolumes.includes(name),
      )) {
        await podman('volume', 'rm', '-f', volume);
      }
      const secret = await podman(
        'secret',
        'inspect',
        'redis-auth',
        '--format',
        `{{index .Spec.Labels "${TEST_LABEL}"}}`,
      );
      if (secret.code === 0 && secret.stdout.trim() !== '') await podman('secret', 'rm', 'redis-auth');
      rmSync(join(workdir, 'secrets'), { recursive: true, force: true });
      const networks = (await podman('network', 'ls', '--format', '{{.Name}}')).stdout.split('\n');
      for (const name of networks.filter((candidate) => candidate.includes(id ?? 'tt-k8s-')))
        await podman('network', 'rm', '-f', name);
    }

    beforeAll(async () => {
      const waited = Date.now();
      releaseLock = await acquireHeavyLock();
      log(`took the heavy-suite lock after ${Date.now() - waited} ms`);
      await cleanUp(); // what a crashed earlier run left

      const clash = await podman('secret', 'inspect', 'redis-auth');
      if (clash.code === 0)
        throw new Error('a podman secret named redis-auth exists that this test did not create; remove it first');
      for (const pod of ['frontend', 'backend', 'redis', 'redis-backup']) {
        if ((await podman('pod', 'exists', pod)).code === 0)
          throw new Error(`a podman pod named ${pod} exists that this test did not create`);
      }

      for (const pod of ['frontend', 'backend']) {
        hostPorts[`${pod}/${mainContainer(pod).ports![0]!.containerPort}`] = await getFreePort();
      }
      const acl = await run(join(k8sDir, '..', 'redis', 'generate-acl'), [], 30_000, {
        REDIS_BACKEND_PASSWORD: passwords.backend,
        REDIS_BACKUP_PASSWORD: passwords.backup,
        REDIS_ADMIN_PASSWORD: passwords.admin,
      });
      if (acl.code !== 0) throw new Error(`generate-acl failed: ${acl.stderr.trim()}`);
      // The Secret redis-acl as `kubectl create secret generic redis-acl --from-file=...` makes it.
      const kube = toPodmanKube(objects, hostPorts, runId, {
        dir: join(workdir, 'secrets'),
        data: { 'redis-acl': { 'users.acl': acl.stdout, 'backup-password': passwords.backup } },
      });
      configMapVolumes = kube.configMaps.map((configMap) => configMap.metadata.name);
      runOnce = kube.runOnce;
      for (const pod of runOnce) {
        log(
          `${pod.metadata.name}: a CronJob's pod, not played with the rest (it runs on its schedule); run once below`,
        );
      }
      writeFileSync(join(workdir, 'pods.yaml'), kube.documents.map((document) => stringify(document)).join('---\n'));
      // One file per ConfigMap: podman 4.3 reads only the first document of a --configmap file.
      configMapArgs = kube.configMaps.flatMap((document) => {
        const file = join(workdir, `configmap-${document.metadata.name}.yaml`);
        writeFileSync(file, stringify(document));
        return ['--configmap', file];
      });
      // The Secret the user creates with `kubectl create secret generic redis-auth` (the backend
      // user's password), as a podman secret (podman 4.3 reads secretKeyRef from a JSON map of
      // base64 values).
      writeFileSync(
        join(workdir, 'redis-auth.json'),
        JSON.stringify({ password: Buffer.from(passwords.backend).toString('base64') }),
        {
          mode: 0o600,
        },
      );
      await podmanOk(
        'secret',
        'create',
        '--label',
        `${TEST_LABEL}=${runId}`,
        'redis-auth',
        join(workdir, 'redis-auth.json'),
      );
      rmSync(join(workdir, 'redis-auth.json'));
      await podmanOk('network', 'create', '--label', `${TEST_LABEL}=${runId}`, network);
      const played = Date.now();
      await podmanOk('kube', 'play', '--network', network, ...configMapArgs, join(workdir, 'pods.yaml'));
      log(
        `podman kube play started ${templates.map((t) => t.ref).join(', ')} in ${Date.now() - played} ms (run ${runId})`,
      );
    }, 45 * 60_000);

    afterAll(async () => {
      try {
        await cleanUp(runId);
      } finally {
        releaseLock?.();
        rmSync(workdir, { recursive: true, force: true });
        tree.dispose();
      }
    }, 120_000);

    test('every pod passes its startup, readiness and liveness probes, run as the kubelet runs them', async () => {
      const results = await Promise.all(
        ['redis', 'backend', 'frontend'].map(async (pod) => [pod, await waitUntilReady(pod)] as const),
      );
      for (const [pod, ms] of results) {
        readyAfterMs[pod] = ms;
        log(
          `${pod}: startup and readiness probes passed ${ms} ms after kube play returned (startup budget ${startupBudgetMs(pod)} ms)`,
        );
        expect(ms).toBeLessThan(startupBudgetMs(pod) + 120_000);
      }
    }, 300_000);

    test('the security contexts are in force (seen from the host kernel)', async () => {
      for (const pod of ['frontend', 'backend', 'redis']) {
        const spec = template(pod).spec;
        const container = mainContainer(pod);
        const name = containerName(pod, container.name);
        const status = await processStatus(name);
        const uid = container.securityContext?.runAsUser ?? spec.securityContext!.runAsUser!;
        const gid = container.securityContext?.runAsGroup ?? spec.securityContext!.runAsGroup!;
        log(
          `${pod}: ${status.comm} uid ${status.uid.join('/')} gid ${status.gid.join('/')} CapEff ${status.capEff} CapBnd ${status.capBnd} NoNewPrivs ${status.noNewPrivs} Seccomp ${status.seccomp}`,
        );
        expect(status.uid).toEqual([uid, uid, uid, uid]);
        expect(status.gid).toEqual([gid, gid, gid, gid]);
        expect(status.capEff).toBe('0000000000000000'); // capabilities: drop ALL
        expect(status.capBnd).toBe('0000000000000000');
        expect(status.noNewPrivs).toBe('1'); // allowPrivilegeEscalation: false
        expect(status.seccomp).toBe('2'); // a seccomp filter (RuntimeDefault)
        const inspect = JSON.parse(await podmanOk('inspect', '--format', '{{json .HostConfig}}', name)) as {
          ReadonlyRootfs: boolean;
          Memory: number;
          NanoCpus: number;
        };
        expect(inspect.ReadonlyRootfs).toBe(true);
        expect(inspect.Memory).toBe(parseQuantity(container.resources!.limits!.memory!));
        expect(inspect.NanoCpus).toBe(parseQuantity(container.resources!.limits!.cpu!) * 1e9);
      }
      // Read-only root, writable /tmp (the emptyDir); for Redis also /data (the claim).
      for (const pod of ['frontend', 'backend']) {
        const write = await podmanOk(
          'exec',
          containerName(pod, pod),
          'node',
          '-e',
          "const fs=require('fs');for(const p of ['/app/probe','/tmp/probe']){try{fs.writeFileSync(p,'x');console.log(p,'ok')}catch(e){console.log(p,e.code)}}",
        );
        expect(write).toContain('/app/probe EROFS');
        expect(write).toContain('/tmp/probe ok');
      }
      const redisWrites = await podmanOk(
        'exec',
        'redis-redis',
        'sh',
        '-c',
        'touch /probe 2>&1; touch /data/probe && echo data-ok; touch /tmp/probe && echo tmp-ok',
      );
      expect(redisWrites).toMatch(/Read-only file system/);
      expect(redisWrites).toContain('data-ok');
      expect(redisWrites).toContain('tmp-ok');
      // ACL mode: Redis loads the users from the Secret's file and holds no password, neither on
      // its command line nor in its environment; a client that does not log in can run nothing.
      const redisProcess = await processStatus('redis-redis');
      const environment = readFileSync(`/proc/${redisProcess.pid}/environ`, 'utf8');
      for (const secret of Object.values(passwords)) {
        expect(redisProcess.cmdline).not.toContain(secret);
        expect(environment).not.toContain(secret);
      }
      expect(environment).not.toMatch(/REDIS_PASSWORD|REDISCLI_AUTH/);
      // (redis-server rewrites its process title, so the loaded users are asked for instead.)
      const users = (await redisCli('admin', 'acl', 'users')).trim().split('\n').sort();
      expect(users).toEqual(['admin', 'backend', 'backup', 'default', 'probe']);
      expect(await redisCli('admin', 'acl', 'getuser', 'default')).toMatch(/^off$/m);
      const anonymous = await podmanOk('exec', 'redis-redis', 'redis-cli', '-h', '127.0.0.1', 'ping');
      expect(anonymous).toMatch(/NOAUTH/);
      // The ACL file as the kubelet mounts it: root's, group fsGroup, mode 0440, read-only.
      const aclFile = await podmanOk(
        'exec',
        'redis-redis',
        'sh',
        '-c',
        "stat -c '%a %u %g' /etc/redis-acl/users.acl; touch /etc/redis-acl/users.acl 2>&1 || true",
      );
      expect(aclFile).toContain('440 0 1000');
      expect(aclFile).toMatch(/Read-only file system/);
    });

    test('the backend logs in as the ACL user backend, which may not run anything else', async () => {
      const created = await fetch(appUrl('frontend', '/api/lists'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(created.status).toBe(201);
      // CLIENT LIST names the user of every connection: the backend's are `backend`, none `default`.
      const clients = (await redisCli('admin', 'client', 'list')).trim().split('\n');
      const users = clients.map((line) => /\buser=(\S+)/.exec(line)?.[1]);
      log(`redis clients by user: ${JSON.stringify(users)}`);
      expect(users).toContain('backend');
      expect(users).not.toContain('default');
      // The users the manifests rely on, refused what they must not do (NOPERM comes back as a reply).
      expect(await redisCli('backend', 'flushall')).toMatch(/NOPERM/);
      expect(await redisCli('backend', 'config', 'get', 'dir')).toMatch(/NOPERM/);
      expect(await redisCli('backend', 'hset', 'other:key', 'a', 'b')).toMatch(/NOPERM/);
      expect(await redisCli('backup', 'hgetall', 'tt:anything')).toMatch(/NOPERM/);
      const probe = await podmanOk(
        'exec',
        'redis-redis',
        'redis-cli',
        '--user',
        'probe',
        '--pass',
        'x',
        '-h',
        '127.0.0.1',
        'dbsize',
      );
      expect(probe).toMatch(/NOPERM/);
    });

    test("the backup CronJob's pod, run once, keeps a verified snapshot, logged in as backup", async () => {
      expect(runOnce.map((pod) => pod.metadata.name)).toEqual(['redis-backup']);
      writeFileSync(join(workdir, 'run-once.yaml'), runOnce.map((document) => stringify(document)).join('---\n'));
      const started = Date.now();
      await podmanOk('kube', 'play', '--network', network, ...configMapArgs, join(workdir, 'run-once.yaml'));
      const name = containerName('redis-backup', 'backup');
      const exit = (await run('podman', ['wait', name], 120_000)).stdout.trim();
      const logs = await podman('logs', name);
      const output = `${logs.stdout}${logs.stderr}`;
      log(`redis-backup: exit ${exit} after ${Date.now() - started} ms:\n${output.trim()}`);
      expect(exit).toBe('0');
      expect(output).toContain("connecting to redis:6379 as user 'backup'");
      expect(output).toMatch(/kept \/backups\/tasktier-\d{8}T\d{6}Z\.rdb/);
    }, 180_000);

    test('Redis runs the ConfigMap configuration', async () => {
      const config = await redisCli(
        'admin',
        'config',
        'get',
        'appendonly',
        'appendfsync',
        'maxmemory',
        'maxmemory-policy',
        'dir',
      );
      // CONFIG GET answers name, value, name, value, ... one per line.
      const lines = config.trim().split('\n');
      const values: Record<string, string> = {};
      for (let index = 0; index + 1 < lines.length; index += 2) values[lines[index]!] = lines[index + 1]!;
      log(`redis config: ${JSON.stringify(values)}`);
      expect(values).toEqual({
        appendonly: 'yes',
        appendfsync: 'everysec',
        maxmemory: String(200 * 1024 * 1024),
        'maxmemory-policy': 'noeviction',
        dir: '/data',
      });
    });

    test('the tiers reach each other through their Service names (frontend -> backend -> redis)', async () => {
      const created = await fetch(appUrl('frontend', '/api/lists'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(created.status).toBe(201);
      const list = (await created.json()) as { id: string };
      const todo = await fetch(appUrl('frontend', `/api/lists/${list.id}/todos`), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ title: 'deployed by podman kube play' }),
      });
      expect(todo.status).toBe(201);
      const todos = (await (await fetch(appUrl('frontend', `/api/lists/${list.id}/todos`))).json()) as {
        title: string;
      }[];
      expect(todos.map((item) => item.title)).toEqual(['deployed by podman kube play']);
    });

    test('memory at rest stays under the HPA target and the limits (figures)', async () => {
      // Some traffic first, so the figures are not those of an untouched process.
      const list = (await (
        await fetch(appUrl('frontend', '/api/lists'), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        })
      ).json()) as { id: string };
      for (let index = 0; index < 100; index++) {
        const response = await fetch(appUrl('frontend', `/api/lists/${list.id}/todos`), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ title: `todo ${index}` }),
        });
        await response.arrayBuffer();
        await (await fetch(appUrl('frontend', `/api/lists/${list.id}/todos`))).arrayBuffer();
      }
      const stats = JSON.parse(await podmanOk('stats', '--no-stream', '--no-reset', '--format', 'json')) as {
        name: string;
        mem_usage: string;
      }[];
      const hpaMemoryTarget = 0.8;
      for (const pod of ['frontend', 'backend', 'redis']) {
        const container = mainContainer(pod);
        const entry = stats.find((candidate) => candidate.name === containerName(pod, container.name));
        expect(entry, `podman stats has no ${pod}`).toBeDefined();
        const used = parseQuantity(entry!.mem_usage.split('/')[0]!.trim().replace(/B$/, '')); // "47.5MB": decimal units;
        const request = parseQuantity(container.resources!.requests!.memory!);
        const limit = parseQuantity(container.resources!.limits!.memory!);
        log(
          `${pod}: memory ${(used / 2 ** 20).toFixed(1)} MiB after 201 requests = ${((100 * used) / request).toFixed(0)}% of its request (${container.resources!.requests!.memory}), ${((100 * used) / limit).toFixed(0)}% of its limit (${container.resources!.limits!.memory})`,
        );
        expect(used).toBeLessThan(limit);
        // At rest a pod must sit well under the HPA's memory target, or the HPA scales out for nothing.
        if (pod !== 'redis') expect(used / request).toBeLessThan(hpaMemoryTarget);
      }
    });

    test.each(['backend', 'frontend'] as const)(
      '%s drains on SIGTERM: readiness fails first, exit 0 within the grace period',
      async (pod) => {
        const container = mainContainer(pod);
        const drainMs = Number(envValue(container, 'DRAIN_DELAY_MS'));
        const graceMs = (template(pod).spec.terminationGracePeriodSeconds ?? 30) * 1000;
        const before = await restartCount(pod);
        const signalled = Date.now();
        await podmanOk('kill', '--signal', 'TERM', containerName(pod, container.name));
        const { flippedMs } = await waitFor(
          `${pod} /readyz to answer 503`,
          async () => {
            const response = await fetch(appUrl(pod, '/readyz'), { signal: AbortSignal.timeout(1000) });
            await response.arrayBuffer();
            return response.status === 503 ? { flippedMs: Date.now() - signalled } : false;
          },
          { timeoutMs: drainMs, intervalMs: 50 },
        );
        // Still alive while draining: liveness must not kill a pod that is shutting down cleanly.
        const health = await fetch(appUrl(pod, '/healthz'), { signal: AbortSignal.timeout(1000) });
        await health.arrayBuffer();
        expect(health.status).toBe(200);
        // restartPolicy Always: podman starts it again once it exits, as the kubelet would.
        await waitFor(`${pod} to exit and restart`, async () => (await restartCount(pod)) > before, {
          timeoutMs: graceMs + 10_000,
          intervalMs: 200,
        });
        const state = JSON.parse(
          await podmanOk('inspect', '--format', '{{json .State}}', containerName(pod, container.name)),
        ) as {
          ExitCode: number;
          FinishedAt: string;
        };
        const stoppedMs = Date.parse(state.FinishedAt) - signalled;
        log(
          `${pod}: /readyz 503 ${flippedMs} ms after SIGTERM, exit ${state.ExitCode} after ${stoppedMs} ms (drain ${drainMs} ms, grace ${graceMs} ms)`,
        );
        expect(state.ExitCode).toBe(0);
        expect(stoppedMs).toBeGreaterThanOrEqual(drainMs - 100);
        expect(stoppedMs).toBeLessThan(graceMs);
        await waitUntilReady(pod);
      },
      120_000,
    );

    test('Redis keeps acknowledged writes across a restart (AOF on the claim)', async () => {
      const created = await fetch(appUrl('frontend', '/api/lists'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      const list = (await created.json()) as { id: string };
      const added = await fetch(appUrl('frontend', `/api/lists/${list.id}/todos`), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ title: 'survives a Redis restart' }),
      });
      expect(added.status).toBe(201);
      const before = await restartCount('redis');
      await podmanOk('kill', '--signal', 'TERM', 'redis-redis');
      await waitFor('redis to restart', async () => (await restartCount('redis')) > before, {
        timeoutMs: 60_000,
        intervalMs: 200,
      });
      const exit = (await podmanOk('inspect', '--format', '{{.State.ExitCode}}', 'redis-redis')).trim();
      expect(exit).toBe('0');
      await waitUntilReady('redis');
      await waitUntilReady('backend');
      const todos = (await (await fetch(appUrl('frontend', `/api/lists/${list.id}/todos`))).json()) as {
        title: string;
      }[];
      // A lost write shows why in Redis's log (a replay that refused commands says NOPERM there).
      const redisLog = await podman('logs', '--tail', '5', 'redis-redis');
      expect(
        todos.map((todo) => todo.title),
        `Redis's log after the restart:\n${redisLog.stdout}${redisLog.stderr}`,
      ).toEqual(['survives a Redis restart']);
      const files = await podmanOk('exec', 'redis-redis', 'ls', '/data/appendonlydir');
      expect(files).toMatch(/appendonly\.aof\.\d+\.incr\.aof/);
    }, 180_000);
  });
}
