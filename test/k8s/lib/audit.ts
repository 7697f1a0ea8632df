import type { ILabelSelector } from '@kubernetes-models/apimachinery/apis/meta/v1/LabelSelector';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { IService } from 'kubernetes-models/v1/Service';
import { checkDangerousOptions, checkDataClaimConsumers, checkSecretConsumers } from './access.ts';
import { checkCertificate } from './certificate.ts';
import { type AppExpectation, ARCHITECTURE, type Expectations } from './expectations.ts';
import { checkGateway } from './gateway.ts';
import { allowedFlowNames, connectionMatrix, flowName, GATEWAY_POD, selectorMatches } from './netpol.ts';
import {
  type Add,
  checkImage,
  checkResources,
  checkSecurityContext,
  checkServiceAccount,
  checkTmp,
} from './pod-checks.ts';
import { checkPodSecurity } from './pss.ts';
import { parseQuantity, parseRedisBytes } from './quantity.ts';
import { checkBackendLogin, checkBackup, checkRedisAuth } from './redis-auth.ts';
import { validateFieldNames, validateValues } from './schema.ts';
import { checkTracing } from './tracing.ts';
import {
  allContainers,
  type Container,
  envValue,
  type Finding,
  findObject,
  get,
  type K8sObject,
  type PodTemplate,
  podTemplates,
  ref,
} from './types.ts';

/**
 * The whole verification of one rendered output: schemas, Pod Security Standards, the
 * architecture's numbers, secrets, network flows. Returns every finding; a correct render has
 * none. The mutation tests run the same function on broken copies and expect a given rule.
 */
export async function audit(objects: readonly K8sObject[], expected: Expectations): Promise<Finding[]> {
  const findings: Finding[] = [...(await validateValues(objects)), ...validateFieldNames(objects)];
  // The checks below read typed fields: on objects that fail their schema they may not get far.
  try {
    for (const template of podTemplates(objects)) findings.push(...checkPodSecurity(template));
    findings.push(...checkArchitecture(objects, expected));
  } catch (error) {
    if (findings.length === 0) throw error;
    findings.push({
      rule: 'audit/stopped',
      object: '-',
      message: `checks stopped on invalid objects: ${String(error)}`,
    });
  }
  return findings;
}

/** Everything but schemas and PSS (synchronous, for focused tests). */
export function checkArchitecture(objects: readonly K8sObject[], expected: Expectations): Finding[] {
  const findings: Finding[] = [];
  const add = (rule: string, object: string, message: string): void => {
    findings.push({ rule, object, message });
  };
  checkNamespaceAndLabels(objects, expected, add);
  for (const app of expected.apps) checkApp(objects, expected, app, add);
  checkRedis(objects, expected, add);
  checkSecrets(objects, expected, add);
  checkSecretConsumers(objects, expected, add);
  checkDataClaimConsumers(objects, add);
  checkBackup(objects, podTemplates(objects), expected, add);
  if (expected.entry === 'gateway') checkGateway(objects, expected, add);
  else checkIngress(objects, expected, add);
  checkCertificate(objects, expected, add);
  checkExposure(objects, add);
  checkDisruptionBudgets(objects, expected, add);
  checkMonitoring(objects, expected, add);
  checkTracing(objects, expected, add);
  checkNetworkPolicies(objects, expected, add);
  return findings;
}

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'PersistentVolume',
  'StorageClass',
  'ClusterIssuer',
]);

function checkNamespaceAndLabels(objects: readonly K8sObject[], expected: Expectations, add: Add): void {
  const namespace = findObject(objects, 'Namespace', expected.namespace);
  if (!namespace) add('namespace/exists', `Namespace/${expected.namespace}`, 'the namespace is not in the output');
  else {
    const labels = namespace.metadata.labels ?? {};
    if (labels['pod-security.kubernetes.io/enforce'] !== 'restricted') {
      add('namespace/pod-security', ref(namespace), 'label pod-security.kubernetes.io/enforce must be restricted');
    }
    const version = labels['pod-security.kubernetes.io/enforce-version'];
    if (version !== undefined && version !== 'latest' && !/^v1\.(2[5-9]|[3-9]\d)$/.test(version)) {
      add(
        'namespace/pod-security',
        ref(namespace),
        `enforce-version ${version} is older than the profile checked here`,
      );
    }
  }
  for (const object of objects) {
    if (!CLUSTER_SCOPED.has(object.kind) && object.metadata.namespace !== expected.namespace) {
      add('namespace/objects', ref(object), `is in namespace ${object.metadata.namespace ?? '(none)'}`);
    }
    const labels = object.metadata.labels ?? {};
    if (
      labels['app.kubernetes.io/part-of'] !== 'tasktier' ||
      labels['app.kubernetes.io/managed-by'] !== expected.managedBy
    ) {
      add(
        'labels/common',
        ref(object),
        `needs app.kubernetes.io/part-of=tasktier and managed-by=${expected.managedBy}`,
      );
    }
  }
}

function port(container: Container, name: string): number | undefined {
  return container.ports?.find((candidate) => candidate.name === name)?.containerPort;
}

function numberEnv(container: Container, name: string, fallback: number): number {
  const value = envValue(container, name);
  return value === undefined ? fallback : Number(value);
}

/** Resolves a probe's or Service's port (number or container port name) to a number. */
function resolvePort(container: Container, value: number | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return value;
  if (/^\d+$/.test(value)) return Number(value);
  return port(container, value);
}

