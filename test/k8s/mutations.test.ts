import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { ICronJob } from 'kubernetes-models/batch/v1/CronJob';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IService } from 'kubernetes-models/v1/Service';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { audit } from './lib/audit.ts';
import { expectationsFor } from './lib/expectations.ts';
import { RenderTree } from './lib/render.ts';
import { type Container, type Finding, findObject, type K8sObject, type PodSpec } from './lib/types.ts';

// Negative tests: the suite must catch each broken rule. Each case breaks one thing in a copy
// (first a few in the YAML sources, rendered again by kustomize, then many in the rendered
// objects) and runs the same audit the positive tests run; it must report the named rule.

const TARGET = 'overlays/prod';
const COMPONENTS = ['monitoring', 'tracing'];
const expected = expectationsFor(TARGET, COMPONENTS);

const deployment = (objects: K8sObject[], name: string): IDeployment =>
  findObject(objects, 'Deployment', name) as unknown as IDeployment;
const podSpec = (objects: K8sObject[], kind: 'Deployment' | 'StatefulSet', name: string): PodSpec =>
  (findObject(objects, kind, name) as unknown as IDeployment | IStatefulSet).spec!.template.spec!;
const container = (objects: K8sObject[], kind: 'Deployment' | 'StatefulSet', name: string): Container =>
  podSpec(objects, kind, name).containers[0]!;
const backend = (objects: K8sObject[]): Container => container(objects, 'Deployment', 'backend');
const redis = (objects: K8sObject[]): Container => container(objects, 'StatefulSet', 'redis');
const backupPod = (objects: K8sObject[]): PodSpec =>
  (findObject(objects, 'CronJob', 'redis-backup') as unknown as ICronJob).spec!.jobTemplate.spec!.template.spec!;
const backup = (objects: K8sObject[]): Container => backupPod(objects).containers[0]!;
const volumeOf = (spec: PodSpec, name: string) => spec.volumes!.find((volume) => volume.name === name)!;
const mountOf = (entry: Container, name: string) => entry.volumeMounts!.find((mount) => mount.name === name)!;
const setArg = (entry: Container, option: string, value: string): void => {
  entry.args![entry.args!.indexOf(option) + 1] = value;
};
const networkPolicy = (name: string, spec: INetworkPolicy['spec']): K8sObject => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: {
    name,
    namespace: 'tasktier',
    labels: { 'app.kubernetes.io/part-of': 'tasktier', 'app.kubernetes.io/managed-by': 'kustomize' },
  },
  spec,
});

const collectorEgress = (o: K8sObject[]) =>
  findObject(o, 'NetworkPolicy', 'apps-egress-to-otel-collector')!.spec as INetworkPolicy['spec'];
/** The data of the tracing component's ConfigMap (its name carries kustomize's content hash). */
const tracingConfig = (o: K8sObject[]): Record<string, string> =>
  (
    o.find(
      (object) => object.kind === 'ConfigMap' && object.metadata.name.startsWith('tracing-'),
    ) as unknown as IConfigMap
  ).data!;

const ingressAnnotations = (objects: K8sObject[]): Record<string, string> =>
  findObject(objects, 'Ingress', 'frontend')!.metadata.annotations!;

const show = (findings: Finding[]): string =>
  findings.map((finding) => `[${finding.rule}] ${finding.object}: ${finding.message}`).join('\n');

/** The first finding of `rule` (whose `object: message` matches `match`, when given). */
function expectCaught(findings: Finding[], rule: string, match?: RegExp): Finding {
  const caught = findings.find(
    (finding) => finding.rule === rule && (!match || match.test(`${finding.object}: ${finding.message}`)),
  );
  expect(
    caught,
    `expected a finding for ${rule}${match ? ` matching ${match}` : ''}, got:\n${show(findings) || '(none)'}`,
  ).toBeDefined();
  console.log(`caught [${caught!.rule}] ${caught!.object}: ${caught!.message}`);
  return caught!;
}

