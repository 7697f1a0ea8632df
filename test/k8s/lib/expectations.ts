import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ACME_SOLVER_POD,
  ENVOY_POD,
  type FlowKey,
  GATEWAY_POD,
  NGF_CONTROL_PLANE,
  OTEL_COLLECTOR_POD,
  outsideClients,
} from './netpol.ts';
import { includedComponents, k8sDir, type Target } from './render.ts';

/** What the architecture (docs/architecture.md) says the rendered manifests must be, per target. */

export interface AppExpectation {
  name: 'frontend' | 'backend';
  port: number;
  /** The container port `metrics` (METRICS_PORT): /metrics is served there only, never on `port`. */
  metricsPort: number;
  /** Replicas when nothing scales it; with an HPA the Deployment has none and minReplicas rules. */
  replicas: number;
  hpa?: { min: number; max: number; cpuUtilization: number; memoryUtilization: number };
  pdbMinAvailable?: number;
  /** Literal environment the app must get. */
  env: Record<string, string>;
}

export interface Expectations {
  namespace: string;
  version: string;
  appUid: number;
  appGid: number;
  redisUid: number;
  /** The official redis image's group (GID 1000), so files in /data stay readable to its tools. */
  redisGid: number;
  apps: AppExpectation[];
  /**
   * appendfsync: the durability level (`always` with the redis-durability-always component).
   * auth: how clients log in. `requirepass`: one password (Secret redis-auth) that Redis, its
   * probes and the backend share. `acl` (the redis-acl component): Redis loads its users from an
   * ACL file in the Secret redis-acl and holds no password; probes log in as `probe`, the backend
   * as `backend` with its password from redis-auth.
   */
  redis: {
    port: number;
    image: string;
    persistent: boolean;
    appendfsync: 'everysec' | 'always';
    auth: 'requirepass' | 'acl';
  };
  /** The redis-backup component: an hourly backup CronJob as the ACL user `backup`. */
  backup: boolean;
  /**
   * The way in from outside: `ingress` (base/ingress.yaml, for ingress-nginx) or `gateway` (the
   * gateway-api component: a Gateway and HTTPRoutes, HTTPS only).
   */
  entry: 'ingress' | 'gateway';
  /**
   * tls: HTTPS only (the ingress-tls component, which prod includes, or the Gateway entry):
   * redirect, HSTS, Secure cookie. A prod without it is a finding, not a different expectation.
   */
  ingress: { className: string; host: string; tls: boolean };
  /** The cert-manager component: a Certificate that keeps the entry's TLS Secret issued. */
  certManager: boolean;
  /** app.kubernetes.io/managed-by on every object: kustomize, or Helm for the chart's output. */
  managedBy: string;
  monitoring: boolean;
  /** The tracing component: OTLP to the collector, and the NetworkPolicy that lets it through. */
  tracing: boolean;
  requiredAntiAffinity: boolean;
  secretFromFile: boolean;
  /** The only connections the NetworkPolicies may allow (where one side is a tasktier pod). */
  flows: FlowKey[];
}

const rootPackage = JSON.parse(readFileSync(join(k8sDir, '..', '..', 'package.json'), 'utf8')) as { version: string };

export const ARCHITECTURE = {
  namespace: 'tasktier',
  ports: { frontend: 8080, backend: 5000, redis: 6379 },
  /** METRICS_PORT of each service (the services' defaults too). */
  metricsPorts: { frontend: 9465, backend: 9464 },
  /**
   * TRUST_PROXY of both app tiers in Kubernetes: private, link-local and loopback peers. Safe
   * because the NetworkPolicies admit only the ingress controller to the frontend's http port and
   * only the frontend to the backend's.
   */
  trustProxy: 'loopback,linklocal,uniquelocal',
  /** The backend's EVENT_STREAMS_PER_CLIENT default: the Ingress's connection limit stays above it. */
  eventStreamsPerClient: 100,
  appUid: 1000,
  appGid: 1000,
  redisUid: 999,
  redisGid: 1000,
  hpa: { min: 2, max: 10, cpuUtilization: 70, memoryUtilization: 80 },
  host: 'microservices.local',
  ingressClass: 'nginx',
  /**
   * ACL mode (redis-acl): the Secrets and users the manifests refer to. The users themselves are
   * in deploy/redis/users.acl.template (redis-durability.test.ts checks the names agree).
   */
  acl: {
    secret: 'redis-acl',
    fileKey: 'users.acl',
    backupPasswordKey: 'backup-password',
    users: { backend: 'backend', backup: 'backup', probe: 'probe' },
  },
} as const;