function checkHttpProbe(
  probe: IProbe | undefined,
  kind: string,
  path: string,
  container: Container,
  expectedPort: number,
  owner: string,
  add: Add,
): void {
  if (!probe) {
    add('probes/present', owner, `${container.name} has no ${kind}`);
    return;
  }
  if (!probe.httpGet) {
    add('probes/http', owner, `${container.name} ${kind} is not an httpGet probe`);
    return;
  }
  if (probe.httpGet.path !== path) add('probes/path', owner, `${kind} checks ${probe.httpGet.path}, not ${path}`);
  const resolved = resolvePort(container, probe.httpGet.port);
  if (resolved !== expectedPort)
    add('probes/port', owner, `${kind} goes to port ${resolved}, the app listens on ${expectedPort}`);
}

function probeBudgetSeconds(probe: IProbe | undefined): number {
  if (!probe) return 0;
  return (probe.initialDelaySeconds ?? 0) + (probe.periodSeconds ?? 10) * (probe.failureThreshold ?? 3);
}

function checkSpreading(template: PodTemplate, required: boolean, add: Add): void {
  const spread = (template.spec.topologySpreadConstraints ?? []).filter(
    (constraint) =>
      constraint.topologyKey === 'kubernetes.io/hostname' && selectorMatches(constraint.labelSelector, template.labels),
  );
  if (spread.length === 0)
    add('scheduling/spread', template.ref, 'no topology spread over kubernetes.io/hostname for its own pods');
  const antiAffinity = template.spec.affinity?.podAntiAffinity;
  const preferred = (antiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).some(
    (term) =>
      term.weight > 0 &&
      term.podAffinityTerm.topologyKey === 'kubernetes.io/hostname' &&
      selectorMatches(term.podAffinityTerm.labelSelector, template.labels),
  );
  const hard = (antiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).some(
    (term) => term.topologyKey === 'kubernetes.io/hostname' && selectorMatches(term.labelSelector, template.labels),
  );
  if (required) {
    if (!hard)
      add('scheduling/anti-affinity', template.ref, 'required-anti-affinity: no required pod anti-affinity per node');
    if (!spread.some((constraint) => constraint.whenUnsatisfiable === 'DoNotSchedule')) {
      add('scheduling/spread', template.ref, 'required-anti-affinity: node spread must be DoNotSchedule');
    }
  } else {
    if (!preferred) add('scheduling/anti-affinity', template.ref, 'no preferred pod anti-affinity across nodes');
    if (hard)
      add(
        'scheduling/anti-affinity',
        template.ref,
        'required anti-affinity belongs in the required-anti-affinity component',
      );
  }
}

/**
 * The Service named `name`, checked to select exactly the pods of `template` and to expose exactly
 * `wanted` (by number, and by name where given), each going to the container port of that number.
 */
function checkService(
  objects: readonly K8sObject[],
  template: PodTemplate,
  name: string,
  wanted: { port: number; name?: string }[],
  add: Add,
): void {
  const service = findObject(objects, 'Service', name) as (IService & K8sObject) | undefined;
  if (!service) {
    add('services/exists', `Service/${name}`, 'is not in the output');
    return;
  }
  const spec = service.spec ?? {};
  if ((spec.type ?? 'ClusterIP') !== 'ClusterIP' || spec.clusterIP === 'None') {
    add(
      'services/type',
      ref(service),
      `must be a ClusterIP Service, is ${spec.type ?? 'ClusterIP'} ${spec.clusterIP ?? ''}`.trim(),
    );
  }
  const selector = spec.selector ?? {};
  if (Object.keys(selector).length === 0 || !selectorMatches({ matchLabels: selector }, template.labels)) {
    add(
      'services/selector',
      ref(service),
      `selector ${JSON.stringify(selector)} does not select ${template.ref}'s pods`,
    );
  }
  for (const other of podTemplates(objects)) {
    if (
      other.owner !== template.owner &&
      Object.keys(selector).length > 0 &&
      selectorMatches({ matchLabels: selector }, other.labels)
    ) {
      add('services/selector', ref(service), `also selects ${other.ref}'s pods`);
    }
  }
  const ports = spec.ports ?? [];
  const describe = (list: { port: number; name?: string }[]): string =>
    list.map((p) => (p.name ? `${p.name}:${p.port}` : String(p.port))).join(', ') || 'nothing';
  const matching = wanted.map((want) =>
    ports.find(
      (candidate) => candidate.port === want.port && (want.name === undefined || candidate.name === want.name),
    ),
  );
  if (matching.some((entry) => entry === undefined) || ports.length !== wanted.length) {
    add(
      'services/ports',
      ref(service),
      `must expose exactly ${describe(wanted)}, exposes ${describe(ports.map((p) => ({ port: p.port, ...(p.name ? { name: p.name } : {}) })))}`,
    );
    return;
  }
  const container = template.spec.containers[0]!;
  for (const entry of matching) {
    const target = resolvePort(container, entry!.targetPort ?? entry!.port);
    if (target === undefined || !(container.ports ?? []).some((candidate) => candidate.containerPort === target)) {
      add(
        'services/ports',
        ref(service),
        `targetPort ${entry!.targetPort} is not a port of ${template.ref}'s container`,
      );
    } else if (target !== entry!.port) {
      add('services/ports', ref(service), `port ${entry!.port} goes to container port ${target}`);
    }
  }
}

