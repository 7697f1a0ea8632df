import { afterAll, describe, expect, test } from 'vitest';
import { expectedFlows } from './lib/expectations.ts';
import {
  allowedFlowNames,
  type Connection,
  connectionMatrix,
  type Endpoint,
  evaluate,
  flowName,
  formatMatrix,
  inCidr,
  type Policy,
  selectorMatches,
} from './lib/netpol.ts';
import { includedComponents, RenderTree, TARGETS } from './lib/render.ts';

// The NetworkPolicies, evaluated as Kubernetes evaluates them, over the rendered pods' labels and
// ports plus what surrounds them in a cluster (ingress controller, Prometheus, DNS, the API
// server, the internet, a stray pod in the namespace). First the evaluator itself is tested on
// small policies whose outcome the Kubernetes documentation states, then the real manifests.

const pod = (
  id: string,
  labels: Record<string, string>,
  ports: Endpoint['ports'] = [{ port: 80, protocol: 'TCP' }],
): Endpoint => {
  const [namespace] = id.split('/');
  return { id, ip: `10.0.0.${id.length}`, namespace: namespace!, labels, ports };
};
const policy = (name: string, namespace: string, spec: Policy['spec']): Policy => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace },
  spec,
});
const connect = (from: Endpoint, to: Endpoint, port = 80, protocol: Connection['protocol'] = 'TCP'): Connection => ({
  from,
  to,
  port,
  protocol,
});

describe('the evaluator follows Kubernetes semantics', () => {
  const web = pod('shop/web', { app: 'web', tier: 'front' }, [
    { port: 80, protocol: 'TCP', name: 'http' },
    { port: 9000, protocol: 'TCP' },
  ]);
  const api = pod('shop/api', { app: 'api' });
  const other = pod('other/client', { app: 'client' });
  const monitoring = { ...pod('mon/prom', { app: 'prom' }), namespaceLabels: { team: 'ops' } };
  const internet: Endpoint = { id: 'internet', ip: '203.0.113.5', ports: [{ port: 443, protocol: 'TCP' }] };

  test('no policy: everything is allowed', () => {
    expect(evaluate([], connect(api, web)).allowed).toBe(true);
    expect(evaluate([], connect(web, internet, 443)).allowed).toBe(true);
  });

  test('a policy selecting a pod isolates it only in its policyTypes', () => {
    const ingressOnly = policy('deny-in', 'shop', {
      podSelector: { matchLabels: { app: 'web' } },
      policyTypes: ['Ingress'],
    });
    expect(evaluate([ingressOnly], connect(api, web)).allowed).toBe(false);
    expect(evaluate([ingressOnly], connect(web, api)).allowed).toBe(true); // egress not isolated
    expect(evaluate([ingressOnly], connect(other, api)).allowed).toBe(true); // api not selected
  });

  test('policyTypes default: Ingress, plus Egress only when there are egress rules', () => {
    const noTypes = policy('p', 'shop', { podSelector: {} });
    expect(evaluate([noTypes], connect(api, web)).allowed).toBe(false);
    expect(evaluate([noTypes], connect(web, internet, 443)).allowed).toBe(true);
    const withEgress = policy('q', 'shop', {
      podSelector: {},
      egress: [{ to: [{ podSelector: { matchLabels: { app: 'api' } } }] }],
    });
    expect(evaluate([withEgress], connect(web, internet, 443)).allowed).toBe(false);
    expect(evaluate([withEgress], connect(web, api)).allowed).toBe(false); // api's ingress is isolated by the same policy
  });

  test('both sides must allow: egress of the client and ingress of the server', () => {
    const denyAll = policy('deny', 'shop', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    const webIn = policy('web-in', 'shop', {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } } }] }],
    });
    expect(evaluate([denyAll, webIn], connect(api, web)).allowed).toBe(false);
    const apiOut = policy('api-out', 'shop', {
      podSelector: { matchLabels: { app: 'api' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ podSelector: { matchLabels: { app: 'web' } } }] }],
    });
    expect(evaluate([denyAll, webIn, apiOut], connect(api, web)).allowed).toBe(true);
    expect(evaluate([denyAll, webIn, apiOut], connect(web, api)).allowed).toBe(false);
  });

  test('an empty rule allows all; an empty ingress list allows nothing', () => {
    expect(evaluate([policy('all', 'shop', { podSelector: {}, ingress: [{}] })], connect(other, web)).allowed).toBe(
      true,
    );
    expect(evaluate([policy('none', 'shop', { podSelector: {}, ingress: [] })], connect(other, web)).allowed).toBe(
      false,
    );
  });

  test('podSelector alone means the policy namespace only', () => {
    const p = policy('p', 'shop', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] });
    expect(evaluate([p], connect(api, web)).allowed).toBe(true);
    expect(evaluate([p], connect(other, web)).allowed).toBe(false);
  });

  test('namespaceSelector and podSelector in one peer are ANDed, in two peers ORed', () => {
    const and = policy('and', 'shop', {
      podSelector: {},
      ingress: [
        { from: [{ namespaceSelector: { matchLabels: { team: 'ops' } }, podSelector: { matchLabels: { app: 'x' } } }] },
      ],
    });
    expect(evaluate([and], connect(monitoring, web)).allowed).toBe(false);
    const or = policy('or', 'shop', {
      podSelector: {},
      ingress: [
        {
          from: [
            { namespaceSelector: { matchLabels: { team: 'ops' } } },
            { podSelector: { matchLabels: { app: 'x' } } },
          ],
        },
      ],
    });
    expect(evaluate([or], connect(monitoring, web)).allowed).toBe(true);
    const byName = policy('name', 'shop', {
      podSelector: {},
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'other' } } }] }],
    });
    expect(evaluate([byName], connect(other, web)).allowed).toBe(true);
    expect(evaluate([byName], connect(monitoring, web)).allowed).toBe(false);
  });

  test('ports: protocol defaults to TCP, named ports resolve on the destination, endPort ranges', () => {
    const named = policy('named', 'shop', { podSelector: {}, ingress: [{ ports: [{ port: 'http' }] }] });
    expect(evaluate([named], connect(api, web, 80)).allowed).toBe(true);
    expect(evaluate([named], connect(api, web, 9000)).allowed).toBe(false);
    expect(evaluate([named], connect(api, web, 80, 'UDP')).allowed).toBe(false);
    const range = policy('range', 'shop', { podSelector: {}, ingress: [{ ports: [{ port: 8000, endPort: 9000 }] }] });
    expect(evaluate([range], connect(api, web, 9000)).allowed).toBe(true);
    expect(evaluate([range], connect(api, web, 80)).allowed).toBe(false);
  });

  test('ipBlock with except; selectors never match addresses outside the pods', () => {
    const egress = policy('e', 'shop', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        { to: [{ ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.5/32'] } }, { namespaceSelector: {} }] },
      ],
    });
    expect(evaluate([egress], connect(web, internet, 443)).allowed).toBe(false);
    expect(evaluate([egress], connect(web, { ...internet, ip: '203.0.113.6' }, 443)).allowed).toBe(true);
    expect(evaluate([egress], connect(web, other)).allowed).toBe(true);
    expect(inCidr('10.1.2.3', '10.0.0.0/8')).toBe(true);
    expect(inCidr('11.1.2.3', '10.0.0.0/8')).toBe(false);
  });

  test('label selector operators', () => {
    const labels = { app: 'web', tier: 'front' };
    expect(
      selectorMatches({ matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }] }, labels),
    ).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] }, labels)).toBe(
      false,
    );
    expect(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels)).toBe(
      true,
    );
    expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, labels)).toBe(false);
    expect(selectorMatches({ matchLabels: { app: 'web', tier: 'back' } }, labels)).toBe(false);
    expect(selectorMatches({}, labels)).toBe(true);
  });
});

