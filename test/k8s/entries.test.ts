import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ICertificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { audit } from './lib/audit.ts';
import { expectationsFor, expectedFlows } from './lib/expectations.ts';
import { checkGateway, EVENT_STREAM_PATH, type HttpRoute, ruleFor } from './lib/gateway.ts';
import { allowedFlowNames, connectionMatrix, ENVOY_POD, flowName, formatMatrix, GATEWAY_POD } from './lib/netpol.ts';
import { k8sDir, kustomize, parseManifests, RenderTree, type Target } from './lib/render.ts';
import { validateFieldNames, validateValues } from './lib/schema.ts';
import { type Finding, findObject, get, type K8sObject } from './lib/types.ts';

// The two ways in: the Ingress (base) and the Gateway API entry (components/gateway-api), each
// with and without cert-manager (components/cert-manager), through the whole audit (schemas, Pod
// Security, the architecture, the NetworkPolicy matrix). No Gateway controller and no cert-manager
// can run here: the Gateway, HTTPRoutes and Certificate are validated against the Gateway API's and
// cert-manager's own schemas (@kubernetes-models/gateway-api, @kubernetes-models/cert-manager), the
// implementations' policy objects (implementations/*.yaml, no schema package for them) by shape
// and numbers, and the traffic by the NetworkPolicy evaluator with the gateway's pods as each
// implementation labels them.

const show = (findings: Finding[]): string =>
  findings.map((finding) => `  [${finding.rule}] ${finding.object}: ${finding.message}`).join('\n');

const tree = new RenderTree();
afterAll(() => tree.dispose());

const CASES: { target: Target; components: string[] }[] = [
  { target: 'overlays/dev', components: ['gateway-api'] },
  { target: 'overlays/prod', components: ['gateway-api'] },
  { target: 'overlays/prod', components: ['gateway-api', 'cert-manager', 'monitoring'] },
  { target: 'overlays/dev', components: ['gateway-api', 'cert-manager'] },
  { target: 'overlays/prod', components: ['cert-manager'] },
  { target: 'overlays/dev', components: ['ingress-tls', 'cert-manager'] },
];

describe.each(CASES)('$target + $components', ({ target, components }) => {
  test('the full audit finds nothing', async () => {
    const findings = await audit(await tree.render(target, components), expectationsFor(target, components));
    expect(findings, show(findings)).toEqual([]);
  });
});

/** The kustomizations deploy/k8s/README.md's walk-throughs write (`cat > deploy/k8s/overlays/<name>/kustomization.yaml <<'EOF'`). */
function readmeOverlays(): Map<string, string> {
  const text = readFileSync(join(k8sDir, 'README.md'), 'utf8');
  const found = new Map<string, string>();
  for (const match of text.matchAll(
    /cat > deploy\/k8s\/overlays\/([\w-]+)\/kustomization\.yaml <<'EOF'\n([\s\S]*?)\n\s*EOF\n/g,
  )) {
    const indent = /^\s*/.exec(match[2]!)![0]!.length;
    found.set(
      match[1]!,
      match[2]!
        .split('\n')
        .map((line) => line.slice(indent))
        .join('\n'),
    );
  }
  return found;
}

describe('the walk-throughs of deploy/k8s/README.md', () => {
  const overlays = readmeOverlays();
  const render = async (name: string): Promise<K8sObject[]> => {
    const dir = join(tree.root, 'overlays', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'kustomization.yaml'), `${overlays.get(name)}\n`);
    return parseManifests(await kustomize(dir));
  };

  test('write the overlays kind-gateway, kind-ingress and cloud', () => {
    expect([...overlays.keys()].sort()).toEqual(['cloud', 'kind-gateway', 'kind-ingress']);
  });

  test.each([
    { name: 'kind-gateway', target: 'overlays/dev' as Target, components: ['gateway-api', 'cert-manager'] },
    { name: 'kind-ingress', target: 'overlays/dev' as Target, components: ['ingress-tls', 'cert-manager'] },
  ])('$name passes the full audit as $target + $components', async ({ name, target, components }) => {
    const findings = await audit(await render(name), expectationsFor(target, components));
    expect(findings, show(findings)).toEqual([]);
  });

  test('cloud: the full audit, with its own host name, class and registry', async () => {
    const objects = await render('cloud');
    const findings = await audit(objects, {
      ...expectationsFor('overlays/prod', ['gateway-api', 'cert-manager']),
      ingress: { className: 'nginx', host: 'todo.example.com', tls: true },
    });
    // The images come from the user's registry: the only rule that knows the default names.
    expect(
      findings.filter((finding) => finding.rule !== 'images/name'),
      show(findings),
    ).toEqual([]);
    expect(JSON.stringify(objects)).not.toContain('microservices.local');
    expect(get(findObject(objects, 'Gateway', 'tasktier'), 'spec', 'gatewayClassName')).toBe('eg');
  });
});