function checkApp(objects: readonly K8sObject[], expected: Expectations, app: AppExpectation, add: Add): void {
  const deployment = findObject(objects, 'Deployment', app.name) as (IDeployment & K8sObject) | undefined;
  if (!deployment) {
    add('workloads/exists', `Deployment/${app.name}`, 'is not in the output');
    return;
  }
  const owner = ref(deployment);
  const spec = deployment.spec!;
  const template = podTemplates([deployment])[0]!;
  const container = template.spec.containers.find((candidate) => candidate.name === app.name);
  if (!container || template.spec.containers.length !== 1) {
    add('workloads/containers', owner, `must have exactly one container named ${app.name}`);
    return;
  }
  if (template.labels['app.kubernetes.io/name'] !== app.name || !selectorMatches(spec.selector, template.labels)) {
    add('labels/selector', owner, 'pod labels must carry app.kubernetes.io/name and match the selector');
  }

  // Replicas: owned by the HPA when there is one (a replicas field would fight it on every apply).
  const hpa = objects.find(
    (object) =>
      object.kind === 'HorizontalPodAutoscaler' &&
      (object as IHorizontalPodAutoscaler & K8sObject).spec?.scaleTargetRef.name === app.name,
  ) as (IHorizontalPodAutoscaler & K8sObject) | undefined;
  if (app.hpa) {
    if (!hpa) add('hpa/exists', owner, 'no HorizontalPodAutoscaler scales it');
    else checkHpa(hpa, app, add);
    if (spec.replicas !== undefined)
      add('replicas/hpa-owned', owner, `sets replicas ${spec.replicas} although an HPA owns the count`);
  } else {
    if (hpa) add('hpa/unexpected', ref(hpa), `${app.name} should not autoscale in this target`);
    if ((spec.replicas ?? 1) !== app.replicas)
      add('replicas/count', owner, `replicas ${spec.replicas ?? 1}, expected ${app.replicas}`);
  }

  // Rolling update that never drops below the desired count.
  const strategy = spec.strategy;
  const rolling = strategy?.rollingUpdate;
  if ((strategy?.type ?? 'RollingUpdate') !== 'RollingUpdate')
    add('rollout/strategy', owner, `strategy is ${strategy?.type}`);
  if (rolling?.maxUnavailable !== 0 && rolling?.maxUnavailable !== '0%') {
    add('rollout/max-unavailable', owner, `maxUnavailable is ${rolling?.maxUnavailable ?? '25% (default)'}, must be 0`);
  }
  const surge = rolling?.maxSurge;
  if (surge === undefined || surge === 0 || surge === '0%') add('rollout/max-surge', owner, 'needs a maxSurge above 0');
  const startupBudget = probeBudgetSeconds(container.startupProbe);
  if (!spec.minReadySeconds || spec.minReadySeconds < 1)
    add('rollout/min-ready', owner, 'minReadySeconds must be set (>= 1)');
  if (spec.progressDeadlineSeconds === undefined)
    add('rollout/progress-deadline', owner, 'progressDeadlineSeconds must be set');
  else if (spec.progressDeadlineSeconds <= (spec.minReadySeconds ?? 0) + startupBudget) {
    add(
      'rollout/progress-deadline',
      owner,
      `progressDeadlineSeconds ${spec.progressDeadlineSeconds} must exceed minReadySeconds + the startup probe's budget (${(spec.minReadySeconds ?? 0) + startupBudget} s)`,
    );
  }

  // Ports, environment, image.
  if (port(container, 'http') !== app.port)
    add('ports/container', owner, `container port http is ${port(container, 'http')}, expected ${app.port}`);
  // /metrics on a port of its own: the one the process listens on (METRICS_PORT, default the
  // expected port) must be the declared container port `metrics`, never the public one.
  const metricsPort = port(container, 'metrics');
  const metricsEnv = numberEnv(container, 'METRICS_PORT', app.metricsPort);
  if (metricsPort !== app.metricsPort)
    add('ports/metrics', owner, `container port metrics is ${metricsPort ?? 'missing'}, expected ${app.metricsPort}`);
  else if (metricsEnv !== metricsPort)
    add('ports/metrics', owner, `METRICS_PORT ${metricsEnv} is not the container port metrics (${metricsPort})`);
  if (metricsEnv === app.port || metricsPort === app.port)
    add('ports/metrics', owner, `metrics on the public port ${app.port}: /metrics would be public`);
  for (const [name, value] of Object.entries(app.env)) {
    if (envValue(container, name) !== value)
      add('env/value', owner, `${name} is ${envValue(container, name)}, expected ${value}`);
  }
  checkImage(container, `tasktier/${app.name}:${expected.version}`, owner, add);

  // Probes: startup and liveness on /healthz (the process), readiness on /readyz (can serve).
  checkHttpProbe(container.startupProbe, 'startupProbe', '/healthz', container, app.port, owner, add);
  checkHttpProbe(container.livenessProbe, 'livenessProbe', '/healthz', container, app.port, owner, add);
  checkHttpProbe(container.readinessProbe, 'readinessProbe', '/readyz', container, app.port, owner, add);
  if ((container.livenessProbe?.failureThreshold ?? 3) < 3) {
    add('probes/liveness', owner, 'livenessProbe.failureThreshold below 3 restarts a pod on one slow answer');
  }
  if (startupBudget < 30)
    add('probes/startup', owner, `startupProbe allows ${startupBudget} s to start, give it at least 30`);
  if ((container.readinessProbe?.periodSeconds ?? 10) > 10)
    add('probes/readiness', owner, 'readinessProbe.periodSeconds above 10');

  // Shutdown: drain (endpoints propagate) + shutdown timeout (in-flight requests) < grace period.
  const drainMs = numberEnv(container, 'DRAIN_DELAY_MS', 5000);
  const shutdownMs = numberEnv(container, 'SHUTDOWN_TIMEOUT_MS', 10_000);
  const graceMs = (template.spec.terminationGracePeriodSeconds ?? 30) * 1000;
  if (drainMs < 5000)
    add('shutdown/drain', owner, `DRAIN_DELAY_MS ${drainMs} is shorter than the 5 s endpoints need to propagate`);
  if (graceMs < drainMs + shutdownMs + 5000) {
    add(
      'shutdown/grace',
      owner,
      `terminationGracePeriodSeconds ${graceMs / 1000} must exceed DRAIN_DELAY_MS + SHUTDOWN_TIMEOUT_MS + 5 s (${(drainMs + shutdownMs + 5000) / 1000} s)`,
    );
  }
  if (app.name === 'frontend' && shutdownMs < numberEnv(container, 'UPSTREAM_TIMEOUT_MS', 10_000)) {
    add(
      'shutdown/in-flight',
      owner,
      'SHUTDOWN_TIMEOUT_MS is shorter than the longest proxied request (UPSTREAM_TIMEOUT_MS)',
    );
  }

  checkResources(template, add);
  checkSecurityContext(template, expected.appUid, expected.appGid, add);
  checkServiceAccount(objects, template, app.name, add);
  checkTmp(template, add);
  checkSpreading(template, expected.requiredAntiAffinity, add);
  checkService(
    objects,
    template,
    app.name,
    [
      { port: app.port, name: 'http' },
      { port: app.metricsPort, name: 'metrics' },
    ],
    add,
  );
  if (template.spec.enableServiceLinks !== false) {
    add('env/service-links', owner, 'enableServiceLinks must be false (no injected *_PORT variables)');
  }
}