describe('the rendered NetworkPolicies', () => {
  const tree = new RenderTree();
  afterAll(() => tree.dispose());

  test.each(TARGETS)('%s allows exactly the architecture flows and denies every other pair', async (target) => {
    const objects = await tree.render(target);
    const matrix = connectionMatrix(objects, 'tasktier');
    console.log(`\n${target}: connections involving namespace tasktier\n${formatMatrix(matrix, 'tasktier')}`);
    const allowed = allowedFlowNames(matrix);
    // A target that includes redis-backup also allows its Job's one connection (and DNS).
    const backup = includedComponents(target).includes('redis-backup');
    expect(allowed).toEqual(expectedFlows('tasktier', { backup }).map(flowName).sort());
    const denied = matrix.connections.filter((connection) => !connection.allowed);
    console.log(`${target}: ${allowed.length} connections allowed, ${denied.length} denied`);
    expect(denied.length).toBeGreaterThan(50); // the matrix really covers the pairs, not a handful

    // The connections an attacker would try first (skipping a tier, reaching Redis, leaving the
    // cluster, a pod of another app), each with the reason the evaluator gives.
    const verdict = (from: string, to: string, port: number): string => {
      const found = matrix.connections.find((c) => c.from.id === from && c.to.id === to && c.port === port);
      if (!found) throw new Error(`no connection ${from} -> ${to}:${port} in the matrix`);
      return found.allowed ? `allowed (${found.reason})` : 'denied';
    };
    expect(verdict('tasktier/frontend', 'tasktier/redis', 6379)).toBe('denied');
    expect(verdict('ingress-nginx/controller', 'tasktier/backend', 5000)).toBe('denied');
    expect(verdict('ingress-nginx/controller', 'tasktier/redis', 6379)).toBe('denied');
    expect(verdict('ingress-nginx/admission-job', 'tasktier/frontend', 8080)).toBe('denied');
    expect(verdict('tasktier/backend', 'internet', 443)).toBe('denied');
    expect(verdict('tasktier/frontend', 'internet', 443)).toBe('denied');
    expect(verdict('tasktier/redis', 'internet', 443)).toBe('denied');
    expect(verdict('tasktier/redis', 'kube-system/kube-dns', 53)).toBe('denied');
    expect(verdict('tasktier/backend', 'kube-apiserver', 6443)).toBe('denied');
    expect(verdict('tasktier/debug-pod', 'tasktier/redis', 6379)).toBe('denied');
    expect(verdict('tasktier/debug-pod', 'tasktier/backend', 5000)).toBe('denied');
    expect(verdict('default/other-app', 'tasktier/frontend', 8080)).toBe('denied');
    expect(verdict('monitoring/grafana', 'tasktier/backend', 5000)).toBe('denied');
    expect(verdict('monitoring/prometheus', 'tasktier/redis', 6379)).toBe('denied');
    expect(verdict('tasktier/backend', 'tasktier/frontend', 8080)).toBe('denied');
    // The metrics ports: Prometheus only; Prometheus only there.
    expect(verdict('monitoring/prometheus', 'tasktier/frontend', 9465)).toMatch(/^allowed/);
    expect(verdict('monitoring/prometheus', 'tasktier/backend', 9464)).toMatch(/^allowed/);
    expect(verdict('monitoring/prometheus', 'tasktier/frontend', 8080)).toBe('denied');
    expect(verdict('monitoring/prometheus', 'tasktier/backend', 5000)).toBe('denied');
    expect(verdict('ingress-nginx/controller', 'tasktier/frontend', 9465)).toBe('denied');
    expect(verdict('ingress-nginx/controller', 'tasktier/backend', 9464)).toBe('denied');
    expect(verdict('tasktier/frontend', 'tasktier/backend', 9464)).toBe('denied');
    expect(verdict('monitoring/grafana', 'tasktier/frontend', 9465)).toBe('denied');
    expect(verdict('tasktier/debug-pod', 'tasktier/backend', 9464)).toBe('denied');
    expect(verdict('tasktier/frontend', 'tasktier/backend', 5000)).toMatch(
      /^allowed \(egress by frontend-egress-to-backend; ingress by backend-ingress-from-frontend\)$/,
    );
  });
});

