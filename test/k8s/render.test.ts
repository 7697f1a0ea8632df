import { afterAll, describe, expect, test } from 'vitest';
import { checkArchitecture } from './lib/audit.ts';
import { AUDITED_COMPONENTS, expectationsFor } from './lib/expectations.ts';
import { checkPodSecurity } from './lib/pss.ts';
import { allCombinations, includedComponents, listComponents, mapLimit, RenderTree, TARGETS } from './lib/render.ts';
import { validateFieldNames, validateValues } from './lib/schema.ts';
import { type Finding, type K8sObject, podTemplates } from './lib/types.ts';

// Every target (base, dev, prod) with every subset of the audited components, rendered by the real
// `kubectl kustomize`, then: schema values and field names, Pod Security Standards (restricted)
// and the architecture audit (numbers, secrets, network flows). Every other component is rendered
// on every target too and must pass schemas, Pod Security and stay in the namespace (what it
// promises beyond that, its own test checks). No cluster is needed.

const tree = new RenderTree();
afterAll(() => tree.dispose());

const combinations = allCombinations(AUDITED_COMPONENTS);
const otherComponents = listComponents().filter((name) => !(AUDITED_COMPONENTS as readonly string[]).includes(name));
const others = TARGETS.flatMap((target) =>
  otherComponents
    .filter((component) => !includedComponents(target).includes(component))
    .map((component) => ({ target, components: [component], id: `${target}+${component}` })),
);
const rendered = new Map<string, K8sObject[]>();

const format = (findings: Finding[]): string =>
  findings.map((finding) => `  [${finding.rule}] ${finding.object}: ${finding.message}`).join('\n');

describe('kustomize render', () => {
  test('finds the components and builds the combinations', () => {
    expect(listComponents()).toEqual(expect.arrayContaining([...AUDITED_COMPONENTS]));
    // base and dev take every subset; prod already includes redis-persistence and ingress-tls.
    const inProd = includedComponents('overlays/prod').filter((name) =>
      (AUDITED_COMPONENTS as readonly string[]).includes(name),
    );
    expect(inProd.sort()).toEqual(['ingress-tls', 'redis-persistence']);
    expect(combinations).toHaveLength(2 * 2 ** AUDITED_COMPONENTS.length + 2 ** (AUDITED_COMPONENTS.length - 2));
  });

  test('renders every combination of the audited components, and every other component on every target', async () => {
    const started = Date.now();
    const all = [...combinations, ...others];
    const counts = await mapLimit(all, 2, async (combination) => {
      const objects = await tree.render(combination.target, combination.components);
      rendered.set(combination.id, objects);
      return objects.length;
    });
    console.log(
      `rendered ${all.length} kustomizations (${counts.reduce((a, b) => a + b, 0)} objects) in ${Date.now() - started} ms; other components: ${otherComponents.join(', ') || 'none'}`,
    );
    for (const count of counts) expect(count).toBeGreaterThan(15);
  });
});

const objectsOf = (id: string): K8sObject[] => {
  const found = rendered.get(id);
  if (!found) throw new Error(`${id} was not rendered (see the render test)`);
  return found;
};

describe('schemas', () => {
  test('every distinct object of every rendering validates (values and field names)', async () => {
    // Most objects are identical across combinations: validate each distinct one once.
    const distinct = new Map<string, K8sObject>();
    for (const objects of rendered.values()) {
      for (const object of objects) distinct.set(JSON.stringify(object), object);
    }
    const objects = [...distinct.values()];
    const started = Date.now();
    const findings = [...(await validateValues(objects)), ...validateFieldNames(objects)];
    const kinds = [...new Set(objects.map((object) => `${object.apiVersion} ${object.kind}`))].sort();
    console.log(`validated ${objects.length} distinct objects in ${Date.now() - started} ms:\n  ${kinds.join('\n  ')}`);
    expect(findings, format(findings)).toEqual([]);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'monitoring.coreos.com/v1 PrometheusRule',
        'monitoring.coreos.com/v1 ServiceMonitor',
        'v1 Secret',
      ]),
    );
  });
});

describe.each(combinations)('$id', (combination) => {
  test('every pod template meets Pod Security Standards restricted', () => {
    const templates = podTemplates(objectsOf(combination.id));
    // prod includes redis-backup: its CronJob's pods are held to the same standard.
    const backup = expectationsFor(combination.target, combination.components).backup;
    expect(templates.map((template) => template.ref).sort()).toEqual([
      ...(backup ? ['CronJob/redis-backup'] : []),
      'Deployment/backend',
      'Deployment/frontend',
      'StatefulSet/redis',
    ]);
    const findings = templates.flatMap(checkPodSecurity);
    expect(findings, format(findings)).toEqual([]);
  });

  test('the architecture audit finds nothing', () => {
    const findings = checkArchitecture(
      objectsOf(combination.id),
      expectationsFor(combination.target, combination.components),
    );
    expect(findings, format(findings)).toEqual([]);
  });
});

describe.each(others)('$id', (combination) => {
  test('every pod template meets Pod Security Standards restricted; every object is in the namespace', () => {
    const objects = objectsOf(combination.id);
    const findings = podTemplates(objects).flatMap(checkPodSecurity);
    expect(findings, format(findings)).toEqual([]);
    const outside = objects.filter((object) => object.kind !== 'Namespace' && object.metadata.namespace !== 'tasktier');
    expect(outside.map((object) => `${object.kind}/${object.metadata.name}`)).toEqual([]);
  });
});