function checkHpa(hpa: IHorizontalPodAutoscaler & K8sObject, app: AppExpectation, add: Add): void {
  const owner = ref(hpa);
  const spec = hpa.spec!;
  const want = app.hpa!;
  if (hpa.apiVersion !== 'autoscaling/v2')
    add('hpa/version', owner, `apiVersion ${hpa.apiVersion}, expected autoscaling/v2`);
  if (spec.scaleTargetRef.kind !== 'Deployment' || spec.scaleTargetRef.apiVersion !== 'apps/v1') {
    add('hpa/target', owner, `targets ${spec.scaleTargetRef.apiVersion} ${spec.scaleTargetRef.kind}`);
  }
  if (spec.minReplicas !== want.min || spec.maxReplicas !== want.max) {
    add('hpa/bounds', owner, `scales ${spec.minReplicas}-${spec.maxReplicas}, expected ${want.min}-${want.max}`);
  }
  const utilization = (name: string): number | undefined =>
    spec.metrics?.find(
      (metric) =>
        metric.type === 'Resource' && metric.resource?.name === name && metric.resource.target.type === 'Utilization',
    )?.resource?.target.averageUtilization;
  if (utilization('cpu') !== want.cpuUtilization)
    add('hpa/cpu', owner, `CPU target ${utilization('cpu')}%, expected ${want.cpuUtilization}%`);
  if (utilization('memory') !== want.memoryUtilization) {
    add('hpa/memory', owner, `memory target ${utilization('memory')}%, expected ${want.memoryUtilization}%`);
  }
  if ((spec.metrics ?? []).length !== 2) add('hpa/metrics', owner, 'must scale on exactly CPU and memory');
  const window = spec.behavior?.scaleDown?.stabilizationWindowSeconds;
  if (window === undefined || window < 60)
    add('hpa/scale-down', owner, `scale-down stabilization window ${window ?? 'unset'} (< 60 s)`);
}

function checkDisruptionBudgets(objects: readonly K8sObject[], expected: Expectations, add: Add): void {
  const budgets = objects.filter((object) => object.kind === 'PodDisruptionBudget') as (IPodDisruptionBudget &
    K8sObject)[];
  const templates = podTemplates(objects);
  for (const budget of budgets) {
    const selected = templates.filter((template) => selectorMatches(budget.spec?.selector, template.labels));
    if (selected.length === 0) add('pdb/selector', ref(budget), 'selects no pods');
    for (const template of selected) {
      const app = expected.apps.find((candidate) => candidate.name === template.owner.metadata.name);
      const minReplicas =
        app?.hpa?.min ?? app?.replicas ?? (template.owner.spec as { replicas?: number } | undefined)?.replicas ?? 1;
      const minAvailable = budget.spec?.minAvailable;
      if (typeof minAvailable === 'number' && minAvailable >= minReplicas) {
        add(
          'pdb/blocks-drain',
          ref(budget),
          `minAvailable ${minAvailable} with ${minReplicas} replica(s) blocks every node drain`,
        );
      }
    }
  }
  for (const app of expected.apps) {
    const template = templates.find(
      (candidate) => candidate.owner.kind === 'Deployment' && candidate.owner.metadata.name === app.name,
    );
    if (!template) continue;
    const covering = budgets.filter((budget) => selectorMatches(budget.spec?.selector, template.labels));
    if (app.pdbMinAvailable === undefined) {
      if (covering.length > 0)
        add('pdb/unexpected', `Deployment/${app.name}`, 'has a PodDisruptionBudget in this target');
    } else if (covering.length !== 1 || covering[0]!.spec?.minAvailable !== app.pdbMinAvailable) {
      add(
        'pdb/exists',
        `Deployment/${app.name}`,
        `needs one PodDisruptionBudget with minAvailable ${app.pdbMinAvailable}`,
      );
    }
  }
}

/** redis.conf plus the files it includes from the same ConfigMap: directive -> last value. */
function effectiveRedisConfig(
  configMap: IConfigMap,
  mountPath: string,
  items: { key: string; path: string }[],
): Map<string, string> {
  const files = new Map(items.map((item) => [`${mountPath}/${item.path}`, configMap.data?.[item.key] ?? '']));
  const settings = new Map<string, string>();
  const read = (file: string, depth: number): void => {
    const text = files.get(file);
    if (text === undefined || depth > 5)
      throw new Error(`redis config includes ${file}, which the ConfigMap does not provide`);
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const [directive, ...rest] = line.split(/\s+/);
      const value = rest.join(' ').replace(/^"(.*)"$/, '$1');
      if (directive === 'include') read(value, depth + 1);
      else settings.set(directive!.toLowerCase(), value);
    }
  };
  read(`${mountPath}/redis.conf`, 0);
  return settings;
}