/**
 * The components whose effect the architecture audit models (see expectationsFor). They are
 * audited in every combination. Components that change how the tiers run (blue-green,
 * argo-rollouts) have their own tests, as have redis-durability-always, redis-acl and
 * redis-backup (redis-durability.test.ts, with the audit expecting `always`, ACL logins and the
 * backup CronJob; prod includes redis-acl and redis-backup, so every prod combination audits
 * them); the render test still renders each of them on every target and checks schemas, Pod
 * Security and namespaces.
 */
export const AUDITED_COMPONENTS = [
  'ingress-tls',
  'monitoring',
  'redis-persistence',
  'redis-secret-from-file',
  'required-anti-affinity',
  'tracing',
] as const;

/**
 * The architecture's flows; with `backup` (the redis-backup component) also the backup Job's one
 * connection, redis-backup -> redis:6379, and its DNS lookups. Nothing else.
 */
export function expectedFlows(
  namespace: string,
  options: {
    backup?: boolean;
    entry?: 'ingress' | 'gateway';
    certManager?: boolean;
    monitoring?: boolean;
    tracing?: boolean;
  } = {},
): FlowKey[] {
  const dns = 'kube-system/kube-dns';
  const tcp = (from: string, to: string, port: number): FlowKey => ({ from, to, port, protocol: 'TCP' });
  const gatewayPod = `${namespace}/${GATEWAY_POD}`;
  // The Gateway's pods: in this namespace (NGINX Gateway Fabric) with their own rules, or in Envoy
  // Gateway's namespace. Everybody outside the namespace may reach the in-namespace ones on 80/443.
  const gateway: FlowKey[] =
    options.entry === 'gateway'
      ? [
          tcp(ENVOY_POD, `${namespace}/frontend`, 8080),
          tcp(gatewayPod, `${namespace}/frontend`, 8080),
          { from: gatewayPod, to: dns, port: 53, protocol: 'UDP' },
          tcp(gatewayPod, dns, 53),
          tcp(gatewayPod, NGF_CONTROL_PLANE, 8443),
          ...outsideClients(namespace).flatMap((client) => [tcp(client, gatewayPod, 80), tcp(client, gatewayPod, 443)]),
        ]
      : [tcp('ingress-nginx/controller', `${namespace}/frontend`, 8080)];
  // cert-manager's HTTP-01 solver: reached by whichever entry is installed, on its port only.
  const solver: FlowKey[] = options.certManager
    ? ['ingress-nginx/controller', gatewayPod, ENVOY_POD].map((from) =>
        tcp(from, `${namespace}/${ACME_SOLVER_POD}`, 8089),
      )
    : [];
  const backup: FlowKey[] = options.backup
    ? [
        { from: `${namespace}/redis-backup`, to: `${namespace}/redis`, port: 6379, protocol: 'TCP' },
        { from: `${namespace}/redis-backup`, to: dns, port: 53, protocol: 'UDP' },
        { from: `${namespace}/redis-backup`, to: dns, port: 53, protocol: 'TCP' },
      ]
    : [];
  return [
    ...gateway,
    ...solver,
    { from: `${namespace}/frontend`, to: `${namespace}/backend`, port: 5000, protocol: 'TCP' },
    { from: `${namespace}/backend`, to: `${namespace}/redis`, port: 6379, protocol: 'TCP' },
    { from: `${namespace}/frontend`, to: dns, port: 53, protocol: 'UDP' },
    { from: `${namespace}/frontend`, to: dns, port: 53, protocol: 'TCP' },
    { from: `${namespace}/backend`, to: dns, port: 53, protocol: 'UDP' },
    { from: `${namespace}/backend`, to: dns, port: 53, protocol: 'TCP' },
    // Prometheus scrapes the metrics ports only.
    { from: 'monitoring/prometheus', to: `${namespace}/frontend`, port: 9465, protocol: 'TCP' },
    { from: 'monitoring/prometheus', to: `${namespace}/backend`, port: 9464, protocol: 'TCP' },
    ...backup,
    // The monitoring component's redis_exporter sidecar.
    ...(options.monitoring
      ? [{ from: 'monitoring/prometheus', to: `${namespace}/redis`, port: 9121, protocol: 'TCP' } as FlowKey]
      : []),
    // The tracing component: the apps export spans to the collector, OTLP/HTTP only.
    ...(options.tracing
      ? [tcp(`${namespace}/frontend`, OTEL_COLLECTOR_POD, 4318), tcp(`${namespace}/backend`, OTEL_COLLECTOR_POD, 4318)]
      : []),
  ];
}

