/**
 * The Kubernetes side of the durability and access work, rendered for real with `kubectl kustomize`: the redis-acl and
 * redis-backup components on the dev and prod overlays, the restore Job, and the commands they run
 * (probes, the backup CronJob's arguments) executed against a real Redis with the generated ACL.
 */
import { execFile, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { type IStatefulSet, StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { CronJob, type ICronJob } from 'kubernetes-models/batch/v1/CronJob';
import { type IJob, Job } from 'kubernetes-models/batch/v1/Job';
import { type INetworkPolicy, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { type IPersistentVolumeClaim, PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import {
  type AclSetup,
  generateAcl,
  paths,
  type RedisServer,
  repoRoot,
  runScript,
  startDurableRedis,
  tempDir,
} from './lib/stack.ts';

const execFileAsync = promisify(execFile);
const k8sDir = join(repoRoot, 'deploy/k8s');
const componentDir = join(k8sDir, 'components/redis-backup');

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}
interface Kinds {
  StatefulSet: IStatefulSet;
  Deployment: IDeployment;
  CronJob: ICronJob;
  NetworkPolicy: INetworkPolicy;
  ConfigMap: IConfigMap;
  PersistentVolumeClaim: IPersistentVolumeClaim;
}

const scratch = tempDir('k8s');
let counter = 0;

async function render(target: string, components: string[]): Promise<Obj[]> {
  const dir = join(scratch.dir, '_combinations', String(counter++));
  mkdirSync(dir, { recursive: true });
  const lines = [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'resources:',
    `  - ../../${target}`,
    ...(components.length > 0 ? ['components:', ...components.map((c) => `  - ../../components/${c}`)] : []),
  ];
  writeFileSync(join(dir, 'kustomization.yaml'), `${lines.join('\n')}\n`);
  const { stdout } = await execFileAsync('kubectl', ['kustomize', dir], { maxBuffer: 32 * 1024 * 1024 });
  return parseAllDocuments(stdout)
    .map((document) => document.toJS() as Obj | null)
    .filter((object): object is Obj => !!object);
}

function find<K extends keyof Kinds>(objects: Obj[], kind: K, name: string): Kinds[K] {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in the rendered manifests`);
  return found as unknown as Kinds[K];
}
function container(podSpec: IPodSpec | undefined, name: string): IContainer {
  const found = podSpec?.containers.find((c) => c.name === name);
  if (!found) throw new Error(`no container ${name}`);
  return found;
}
const volume = (podSpec: IPodSpec | undefined, name: string) => podSpec?.volumes?.find((v) => v.name === name);
const redisPod = (objects: Obj[]) => find(objects, 'StatefulSet', 'redis').spec!.template.spec;
const cronPod = (objects: Obj[]) => find(objects, 'CronJob', 'redis-backup').spec!.jobTemplate.spec!.template.spec;
const restoreJob = () => parse(readFileSync(join(componentDir, 'restore-job.yaml'), 'utf8')) as IJob;

let prod: Obj[];
let acl: AclSetup;
let redis: RedisServer;

beforeAll(async () => {
  // kustomize refuses files outside a kustomization's folder, so combinations live next to a copy.
  for (const folder of ['base', 'overlays', 'components']) {
    cpSync(join(k8sDir, folder), join(scratch.dir, folder), { recursive: true, dereference: true });
  }
  // prod includes redis-acl and redis-backup itself.
  prod = await render('overlays/prod', []);
  acl = generateAcl(join(scratch.dir, 'acl'));
  redis = await startDurableRedis('everysec', { args: ['--aclfile', acl.file] });
}, 120_000);
afterAll(async () => {
  await redis?.destroy();
  scratch.remove();
});

describe('redis-acl and redis-backup components', () => {
  it('render on base and dev, alone and together (prod includes both)', async () => {
    for (const target of ['base', 'overlays/dev']) {
      for (const components of [['redis-acl'], ['redis-backup'], ['redis-acl', 'redis-backup']]) {
        const objects = await render(target, components);
        expect(objects.length, `${target} + ${components.join(' + ')}`).toBeGreaterThan(10);
      }
    }
    expect(find(prod, 'CronJob', 'redis-backup')).toBeDefined();
  });

  it('are valid Kubernetes objects, and so is restore-job.yaml', () => {
    new StatefulSet(find(prod, 'StatefulSet', 'redis')).validate();
    new CronJob(find(prod, 'CronJob', 'redis-backup')).validate();
    new PersistentVolumeClaim(find(prod, 'PersistentVolumeClaim', 'redis-backups')).validate();
    for (const name of ['redis-backup-egress-to-redis', 'redis-ingress-from-backup']) {
      new NetworkPolicy(find(prod, 'NetworkPolicy', name)).validate();
    }
    new Job(restoreJob()).validate();
  });

  it('Redis loads its users from the Secret redis-acl, with no password of its own; the backend logs in as backend', () => {
    const redisContainer = container(redisPod(prod), 'redis');
    expect(redisContainer.command).toEqual([
      'redis-server',
      '/etc/redis/redis.conf',
      '--aclfile',
      '/etc/redis-acl/users.acl',
    ]);
    expect((redisContainer.env ?? []).map((e) => e.name)).not.toContain('REDIS_PASSWORD');
    expect(redisContainer.volumeMounts).toContainEqual({ name: 'acl', mountPath: '/etc/redis-acl', readOnly: true });
    expect(volume(redisPod(prod), 'acl')?.secret).toMatchObject({
      secretName: 'redis-acl',
      items: [{ key: 'users.acl', path: 'users.acl' }],
    });
    const backend = container(find(prod, 'Deployment', 'backend').spec!.template.spec, 'backend');
    expect(backend.env).toContainEqual({ name: 'REDIS_USERNAME', value: 'backend' });
    const password = backend.env?.find((e) => e.name === 'REDIS_PASSWORD');
    expect(password?.valueFrom?.secretKeyRef?.name).toMatch(/^redis-auth/);
  });

  it("Redis's probes pass against a Redis with the generated ACL file, and fail when it is down", async () => {
    const redisContainer = container(redisPod(prod), 'redis');
    const probes = [redisContainer.startupProbe, redisContainer.livenessProbe, redisContainer.readinessProbe].map(
      (probe) => {
        const command = probe?.exec?.command ?? [];
        expect(command.slice(0, 2)).toEqual(['sh', '-c']);
        return command[2]!.replace('-p 6379', `-p ${redis.port}`);
      },
    );
    for (const probe of probes) expect(spawnSync('sh', ['-c', probe]).status, probe).toBe(0);
    await redis.stop();
    try {
      for (const probe of probes) expect(spawnSync('sh', ['-c', probe]).status, probe).not.toBe(0);
    } finally {
      await redis.restart();
    }
  });

  it('the backup CronJob: hourly, one at a time, as user backup with its password from a file, same image as Redis, hardened', () => {
    const cronJob = find(prod, 'CronJob', 'redis-backup');
    expect(cronJob.metadata?.namespace).toBe('tasktier');
    expect(cronJob.spec).toMatchObject({ schedule: '17 * * * *', concurrencyPolicy: 'Forbid' });
    const pod = cronPod(prod);
    const backup = container(pod, 'backup');
    const redisImage = container(redisPod(prod), 'redis').image;
    expect(backup.image).toBe(redisImage);
    expect(backup.command).toEqual(['sh', '/scripts/redis-backup']);
    expect(backup.args?.join(' ')).toBe(
      '--host redis --port 6379 --user backup --password-file /secrets/backup-password --dir /backups --keep 48',
    );
    expect(backup.env ?? []).toEqual([]);
    expect(volume(pod, 'backups')?.persistentVolumeClaim?.claimName).toBe('redis-backups');
    expect(volume(pod, 'secret')?.secret?.secretName).toBe('redis-acl');
    expect(pod?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999 });
    expect(backup.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod?.automountServiceAccountToken).toBe(false);
  });

  it("the CronJob's arguments make a real backup (host, paths and port mapped to this machine)", async () => {
    const backup = container(cronPod(prod), 'backup');
    const backups = join(scratch.dir, 'cron-backups');
    const passwordFile = join(scratch.dir, 'backup-password');
    writeFileSync(passwordFile, acl.passwords.backup, { mode: 0o600 });
    const map: Record<string, string> = {
      redis: '127.0.0.1',
      '6379': String(redis.port),
      '/backups': backups,
      '/secrets/backup-password': passwordFile,
    };
    const args = (backup.args ?? []).map((arg) => map[arg] ?? arg);
    const result = await runScript(paths.backup, args);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/kept .*tasktier-\d{8}T\d{6}Z\.rdb/);
  });

  it('the scripts ConfigMap carries exactly deploy/scripts/redis-backup and redis-restore', () => {
    const configMap = find(prod, 'ConfigMap', 'redis-backup-scripts');
    expect(configMap.data?.['redis-backup']).toBe(readFileSync(paths.backup, 'utf8'));
    expect(configMap.data?.['redis-restore']).toBe(readFileSync(paths.restore, 'utf8'));
  });

  it('network policies: backup pods may reach redis:6379 and DNS, Redis accepts them, nothing more', () => {
    const egress = find(prod, 'NetworkPolicy', 'redis-backup-egress-to-redis');
    expect(egress.spec?.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'redis-backup' });
    expect(egress.spec?.policyTypes).toEqual(['Egress']);
    expect(egress.spec?.egress?.[0]).toEqual({
      to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'redis' } } }],
      ports: [{ protocol: 'TCP', port: 6379 }],
    });
    expect(egress.spec?.egress?.[1]?.ports?.map((p) => p.port)).toEqual([53, 53]);
    const ingress = find(prod, 'NetworkPolicy', 'redis-ingress-from-backup');
    expect(ingress.spec?.ingress).toEqual([
      {
        from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'redis-backup' } } }],
        ports: [{ protocol: 'TCP', port: 6379 }],
      },
    ]);
  });

  it("restore-job.yaml restores into the StatefulSet's volume from the backup volume, with the same image", () => {
    const job = restoreJob();
    const statefulSet = find(prod, 'StatefulSet', 'redis');
    const claim = statefulSet.spec?.volumeClaimTemplates?.[0]?.metadata?.name;
    const pod = job.spec?.template.spec;
    const restore = container(pod, 'restore');
    expect(volume(pod, 'data')?.persistentVolumeClaim?.claimName).toBe(`${claim}-${statefulSet.metadata?.name}-0`);
    expect(volume(pod, 'backups')?.persistentVolumeClaim).toEqual({ claimName: 'redis-backups', readOnly: true });
    expect(volume(pod, 'scripts')?.configMap?.name).toBe('redis-backup-scripts');
    expect(restore.image).toBe(container(redisPod(prod), 'redis').image);
    expect(restore.command).toEqual(['sh', '/scripts/redis-restore']);
    expect(restore.args).toEqual(['--data-dir', '/data', '/backups']);
    expect(job.spec?.backoffLimit).toBe(0);
    expect(job.metadata?.namespace).toBe('tasktier');
    const redisConf = readFileSync(join(k8sDir, 'base/redis.conf'), 'utf8');
    expect(redisConf).toMatch(/^dir \/data$/m);
  });
});