function checkRedis(objects: readonly K8sObject[], expected: Expectations, add: Add): void {
  const statefulSet = findObject(objects, 'StatefulSet', 'redis') as (IStatefulSet & K8sObject) | undefined;
  if (!statefulSet) {
    add('workloads/exists', 'StatefulSet/redis', 'is not in the output');
    return;
  }
  const owner = ref(statefulSet);
  const spec = statefulSet.spec!;
  const template = podTemplates([statefulSet])[0]!;
  const container = template.spec.containers.find((candidate) => candidate.name === 'redis');
  if (!container) {
    add('workloads/containers', owner, 'has no container named redis');
    return;
  }
  if ((spec.replicas ?? 1) !== 1) add('replicas/count', owner, `replicas ${spec.replicas}, expected 1`);
  if (spec.serviceName !== 'redis') add('redis/service-name', owner, `serviceName ${spec.serviceName}, expected redis`);
  if (port(container, 'redis') !== expected.redis.port)
    add('ports/container', owner, `container port redis is ${port(container, 'redis')}`);
  checkImage(container, expected.redis.image, owner, add);
  checkResources(template, add);
  checkSecurityContext(template, expected.redisUid, expected.redisGid, add);
  checkServiceAccount(objects, template, 'redis', add);
  checkTmp(template, add);
  checkService(objects, template, 'redis', [{ port: expected.redis.port }], add);

  // Configuration: from a ConfigMap, AOF on, fsync at the expected durability level (every second
  // unless the redis-durability-always component says always), a memory cap that refuses writes.
  const configMount = container.volumeMounts?.find((mount) => mount.mountPath === '/etc/redis');
  const configVolume = template.spec.volumes?.find((volume) => volume.name === configMount?.name)?.configMap;
  const configMap = configVolume
    ? (findObject(objects, 'ConfigMap', configVolume.name!) as (IConfigMap & K8sObject) | undefined)
    : undefined;
  const command = [...(container.command ?? []), ...(container.args ?? [])].join(' ');
  let parsedConfig: Map<string, string> | undefined;
  if (!configMap || !configVolume) {
    add('redis/config', owner, 'no ConfigMap mounted at /etc/redis');
  } else {
    if (!command.includes('/etc/redis/redis.conf'))
      add('redis/config', owner, 'redis-server does not load /etc/redis/redis.conf');
    const items = configVolume.items ?? Object.keys(configMap.data ?? {}).map((key) => ({ key, path: key }));
    try {
      const config = effectiveRedisConfig(configMap, '/etc/redis', items);
      parsedConfig = config;
      const want: Record<string, string> = {
        appendonly: 'yes',
        appendfsync: expected.redis.appendfsync,
        'maxmemory-policy': 'noeviction',
        dir: '/data',
      };
      for (const [directive, value] of Object.entries(want)) {
        if (config.get(directive) !== value)
          add('redis/config', owner, `${directive} is ${config.get(directive) ?? 'unset'}, expected ${value}`);
      }
      if (config.has('requirepass')) add('secrets/in-config', ref(configMap), 'requirepass is in the ConfigMap');
      const maxmemory = config.get('maxmemory');
      const limit = container.resources?.limits?.memory;
      if (!maxmemory || parseRedisBytes(maxmemory) === 0)
        add('redis/maxmemory', owner, 'maxmemory must be set (a store needs a cap)');
      else if (limit !== undefined && parseRedisBytes(maxmemory) * 2 > parseQuantity(limit)) {
        add(
          'redis/maxmemory',
          owner,
          `maxmemory ${maxmemory} is more than half the memory limit ${limit} (fork for AOF rewrite)`,
        );
      } else {
        checkRedisData(statefulSet, template, container, parseRedisBytes(maxmemory), expected.redis.persistent, add);
      }
    } catch (error) {
      add('redis/config', owner, error instanceof Error ? error.message : String(error));
    }
  }

  checkDangerousOptions(command, parsedConfig, owner, add);
  checkRedisAuth(template, container, expected, add);
}

function checkRedisData(
  statefulSet: IStatefulSet & K8sObject,
  template: PodTemplate,
  container: Container,
  maxmemory: number,
  persistent: boolean,
  add: Add,
): void {
  const owner = ref(statefulSet);
  const mount = container.volumeMounts?.find((candidate) => candidate.mountPath === '/data');
  if (!mount) {
    add('redis/data', owner, 'nothing is mounted at /data');
    return;
  }
  const volume = template.spec.volumes?.find((candidate) => candidate.name === mount.name);
  const claim = statefulSet.spec?.volumeClaimTemplates?.find((candidate) => candidate.metadata?.name === mount.name);
  if (persistent) {
    if (volume) add('redis/persistence', owner, `/data is the pod volume ${mount.name}, not a PersistentVolumeClaim`);
    if (!claim) {
      add('redis/persistence', owner, `no volumeClaimTemplate ${mount.name}`);
      return;
    }
    const storage = claim.spec?.resources?.requests?.storage;
    if (!claim.spec?.accessModes?.includes('ReadWriteOnce'))
      add('redis/persistence', owner, 'the claim must be ReadWriteOnce');
    if (storage === undefined || parseQuantity(storage) < 4 * maxmemory) {
      add('redis/persistence', owner, `claim of ${storage} holds less than 4x maxmemory (AOF, its rewrite and an RDB)`);
    }
    if (statefulSet.spec?.persistentVolumeClaimRetentionPolicy?.whenDeleted !== 'Retain') {
      add('redis/persistence', owner, 'deleting the StatefulSet must keep the claim (whenDeleted: Retain)');
    }
  } else {
    if (claim) add('redis/persistence', owner, 'has a volumeClaimTemplate without the redis-persistence component');
    if (!volume?.emptyDir)
      add('redis/data', owner, '/data must be an emptyDir without the redis-persistence component');
  }
}