export function expectationsFor(target: Target, components: readonly string[]): Expectations {
  const all = new Set([...includedComponents(target), ...components]);
  const prod = target === 'overlays/prod';
  const entry = all.has('gateway-api') ? 'gateway' : 'ingress';
  const replicas = target === 'overlays/dev' ? 1 : 2;
  const { ports, metricsPorts, trustProxy } = ARCHITECTURE;
  const app = (name: 'frontend' | 'backend', env: Record<string, string>): AppExpectation => ({
    name,
    port: ports[name],
    metricsPort: metricsPorts[name],
    replicas,
    ...(all.has('autoscaling') ? { hpa: { ...ARCHITECTURE.hpa }, pdbMinAvailable: 1 } : {}),
    env: { ...env, METRICS_PORT: String(metricsPorts[name]), TRUST_PROXY: trustProxy },
  });
  return {
    namespace: ARCHITECTURE.namespace,
    version: rootPackage.version,
    appUid: ARCHITECTURE.appUid,
    appGid: ARCHITECTURE.appGid,
    redisUid: ARCHITECTURE.redisUid,
    redisGid: ARCHITECTURE.redisGid,
    apps: [
      app('frontend', { PORT: String(ports.frontend), BACKEND_URL: `http://backend:${ports.backend}` }),
      app('backend', { PORT: String(ports.backend), REDIS_URL: `redis://redis:${ports.redis}` }),
    ],
    redis: {
      port: ports.redis,
      image: 'redis:7-alpine',
      persistent: all.has('redis-persistence'),
      appendfsync: all.has('redis-durability-always') ? 'always' : 'everysec',
      auth: all.has('redis-acl') ? 'acl' : 'requirepass',
    },
    backup: all.has('redis-backup'),
    entry,
    ingress: {
      className: ARCHITECTURE.ingressClass,
      host: ARCHITECTURE.host,
      tls: prod || all.has('ingress-tls') || entry === 'gateway',
    },
    certManager: all.has('cert-manager'),
    managedBy: 'kustomize',
    monitoring: all.has('monitoring'),
    tracing: all.has('tracing'),
    requiredAntiAffinity: all.has('required-anti-affinity'),
    secretFromFile: all.has('redis-secret-from-file'),
    flows: expectedFlows(ARCHITECTURE.namespace, {
      backup: all.has('redis-backup'),
      entry,
      certManager: all.has('cert-manager'),
      monitoring: all.has('monitoring'),
      tracing: all.has('tracing'),
    }),
  };
}
