import { afterAll, describe, expect, test } from 'vitest';
import { connectionMatrix, evaluate, networkPolicies, renderedPods } from './lib/netpol.ts';
import { RenderTree, TARGETS } from './lib/render.ts';
import { findObject, get, type K8sObject } from './lib/types.ts';

// The redis-cluster component on every target, rendered by the real `kubectl kustomize`: six Redis
// pods in cluster mode, each with its own claim, spread over nodes, a PodDisruptionBudget that keeps
// a quorum, the cluster bus port open between Redis pods only, the Job that forms the cluster, and the
// backend in cluster mode. render.test.ts already holds it to the schemas and Pod Security
// (restricted); this is what the component itself promises. Each promise is checked by
// clusterProblems(), and each check is shown to catch the mutation that breaks it.

const tree = new RenderTree();
afterAll(() => tree.dispose());

const NAMESPACE = 'tasktier';

/** What is wrong with a rendering of the redis-cluster component (nothing: []). */
function clusterProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  const redis = findObject(objects, 'StatefulSet', 'redis');
  if (!redis) return ['no StatefulSet redis'];
  const spec = redis.spec as Record<string, unknown>;
  const pod = get(spec, 'template', 'spec') as Record<string, unknown>;
  const containers = (pod.containers ?? []) as Array<Record<string, unknown>>;
  const container = containers.find((candidate) => candidate.name === 'redis');
  if (spec.replicas !== 6) problems.push(`redis has ${String(spec.replicas)} replicas, not 6`);
  const claims = (spec.volumeClaimTemplates ?? []) as Array<{ metadata: { name: string } }>;
  if (!claims.some((claim) => claim.metadata.name === 'data')) problems.push('redis pods have no claim of their own');
  const volumes = (pod.volumes ?? []) as Array<Record<string, unknown>>;
  if (volumes.some((volume) => volume.name === 'data')) problems.push('the data volume is a pod volume, not a claim');
  const antiAffinity = JSON.stringify(get(pod, 'affinity', 'podAntiAffinity') ?? {});
  if (!antiAffinity.includes('kubernetes.io/hostname') || !antiAffinity.includes('"app.kubernetes.io/name":"redis"')) {
    problems.push('redis pods are not spread over nodes (podAntiAffinity on kubernetes.io/hostname)');
  }
  const ports = (container?.ports ?? []) as Array<{ containerPort: number }>;
  if (!ports.some((port) => port.containerPort === 16379))
    problems.push('redis does not expose the cluster bus port 16379');
  const args = ((container?.args ?? []) as string[]).join(' ');
  if (!args.includes('--include /etc/redis/cluster.conf')) problems.push('redis does not include cluster.conf');
  if (!((container?.command ?? []) as string[]).includes('--aclfile'))
    problems.push('redis does not load the ACL users');
  const config =
    findObject(objects, 'ConfigMap', 'redis-config') ??
    objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('redis-config'));
  const clusterConf = String(get(config, 'data', 'cluster.conf') ?? '');
  if (!/^cluster-enabled yes$/m.test(clusterConf)) problems.push('cluster.conf does not enable cluster mode');

  const headless = findObject(objects, 'Service', 'redis-cluster');
  if (get(headless, 'spec', 'clusterIP') !== 'None' || get(headless, 'spec', 'publishNotReadyAddresses') !== true) {
    problems.push('Service redis-cluster is not headless with the addresses of pods not ready yet');
  }
  const pdbs = objects.filter((object) => object.kind === 'PodDisruptionBudget');
  const redisPdb = pdbs.find(
    (pdb) => get(pdb, 'spec', 'selector', 'matchLabels', 'app.kubernetes.io/name') === 'redis',
  );
  if (get(redisPdb, 'spec', 'maxUnavailable') !== 1)
    problems.push('no PodDisruptionBudget keeps all but one redis pod up');

  const job = findObject(objects, 'Job', 'redis-cluster-form');
  const script = JSON.stringify(get(job, 'spec', 'template', 'spec', 'containers') ?? '');
  if (!script.includes('--cluster create') || !script.includes('--cluster-replicas 1')) {
    problems.push('no Job forms the cluster with one replica per primary');
  }

  const backend = findObject(objects, 'Deployment', 'backend');
  const env = (get(backend, 'spec', 'template', 'spec', 'containers', 0, 'env') ?? []) as Array<{
    name: string;
    value?: string;
  }>;
  const seeds = env.find((variable) => variable.name === 'REDIS_CLUSTER_NODES')?.value ?? '';
  const names = seeds.split(',').filter(Boolean);
  if (names.length === 0) problems.push('the backend is not in cluster mode (REDIS_CLUSTER_NODES)');
  for (const name of names) {
    const match = /^redis-(\d+)\.redis-cluster:6379$/.exec(name);
    if (!match || Number(match[1]) >= Number(spec.replicas)) problems.push(`seed ${name} names no redis pod`);
  }
  if (env.find((variable) => variable.name === 'REDIS_CLUSTER_WAIT_REPLICAS')?.value !== '1') {
    problems.push('the backend does not wait for a replica on writes');
  }
  if (env.find((variable) => variable.name === 'REDIS_USERNAME')?.value !== 'backend') {
    problems.push('the backend does not log in as the ACL user backend');
  }

  // Network: the bus port between Redis pods, and to nobody else.
  const policies = networkPolicies(objects);
  const pods = renderedPods(objects);
  const redisPod = pods.find((endpoint) => endpoint.id === `${NAMESPACE}/redis`);
  if (redisPod) {
    const peer = { ...redisPod, id: `${NAMESPACE}/redis-peer`, ip: '10.244.1.200' };
    for (const port of [6379, 16379]) {
      if (!evaluate(policies, { from: peer, to: redisPod, port, protocol: 'TCP' }).allowed) {
        problems.push(`redis pods cannot reach one another on ${port}`);
      }
    }
  }
  const matrix = connectionMatrix(objects, NAMESPACE);
  for (const connection of matrix.connections) {
    if (!connection.allowed || connection.to.id !== `${NAMESPACE}/redis`) continue;
    if (connection.port === 16379) problems.push(`${connection.from.id} reaches the cluster bus`);
  }
  const form = matrix.connections.find(
    (connection) =>
      connection.from.id === `${NAMESPACE}/redis-cluster-form` &&
      connection.to.id === `${NAMESPACE}/redis` &&
      connection.port === 6379,
  );
  if (!form?.allowed) problems.push('the forming Job cannot reach redis:6379');
  const backup = findObject(objects, 'CronJob', 'redis-backup');
  if (backup) {
    const backupArgs = get(
      backup,
      'spec',
      'jobTemplate',
      'spec',
      'template',
      'spec',
      'containers',
      0,
      'args',
    ) as string[];
    if (!backupArgs.includes('--cluster')) problems.push('the backup CronJob backs up one node, not every primary');
  }
  return problems;
}