const SENSITIVE_ENV = /PASSWORD|SECRET|TOKEN|API_?KEY|CREDENTIAL/i;

function checkSecrets(objects: readonly K8sObject[], expected: Expectations, add: Add): void {
  const references = new Map<string, string>();
  for (const template of podTemplates(objects)) {
    for (const { container } of allContainers(template.spec)) {
      for (const variable of container.env ?? []) {
        if (SENSITIVE_ENV.test(variable.name) && variable.value !== undefined) {
          add(
            'secrets/literal',
            template.ref,
            `${container.name} env ${variable.name} is a literal value, use a secretKeyRef`,
          );
        }
        const secretRef = variable.valueFrom?.secretKeyRef;
        // The monitoring component's redis_exporter sidecar logs in with a Secret of its own
        // (checked by secrets/consumers): the one Redis and the backend share is the server's.
        if (secretRef && variable.name === 'REDIS_PASSWORD' && container.name !== 'redis-exporter')
          references.set(template.ref, `${secretRef.name}/${secretRef.key}`);
      }
    }
  }
  const backend = references.get('Deployment/backend');
  const redis = references.get('StatefulSet/redis');
  if (expected.redis.auth === 'acl') {
    // Redis holds no password (checkRedisAuth); the backend logs in as its own user.
    if (!backend)
      add(
        'secrets/redis-password',
        'Deployment/backend',
        'REDIS_PASSWORD must come from the Secret redis-auth (the backend user password)',
      );
    checkBackendLogin(
      podTemplates(objects).find((template) => template.ref === 'Deployment/backend'),
      expected,
      add,
    );
  } else if (!backend || backend !== redis) {
    add(
      'secrets/redis-password',
      'Deployment/backend',
      `backend reads ${backend ?? 'nothing'}, redis ${redis ?? 'nothing'}: they must share one Secret key`,
    );
  }
  const secrets = objects.filter((object) => object.kind === 'Secret');
  if (expected.secretFromFile) {
    const name = backend?.split('/')[0];
    const generated = secrets.find((secret) => secret.metadata.name === name);
    if (!generated || !/^redis-auth-[a-z0-9]{10}$/.test(generated.metadata.name)) {
      add(
        'secrets/generated',
        `Secret/${name}`,
        'the generated Secret (with a content hash in its name) is not what the pods reference',
      );
    }
  } else {
    for (const secret of secrets)
      add('secrets/in-repo', ref(secret), 'a Secret in the rendered output comes from the repository');
    if (backend && backend !== 'redis-auth/password')
      add(
        'secrets/redis-password',
        'Deployment/backend',
        `reads ${backend}, the documented Secret is redis-auth/password`,
      );
  }
}

function checkIngress(objects: readonly K8sObject[], expected: Expectations, add: Add): void {
  for (const object of objects.filter((candidate) => ['Gateway', 'HTTPRoute'].includes(candidate.kind)))
    add('ingress/one-entry', ref(object), 'a Gateway API object next to the Ingress: two ways in, two sets of rules');
  const ingresses = objects.filter((object) => object.kind === 'Ingress') as (IIngress & K8sObject)[];
  if (ingresses.length !== 1) {
    add('ingress/count', 'Ingress', `expected exactly one Ingress, found ${ingresses.length}`);
    return;
  }
  const ingress = ingresses[0]!;
  const owner = ref(ingress);
  const spec = ingress.spec ?? {};
  if (spec.ingressClassName !== expected.ingress.className)
    add('ingress/class', owner, `class ${spec.ingressClassName}, expected ${expected.ingress.className}`);
  if (spec.defaultBackend) add('ingress/default-backend', owner, 'must not have a defaultBackend');
  const rules = spec.rules ?? [];
  if (rules.length !== 1 || rules[0]!.host !== expected.ingress.host) {
    add(
      'ingress/host',
      owner,
      `hosts ${rules.map((rule) => rule.host).join(', ')}, expected only ${expected.ingress.host}`,
    );
  }
  const frontend = findObject(objects, 'Service', 'frontend') as (IService & K8sObject) | undefined;
  for (const path of rules.flatMap((rule) => rule.http?.paths ?? [])) {
    const service = path.backend.service;
    const servicePort = frontend?.spec?.ports?.find((candidate) =>
      service?.port?.name !== undefined
        ? candidate.name === service.port.name
        : candidate.port === service?.port?.number,
    );
    // Only the http port: the metrics port must never be reachable from outside.
    if (service?.name !== 'frontend' || !servicePort || servicePort.port !== 8080 || servicePort.name !== 'http') {
      add(
        'ingress/backend',
        owner,
        `path ${path.path} goes to ${service?.name}:${service?.port?.name ?? service?.port?.number}, expected frontend:http (8080)`,
      );
    }
  }
  // One browser, one frontend pod (a cookie): a page and the hashed assets it names come from the
  // same release while a rollout or a blue-green switch has two serving (base/ingress.yaml).
  const annotations = ingress.metadata?.annotations ?? {};
  if (annotations['nginx.ingress.kubernetes.io/affinity'] !== 'cookie') {
    add('ingress/affinity', owner, 'no cookie affinity: during a rollout a page could ask an old pod for new assets');
  } else if (annotations['nginx.ingress.kubernetes.io/affinity-mode'] !== 'persistent') {
    add('ingress/affinity', owner, 'affinity-mode is not persistent: adding a pod would move sessions mid-rollout');
  }
  checkIngressTls(objects, ingress, expected, add);
  checkIngressLimits(ingress, add);
  // ingress-nginx's default access log format has the request line, whose path holds a list id:
  // the credential. The services' JSON lines (route template, short tag) are the access log.
  if (annotations['nginx.ingress.kubernetes.io/enable-access-log'] !== 'false') {
    add(
      'ingress/access-log',
      owner,
      'enable-access-log must be "false": the controller would log every list id in full (the request line)',
    );
  }
  // A snippet can set any nginx directive: an access_log back on, a header removed, a limit lifted.
  for (const key of Object.keys(annotations).filter((name) => /snippet$/.test(name))) {
    add('ingress/snippet', owner, `${key}: raw nginx configuration can undo every setting the audit checks`);
  }
}

