import type { ILabelSelector } from '@kubernetes-models/apimachinery/apis/meta/v1/LabelSelector';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer';
import type { INetworkPolicyPort } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPort';
import { type K8sObject, podTemplates } from './types.ts';

/**
 * A NetworkPolicy evaluator with the semantics of the Kubernetes API (as the Kubernetes
 * documentation's page "Network Policies" states them):
 *  - a policy applies to the pods of its own namespace that its podSelector selects ({} = all);
 *  - its policyTypes say which directions it isolates; when absent: Ingress, plus Egress if it
 *    has egress rules;
 *  - a pod not selected by any policy of a direction is not isolated in that direction (all
 *    allowed); a selected pod allows only what the union of those policies' rules allows;
 *  - a connection happens only if the client's egress AND the server's ingress allow it;
 *  - a rule with no `from`/`to` matches every peer, with no `ports` every port; a peer with
 *    podSelector only means pods of the policy's namespace, namespaceSelector only means all pods
 *    of the selected namespaces, both in one peer means those pods of those namespaces (AND),
 *    separate peers are alternatives (OR); ipBlock matches by address, minus `except`;
 *  - ports: protocol defaults to TCP; a numeric port (with optional endPort range) or a named port
 *    resolved against the destination pod's container ports;
 *  - label selectors with matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist).
 * Traffic from a pod's own node (kubelet probes) is always allowed and is not modelled.
 */

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface ListenPort {
  port: number;
  protocol: Protocol;
  name?: string;
}

/** A pod (namespace + labels) or an address outside the cluster's pods (no namespace). */
export interface Endpoint {
  id: string;
  ip: string;
  namespace?: string;
  namespaceLabels?: Record<string, string>;
  labels?: Record<string, string>;
  ports: ListenPort[];
}

export interface Connection {
  from: Endpoint;
  to: Endpoint;
  port: number;
  protocol: Protocol;
}

export type Policy = INetworkPolicy & { metadata: { name: string; namespace?: string } };

export function selectorMatches(selector: ILabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const expression of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, expression.key);
    const value = labels[expression.key];
    const values = expression.values ?? [];
    switch (expression.operator) {
      case 'In':
        if (!has || !values.includes(value!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(value!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        throw new Error(`unknown label selector operator ${expression.operator}`);
    }
  }
  return true;
}

function ipToNumber(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((part) => !Number.isInteger(part) || part < 0 || part > 255)) {
    throw new Error(`not an IPv4 address: ${ip}`);
  }
  return parts.reduce((sum, part) => sum * 256 + part, 0);
}

export function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const prefix = Number(bits ?? '32');
  if (prefix === 0) return true;
  const size = 2 ** (32 - prefix);
  return Math.floor(ipToNumber(ip) / size) === Math.floor(ipToNumber(base!) / size);
}