describe('mutated YAML sources are caught', () => {
  const trees: RenderTree[] = [];
  afterAll(() => {
    for (const tree of trees) tree.dispose();
  });

  const sourceCases: { name: string; file: string; edit: (text: string) => string; rule: string }[] = [
    {
      name: 'backend runs as root (runAsUser: 0)',
      file: 'base/backend.yaml',
      edit: (text) => text.replaceAll('runAsUser: 1000', 'runAsUser: 0'),
      rule: 'pss/restricted/runAsUser',
    },
    {
      name: 'frontend has no memory limit',
      file: 'base/frontend.yaml',
      edit: (text) => text.replace(/(limits:\n\s+cpu: "1"\n)\s+memory: 512Mi\n/, '$1'),
      rule: 'resources/limits',
    },
    {
      name: 'an open NetworkPolicy lets any pod reach Redis',
      file: 'base/network-policies.yaml',
      edit: (text) =>
        `${text}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: redis-open\nspec:\n  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: redis\n  ingress:\n    - {}\n`,
      rule: 'netpol/unexpected-flow',
    },
    {
      name: 'the default-deny policy is gone',
      file: 'base/network-policies.yaml',
      edit: (text) =>
        text.replace(
          /apiVersion: networking.k8s.io\/v1\nkind: NetworkPolicy\nmetadata:\n {2}name: default-deny-all\n[\s\S]*?---\n/,
          '',
        ),
      rule: 'netpol/unexpected-flow',
    },
    {
      name: 'a typo in a field name (readinesProbe)',
      file: 'base/backend.yaml',
      edit: (text) => text.replace('readinessProbe:', 'readinesProbe:'),
      rule: 'schema/field-names',
    },
    {
      name: 'a password committed in the manifest',
      file: 'base/backend.yaml',
      edit: (text) =>
        text.replace(
          /- name: REDIS_PASSWORD\n\s+valueFrom:\n\s+secretKeyRef:\n\s+name: redis-auth\n\s+key: password\n/,
          '- name: REDIS_PASSWORD\n              value: hunter2\n',
        ),
      rule: 'secrets/literal',
    },
    {
      name: 'the ACL file readable by every user in the Redis container (redis-acl defaultMode 0444)',
      file: 'components/redis-acl/redis.yaml',
      edit: (text) => text.replace('defaultMode: 0440', 'defaultMode: 0444'),
      rule: 'redis/acl-secret',
    },
    {
      name: 'Redis back on its shared password (the redis-acl patch keeps REDIS_PASSWORD)',
      file: 'components/redis-acl/redis.yaml',
      edit: (text) => text.replace(/ {10}env:\n {12}- name: REDIS_PASSWORD\n {14}\$patch: delete\n/, ''),
      rule: 'redis/auth',
    },
    {
      name: 'prod without the ingress-tls component (list links in clear text)',
      file: 'overlays/prod/kustomization.yaml',
      edit: (text) => text.replace('  - ../../components/ingress-tls\n', ''),
      rule: 'ingress/tls',
    },
    {
      name: 'ingress-tls without the Secure affinity cookie',
      file: 'components/ingress-tls/ingress-tls.yaml',
      edit: (text) => text.replace(/^.*session-cookie-secure.*\n/m, ''),
      rule: 'ingress/cookie-secure',
    },
    {
      name: 'the Ingress access log back on (the default format logs list ids)',
      file: 'base/ingress.yaml',
      edit: (text) => text.replace(/^.*enable-access-log.*\n/m, ''),
      rule: 'ingress/access-log',
    },
    {
      name: 'the ServiceMonitors scrape the http port again',
      file: 'components/monitoring/servicemonitors.yaml',
      edit: (text) => text.replaceAll('- port: metrics', '- port: http'),
      rule: 'monitoring/scrape-port',
    },
    {
      name: 'the backend without TRUST_PROXY (every client one address behind the frontend)',
      file: 'base/backend.yaml',
      edit: (text) => text.replace(/ {12}- name: TRUST_PROXY\n {14}value: \S+\n/, ''),
      rule: 'env/value',
    },
    {
      name: 'tracing without a sampler (every request traced)',
      file: 'components/tracing/tracing.properties',
      edit: (text) => text.replace(/^OTEL_TRACES_SAMPLER.*\n/gm, ''),
      rule: 'tracing/sampler',
    },
    {
      name: 'the collector egress open to every port',
      file: 'components/tracing/network-policies.yaml',
      edit: (text) => text.replace(/\n {6}ports:\n {8}- protocol: TCP\n {10}port: 4318\n/, '\n'),
      rule: 'netpol/unexpected-flow',
    },
    {
      name: 'the backup CronJob logs in as the default user',
      file: 'components/redis-backup/backup.yaml',
      edit: (text) => text.replace(/- --user\n(\s+)- backup\n/, '- --user\n$1- default\n'),
      rule: 'backup/user',
    },
  ];

  test.each(sourceCases)('$name', async ({ file, edit, rule }) => {
    const tree = new RenderTree();
    trees.push(tree);
    const path = join(tree.root, file);
    const before = readFileSync(path, 'utf8');
    const after = edit(before);
    expect(after, 'the edit must change the file').not.toBe(before);
    writeFileSync(path, after);
    const findings = await audit(await tree.render(TARGET, COMPONENTS), expected);
    expectCaught(findings, rule);
  });
});