describe('the Gateway entry', () => {
  let objects: K8sObject[] = [];
  beforeAll(async () => {
    objects = await tree.render('overlays/prod', ['gateway-api', 'cert-manager']);
  });

  test('replaces the Ingress: Gateway, HTTPRoutes, no Ingress, no ingress-nginx policy', () => {
    const kinds = objects.map((object) => `${object.kind}/${object.metadata.name}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Gateway/tasktier',
        'HTTPRoute/frontend',
        'HTTPRoute/frontend-http-redirect',
        'Certificate/microservices-local-tls',
      ]),
    );
    expect(kinds.filter((kind) => kind.startsWith('Ingress/'))).toEqual([]);
    expect(kinds).not.toContain('NetworkPolicy/frontend-ingress-from-ingress-nginx');
  });

  test('the event stream has no request timeout, everything else 60 s', () => {
    const route = findObject(objects, 'HTTPRoute', 'frontend') as HttpRoute;
    expect(ruleFor(route, 'GET', EVENT_STREAM_PATH)?.timeouts).toEqual({ request: '0s' });
    expect(ruleFor(route, 'GET', '/api/lists/abc/todos')?.timeouts).toEqual({ request: '60s' });
    expect(ruleFor(route, 'GET', '/')?.timeouts).toEqual({ request: '60s' });
  });

  test('admits the gateway pods instead of the ingress controller: exactly these flows', () => {
    const matrix = connectionMatrix(objects, 'tasktier');
    console.log(`\nprod + gateway-api + cert-manager\n${formatMatrix(matrix, 'tasktier')}`);
    const allowed = allowedFlowNames(matrix);
    expect(allowed).toEqual(
      expectedFlows('tasktier', { backup: true, entry: 'gateway', certManager: true }).map(flowName).sort(),
    );
    const verdict = (from: string, to: string, port: number): boolean => {
      const found = matrix.connections.find((c) => c.from.id === from && c.to.id === to && c.port === port);
      if (!found) throw new Error(`no connection ${from} -> ${to}:${port} in the matrix`);
      return found.allowed;
    };
    const gateway = `tasktier/${GATEWAY_POD}`;
    expect(verdict('ingress-nginx/controller', 'tasktier/frontend', 8080)).toBe(false);
    expect(verdict(gateway, 'tasktier/frontend', 8080)).toBe(true);
    expect(verdict(ENVOY_POD, 'tasktier/frontend', 8080)).toBe(true);
    expect(verdict('internet', gateway, 443)).toBe(true);
    // Never a metrics port, never another tier, never out of the cluster.
    expect(verdict(gateway, 'tasktier/frontend', 9465)).toBe(false);
    expect(verdict(ENVOY_POD, 'tasktier/frontend', 9465)).toBe(false);
    expect(verdict(gateway, 'tasktier/backend', 5000)).toBe(false);
    expect(verdict(gateway, 'tasktier/redis', 6379)).toBe(false);
    expect(verdict(ENVOY_POD, 'tasktier/backend', 5000)).toBe(false);
    expect(verdict(gateway, 'internet', 443)).toBe(false);
    expect(verdict('tasktier/debug-pod', gateway, 443)).toBe(false);
    expect(verdict('tasktier/frontend', gateway, 443)).toBe(false);
    // cert-manager's solver: the entry only.
    expect(verdict(gateway, 'tasktier/acme-solver', 8089)).toBe(true);
    expect(verdict('default/other-app', 'tasktier/acme-solver', 8089)).toBe(false);
    expect(verdict('tasktier/backend', 'tasktier/acme-solver', 8089)).toBe(false);
  });
});

describe('blue-green by HTTPRoute weights (gateway-api/blue-green)', () => {
  test('every rule weighs the two sets’ Services, 100 blue and 0 green; each Service selects one set’s frontends', async () => {
    const components = ['blue-green', 'gateway-api', 'gateway-api/blue-green'];
    const objects = await tree.render('overlays/prod', components);
    const findings = [...(await validateValues(objects)), ...validateFieldNames(objects)];
    expect(findings, show(findings)).toEqual([]);
    const route = findObject(objects, 'HTTPRoute', 'frontend') as HttpRoute;
    for (const rule of route.spec!.rules!) {
      expect(rule.backendRefs).toEqual([
        { name: 'frontend-blue', port: 8080, weight: 100 },
        { name: 'frontend-green', port: 8080, weight: 0 },
      ]);
    }
    for (const slot of ['blue', 'green']) {
      const service = findObject(objects, 'Service', `frontend-${slot}`)!;
      expect(get(service, 'spec', 'selector')).toEqual({
        'app.kubernetes.io/name': 'frontend',
        'tasktier.io/slot': slot,
      });
      expect(get(service, 'spec', 'ports')).toEqual([
        { name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' },
      ]);
    }
    // The Gateway's rules hold for the weighted backends too (the http port of a frontend Service).
    const gatewayFindings: Finding[] = [];
    checkGateway(objects, expectationsFor('overlays/prod', ['gateway-api']), (rule, object, message) => {
      gatewayFindings.push({ rule, object, message });
    });
    expect(gatewayFindings, show(gatewayFindings)).toEqual([]);
    // The gateway's pods reach both sets' frontends, and only on the http port.
    const matrix = connectionMatrix(objects, 'tasktier');
    const allowed = (from: string, to: string, port: number) =>
      matrix.connections.some((c) => c.allowed && c.from.id === from && c.to.id === to && c.port === port);
    for (const slot of ['blue', 'green']) {
      expect(allowed(`tasktier/${GATEWAY_POD}`, `tasktier/frontend-${slot}`, 8080)).toBe(true);
      expect(allowed(ENVOY_POD, `tasktier/frontend-${slot}`, 8080)).toBe(true);
      expect(allowed(ENVOY_POD, `tasktier/frontend-${slot}`, 9465)).toBe(false);
    }
  });
});

describe('cert-manager', () => {
  const issuers = ['self-signed', 'letsencrypt-ingress', 'letsencrypt-gateway'].map((name) => {
    const text = readFileSync(join(k8sDir, 'components/cert-manager/issuers', `${name}.yaml`), 'utf8');
    return parseAllDocuments(text)[0]!.toJS() as K8sObject;
  });

  test('the example ClusterIssuers validate against cert-manager’s schema and are the one the Certificate names', async () => {
    const findings = [...(await validateValues(issuers)), ...validateFieldNames(issuers)];
    expect(findings, show(findings)).toEqual([]);
    const objects = await tree.render('overlays/prod', ['cert-manager']);
    const certificate = findObject(objects, 'Certificate', 'microservices-local-tls') as unknown as ICertificate;
    for (const issuer of issuers) {
      expect(issuer.kind).toBe(certificate.spec.issuerRef.kind);
      expect(issuer.metadata.name).toBe(certificate.spec.issuerRef.name);
    }
    // The ACME issuers solve HTTP-01 through the entry their name says.
    expect(get(issuers[1], 'spec', 'acme', 'solvers', 0, 'http01', 'ingress', 'class')).toBe('nginx');
    expect(get(issuers[2], 'spec', 'acme', 'solvers', 0, 'http01', 'gatewayHTTPRoute', 'parentRefs', 0)).toMatchObject({
      kind: 'Gateway',
      name: 'tasktier',
      namespace: 'tasktier',
      sectionName: 'http',
    });
  });
});

/**
 * The implementations' policy objects. No schema package exists for NGINX Gateway Fabric's or Envoy
 * Gateway's CRDs, so this checks what the Ingress promised, by field: what each attaches to exists
 * in the render, the numbers are the Ingress's, refusals are 429, no access log, the cookie.
 */
describe('implementation policies (shape only: no schema for these CRDs here)', () => {
  const load = (file: string): K8sObject[] =>
    parseAllDocuments(readFileSync(join(k8sDir, 'components/gateway-api/implementations', file), 'utf8')).map(
      (document) => document.toJS() as K8sObject,
    );
  const ingressAnnotations = (objects: K8sObject[]): Record<string, string> =>
    findObject(objects, 'Ingress', 'frontend')!.metadata.annotations!;
  const kinds = (objects: K8sObject[]) => objects.map((object) => `${object.apiVersion} ${object.kind}`);

  test('every policy targets an object of the Gateway entry, in its namespace', async () => {
    const rendered = await tree.render('overlays/prod', ['gateway-api']);
    for (const object of [...load('nginx-gateway-fabric.yaml'), ...load('envoy-gateway.yaml')]) {
      expect(object.metadata.namespace).toBe('tasktier');
      const spec = object.spec as {
        targetRefs?: { group: string; kind: string; name: string }[];
        targetRef?: { group: string; kind: string; name: string };
      };
      for (const target of [...(spec.targetRefs ?? []), ...(spec.targetRef ? [spec.targetRef] : [])]) {
        expect(target.group).toBe('gateway.networking.k8s.io');
        expect(findObject(rendered, target.kind, target.name), `${target.kind}/${target.name}`).toBeDefined();
      }
    }
  });

  test('NGINX Gateway Fabric: the Ingress’s rate and burst per client address, 429, body size, no access log', async () => {
    const objects = load('nginx-gateway-fabric.yaml');
    expect(kinds(objects)).toEqual([
      'gateway.nginx.org/v1alpha1 RateLimitPolicy',
      'gateway.nginx.org/v1alpha1 ClientSettingsPolicy',
      'gateway.nginx.org/v1alpha2 NginxProxy',
    ]);
    const annotations = ingressAnnotations(await tree.render('overlays/prod'));
    const rps = Number(annotations['nginx.ingress.kubernetes.io/limit-rps']);
    const burst = rps * Number(annotations['nginx.ingress.kubernetes.io/limit-burst-multiplier']);
    expect(get(objects[0], 'spec', 'rateLimit', 'local', 'rules')).toEqual([
      { key: '$binary_remote_addr', zoneSize: '10m', rate: `${rps}r/s`, burst, noDelay: true, rejectCode: 429 },
    ]);
    expect(get(objects[1], 'spec', 'body', 'maxSize')).toBe(annotations['nginx.ingress.kubernetes.io/proxy-body-size']);
    expect(get(objects[2], 'spec', 'logging', 'accessLog', 'disable')).toBe(true);
  });

  test('Envoy Gateway: the Ingress’s rate per client address, the Secure affinity cookie, no access log', async () => {
    const objects = load('envoy-gateway.yaml');
    expect(kinds(objects)).toEqual([
      'gateway.envoyproxy.io/v1alpha1 BackendTrafficPolicy',
      'gateway.envoyproxy.io/v1alpha1 EnvoyProxy',
    ]);
    const annotations = ingressAnnotations(await tree.render('overlays/prod'));
    expect(get(objects[0], 'spec', 'rateLimit', 'local', 'rules')).toEqual([
      {
        clientSelectors: [{ sourceCIDR: { type: 'Distinct', value: '0.0.0.0/0' } }],
        limit: { requests: Number(annotations['nginx.ingress.kubernetes.io/limit-rps']), unit: 'Second' },
      },
    ]);
    expect(get(objects[0], 'spec', 'loadBalancer')).toMatchObject({
      type: 'ConsistentHash',
      consistentHash: {
        type: 'Cookie',
        cookie: {
          name: annotations['nginx.ingress.kubernetes.io/session-cookie-name'],
          attributes: { SameSite: 'Lax', Secure: '' },
        },
      },
    });
    expect(get(objects[0], 'spec', 'loadBalancer', 'consistentHash', 'cookie', 'ttl')).toMatch(/^\d+[hms]$/);
    expect(get(objects[1], 'spec', 'telemetry', 'accessLog', 'disable')).toBe(true);
  });
});

describe('mutations of the entries are caught', () => {
  const TARGET = 'overlays/prod';
  const COMPONENTS = ['gateway-api', 'cert-manager'];
  const expected = expectationsFor(TARGET, COMPONENTS);
  let pristine: K8sObject[] = [];
  beforeAll(async () => {
    pristine = await tree.render(TARGET, COMPONENTS);
  });
  const route = (objects: K8sObject[], name = 'frontend'): HttpRoute =>
    findObject(objects, 'HTTPRoute', name) as HttpRoute;
  const rules = (objects: K8sObject[]) => route(objects).spec!.rules!;
  const policy = (objects: K8sObject[], name: string): INetworkPolicy =>
    findObject(objects, 'NetworkPolicy', name) as unknown as INetworkPolicy;
  const certificate = (objects: K8sObject[]): ICertificate =>
    findObject(objects, 'Certificate', 'microservices-local-tls') as unknown as ICertificate;

  test('the unmutated render passes (so each finding below comes from its mutation)', async () => {
    const findings = await audit(pristine, expected);
    expect(findings, show(findings)).toEqual([]);
  });

  const cases: { name: string; mutate: (objects: K8sObject[]) => void; rule: string }[] = [
    {
      name: 'the event stream gets the 60 s timeout of the other requests',
      mutate: (o) => {
        rules(o)[0]!.timeouts = { request: '60s' };
      },
      rule: 'gateway/event-stream',
    },
    {
      name: 'the event stream rule is gone (its stream would be cut at 60 s)',
      mutate: (o) => {
        rules(o).shift();
      },
      rule: 'gateway/event-stream',
    },
    {
      name: 'a route to the frontend’s metrics port',
      mutate: (o) => {
        rules(o)[1]!.backendRefs![0]!.port = 9465;
      },
      rule: 'gateway/backend',
    },
    {
      name: 'a route straight to the backend',
      mutate: (o) => {
        rules(o)[1]!.backendRefs![0]!.name = 'backend';
        rules(o)[1]!.backendRefs![0]!.port = 5000;
      },
      rule: 'gateway/backend',
    },
    {
      name: 'plain HTTP serves the app instead of redirecting',
      mutate: (o) => {
        route(o, 'frontend-http-redirect').spec!.rules = [{ backendRefs: [{ name: 'frontend', port: 8080 }] }];
      },
      rule: 'gateway/https-redirect',
    },
    {
      name: 'no HTTPS listener (list links in clear text)',
      mutate: (o) => {
        const gateway = findObject(o, 'Gateway', 'tasktier') as unknown as { spec: { listeners: { name: string }[] } };
        gateway.spec.listeners = gateway.spec.listeners.filter((listener) => listener.name !== 'https');
      },
      rule: 'gateway/tls',
    },
    {
      name: 'a listener for every host name',
      mutate: (o) => {
        const gateway = findObject(o, 'Gateway', 'tasktier') as unknown as {
          spec: { listeners: { hostname?: string }[] };
        };
        delete gateway.spec.listeners[1]!.hostname;
      },
      rule: 'gateway/host',
    },
    {
      name: 'no HSTS on an HTTPS rule',
      mutate: (o) => {
        rules(o)[1]!.filters = [];
      },
      rule: 'gateway/hsts',
    },
    {
      name: 'a SnippetsFilter (raw nginx configuration) on a rule',
      mutate: (o) => {
        rules(o)[1]!.filters!.push({
          type: 'ExtensionRef',
          extensionRef: { group: 'gateway.nginx.org', kind: 'SnippetsFilter', name: 'anything' },
        });
      },
      rule: 'gateway/snippet',
    },
    {
      name: 'the Ingress left next to the Gateway',
      mutate: (o) => {
        o.push({
          apiVersion: 'networking.k8s.io/v1',
          kind: 'Ingress',
          metadata: { name: 'frontend', namespace: 'tasktier', labels: pristine[0]!.metadata.labels! },
          spec: { ingressClassName: 'nginx' },
        });
      },
      rule: 'gateway/one-entry',
    },
    {
      name: 'the frontend admits gateway-labelled pods from every namespace',
      mutate: (o) => {
        const peers = policy(o, 'frontend-ingress-from-gateway').spec!.ingress![0]!.from!;
        peers[0] = { namespaceSelector: {}, podSelector: {} };
      },
      rule: 'netpol/unexpected-flow',
    },
    {
      name: 'the gateway pods may reach every port of the frontend (its metrics too)',
      mutate: (o) => {
        delete policy(o, 'gateway-egress').spec!.egress![0]!.ports;
        delete policy(o, 'frontend-ingress-from-gateway').spec!.ingress![0]!.ports;
      },
      rule: 'netpol/metrics-port',
    },
    {
      name: 'the gateway pods lose their DNS (NGINX Gateway Fabric could not resolve anything)',
      mutate: (o) => {
        policy(o, 'gateway-egress').spec!.egress!.splice(1, 1);
      },
      rule: 'netpol/missing-flow',
    },
    {
      name: 'the Certificate writes a Secret the entry does not serve',
      mutate: (o) => {
        certificate(o).spec.secretName = 'another-tls';
      },
      rule: 'certificate/served',
    },
    {
      name: 'the Certificate keeps its private key across renewals',
      mutate: (o) => {
        certificate(o).spec.privateKey!.rotationPolicy = 'Never';
      },
      rule: 'certificate/key-rotation',
    },
    {
      name: 'the Certificate names a host the entry does not serve',
      mutate: (o) => {
        certificate(o).spec.dnsNames!.push('admin.microservices.local');
      },
      rule: 'certificate/names',
    },
    {
      name: 'a misspelt HTTPRoute field (timeout instead of timeouts)',
      mutate: (o) => {
        const rule = rules(o)[0]! as unknown as Record<string, unknown>;
        rule.timeout = rule.timeouts;
        delete rule.timeouts;
      },
      rule: 'schema/field-names',
    },
  ];

  test.each(cases)('$name', async ({ mutate, rule }) => {
    const objects = structuredClone(pristine);
    mutate(objects);
    const findings = await audit(objects, expected);
    const caught = findings.find((finding) => finding.rule === rule);
    expect(caught, `expected a finding for ${rule}, got:\n${show(findings) || '(none)'}`).toBeDefined();
    console.log(`caught [${caught!.rule}] ${caught!.object}: ${caught!.message}`);
  });
});