const NGINX = 'nginx.ingress.kubernetes.io';

/**
 * HTTPS in prod (and wherever the ingress-tls component is): a TLS section for the host, plain HTTP
 * redirected, HSTS (sent by the frontend when it trusts the controller's X-Forwarded-Proto; the
 * controller's own default adds it too), the affinity cookie Secure. Without TLS, none of it: a
 * Secure cookie over plain HTTP is dropped by browsers, and affinity with it.
 */
function checkIngressTls(
  objects: readonly K8sObject[],
  ingress: IIngress & K8sObject,
  expected: Expectations,
  add: Add,
) {
  const owner = ref(ingress);
  const annotations = ingress.metadata?.annotations ?? {};
  const tls = ingress.spec?.tls ?? [];
  const cookieSecure = annotations[`${NGINX}/session-cookie-secure`] === 'true';
  if (!expected.ingress.tls) {
    if (tls.length > 0) add('ingress/tls', owner, 'TLS without the ingress-tls component');
    if (cookieSecure) add('ingress/cookie-secure', owner, 'a Secure affinity cookie over plain HTTP: browsers drop it');
    return;
  }
  if (!tls.some((entry) => entry.hosts?.includes(expected.ingress.host) && entry.secretName)) {
    add('ingress/tls', owner, `no TLS for ${expected.ingress.host}: list links (the credential) in clear text`);
  }
  // ssl-redirect is on by default once there is TLS; force-ssl-redirect makes it explicit.
  if (annotations[`${NGINX}/ssl-redirect`] === 'false' || annotations[`${NGINX}/force-ssl-redirect`] !== 'true') {
    add('ingress/https-redirect', owner, 'plain HTTP must be redirected to HTTPS (force-ssl-redirect "true")');
  }
  if (!cookieSecure) {
    add('ingress/cookie-secure', owner, 'session-cookie-secure must be "true": the affinity cookie only over HTTPS');
  }
  const frontend = podTemplates(objects).find((template) => template.ref === 'Deployment/frontend');
  const trusted = frontend ? (envValue(frontend.spec.containers[0]!, 'TRUST_PROXY') ?? '') : '';
  if (!trusted.split(',').some((entry) => ['uniquelocal', 'true'].includes(entry.trim()) || /^\d/.test(entry.trim()))) {
    add(
      'ingress/hsts',
      'Deployment/frontend',
      `TRUST_PROXY "${trusted}" does not trust the ingress controller: the frontend cannot tell HTTPS requests and sends no HSTS`,
    );
  }
}

/**
 * The first line of the abuse limits, per client address: a request rate with a burst, and
 * concurrent requests above what the backend allows in live-sync streams per address (its own 429
 * with Retry-After must be the refusal a client meets, not nginx's).
 */
function checkIngressLimits(ingress: IIngress & K8sObject, add: Add): void {
  const owner = ref(ingress);
  const annotations = ingress.metadata?.annotations ?? {};
  const integer = (key: string): number | undefined => {
    const value = annotations[`${NGINX}/${key}`];
    return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
  };
  const rps = integer('limit-rps');
  const burst = integer('limit-burst-multiplier');
  if (rps === undefined || rps < 1)
    add('ingress/rate-limit', owner, 'needs limit-rps (requests a second per client address)');
  if (burst === undefined || burst < 1)
    add('ingress/rate-limit', owner, 'needs limit-burst-multiplier (the burst a page load needs)');
  const connections = integer('limit-connections');
  const streams = ARCHITECTURE.eventStreamsPerClient;
  if (connections === undefined || connections < 1)
    add('ingress/connection-limit', owner, 'needs limit-connections (concurrent requests per client address)');
  else if (connections <= streams) {
    add(
      'ingress/connection-limit',
      owner,
      `limit-connections ${connections} is not above the ${streams} live-sync streams a client address may hold: nginx would refuse first, without Retry-After`,
    );
  }
}

function checkExposure(objects: readonly K8sObject[], add: Add): void {
  for (const object of objects) {
    if (object.kind !== 'Service') continue;
    const type = (object as IService & K8sObject).spec?.type ?? 'ClusterIP';
    if (type !== 'ClusterIP')
      add('services/type', ref(object), `type ${type} exposes it outside the cluster; only the entry may`);
  }
}