describe('the tracing component: frontend and backend reach the collector on OTLP/HTTP, nothing more', () => {
  const tree = new RenderTree();
  afterAll(() => tree.dispose());

  test('prod + tracing allows exactly the collector flows on top of the architecture', async () => {
    const target = 'overlays/prod';
    const objects = await tree.render(target, ['tracing']);
    const matrix = connectionMatrix(objects, 'tasktier');
    const allowed = allowedFlowNames(matrix);
    expect(allowed).toEqual(expectedFlows('tasktier', { backup: true, tracing: true }).map(flowName).sort());
    const verdict = (from: string, to: string, port: number): string => {
      const found = matrix.connections.find((c) => c.from.id === from && c.to.id === to && c.port === port);
      if (!found) throw new Error(`no connection ${from} -> ${to}:${port} in the matrix`);
      return found.allowed ? `allowed (${found.reason})` : 'denied';
    };
    for (const app of ['frontend', 'backend']) {
      expect(verdict(`tasktier/${app}`, 'observability/otel-collector', 4318)).toMatch(
        /^allowed \(egress by apps-egress-to-otel-collector/,
      );
      // Not the collector's gRPC receiver, metrics or health port; not another pod of its namespace.
      expect(verdict(`tasktier/${app}`, 'observability/otel-collector', 4317)).toBe('denied');
      expect(verdict(`tasktier/${app}`, 'observability/otel-collector', 8888)).toBe('denied');
      expect(verdict(`tasktier/${app}`, 'observability/otel-collector', 13133)).toBe('denied');
      expect(verdict(`tasktier/${app}`, 'observability/jaeger', 4318)).toBe('denied');
    }
    expect(verdict('tasktier/redis', 'observability/otel-collector', 4318)).toBe('denied');
    expect(verdict('tasktier/redis-backup', 'observability/otel-collector', 4318)).toBe('denied');
    expect(verdict('tasktier/debug-pod', 'observability/otel-collector', 4318)).toBe('denied');
    expect(verdict('observability/otel-collector', 'tasktier/backend', 5000)).toBe('denied');
  });
});