function peerMatches(peer: INetworkPolicyPeer, policyNamespace: string, other: Endpoint): boolean {
  if (peer.ipBlock) {
    return inCidr(other.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((cidr) => inCidr(other.ip, cidr));
  }
  if (other.namespace === undefined) return false; // selectors only ever select pods
  if (!peer.podSelector && !peer.namespaceSelector) return false; // rejected by the API server anyway
  if (peer.namespaceSelector) {
    const namespaceLabels = { 'kubernetes.io/metadata.name': other.namespace, ...other.namespaceLabels };
    if (!selectorMatches(peer.namespaceSelector, namespaceLabels)) return false;
  } else if (other.namespace !== policyNamespace) {
    return false;
  }
  return selectorMatches(peer.podSelector, other.labels ?? {});
}

function portMatches(rulePort: INetworkPolicyPort, destination: Endpoint, port: number, protocol: Protocol): boolean {
  if ((rulePort.protocol ?? 'TCP') !== protocol) return false;
  if (rulePort.port === undefined) return true;
  if (typeof rulePort.port === 'number') {
    return rulePort.endPort === undefined ? port === rulePort.port : port >= rulePort.port && port <= rulePort.endPort;
  }
  if (/^\d+$/.test(rulePort.port)) return port === Number(rulePort.port);
  // A named port: the destination pod must have a container port of that name, number and protocol.
  return destination.ports.some(
    (listen) => listen.name === rulePort.port && listen.port === port && listen.protocol === protocol,
  );
}

function policyTypes(policy: Policy): string[] {
  const declared = policy.spec?.policyTypes;
  if (declared && declared.length > 0) return declared;
  return (policy.spec?.egress?.length ?? 0) > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}

function policiesFor(policies: readonly Policy[], pod: Endpoint, direction: 'Ingress' | 'Egress'): Policy[] {
  return policies.filter(
    (policy) =>
      (policy.metadata.namespace ?? 'default') === pod.namespace &&
      policyTypes(policy).includes(direction) &&
      selectorMatches(policy.spec?.podSelector, pod.labels ?? {}),
  );
}

export interface Verdict {
  allowed: boolean;
  /** Policies that let it through on each side, or why not. */
  reason: string;
}

/**
 * One side of a connection: the client's egress or the server's ingress. The names of the policies
 * that let it through (or that it is not isolated), or, when denied, the policies isolating it.
 */
function judgeSide(
  policies: readonly Policy[],
  { from, to, port, protocol }: Connection,
  direction: 'Egress' | 'Ingress',
): { allowed: boolean; reason: string } {
  const side = direction.toLowerCase();
  // The pod the policies select, and the peer their rules must name.
  const [pod, peer] = direction === 'Egress' ? [from, to] : [to, from];
  const namespace = pod.namespace;
  if (namespace === undefined) return { allowed: true, reason: `not isolated for ${side}` };
  const applying = policiesFor(policies, pod, direction);
  if (applying.length === 0) return { allowed: true, reason: `not isolated for ${side}` };
  const allowing = applying.filter((policy) => {
    const rules =
      direction === 'Egress'
        ? (policy.spec?.egress ?? []).map((rule) => ({ peers: rule.to, ports: rule.ports }))
        : (policy.spec?.ingress ?? []).map((rule) => ({ peers: rule.from, ports: rule.ports }));
    return rules.some(
      (rule) =>
        (rule.peers === undefined ||
          rule.peers.length === 0 ||
          rule.peers.some((p) => peerMatches(p, namespace, peer))) &&
        (rule.ports === undefined ||
          rule.ports.length === 0 ||
          rule.ports.some((rulePort) => portMatches(rulePort, to, port, protocol))),
    );
  });
  const names = (list: Policy[]) => list.map((p) => p.metadata.name).join(', ');
  return allowing.length === 0
    ? { allowed: false, reason: `${side} denied (isolated by ${names(applying)})` }
    : { allowed: true, reason: `${side} by ${names(allowing)}` };
}

/** Whether `connection` is allowed, with the policy names that decide it. */
export function evaluate(policies: readonly Policy[], connection: Connection): Verdict {
  const egress = judgeSide(policies, connection, 'Egress');
  if (!egress.allowed) return egress;
  const ingress = judgeSide(policies, connection, 'Ingress');
  if (!ingress.allowed) return ingress;
  return { allowed: true, reason: `${egress.reason}; ${ingress.reason}` };
}

/** The NetworkPolicies of a rendered output. */
export function networkPolicies(objects: readonly K8sObject[]): Policy[] {
  return objects.filter((object) => object.kind === 'NetworkPolicy') as unknown as Policy[];
}

/** One endpoint per rendered workload (replicas share labels), with the labels of its namespace. */
export function renderedPods(objects: readonly K8sObject[]): Endpoint[] {
  const namespaces = new Map<string, Record<string, string>>();
  for (const object of objects) {
    if (object.kind === 'Namespace') namespaces.set(object.metadata.name, object.metadata.labels ?? {});
  }
  return podTemplates(objects).map((template, index) => {
    const namespace = template.owner.metadata.namespace ?? 'default';
    return {
      id: `${namespace}/${template.owner.metadata.name}`,
      ip: `10.244.1.${10 + index}`,
      namespace,
      namespaceLabels: namespaces.get(namespace) ?? {},
      labels: template.labels,
      ports: (template.spec.containers ?? []).flatMap((container) =>
        (container.ports ?? []).map((port) => ({
          port: port.containerPort,
          protocol: (port.protocol ?? 'TCP') as Protocol,
          ...(port.name ? { name: port.name } : {}),
        })),
      ),
    };
  });
}

/**
 * What surrounds tasktier in a cluster: the ingress controller and another pod in its namespace,
 * Prometheus and Grafana, cluster DNS and another kube-system pod, an unrelated app, a pod someone
 * starts in the tasktier namespace by hand, the API server and an address on the internet
 * (documentation range; nothing is ever sent anywhere, this is a model).
 */
function surroundings(tasktierNamespace: string, namespaceLabels: Record<string, string>): Endpoint[] {
  const tcp = (port: number, name?: string): ListenPort => ({ port, protocol: 'TCP', ...(name ? { name } : {}) });
  return [
    {
      id: 'ingress-nginx/controller',
      ip: '10.244.2.10',
      namespace: 'ingress-nginx',
      labels: {
        'app.kubernetes.io/name': 'ingress-nginx',
        'app.kubernetes.io/instance': 'ingress-nginx',
        'app.kubernetes.io/component': 'controller',
      },
      ports: [tcp(80, 'http'), tcp(443, 'https')],
    },
    {
      id: 'ingress-nginx/admission-job',
      ip: '10.244.2.11',
      namespace: 'ingress-nginx',
      labels: { 'app.kubernetes.io/name': 'ingress-nginx', 'app.kubernetes.io/component': 'admission-webhook' },
      ports: [],
    },
    {
      id: 'monitoring/prometheus',
      ip: '10.244.3.10',
      namespace: 'monitoring',
      labels: { 'app.kubernetes.io/name': 'prometheus', prometheus: 'kube-prometheus-stack-prometheus' },
      ports: [tcp(9090, 'web')],
    },
    {
      id: 'monitoring/grafana',
      ip: '10.244.3.11',
      namespace: 'monitoring',
      labels: { 'app.kubernetes.io/name': 'grafana' },
      ports: [tcp(3000, 'http')],
    },
    {
      id: 'kube-system/kube-dns',
      ip: '10.244.0.2',
      namespace: 'kube-system',
      labels: { 'k8s-app': 'kube-dns' },
      ports: [{ port: 53, protocol: 'UDP', name: 'dns' }, tcp(53, 'dns-tcp'), tcp(9153, 'metrics')],
    },
    {
      id: 'kube-system/metrics-server',
      ip: '10.244.0.3',
      namespace: 'kube-system',
      labels: { 'k8s-app': 'metrics-server' },
      ports: [tcp(10250, 'https')],
    },
    {
      id: 'default/other-app',
      ip: '10.244.4.10',
      namespace: 'default',
      labels: { app: 'other-app' },
      ports: [tcp(8080, 'http')],
    },
    {
      id: `${tasktierNamespace}/debug-pod`,
      ip: '10.244.1.99',
      namespace: tasktierNamespace,
      namespaceLabels,
      labels: { run: 'debug' },
      ports: [tcp(8080, 'http')],
    },
    // The Gateway entry's pods, as each implementation runs them (labels from their own manifests):
    // NGINX Gateway Fabric in the Gateway's namespace, with its control plane in nginx-gateway;
    // Envoy Gateway in its own namespace. Present in every model, admitted only where the
    // gateway-api component says so.
    {
      id: `${tasktierNamespace}/${GATEWAY_POD}`,
      ip: '10.244.1.98',
      namespace: tasktierNamespace,
      namespaceLabels,
      labels: { 'gateway.networking.k8s.io/gateway-name': 'tasktier', 'app.kubernetes.io/name': 'tasktier-nginx' },
      ports: [tcp(80), tcp(443)],
    },
    {
      id: ENVOY_POD,
      ip: '10.244.5.10',
      namespace: 'envoy-gateway-system',
      labels: {
        'app.kubernetes.io/name': 'envoy',
        'app.kubernetes.io/component': 'proxy',
        'gateway.envoyproxy.io/owning-gateway-name': 'tasktier',
        'gateway.envoyproxy.io/owning-gateway-namespace': 'tasktier',
      },
      ports: [tcp(10080), tcp(10443)],
    },
    {
      id: NGF_CONTROL_PLANE,
      ip: '10.244.5.20',
      namespace: 'nginx-gateway',
      labels: { 'app.kubernetes.io/name': 'nginx-gateway', 'app.kubernetes.io/instance': 'ngf' },
      ports: [tcp(8443, 'agent-grpc')],
    },
    // cert-manager's HTTP-01 solver, started in the Certificate's namespace while it is issued.
    {
      id: `${tasktierNamespace}/${ACME_SOLVER_POD}`,
      ip: '10.244.1.97',
      namespace: tasktierNamespace,
      namespaceLabels,
      labels: { 'acme.cert-manager.io/http01-solver': 'true' },
      ports: [tcp(8089, 'http')],
    },
    // An OpenTelemetry Collector (the opentelemetry-collector Helm chart's labels) with its OTLP
    // gRPC and HTTP receivers, its own metrics and health check, and another backend that also
    // takes OTLP in the same namespace: only the collector's 4318 is for tasktier.
    {
      id: OTEL_COLLECTOR_POD,
      ip: '10.244.6.10',
      namespace: 'observability',
      labels: { 'app.kubernetes.io/name': 'opentelemetry-collector', 'app.kubernetes.io/instance': 'otel-collector' },
      ports: [tcp(4317, 'otlp'), tcp(4318, 'otlp-http'), tcp(8888, 'metrics'), tcp(13133, 'health')],
    },
    {
      id: 'observability/jaeger',
      ip: '10.244.6.11',
      namespace: 'observability',
      labels: { 'app.kubernetes.io/name': 'jaeger' },
      ports: [tcp(4318, 'otlp-http'), tcp(16686, 'query')],
    },
    { id: 'kube-apiserver', ip: '172.18.0.2', ports: [tcp(6443)] },
    { id: 'internet', ip: '203.0.113.10', ports: [tcp(80), tcp(443)] },
  ];
}

/** The Gateway's data-plane pod in the app's namespace (NGINX Gateway Fabric, Istio). */
export const GATEWAY_POD = 'gateway-nginx';
/** Envoy Gateway's proxy pod for the Gateway tasktier, in Envoy Gateway's own namespace. */
export const ENVOY_POD = 'envoy-gateway-system/envoy-tasktier';
/** NGINX Gateway Fabric's control plane, which its data-plane pods fetch configuration from. */
export const NGF_CONTROL_PLANE = 'nginx-gateway/control-plane';
/** The OpenTelemetry Collector the tracing component exports to. */
export const OTEL_COLLECTOR_POD = 'observability/otel-collector';
/** cert-manager's ACME HTTP-01 solver pod. */
export const ACME_SOLVER_POD = 'acme-solver';

/** Ids of every modelled endpoint outside `namespace` (possible clients of a public entry). */
export function outsideClients(namespace: string): string[] {
  return surroundings(namespace, {})
    .filter((endpoint) => endpoint.namespace !== namespace)
    .map((endpoint) => endpoint.id);
}

export interface FlowKey {
  from: string;
  to: string;
  port: number;
  protocol: Protocol;
}

export const flowName = (flow: FlowKey): string => `${flow.from} -> ${flow.to}:${flow.port}/${flow.protocol}`;

export interface Matrix {
  endpoints: Endpoint[];
  /** Every connection that involves a pod of `namespace`, with its verdict. */
  connections: (Connection & Verdict)[];
}

/** The flows the matrix allows, each as flowName gives it, sorted. */
export function allowedFlowNames(matrix: Matrix): string[] {
  return matrix.connections
    .filter((connection) => connection.allowed)
    .map((connection) =>
      flowName({
        from: connection.from.id,
        to: connection.to.id,
        port: connection.port,
        protocol: connection.protocol,
      }),
    )
    .sort();
}

/** Evaluates every (source, destination, destination port) where either side is in `namespace`. */
export function connectionMatrix(objects: readonly K8sObject[], namespace: string): Matrix {
  const pods = renderedPods(objects);
  const namespaceObject = objects.find((object) => object.kind === 'Namespace' && object.metadata.name === namespace);
  const endpoints = [...pods, ...surroundings(namespace, namespaceObject?.metadata.labels ?? {})];
  const policies = networkPolicies(objects);
  const connections: (Connection & Verdict)[] = [];
  for (const from of endpoints) {
    for (const to of endpoints) {
      if (from === to) continue;
      if (from.namespace !== namespace && to.namespace !== namespace) continue;
      for (const listen of to.ports) {
        const connection = { from, to, port: listen.port, protocol: listen.protocol };
        connections.push({ ...connection, ...evaluate(policies, connection) });
      }
    }
  }
  return { endpoints, connections };
}

/** The matrix as text: one row per source, one column per destination port, ALLOW or '-'. */
export function formatMatrix(matrix: Matrix, namespace: string): string {
  const columns = matrix.endpoints.flatMap((to) => to.ports.map((listen) => ({ to, listen })));
  const short = (endpoint: Endpoint): string =>
    endpoint.namespace === namespace ? endpoint.id.slice(namespace.length + 1) : endpoint.id;
  const headers = columns.map(
    ({ to, listen }) =>
      `${short(to)}:${listen.port}${listen.protocol === 'TCP' ? '' : `/${listen.protocol.toLowerCase()}`}`,
  );
  const rowHeader = Math.max(...matrix.endpoints.map((endpoint) => short(endpoint).length), 'from \\ to'.length);
  const lines: string[] = [];
  // Vertical headers would be hard to read in a log: number the columns and list them.
  lines.push(`${'from \\ to'.padEnd(rowHeader)} ${headers.map((_, index) => String(index + 1).padStart(2)).join(' ')}`);
  for (const from of matrix.endpoints) {
    const cells = columns.map(({ to, listen }) => {
      if (from === to) return ' ·';
      const found = matrix.connections.find(
        (connection) =>
          connection.from === from &&
          connection.to === to &&
          connection.port === listen.port &&
          connection.protocol === listen.protocol,
      );
      if (!found) return '  '; // neither side in the namespace: not ours to decide
      return found.allowed ? ' A' : ' -';
    });
    lines.push(`${short(from).padEnd(rowHeader)} ${cells.join(' ')}`);
  }
  lines.push('');
  lines.push('A = allowed, - = denied, blank = not involving the namespace. Columns:');
  headers.forEach((header, index) => {
    lines.push(`  ${String(index + 1).padStart(2)} ${header}`);
  });
  return lines.join('\n');
}