function checkMonitoring(objects: readonly K8sObject[], expected: Expectations, add: Add): void {
  const monitors = objects.filter((object) => object.kind === 'ServiceMonitor');
  const rules = objects.filter((object) => object.kind === 'PrometheusRule');
  if (!expected.monitoring) {
    for (const object of [...monitors, ...rules])
      add('monitoring/unexpected', ref(object), 'Prometheus Operator objects need the monitoring component');
    return;
  }
  for (const app of expected.apps) {
    const service = findObject(objects, 'Service', app.name) as (IService & K8sObject) | undefined;
    const monitor = monitors.find(
      (candidate) =>
        service !== undefined &&
        selectorMatches(
          get(candidate, 'spec', 'selector') as ILabelSelector | undefined,
          service.metadata.labels ?? {},
        ),
    );
    if (!monitor || !service) {
      add('monitoring/service-monitor', `Service/${app.name}`, 'no ServiceMonitor selects it');
      continue;
    }
    const endpoints =
      (monitor.spec as { endpoints?: { port?: string; targetPort?: string | number; path?: string }[] }).endpoints ??
      [];
    const portNames = new Set((service.spec?.ports ?? []).map((entry) => entry.name));
    if (
      !endpoints.some(
        (endpoint) =>
          endpoint.port !== undefined && portNames.has(endpoint.port) && (endpoint.path ?? '/metrics') === '/metrics',
      )
    ) {
      add('monitoring/service-monitor', ref(monitor), `must scrape /metrics on a named port of Service/${app.name}`);
    }
    // /metrics is served on the metrics port only; scraping http would read nothing (and needs
    // Prometheus admitted to the public port).
    for (const endpoint of endpoints) {
      const servicePort = (service.spec?.ports ?? []).find((entry) => entry.name === endpoint.port);
      if (endpoint.port !== 'metrics' || endpoint.targetPort !== undefined || servicePort?.port !== app.metricsPort) {
        add(
          'monitoring/scrape-port',
          ref(monitor),
          `scrapes ${endpoint.port ?? endpoint.targetPort} of Service/${app.name}, not its port metrics (${app.metricsPort})`,
        );
      }
    }
  }
  const alerts = rules
    .flatMap((rule) =>
      (
        (
          rule.spec as {
            groups?: {
              rules?: {
                alert?: string;
                expr?: string;
                for?: string;
                labels?: Record<string, string>;
                annotations?: Record<string, string>;
              }[];
            }[];
          }
        ).groups ?? []
      ).flatMap((group) => group.rules ?? []),
    )
    .filter((rule) => rule.alert !== undefined);
  const wanted: [string, RegExp][] = [
    ['high 5xx ratio', /status_code=~"5\.\."/],
    ['high latency', /histogram_quantile/],
    ['pods restarting', /kube_pod_container_status_restarts_total/],
    ['Redis down', /statefulset="redis"/],
    ['HPA at max replicas', /kube_horizontalpodautoscaler_spec_max_replicas/],
    // A backup that fails, or a CronJob left suspended, is otherwise silent until a restore.
    ...(expected.backup
      ? ([
          ['stale backups', /kube_cronjob_status_last_successful_time\{[^}]*cronjob="redis-backup"/],
          ['suspended backups', /kube_cronjob_spec_suspend\{[^}]*cronjob="redis-backup"/],
        ] as [string, RegExp][])
      : []),
  ];
  for (const [what, pattern] of wanted) {
    const alert = alerts.find((candidate) => pattern.test(candidate.expr ?? ''));
    if (!alert) add('monitoring/alerts', 'PrometheusRule', `no alert for ${what}`);
    else if (!alert.for || !alert.labels?.severity || !alert.annotations?.summary) {
      add('monitoring/alerts', `alert ${alert.alert}`, 'needs for, labels.severity and annotations.summary');
    }
  }
}

function checkNetworkPolicies(objects: readonly K8sObject[], expected: Expectations, add: Add): void {
  const matrix = connectionMatrix(objects, expected.namespace);
  const allowed = new Set(allowedFlowNames(matrix));
  // The metrics ports: Prometheus only, and Prometheus nowhere else (the ingress controller, above
  // all, must not reach them: the metrics would be public).
  for (const connection of matrix.connections.filter((candidate) => candidate.allowed)) {
    const name = connection.to.ports.find(
      (listen) => listen.port === connection.port && listen.protocol === connection.protocol,
    )?.name;
    const prometheus = connection.from.id === 'monitoring/prometheus';
    if (name === 'metrics' && !prometheus) {
      add(
        'netpol/metrics-port',
        'NetworkPolicy',
        `${connection.from.id} may reach ${connection.to.id}'s metrics port ${connection.port}`,
      );
    } else if (
      prometheus &&
      connection.to.namespace === expected.namespace &&
      name !== 'metrics' &&
      // The Gateway's own pods serve the public: anyone may reach them, Prometheus too.
      connection.to.id !== `${expected.namespace}/${GATEWAY_POD}`
    ) {
      add(
        'netpol/metrics-port',
        'NetworkPolicy',
        `Prometheus may reach ${connection.to.id}:${connection.port}, which is not a metrics port`,
      );
    }
  }
  const wanted = new Set(expected.flows.map(flowName));
  for (const flow of allowed) if (!wanted.has(flow)) add('netpol/unexpected-flow', 'NetworkPolicy', `allows ${flow}`);
  for (const flow of wanted) if (!allowed.has(flow)) add('netpol/missing-flow', 'NetworkPolicy', `denies ${flow}`);
  const denyAll = objects.some(
    (object) =>
      object.kind === 'NetworkPolicy' &&
      JSON.stringify((object.spec as { podSelector?: unknown }).podSelector ?? null) === '{}' &&
      ['Ingress', 'Egress'].every((type) =>
        ((object.spec as { policyTypes?: string[] }).policyTypes ?? []).includes(type),
      ),
  );
  if (!denyAll)
    add('netpol/default-deny', 'NetworkPolicy', 'no default-deny policy for ingress and egress of every pod');
}