describe('mutated rendered objects are caught', () => {
  const tree = new RenderTree();
  let pristine: K8sObject[] = [];
  beforeAll(async () => {
    pristine = await tree.render(TARGET, COMPONENTS);
  });
  afterAll(() => tree.dispose());

  test('the unmutated render passes (so each finding below comes from its mutation)', async () => {
    const findings = await audit(pristine, expected);
    expect(findings, show(findings)).toEqual([]);
  });

  const cases: { name: string; mutate: (objects: K8sObject[]) => void; rule: string; match?: RegExp }[] = [
    // Pod Security Standards, rule by rule
    {
      name: 'hostNetwork',
      mutate: (o) => {
        podSpec(o, 'Deployment', 'frontend').hostNetwork = true;
      },
      rule: 'pss/baseline/hostNamespaces',
    },
    {
      name: 'hostPID',
      mutate: (o) => {
        podSpec(o, 'StatefulSet', 'redis').hostPID = true;
      },
      rule: 'pss/baseline/hostNamespaces',
    },
    {
      name: 'privileged container',
      mutate: (o) => {
        backend(o).securityContext!.privileged = true;
      },
      rule: 'pss/baseline/privileged',
    },
    {
      name: 'capability SYS_ADMIN added',
      mutate: (o) => {
        backend(o).securityContext!.capabilities!.add = ['SYS_ADMIN'];
      },
      rule: 'pss/baseline/capabilities',
    },
    {
      name: 'capability CHOWN added (baseline allows it, restricted only NET_BIND_SERVICE)',
      mutate: (o) => {
        backend(o).securityContext!.capabilities!.add = ['CHOWN'];
      },
      rule: 'pss/restricted/capabilities',
    },
    {
      name: 'capabilities not dropped',
      mutate: (o) => {
        backend(o).securityContext!.capabilities = {};
      },
      rule: 'pss/restricted/capabilities',
    },
    {
      name: 'hostPath volume',
      mutate: (o) => {
        podSpec(o, 'Deployment', 'backend').volumes!.push({ name: 'host', hostPath: { path: '/var/run' } });
      },
      rule: 'pss/baseline/hostPathVolumes',
    },
    {
      name: 'hostPort',
      mutate: (o) => {
        backend(o).ports![0]!.hostPort = 5000;
      },
      rule: 'pss/baseline/hostPorts',
    },
    {
      name: 'AppArmor unconfined',
      mutate: (o) => {
        backend(o).securityContext!.appArmorProfile = { type: 'Unconfined' };
      },
      rule: 'pss/baseline/appArmorProfile',
    },
    {
      name: 'SELinux custom user',
      mutate: (o) => {
        podSpec(o, 'Deployment', 'backend').securityContext!.seLinuxOptions = { user: 'system_u' };
      },
      rule: 'pss/baseline/seLinuxOptions',
    },
    {
      name: 'procMount Unmasked',
      mutate: (o) => {
        backend(o).securityContext!.procMount = 'Unmasked';
      },
      rule: 'pss/baseline/procMount',
    },
    {
      name: 'seccomp Unconfined',
      mutate: (o) => {
        backend(o).securityContext!.seccompProfile = { type: 'Unconfined' };
      },
      rule: 'pss/baseline/seccompProfile',
    },
    {
      name: 'unsafe sysctl',
      mutate: (o) => {
        podSpec(o, 'Deployment', 'backend').securityContext!.sysctls = [{ name: 'kernel.msgmax', value: '65536' }];
      },
      rule: 'pss/baseline/sysctls',
    },
    {
      name: 'an NFS volume',
      mutate: (o) => {
        podSpec(o, 'Deployment', 'backend').volumes!.push({ name: 'nfs', nfs: { server: 'nfs', path: '/' } });
      },
      rule: 'pss/restricted/volumeTypes',
    },
    {
      name: 'allowPrivilegeEscalation unset',
      mutate: (o) => {
        delete backend(o).securityContext!.allowPrivilegeEscalation;
      },
      rule: 'pss/restricted/allowPrivilegeEscalation',
    },
    {
      name: 'runAsNonRoot false in the container',
      mutate: (o) => {
        backend(o).securityContext!.runAsNonRoot = false;
      },
      rule: 'pss/restricted/runAsNonRoot',
    },
    {
      name: 'runAsNonRoot nowhere',
      mutate: (o) => {
        delete podSpec(o, 'StatefulSet', 'redis').securityContext!.runAsNonRoot;
        delete container(o, 'StatefulSet', 'redis').securityContext!.runAsNonRoot;
      },
      rule: 'pss/restricted/runAsNonRoot',
    },
    {
      name: 'Redis as root',
      mutate: (o) => {
        podSpec(o, 'StatefulSet', 'redis').securityContext!.runAsUser = 0;
      },
      rule: 'pss/restricted/runAsUser',
    },
    {
      name: 'no seccomp profile anywhere',
      mutate: (o) => {
        delete podSpec(o, 'Deployment', 'frontend').securityContext!.seccompProfile;
        delete container(o, 'Deployment', 'frontend').securityContext!.seccompProfile;
      },
      rule: 'pss/restricted/seccompProfile',
    },
    {
      name: 'an init container without a security context',
      mutate: (o) => {
        podSpec(o, 'Deployment', 'backend').initContainers = [{ name: 'init', image: 'busybox' }];
      },
      rule: 'pss/restricted/allowPrivilegeEscalation',
    },
    // Hardening beyond PSS
    {
      name: 'writable root filesystem',
      mutate: (o) => {
        backend(o).securityContext!.readOnlyRootFilesystem = false;
      },
      rule: 'security/read-only-root',
    },
    {
      name: 'UID 1001 instead of 1000',
      mutate: (o) => {
        podSpec(o, 'Deployment', 'frontend').securityContext!.runAsUser = 1001;
      },
      rule: 'security/uid',
    },
    {
      name: 'service account token mounted',
      mutate: (o) => {
        podSpec(o, 'Deployment', 'backend').automountServiceAccountToken = true;
      },
      rule: 'serviceaccount/token',
    },
    {
      name: 'default service account',
      mutate: (o) => {
        delete podSpec(o, 'Deployment', 'backend').serviceAccountName;
      },
      rule: 'serviceaccount/own',
    },
    {
      name: 'no /tmp emptyDir',
      mutate: (o) => {
        backend(o).volumeMounts = [];
      },
      rule: 'volumes/tmp',
    },
    // Resources and QoS
    {
      name: 'requests equal limits (Guaranteed, not Burstable)',
      mutate: (o) => {
        backend(o).resources = {
          requests: { cpu: '1', memory: '512Mi' },
          limits: { cpu: '1', memory: '512Mi' },
        };
      },
      rule: 'resources/qos',
    },
    {
      name: 'no resources at all (BestEffort)',
      mutate: (o) => {
        delete backend(o).resources;
      },
      rule: 'resources/qos',
    },
    {
      name: 'request above limit',
      mutate: (o) => {
        backend(o).resources!.requests!.memory = '1Gi';
      },
      rule: 'resources/limits',
    },
    // Rollout and probes
    {
      name: 'maxUnavailable 1',
      mutate: (o) => {
        deployment(o, 'backend').spec!.strategy!.rollingUpdate!.maxUnavailable = 1;
      },
      rule: 'rollout/max-unavailable',
    },
    {
      name: 'maxSurge 0',
      mutate: (o) => {
        deployment(o, 'frontend').spec!.strategy!.rollingUpdate!.maxSurge = 0;
      },
      rule: 'rollout/max-surge',
    },
    {
      name: 'no minReadySeconds',
      mutate: (o) => {
        delete deployment(o, 'backend').spec!.minReadySeconds;
      },
      rule: 'rollout/min-ready',
    },
    {
      name: 'progress deadline shorter than the startup budget',
      mutate: (o) => {
        deployment(o, 'backend').spec!.progressDeadlineSeconds = 30;
      },
      rule: 'rollout/progress-deadline',
    },
    {
      name: 'liveness probe on /readyz (Redis down would restart every pod)',
      mutate: (o) => {
        backend(o).livenessProbe!.httpGet!.path = '/readyz';
      },
      rule: 'probes/path',
    },
    {
      name: 'no startup probe',
      mutate: (o) => {
        delete backend(o).startupProbe;
      },
      rule: 'probes/present',
    },
    {
      name: 'readiness probe on the wrong port',
      mutate: (o) => {
        backend(o).readinessProbe!.httpGet!.port = 8080;
      },
      rule: 'probes/port',
    },
    {
      name: 'Redis probe without a login (plain redis-cli ping)',
      mutate: (o) => {
        redis(o).readinessProbe!.exec!.command = ['redis-cli', 'ping'];
      },
      rule: 'redis/probe-auth',
    },
    {
      name: 'grace period shorter than drain + shutdown',
      mutate: (o) => {
        podSpec(o, 'Deployment', 'backend').terminationGracePeriodSeconds = 10;
      },
      rule: 'shutdown/grace',
    },
    {
      name: 'drain delay of 1 s',
      mutate: (o) => {
        backend(o).env!.find((variable) => variable.name === 'DRAIN_DELAY_MS')!.value = '1000';
      },
      rule: 'shutdown/drain',
    },
    // Numbers and wiring
    {
      name: 'HPA up to 20',
      mutate: (o) => {
        (findObject(o, 'HorizontalPodAutoscaler', 'backend') as unknown as IHorizontalPodAutoscaler).spec!.maxReplicas =
          20;
      },
      rule: 'hpa/bounds',
    },
    {
      name: 'HPA without a scale-down window',
      mutate: (o) => {
        delete (findObject(o, 'HorizontalPodAutoscaler', 'frontend') as unknown as IHorizontalPodAutoscaler).spec!
          .behavior;
      },
      rule: 'hpa/scale-down',
    },
    {
      name: 'replicas set beside the HPA',
      mutate: (o) => {
        deployment(o, 'frontend').spec!.replicas = 2;
      },
      rule: 'replicas/hpa-owned',
    },
    {
      name: 'PDB removed',
      mutate: (o) => {
        o.splice(o.indexOf(findObject(o, 'PodDisruptionBudget', 'backend')!), 1);
      },
      rule: 'pdb/exists',
    },
    {
      name: 'Service targets the wrong port',
      mutate: (o) => {
        (findObject(o, 'Service', 'backend') as unknown as IService).spec!.ports![0]!.targetPort = 5001;
      },
      rule: 'services/ports',
    },
    {
      name: 'Redis exposed as a NodePort',
      mutate: (o) => {
        (findObject(o, 'Service', 'redis') as unknown as IService).spec!.type = 'NodePort';
      },
      rule: 'services/type',
    },
    {
      name: 'frontend pointed at the wrong backend port',
      mutate: (o) => {
        container(o, 'Deployment', 'frontend').env!.find((variable) => variable.name === 'BACKEND_URL')!.value =
          'http://backend:8080';
      },
      rule: 'env/value',
    },
    {
      name: 'latest image',
      mutate: (o) => {
        backend(o).image = 'tasktier/backend:latest';
      },
      rule: 'images/name',
    },
    {
      name: 'Redis evicts keys (allkeys-lru)',
      mutate: (o) => {
        const config = o.find(
          (object) => object.kind === 'ConfigMap' && object.metadata.name.startsWith('redis-config'),
        ) as unknown as IConfigMap;
        config.data!['overrides.conf'] += '\nmaxmemory-policy allkeys-lru\n';
      },
      rule: 'redis/config',
    },
    {
      name: 'Redis AOF off',
      mutate: (o) => {
        const config = o.find(
          (object) => object.kind === 'ConfigMap' && object.metadata.name.startsWith('redis-config'),
        ) as unknown as IConfigMap;
        config.data!['redis.conf'] = config.data!['redis.conf']!.replace('appendonly yes', 'appendonly no');
      },
      rule: 'redis/config',
    },
    {
      name: 'Redis data back on an emptyDir in prod',
      mutate: (o) => {
        const redis = findObject(o, 'StatefulSet', 'redis') as unknown as IStatefulSet;
        delete redis.spec!.volumeClaimTemplates;
        redis.spec!.template.spec!.volumes!.push({ name: 'data', emptyDir: {} });
      },
      rule: 'redis/persistence',
    },
    {
      name: 'a Secret in the output',
      mutate: (o) => {
        o.push({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: {
            name: 'redis-auth',
            namespace: 'tasktier',
            labels: { 'app.kubernetes.io/part-of': 'tasktier', 'app.kubernetes.io/managed-by': 'kustomize' },
          },
          stringData: { password: 'x' },
        });
      },
      rule: 'secrets/in-repo',
    },
    {
      name: 'backend reads its password from another Secret than redis-auth',
      mutate: (o) => {
        backend(o).env!.find((variable) => variable.name === 'REDIS_PASSWORD')!.valueFrom!.secretKeyRef!.name = 'other';
      },
      rule: 'secrets/redis-password',
    },
    // Redis ACL users (prod includes redis-acl): every client logs in as its own user
    {
      name: 'Redis without --aclfile (no users but the default one)',
      mutate: (o) => {
        redis(o).command = ['redis-server', '/etc/redis/redis.conf'];
      },
      rule: 'redis/acl',
    },
    {
      name: 'ACL Secret mounted writable',
      mutate: (o) => {
        mountOf(redis(o), 'acl').readOnly = false;
      },
      rule: 'redis/acl-secret',
    },
    {
      name: 'ACL file world-readable (item mode 0644)',
      mutate: (o) => {
        volumeOf(podSpec(o, 'StatefulSet', 'redis'), 'acl').secret!.items![0]!.mode = 0o644;
      },
      rule: 'redis/acl-secret',
    },
    {
      name: 'ACL Secret volume without a mode (Kubernetes default 0644)',
      mutate: (o) => {
        delete volumeOf(podSpec(o, 'StatefulSet', 'redis'), 'acl').secret!.defaultMode;
      },
      rule: 'redis/acl-secret',
    },
    {
      name: 'ACL file only readable by its owner, root (mode 0400: Redis, UID 999, cannot read it)',
      mutate: (o) => {
        volumeOf(podSpec(o, 'StatefulSet', 'redis'), 'acl').secret!.defaultMode = 0o400;
      },
      rule: 'redis/acl-secret',
    },
    {
      name: 'ACL file taken from the Secret redis-auth',
      mutate: (o) => {
        volumeOf(podSpec(o, 'StatefulSet', 'redis'), 'acl').secret!.secretName = 'redis-auth';
      },
      rule: 'redis/acl-secret',
    },
    {
      name: "Redis gets the backend's password in its environment",
      mutate: (o) => {
        redis(o).env = [
          { name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'redis-auth', key: 'password' } } },
        ];
      },
      rule: 'redis/auth',
    },
    {
      name: 'requirepass beside the ACL file',
      mutate: (o) => {
        redis(o).command!.push('--requirepass', '$(REDIS_PASSWORD)');
      },
      rule: 'redis/auth',
    },
    {
      name: 'Redis probe without --user probe',
      mutate: (o) => {
        redis(o).livenessProbe!.exec!.command = ['sh', '-c', 'redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG'];
      },
      rule: 'redis/probe-auth',
    },
    {
      name: 'Redis probe as user probe that ignores the reply (redis-cli exits 0 on NOPERM)',
      mutate: (o) => {
        redis(o).startupProbe!.exec!.command = ['redis-cli', '--user', 'probe', '--pass', 'probe', 'ping'];
      },
      rule: 'redis/probe-auth',
    },
    {
      name: 'backend without REDIS_USERNAME (logs in as the default user, which is off)',
      mutate: (o) => {
        backend(o).env = backend(o).env!.filter((variable) => variable.name !== 'REDIS_USERNAME');
      },
      rule: 'redis/backend-user',
    },
    {
      name: 'backend logs in as admin',
      mutate: (o) => {
        backend(o).env!.find((variable) => variable.name === 'REDIS_USERNAME')!.value = 'admin';
      },
      rule: 'redis/backend-user',
    },
    {
      name: "backend's ACL password as a literal",
      mutate: (o) => {
        const password = backend(o).env!.find((variable) => variable.name === 'REDIS_PASSWORD')!;
        delete password.valueFrom;
        password.value = 'a-committed-backend-password';
      },
      rule: 'secrets/literal',
    },
    {
      name: 'backend without REDIS_PASSWORD',
      mutate: (o) => {
        backend(o).env = backend(o).env!.filter((variable) => variable.name !== 'REDIS_PASSWORD');
      },
      rule: 'secrets/redis-password',
    },
    // The backup CronJob (prod includes redis-backup)
    {
      name: 'backup as the default user',
      mutate: (o) => {
        setArg(backup(o), '--user', 'default');
      },
      rule: 'backup/user',
    },
    {
      name: 'backup password from the environment instead of a file',
      mutate: (o) => {
        const entry = backup(o);
        entry.args = entry.args!.filter(
          (arg, index, all) => arg !== '--password-file' && all[index - 1] !== '--password-file',
        );
        entry.env = [
          { name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'redis-acl', key: 'backup-password' } } },
        ];
      },
      rule: 'backup/secret',
    },
    {
      name: 'backup password Secret mounted writable',
      mutate: (o) => {
        mountOf(backup(o), 'secret').readOnly = false;
      },
      rule: 'backup/secret',
    },
    {
      name: 'backup password file from the wrong key (users.acl)',
      mutate: (o) => {
        volumeOf(backupPod(o), 'secret').secret!.items![0]!.key = 'users.acl';
      },
      rule: 'backup/secret',
    },
    {
      name: 'backups into an emptyDir (gone with the pod)',
      mutate: (o) => {
        const volume = volumeOf(backupPod(o), 'backups');
        delete volume.persistentVolumeClaim;
        volume.emptyDir = {};
      },
      rule: 'backup/volume',
    },
    {
      name: 'backups of another host',
      mutate: (o) => {
        setArg(backup(o), '--host', 'redis.other-namespace');
      },
      rule: 'backup/target',
    },
    {
      name: 'overlapping backups (concurrencyPolicy Allow)',
      mutate: (o) => {
        (findObject(o, 'CronJob', 'redis-backup') as unknown as ICronJob).spec!.concurrencyPolicy = 'Allow';
      },
      rule: 'backup/schedule',
    },
    {
      name: 'backup as root',
      mutate: (o) => {
        backupPod(o).securityContext!.runAsUser = 0;
      },
      rule: 'pss/restricted/runAsUser',
    },
    {
      name: 'backup without a memory limit',
      mutate: (o) => {
        delete backup(o).resources!.limits!.memory;
      },
      rule: 'resources/limits',
    },
    {
      name: 'backup with a writable root filesystem',
      mutate: (o) => {
        backup(o).securityContext!.readOnlyRootFilesystem = false;
      },
      rule: 'security/read-only-root',
    },
    {
      name: 'backup with a service account token',
      mutate: (o) => {
        backupPod(o).automountServiceAccountToken = true;
      },
      rule: 'serviceaccount/token',
    },
    {
      name: 'backup CronJob missing',
      mutate: (o) => {
        o.splice(o.indexOf(findObject(o, 'CronJob', 'redis-backup')!), 1);
      },
      rule: 'backup/exists',
    },
    // Who may read which Secret key (secrets/consumers), who may mount Redis's data, Redis options
    {
      name: 'frontend gets every key of redis-auth (envFrom)',
      mutate: (o) => {
        container(o, 'Deployment', 'frontend').envFrom = [{ secretRef: { name: 'redis-auth' } }];
      },
      rule: 'secrets/consumers',
      match: /^Deployment\/frontend: .*envFrom reads the whole Secret redis-auth/,
    },
    {
      name: "frontend gets the backend's Redis password (env secretKeyRef)",
      mutate: (o) => {
        container(o, 'Deployment', 'frontend').env!.push({
          name: 'REDIS_PASSWORD',
          valueFrom: { secretKeyRef: { name: 'redis-auth', key: 'password' } },
        });
      },
      rule: 'secrets/consumers',
      match: /^Deployment\/frontend: .*env REDIS_PASSWORD reads Secret redis-auth key password/,
    },
    {
      name: 'frontend mounts the whole Secret redis-acl',
      mutate: (o) => {
        podSpec(o, 'Deployment', 'frontend').volumes!.push({ name: 'acl', secret: { secretName: 'redis-acl' } });
        container(o, 'Deployment', 'frontend').volumeMounts!.push({ name: 'acl', mountPath: '/acl', readOnly: true });
      },
      rule: 'secrets/consumers',
      match: /^Deployment\/frontend: volume acl reads the whole Secret redis-acl/,
    },
    {
      name: "backend mounts redis-acl (the ACL file and the backup user's password)",
      mutate: (o) => {
        podSpec(o, 'Deployment', 'backend').volumes!.push({
          name: 'acl',
          secret: { secretName: 'redis-acl', defaultMode: 0o440 },
        });
        backend(o).volumeMounts!.push({ name: 'acl', mountPath: '/etc/redis-acl', readOnly: true });
      },
      rule: 'secrets/consumers',
      match: /^Deployment\/backend: volume acl reads the whole Secret redis-acl/,
    },
    {
      name: 'backend reads another key of redis-auth',
      mutate: (o) => {
        backend(o).env!.push({
          name: 'ADMIN_TOKEN',
          valueFrom: { secretKeyRef: { name: 'redis-auth', key: 'admin-password' } },
        });
      },
      rule: 'secrets/consumers',
      match: /^Deployment\/backend: .*Secret redis-auth key admin-password/,
    },
    {
      name: 'Redis gets every key of redis-auth (envFrom)',
      mutate: (o) => {
        redis(o).envFrom = [{ secretRef: { name: 'redis-auth' } }];
      },
      rule: 'secrets/consumers',
      match: /^StatefulSet\/redis: .*envFrom reads the whole Secret redis-auth/,
    },
    {
      name: 'Redis envFrom redis-auth is also a password in ACL mode',
      mutate: (o) => {
        redis(o).envFrom = [{ secretRef: { name: 'redis-auth' } }];
      },
      rule: 'redis/auth',
      match: /envFrom the Secret redis-auth/,
    },
    {
      name: "Redis's acl volume without items (the backup password lands in the Redis pod)",
      mutate: (o) => {
        delete volumeOf(podSpec(o, 'StatefulSet', 'redis'), 'acl').secret!.items;
      },
      rule: 'secrets/consumers',
      match: /^StatefulSet\/redis: volume acl reads the whole Secret redis-acl/,
    },
    {
      name: 'backup pod gets every key of redis-auth (envFrom)',
      mutate: (o) => {
        backup(o).envFrom = [{ secretRef: { name: 'redis-auth' } }];
      },
      rule: 'secrets/consumers',
      match: /^CronJob\/redis-backup: backup envFrom reads the whole Secret redis-auth/,
    },
    {
      name: 'a pod reads the Ingress TLS key (projected volume)',
      mutate: (o) => {
        const ingress = findObject(o, 'Ingress', 'frontend')!.spec as {
          tls?: { hosts: string[]; secretName: string }[];
        };
        ingress.tls = [{ hosts: ['microservices.local'], secretName: 'microservices-local-tls' }];
        podSpec(o, 'Deployment', 'frontend').volumes!.push({
          name: 'tls',
          projected: {
            sources: [{ secret: { name: 'microservices-local-tls', items: [{ key: 'tls.key', path: 'k' }] } }],
          },
        });
      },
      rule: 'secrets/consumers',
      match: /^Deployment\/frontend: volume tls reads Secret microservices-local-tls key tls\.key: the entry's TLS key/,
    },
    {
      name: 'backup args with a second --user admin appended (the script uses the last)',
      mutate: (o) => {
        backup(o).args!.push('--user', 'admin');
      },
      rule: 'backup/args',
      match: /--user is given more than once/,
    },
    {
      name: 'backup logs in as the last --user given',
      mutate: (o) => {
        backup(o).args!.push('--user', 'admin');
      },
      rule: 'backup/user',
      match: /logs in as admin/,
    },
    {
      name: 'backup keeps 1 (a second --keep)',
      mutate: (o) => {
        backup(o).args!.push('--keep', '1');
      },
      rule: 'backup/retention',
    },
    {
      name: 'backup args with a second --dir',
      mutate: (o) => {
        backup(o).args!.push('--dir', '/tmp');
      },
      rule: 'backup/args',
      match: /--dir is given more than once/,
    },
    {
      name: "backup pod mounts Redis's data claim data-redis-0",
      mutate: (o) => {
        backupPod(o).volumes!.push({ name: 'data', persistentVolumeClaim: { claimName: 'data-redis-0' } });
        backup(o).volumeMounts!.push({ name: 'data', mountPath: '/data' });
      },
      rule: 'redis/data-claim',
      match: /^CronJob\/redis-backup: volume data mounts Redis's data claim data-redis-0/,
    },
    {
      name: 'Redis with --protected-mode no',
      mutate: (o) => {
        redis(o).command!.push('--protected-mode', 'no');
      },
      rule: 'redis/dangerous-option',
      match: /protected-mode no/,
    },
    {
      name: 'Redis with --enable-debug-command yes',
      mutate: (o) => {
        redis(o).command!.push('--enable-debug-command', 'yes');
      },
      rule: 'redis/dangerous-option',
      match: /enable-debug-command yes/,
    },
    {
      name: 'Redis with --rename-command',
      mutate: (o) => {
        redis(o).command!.push('--rename-command', 'FLUSHALL', '""');
      },
      rule: 'redis/dangerous-option',
      match: /rename-command/,
    },
    {
      name: 'enable-debug-command local in the overrides',
      mutate: (o) => {
        const config = o.find(
          (object) => object.kind === 'ConfigMap' && object.metadata.name.startsWith('redis-config'),
        ) as unknown as IConfigMap;
        config.data!['overrides.conf'] += '\nenable-debug-command local\n';
      },
      rule: 'redis/dangerous-option',
      match: /redis\.conf enable-debug-command local/,
    },
    {
      name: 'backup alerts removed',
      mutate: (o) => {
        const rule = findObject(o, 'PrometheusRule', 'tasktier')!.spec as { groups: { rules: { alert: string }[] }[] };
        for (const group of rule.groups)
          group.rules = group.rules.filter((alert) => !alert.alert.startsWith('TasktierBackup'));
      },
      rule: 'monitoring/alerts',
      match: /backups/,
    },

    {
      name: 'Ingress host changed',
      mutate: (o) => {
        (findObject(o, 'Ingress', 'frontend')!.spec as { rules: { host: string }[] }).rules[0]!.host = 'example.com';
      },
      rule: 'ingress/host',
    },
    {
      name: 'Ingress without cookie affinity (page and assets from different releases mid-rollout)',
      mutate: (o) => {
        delete findObject(o, 'Ingress', 'frontend')!.metadata.annotations!['nginx.ingress.kubernetes.io/affinity'];
      },
      rule: 'ingress/affinity',
    },
    {
      name: 'Ingress affinity balanced (sessions move when a rollout adds a pod)',
      mutate: (o) => {
        findObject(o, 'Ingress', 'frontend')!.metadata.annotations!['nginx.ingress.kubernetes.io/affinity-mode'] =
          'balanced';
      },
      rule: 'ingress/affinity',
    },
    // HTTPS in prod (ingress-tls), Ingress limits, access log
    {
      name: 'Ingress without its TLS section',
      mutate: (o) => {
        delete (findObject(o, 'Ingress', 'frontend')!.spec as { tls?: unknown }).tls;
      },
      rule: 'ingress/tls',
    },
    {
      name: 'Ingress TLS for another host only',
      mutate: (o) => {
        (findObject(o, 'Ingress', 'frontend')!.spec as { tls: { hosts: string[] }[] }).tls[0]!.hosts = ['example.com'];
      },
      rule: 'ingress/tls',
    },
    {
      name: 'plain HTTP not redirected (ssl-redirect "false")',
      mutate: (o) => {
        const annotations = ingressAnnotations(o);
        annotations['nginx.ingress.kubernetes.io/ssl-redirect'] = 'false';
        delete annotations['nginx.ingress.kubernetes.io/force-ssl-redirect'];
      },
      rule: 'ingress/https-redirect',
    },
    {
      name: 'affinity cookie not Secure',
      mutate: (o) => {
        ingressAnnotations(o)['nginx.ingress.kubernetes.io/session-cookie-secure'] = 'false';
      },
      rule: 'ingress/cookie-secure',
    },
    {
      name: 'frontend trusts no proxy (cannot tell HTTPS: no HSTS)',
      mutate: (o) => {
        const entry = container(o, 'Deployment', 'frontend');
        entry.env = entry.env!.filter((variable) => variable.name !== 'TRUST_PROXY');
      },
      rule: 'ingress/hsts',
    },
    {
      name: 'frontend trusts loopback only (the controller is a pod address)',
      mutate: (o) => {
        container(o, 'Deployment', 'frontend').env!.find((variable) => variable.name === 'TRUST_PROXY')!.value =
          'loopback';
      },
      rule: 'env/value',
    },
    {
      name: 'no Ingress request rate limit',
      mutate: (o) => {
        delete ingressAnnotations(o)['nginx.ingress.kubernetes.io/limit-rps'];
      },
      rule: 'ingress/rate-limit',
    },
    {
      name: 'no Ingress burst multiplier',
      mutate: (o) => {
        delete ingressAnnotations(o)['nginx.ingress.kubernetes.io/limit-burst-multiplier'];
      },
      rule: 'ingress/rate-limit',
    },
    {
      name: 'no Ingress connection limit',
      mutate: (o) => {
        delete ingressAnnotations(o)['nginx.ingress.kubernetes.io/limit-connections'];
      },
      rule: 'ingress/connection-limit',
    },
    {
      name: 'Ingress connection limit at the 100 live-sync streams a client may hold',
      mutate: (o) => {
        ingressAnnotations(o)['nginx.ingress.kubernetes.io/limit-connections'] = '100';
      },
      rule: 'ingress/connection-limit',
      match: /not above the 100 live-sync streams/,
    },
    {
      name: 'Ingress access log on',
      mutate: (o) => {
        ingressAnnotations(o)['nginx.ingress.kubernetes.io/enable-access-log'] = 'true';
      },
      rule: 'ingress/access-log',
    },
    {
      name: 'a configuration snippet on the Ingress',
      mutate: (o) => {
        ingressAnnotations(o)['nginx.ingress.kubernetes.io/configuration-snippet'] = 'access_log on;';
      },
      rule: 'ingress/snippet',
    },
    // Metrics on their own port
    {
      name: 'Ingress routes to the metrics port',
      mutate: (o) => {
        const path = (
          findObject(o, 'Ingress', 'frontend')!.spec as {
            rules: { http: { paths: { backend: { service: { port: { name: string } } } }[] } }[];
          }
        ).rules[0]!.http.paths[0]!;
        path.backend.service.port.name = 'metrics';
      },
      rule: 'ingress/backend',
    },
    {
      name: 'backend without the container port metrics',
      mutate: (o) => {
        backend(o).ports = backend(o).ports!.filter((entry) => entry.name !== 'metrics');
      },
      rule: 'ports/metrics',
    },
    {
      name: 'frontend METRICS_PORT is not its container port metrics',
      mutate: (o) => {
        container(o, 'Deployment', 'frontend').env!.find((variable) => variable.name === 'METRICS_PORT')!.value =
          '9100';
      },
      rule: 'ports/metrics',
      match: /METRICS_PORT 9100 is not the container port metrics/,
    },
    {
      name: 'backend metrics on the public port',
      mutate: (o) => {
        backend(o).env!.find((variable) => variable.name === 'METRICS_PORT')!.value = '5000';
      },
      rule: 'ports/metrics',
      match: /public port 5000/,
    },
    {
      name: 'Service backend without the port metrics',
      mutate: (o) => {
        const spec = findObject(o, 'Service', 'backend')!.spec as IService['spec'];
        spec!.ports = spec!.ports!.filter((entry) => entry.name !== 'metrics');
      },
      rule: 'services/ports',
    },
    {
      name: 'ServiceMonitor frontend scrapes the http port',
      mutate: (o) => {
        const spec = findObject(o, 'ServiceMonitor', 'frontend')!.spec as { endpoints: { port: string }[] };
        spec.endpoints[0]!.port = 'http';
      },
      rule: 'monitoring/scrape-port',
    },
    {
      name: 'ServiceMonitor backend scrapes by targetPort 5000',
      mutate: (o) => {
        const spec = findObject(o, 'ServiceMonitor', 'backend')!.spec as {
          endpoints: { port?: string; targetPort?: number }[];
        };
        delete spec.endpoints[0]!.port;
        spec.endpoints[0]!.targetPort = 5000;
      },
      rule: 'monitoring/scrape-port',
    },
    {
      name: 'Prometheus admitted to the backend http port again',
      mutate: (o) => {
        const policy = findObject(o, 'NetworkPolicy', 'backend-ingress-from-prometheus')!
          .spec as INetworkPolicy['spec'];
        policy!.ingress![0]!.ports!.push({ protocol: 'TCP', port: 5000 });
      },
      rule: 'netpol/metrics-port',
      match: /Prometheus may reach tasktier\/backend:5000/,
    },
    {
      name: 'the ingress controller admitted to the frontend metrics port',
      mutate: (o) => {
        const policy = findObject(o, 'NetworkPolicy', 'frontend-ingress-from-ingress-nginx')!
          .spec as INetworkPolicy['spec'];
        policy!.ingress![0]!.ports!.push({ protocol: 'TCP', port: 'metrics' });
      },
      rule: 'netpol/metrics-port',
      match: /ingress-nginx\/controller may reach tasktier\/frontend's metrics port 9465/,
    },
    {
      name: 'the frontend may reach the backend metrics port',
      mutate: (o) => {
        const egress = findObject(o, 'NetworkPolicy', 'frontend-egress-to-backend')!.spec as INetworkPolicy['spec'];
        egress!.egress![0]!.ports!.push({ protocol: 'TCP', port: 9464 });
        const ingress = findObject(o, 'NetworkPolicy', 'backend-ingress-from-frontend')!.spec as INetworkPolicy['spec'];
        ingress!.ingress![0]!.ports!.push({ protocol: 'TCP', port: 9464 });
      },
      rule: 'netpol/metrics-port',
      match: /tasktier\/frontend may reach tasktier\/backend's metrics port 9464/,
    },
    {
      name: 'Prometheus no longer admitted to the frontend metrics port',
      mutate: (o) => {
        o.splice(o.indexOf(findObject(o, 'NetworkPolicy', 'frontend-ingress-from-prometheus')!), 1);
      },
      rule: 'netpol/missing-flow',
      match: /monitoring\/prometheus -> tasktier\/frontend:9465/,
    },
    // The tracing component
    {
      name: 'the collector egress to its whole namespace (any pod there on 4318)',
      mutate: (o) => {
        delete collectorEgress(o)!.egress![0]!.to![0]!.podSelector;
      },
      rule: 'netpol/unexpected-flow',
      match: /tasktier\/frontend -> observability\/jaeger:4318/,
    },
    {
      name: 'the collector egress to OTLP gRPC (4317) as well',
      mutate: (o) => {
        collectorEgress(o)!.egress![0]!.ports!.push({ protocol: 'TCP', port: 4317 });
      },
      rule: 'netpol/unexpected-flow',
      match: /otel-collector:4317/,
    },
    {
      name: 'the collector egress for every pod of the namespace',
      mutate: (o) => {
        collectorEgress(o)!.podSelector = {};
      },
      rule: 'netpol/unexpected-flow',
      match: /tasktier\/redis -> observability\/otel-collector:4318/,
    },
    {
      name: 'the collector egress removed (spans dropped by default-deny)',
      mutate: (o) => {
        o.splice(o.indexOf(findObject(o, 'NetworkPolicy', 'apps-egress-to-otel-collector')!), 1);
      },
      rule: 'netpol/missing-flow',
      match: /tasktier\/backend -> observability\/otel-collector:4318/,
    },
    {
      name: 'tracing sampling every request (ratio 1)',
      mutate: (o) => {
        tracingConfig(o).OTEL_TRACES_SAMPLER_ARG = '1';
      },
      rule: 'tracing/sampler',
    },
    {
      name: 'tracing with a sampler that ignores the parent (traces cut in half)',
      mutate: (o) => {
        tracingConfig(o).OTEL_TRACES_SAMPLER = 'traceidratio';
      },
      rule: 'tracing/sampler',
    },
    {
      name: 'tracing to the gRPC port the NetworkPolicy does not open',
      mutate: (o) => {
        tracingConfig(o).OTEL_EXPORTER_OTLP_ENDPOINT = 'http://otel-collector.observability.svc:4317';
      },
      rule: 'tracing/endpoint',
    },
    {
      name: 'tracing over http/json',
      mutate: (o) => {
        tracingConfig(o).OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json';
      },
      rule: 'tracing/protocol',
    },
    {
      name: 'the backend sets its own endpoint (a second source)',
      mutate: (o) => {
        backend(o).env!.push({
          name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
          value: 'http://otel-collector.observability.svc:4318',
        });
      },
      rule: 'tracing/one-source',
    },
    {
      name: 'the backend turns tracing off',
      mutate: (o) => {
        backend(o).env!.push({ name: 'OTEL_SDK_DISABLED', value: 'true' });
      },
      rule: 'tracing/disabled',
    },
    {
      name: 'both services under one service name',
      mutate: (o) => {
        for (const name of ['frontend', 'backend']) {
          const variable = container(o, 'Deployment', name).env!.find((entry) => entry.name === 'OTEL_SERVICE_NAME')!;
          variable.value = 'tasktier';
        }
      },
      rule: 'tracing/service-name',
    },
    {
      name: 'backend without TRUST_PROXY',
      mutate: (o) => {
        backend(o).env = backend(o).env!.filter((variable) => variable.name !== 'TRUST_PROXY');
      },
      rule: 'env/value',
      match: /TRUST_PROXY is undefined/,
    },
    {
      name: 'object in another namespace',
      mutate: (o) => {
        findObject(o, 'Service', 'redis')!.metadata.namespace = 'default';
      },
      rule: 'namespace/objects',
    },
    {
      name: 'PSA label removed from the namespace',
      mutate: (o) => {
        delete findObject(o, 'Namespace', 'tasktier')!.metadata.labels!['pod-security.kubernetes.io/enforce'];
      },
      rule: 'namespace/pod-security',
    },
    {
      name: 'alert for Redis down removed',
      mutate: (o) => {
        const rule = findObject(o, 'PrometheusRule', 'tasktier')!.spec as { groups: { rules: { alert: string }[] }[] };
        for (const group of rule.groups)
          group.rules = group.rules.filter((alert) => alert.alert !== 'TasktierRedisDown');
      },
      rule: 'monitoring/alerts',
    },
    // Schema values
    {
      name: 'replicas as a string',
      mutate: (o) => {
        (findObject(o, 'StatefulSet', 'redis')!.spec as Record<string, unknown>).replicas = '1';
      },
      rule: 'schema/values',
    },
    {
      name: 'Service ports not a list',
      mutate: (o) => {
        (findObject(o, 'Service', 'frontend')!.spec as Record<string, unknown>).ports = 'http';
      },
      rule: 'schema/values',
    },
    // Network policies
    {
      name: 'backend may reach the internet',
      mutate: (o) => {
        o.push(
          networkPolicy('backend-egress-all', {
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'backend' } },
            policyTypes: ['Egress'],
            egress: [{}],
          }),
        );
      },
      rule: 'netpol/unexpected-flow',
    },
    {
      name: 'frontend may reach Redis',
      mutate: (o) => {
        const redisIngress = findObject(o, 'NetworkPolicy', 'redis-ingress-from-backend')!
          .spec as INetworkPolicy['spec'];
        redisIngress!.ingress![0]!.from!.push({
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'frontend' } },
        });
        o.push(
          networkPolicy('frontend-egress-redis', {
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'frontend' } },
            policyTypes: ['Egress'],
            egress: [{ to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'redis' } } }] }],
          }),
        );
      },
      rule: 'netpol/unexpected-flow',
    },
    {
      name: 'any namespace may reach the frontend',
      mutate: (o) => {
        const policy = findObject(o, 'NetworkPolicy', 'frontend-ingress-from-ingress-nginx')!
          .spec as INetworkPolicy['spec'];
        policy!.ingress![0]!.from = [{ namespaceSelector: {} }];
      },
      rule: 'netpol/unexpected-flow',
    },
    {
      name: 'ingress and pod selector split into two peers (OR instead of AND)',
      mutate: (o) => {
        const policy = findObject(o, 'NetworkPolicy', 'frontend-ingress-from-ingress-nginx')!
          .spec as INetworkPolicy['spec'];
        const peer = policy!.ingress![0]!.from![0]!;
        policy!.ingress![0]!.from = [
          { namespaceSelector: peer.namespaceSelector! },
          { podSelector: peer.podSelector! },
        ];
      },
      rule: 'netpol/unexpected-flow',
    },
    {
      name: 'DNS egress removed',
      mutate: (o) => {
        o.splice(o.indexOf(findObject(o, 'NetworkPolicy', 'apps-egress-to-dns')!), 1);
      },
      rule: 'netpol/missing-flow',
    },
    {
      name: 'backup pods may reach the internet',
      mutate: (o) => {
        const policy = findObject(o, 'NetworkPolicy', 'redis-backup-egress-to-redis')!.spec as INetworkPolicy['spec'];
        policy!.egress!.push({});
      },
      rule: 'netpol/unexpected-flow',
    },
    {
      name: "Redis's ingress from the backup pods removed",
      mutate: (o) => {
        o.splice(o.indexOf(findObject(o, 'NetworkPolicy', 'redis-ingress-from-backup')!), 1);
      },
      rule: 'netpol/missing-flow',
    },
    {
      name: 'backend to Redis on the wrong port',
      mutate: (o) => {
        const policy = findObject(o, 'NetworkPolicy', 'backend-egress-to-redis')!.spec as INetworkPolicy['spec'];
        policy!.egress![0]!.ports = [{ protocol: 'TCP', port: 6380 }];
      },
      rule: 'netpol/missing-flow',
    },
  ];

  test('tracing variables without the tracing component are caught', async () => {
    expectCaught(await audit(pristine, expectationsFor(TARGET, ['monitoring'])), 'tracing/unexpected');
  });

  test.each(cases)('$name', async ({ mutate, rule, match }) => {
    const objects = structuredClone(pristine);
    mutate(objects);
    expectCaught(await audit(objects, expected), rule, match);
  });
});