describe.each(TARGETS)('redis-cluster on %s', (target) => {
  test('keeps every promise of the component', async () => {
    expect(clusterProblems(await tree.render(target, ['redis-cluster']))).toEqual([]);
  });
});

test('prod (with redis-backup) backs up every primary', async () => {
  const objects = await tree.render('overlays/prod', ['redis-cluster']);
  expect(
    get(
      findObject(objects, 'CronJob', 'redis-backup'),
      'spec',
      'jobTemplate',
      'spec',
      'template',
      'spec',
      'containers',
      0,
      'args',
    ),
  ).toContain('--cluster');
});

describe('each check catches what breaks it', () => {
  const mutate = async (change: (objects: K8sObject[]) => void): Promise<string[]> => {
    const objects = structuredClone(await tree.render('overlays/prod', ['redis-cluster']));
    change(objects);
    return clusterProblems(objects);
  };
  type StatefulSetSpec = {
    replicas?: number;
    volumeClaimTemplates?: unknown;
    template: { spec: { affinity?: unknown } };
  };
  type PolicySpec = { ingress: Array<{ from?: unknown; ports: unknown[] }> };
  type Env = Array<{ name: string; value?: string }>;
  const statefulSet = (objects: K8sObject[]) => findObject(objects, 'StatefulSet', 'redis')?.spec as StatefulSetSpec;
  const firstIngress = (objects: K8sObject[]) => {
    const spec = get(findObject(objects, 'NetworkPolicy', 'redis-cluster-peers'), 'spec') as PolicySpec;
    const rule = spec.ingress[0];
    if (!rule) throw new Error('redis-cluster-peers has no ingress rule');
    return rule;
  };
  const setReplicas = (objects: K8sObject[], replicas: number) => {
    statefulSet(objects).replicas = replicas;
  };
  const setMaxUnavailable = (objects: K8sObject[], value: number) => {
    const pdb = findObject(objects, 'PodDisruptionBudget', 'redis')?.spec as Record<string, unknown>;
    pdb.maxUnavailable = value;
  };

  test.each([
    ['three pods', (o: K8sObject[]) => setReplicas(o, 3), /3 replicas, not 6/],
    [
      'an emptyDir for data',
      (o: K8sObject[]) => void delete statefulSet(o).volumeClaimTemplates,
      /no claim of their own/,
    ],
    [
      'no anti-affinity',
      (o: K8sObject[]) => void delete statefulSet(o).template.spec.affinity,
      /not spread over nodes/,
    ],
    ['the bus port closed', (o: K8sObject[]) => void firstIngress(o).ports.pop(), /cannot reach one another on 16379/],
    ['the bus port open to every pod', (o: K8sObject[]) => void delete firstIngress(o).from, /reaches the cluster bus/],
    ['a PodDisruptionBudget that lets half go', (o: K8sObject[]) => setMaxUnavailable(o, 3), /keeps all but one/],
    [
      'no forming Job',
      (o: K8sObject[]) => void o.splice(o.indexOf(findObject(o, 'Job', 'redis-cluster-form') as K8sObject), 1),
      /no Job forms the cluster/,
    ],
    [
      'a seed past the last pod',
      (o: K8sObject[]) => {
        const env = get(
          findObject(o, 'Deployment', 'backend'),
          'spec',
          'template',
          'spec',
          'containers',
          0,
          'env',
        ) as Env;
        const seeds = env.find((variable) => variable.name === 'REDIS_CLUSTER_NODES');
        if (seeds) seeds.value = 'redis-6.redis-cluster:6379';
      },
      /seed redis-6.redis-cluster:6379 names no redis pod/,
    ],
    [
      'a backup of one node',
      (o: K8sObject[]) => {
        const args = get(
          findObject(o, 'CronJob', 'redis-backup'),
          'spec',
          'jobTemplate',
          'spec',
          'template',
          'spec',
          'containers',
          0,
          'args',
        ) as string[];
        args.splice(args.indexOf('--cluster'), 1);
      },
      /backs up one node/,
    ],
  ])('%s', async (_name, change, expected) => {
    expect((await mutate(change)).join('\n')).toMatch(expected);
  });
});
