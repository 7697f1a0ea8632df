import { afterAll, describe, expect, test } from 'vitest';
import { PREVIEW_SERVICE, SLOT_LABEL } from '../../deploy/scripts/lib/names.ts';
import { expectedFlows } from './lib/expectations.ts';
import {
  connectionMatrix,
  type Endpoint,
  evaluate,
  type FlowKey,
  flowName,
  networkPolicies,
  renderedPods,
} from './lib/netpol.ts';
import { checkPodSecurity } from './lib/pss.ts';
import { includedComponents, listComponents, RenderTree, TARGETS, type Target } from './lib/render.ts';
import { validateFieldNames, validateValues } from './lib/schema.ts';
import { type Container, findObject, get, isRecord, type K8sObject, podTemplates } from './lib/types.ts';

/*
 * The rollout-strategy components, rendered with the real `kubectl kustomize` on every
 * target, alone and with the other components: deploy/k8s/components/blue-green (two full sets,
 * switched by Service frontend's selector) and deploy/k8s/components/argo-rollouts (Rollout
 * objects, blue-green strategy, analyses). They replace how the app tiers are run, so they are
 * checked here against what they promise rather than by the architecture audit, which describes
 * the plain Deployments. Argo Rollouts' objects are validated against their own schema by the
 * suite's validators (@kubernetes-models/argo-rollouts 0.3, generated from the Argo Rollouts v1.5
 * CRDs: the current major needs Node 22), values and field names.
 */

const STRATEGIES = ['blue-green', 'argo-rollouts'] as const;
const NAMESPACE = 'tasktier';
const tree = new RenderTree();
afterAll(() => tree.dispose());

const others = listComponents().filter((component) => !(STRATEGIES as readonly string[]).includes(component));
/** Per target: the strategy alone, with each other component, and with all of them. */
function combinations(target: Target): string[][] {
  const available = others.filter((component) => !includedComponents(target).includes(component));
  // gateway-api replaces the Ingress that ingress-tls patches: "all of them" takes the Gateway.
  const all = available.includes('gateway-api') ? available.filter((name) => name !== 'ingress-tls') : available;
  return [[], ...available.map((component) => [component]), all];
}

const TIER_PORTS = { frontend: 8080, backend: 5000 } as const;
type Tier = keyof typeof TIER_PORTS;
const TIERS = Object.keys(TIER_PORTS) as Tier[];

function byKind(objects: readonly K8sObject[], kind: string): K8sObject[] {
  return objects.filter((object) => object.kind === kind);
}
function must(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = findObject(objects, kind, name);
  if (!found) throw new Error(`${kind}/${name} is not in the output`);
  return found;
}
const labelsOf = (value: unknown, ...path: string[]) =>
  (get(value, ...path) as Record<string, string> | undefined) ?? {};
const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);
function container(deployment: K8sObject, name: string): Container {
  const containers = get(deployment, 'spec', 'template', 'spec', 'containers') as Container[];
  return containers.find((entry) => entry.name === name)!;
}
const env = (entry: Container, name: string) => entry.env?.find((variable) => variable.name === name)?.value;

/** The endpoint id of a plain Deployment (tasktier/frontend), and what it becomes per slot. */
const APP_ENDPOINT = /^tasktier\/(frontend|backend)$/;

/** Schema values and field names of every object, Argo's against @kubernetes-models/argo-rollouts. */
async function schemaFindings(objects: K8sObject[]): Promise<string[]> {
  const findings = [...(await validateValues(objects)), ...validateFieldNames(objects)];
  return findings.map((finding) => `[${finding.rule}] ${finding.object}: ${finding.message}`);
}

function podSecurityFindings(objects: K8sObject[]): string[] {
  return podTemplates(objects)
    .flatMap(checkPodSecurity)
    .map((finding) => `[${finding.rule}] ${finding.object}: ${finding.message}`);
}

/** Allowed flows that involve the namespace, by the NetworkPolicy evaluator of the suite. */
function allowedFlowKeys(objects: K8sObject[]): FlowKey[] {
  return connectionMatrix(objects, NAMESPACE)
    .connections.filter((connection) => connection.allowed)
    .map((connection) => ({
      from: connection.from.id,
      to: connection.to.id,
      port: connection.port,
      protocol: connection.protocol,
    }));
}
const allowedFlows = (objects: K8sObject[]): string[] => [...new Set(allowedFlowKeys(objects).map(flowName))].sort();
const refs = (objects: K8sObject[]): string[] =>
  podTemplates(objects)
    .map((template) => template.ref)
    .sort();

describe.each(TARGETS)('blue-green on %s', (target) => {
  test.each(combinations(target).map((components) => [components.join('+') || '(alone)', components] as const))(
    'with %s: two full sets, the live one behind Service frontend, the idle one behind frontend-preview',
    async (_name, components) => {
      // The same target and components without the strategy: what the component starts from.
      const plain = await tree.render(target, components);
      const objects = await tree.render(target, [...components, 'blue-green']);
      expect(await schemaFindings(objects)).toEqual([]);
      expect(podSecurityFindings(objects)).toEqual([]);
      const inSlots = (ref: string) =>
        /^Deployment\/(frontend|backend)$/.test(ref) ? [`${ref}-blue`, `${ref}-green`] : [ref];
      expect(refs(objects)).toEqual(refs(plain).flatMap(inSlots).sort());
      // Everything lands in the namespace; the replacement values stay out of the output.
      for (const object of objects)
        if (object.kind !== 'Namespace') expect(object.metadata.namespace, object.kind).toBe(NAMESPACE);
      expect(objects.some((object) => object.metadata.name === 'blue-green-values')).toBe(false);

      for (const tier of TIERS) {
        const blue = must(objects, 'Deployment', `${tier}-blue`);
        const green = must(objects, 'Deployment', `${tier}-green`);
        // Green is blue but for the slot label and the frontend's backend: same template, same settings.
        const normalized = (deployment: K8sObject) => {
          const template = structuredClone(get(deployment, 'spec', 'template')) as {
            metadata: { labels: Record<string, string> };
          };
          delete template.metadata.labels[SLOT_LABEL];
          for (const entry of get(template, 'spec', 'containers') as Container[]) {
            entry.env = entry.env?.filter((variable) => variable.name !== 'BACKEND_URL');
          }
          return template;
        };
        expect(normalized(green)).toEqual(normalized(blue));
        for (const field of ['strategy', 'minReadySeconds', 'progressDeadlineSeconds', 'revisionHistoryLimit']) {
          expect(get(green, 'spec', field), field).toEqual(get(blue, 'spec', field));
        }
        expect({ ...green.metadata.labels, [SLOT_LABEL]: 'blue' }).toEqual(blue.metadata.labels);
        // Each Deployment selects its own pods only; blue keeps the overlay's size, green starts empty.
        for (const [deployment, slot] of [
          [blue, 'blue'],
          [green, 'green'],
        ] as const) {
          const selector = labelsOf(deployment, 'spec', 'selector', 'matchLabels');
          expect(selector).toEqual({ 'app.kubernetes.io/name': tier, [SLOT_LABEL]: slot });
          expect(labelsOf(deployment, 'spec', 'template', 'metadata', 'labels')).toMatchObject(selector);
        }
        expect(get(blue, 'spec', 'replicas')).toEqual(get(must(plain, 'Deployment', tier), 'spec', 'replicas'));
        expect(get(green, 'spec', 'replicas')).toBe(0);
      }

      // Which pods each Service selects: exactly one Deployment's.
      const templates = podTemplates(objects);
      const selected = (service: string) =>
        templates
          .filter((template) =>
            selects(labelsOf(must(objects, 'Service', service), 'spec', 'selector'), template.labels),
          )
          .map((template) => template.owner.metadata.name);
      expect(selected('frontend')).toEqual(['frontend-blue']);
      expect(selected(PREVIEW_SERVICE)).toEqual(['frontend-green']);
      expect(selected('backend-blue')).toEqual(['backend-blue']);
      expect(selected('backend-green')).toEqual(['backend-green']);
      expect(findObject(objects, 'Service', 'backend')).toBeUndefined();
      // The objects a migration applies first (`--selector tasktier.io/slot`): the sets and their
      // backend Services, not the Services that decide where users go.
      const labelled = objects.filter((object) => object.metadata.labels?.[SLOT_LABEL]);
      expect(labelled.map((object) => `${object.kind}/${object.metadata.name}`).sort()).toEqual([
        'Deployment/backend-blue',
        'Deployment/backend-green',
        'Deployment/frontend-blue',
        'Deployment/frontend-green',
        'Service/backend-blue',
        'Service/backend-green',
      ]);
      // What deploy/scripts/blue-green reads: the slot in Service frontend's selector.
      expect(labelsOf(must(objects, 'Service', 'frontend'), 'spec', 'selector')[SLOT_LABEL]).toBe('blue');
      // Each set's frontend talks to its own set's backend, on the port that Service serves.
      for (const slot of ['blue', 'green']) {
        const url = new URL(
          env(container(must(objects, 'Deployment', `frontend-${slot}`), 'frontend'), 'BACKEND_URL')!,
        );
        expect(url.hostname).toBe(`backend-${slot}`);
        const ports = get(must(objects, 'Service', `backend-${slot}`), 'spec', 'ports') as {
          port: number;
          targetPort: string;
        }[];
        // Its http port, and the metrics port that the ServiceMonitor (which selects both sets) scrapes.
        expect(ports).toEqual([
          expect.objectContaining({ name: 'http', port: Number(url.port), targetPort: 'http' }),
          expect.objectContaining({ name: 'metrics', port: 9464, targetPort: 'metrics' }),
        ]);
      }
      expect(get(must(objects, 'Service', PREVIEW_SERVICE), 'spec', 'ports')).toEqual(
        get(must(objects, 'Service', 'frontend'), 'spec', 'ports'),
      );
      // The entry still goes to Service frontend (the live set): the Ingress, or every rule of the
      // HTTPRoute (weights per set come with gateway-api/blue-green, blue-green-gateway.test.ts).
      const gateway = findObject(objects, 'HTTPRoute', 'frontend');
      if (gateway) {
        const backends = (get(gateway, 'spec', 'rules') as { backendRefs: { name: string }[] }[]).flatMap((rule) =>
          rule.backendRefs.map((backend) => backend.name),
        );
        expect(new Set(backends)).toEqual(new Set(['frontend']));
      } else {
        expect(
          get(
            must(objects, 'Ingress', 'frontend'),
            'spec',
            'rules',
            0,
            'http',
            'paths',
            0,
            'backend',
            'service',
            'name',
          ),
        ).toBe('frontend');
      }
      // Autoscaling (prod) starts on the blue set; the script moves it on a switch.
      for (const hpa of byKind(objects, 'HorizontalPodAutoscaler')) {
        const name = get(hpa, 'spec', 'scaleTargetRef', 'name') as string;
        expect(name).toBe(`${hpa.metadata.name}-blue`);
        expect(findObject(objects, 'Deployment', name)).toBeDefined();
      }
      // Network policies: the same flows as without the component, for both sets.
      const slot = (end: string, color: string) => (APP_ENDPOINT.test(end) ? `${end}-${color}` : end);
      const slotted = allowedFlowKeys(plain).flatMap((flow) =>
        ['blue', 'green'].flatMap((a) =>
          ['blue', 'green'].map((b) => flowName({ ...flow, from: slot(flow.from, a), to: slot(flow.to, b) })),
        ),
      );
      expect(allowedFlows(objects)).toEqual([...new Set(slotted)].sort());
      const entry = findObject(plain, 'Gateway', 'tasktier') ? 'gateway' : 'ingress';
      expect(allowedFlows(plain)).toEqual(expect.arrayContaining(expectedFlows(NAMESPACE, { entry }).map(flowName)));
    },
  );
});

describe.each(TARGETS)('argo-rollouts on %s', (target) => {
  test.each(combinations(target).map((components) => [components.join('+') || '(alone)', components] as const))(
    'with %s: Rollouts with the blue-green strategy and analyses, the Deployments only hold the template',
    async (_name, components) => {
      const plain = await tree.render(target, components);
      const objects = await tree.render(target, [...components, 'argo-rollouts']);
      expect(await schemaFindings(objects)).toEqual([]);
      expect(podSecurityFindings(objects)).toEqual([]);
      for (const object of objects)
        if (object.kind !== 'Namespace') expect(object.metadata.namespace, object.kind).toBe(NAMESPACE);
      expect(
        byKind(objects, 'Rollout')
          .map((rollout) => rollout.metadata.name)
          .sort(),
      ).toEqual(['backend', 'frontend']);
      // What the component adds carries tasktier.io/strategy (a migration applies those first), nothing else does.
      const key = (object: K8sObject) => `${object.kind}/${object.metadata.name}`;
      const before = new Set(plain.map(key));
      expect(
        objects
          .filter((object) => !before.has(key(object)))
          .map(key)
          .sort(),
      ).toEqual([
        'AnalysisTemplate/tasktier-5xx-ratio',
        'AnalysisTemplate/tasktier-preview-ready',
        'NetworkPolicy/backend-ingress-from-argo-rollouts',
        'NetworkPolicy/frontend-ingress-from-argo-rollouts',
        'Rollout/backend',
        'Rollout/frontend',
        'Service/backend-preview',
        'Service/frontend-preview',
      ]);
      for (const object of objects) {
        expect(object.metadata.labels?.['tasktier.io/strategy'], key(object)).toBe(
          before.has(key(object)) ? undefined : 'argo-rollouts',
        );
      }

      for (const tier of TIERS) {
        const rollout = must(objects, 'Rollout', tier);
        const deployment = must(objects, 'Deployment', tier);
        // The pod template comes from the Deployment, which runs nothing itself.
        expect(get(rollout, 'spec', 'workloadRef')).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: tier });
        expect(get(rollout, 'spec', 'template')).toBeUndefined();
        expect(get(deployment, 'spec', 'replicas')).toBe(0);
        expect(get(rollout, 'spec', 'replicas')).toEqual(get(must(plain, 'Deployment', tier), 'spec', 'replicas'));
        const selector = labelsOf(rollout, 'spec', 'selector', 'matchLabels');
        expect(selector).toEqual(labelsOf(deployment, 'spec', 'selector', 'matchLabels'));
        expect(labelsOf(deployment, 'spec', 'template', 'metadata', 'labels')).toMatchObject(selector);
        expect(get(rollout, 'spec', 'progressDeadlineAbort')).toBe(true);
        expect(get(rollout, 'spec', 'progressDeadlineSeconds')).toBe(
          get(deployment, 'spec', 'progressDeadlineSeconds'),
        );

        const blueGreen = get(rollout, 'spec', 'strategy', 'blueGreen');
        expect(isRecord(blueGreen)).toBe(true);
        expect(get(rollout, 'spec', 'strategy', 'canary')).toBeUndefined();
        expect(get(blueGreen, 'activeService')).toBe(tier);
        expect(get(blueGreen, 'previewService')).toBe(`${tier}-preview`);
        // Without scaleDownDelaySeconds the old pods stay until the post-promotion analysis passed.
        expect(get(blueGreen, 'scaleDownDelaySeconds')).toBeUndefined();
        for (const service of [tier, `${tier}-preview`]) {
          const object = must(objects, 'Service', service);
          expect(labelsOf(object, 'spec', 'selector')).toEqual({ 'app.kubernetes.io/name': tier });
          expect(get(object, 'spec', 'ports')).toEqual(get(must(objects, 'Service', tier), 'spec', 'ports'));
        }
        // Every analysis names an existing template and gives each argument it needs.
        for (const phase of ['prePromotionAnalysis', 'postPromotionAnalysis']) {
          const analysis = get(blueGreen, phase);
          const names = ((get(analysis, 'templates') as { templateName: string }[]) ?? []).map(
            (entry) => entry.templateName,
          );
          expect(names, phase).toHaveLength(1);
          const template = must(objects, 'AnalysisTemplate', names[0]!);
          const given = ((get(analysis, 'args') as { name: string }[]) ?? []).map((arg) => arg.name).sort();
          const needed = ((get(template, 'spec', 'args') as { name: string; value?: string }[]) ?? [])
            .filter((arg) => arg.value === undefined)
            .map((arg) => arg.name)
            .sort();
          expect(given, `${tier} ${phase}`).toEqual(needed);
        }
      }
      // The preview Services are not scraped a second time by the monitoring component.
      for (const monitor of byKind(objects, 'ServiceMonitor')) {
        const selector = labelsOf(monitor, 'spec', 'selector', 'matchLabels');
        for (const tier of TIERS)
          expect(selects(selector, must(objects, 'Service', `${tier}-preview`).metadata.labels ?? {})).toBe(false);
      }
      // The post-promotion query reads the metrics the services export, of the new pods only.
      const query = get(
        must(objects, 'AnalysisTemplate', 'tasktier-5xx-ratio'),
        'spec',
        'metrics',
        0,
        'provider',
        'prometheus',
        'query',
      );
      expect(query).toMatch(/tasktier_\{\{args\.app\}\}_http_request_duration_seconds_count/);
      expect(query).toMatch(/pod=~"\{\{args\.app\}\}-\{\{args\.pod-template-hash\}\}-\.\*"/);
      // Autoscaling (prod) scales the Rollouts.
      for (const hpa of byKind(objects, 'HorizontalPodAutoscaler')) {
        expect(get(hpa, 'spec', 'scaleTargetRef')).toEqual({
          apiVersion: 'argoproj.io/v1alpha1',
          kind: 'Rollout',
          name: hpa.metadata.name,
        });
      }
      // Network policies: the same flows as without the component, plus the Argo Rollouts
      // controller to each tier's port only.
      expect(allowedFlows(objects)).toEqual(allowedFlows(plain));
      const controller: Endpoint = {
        id: 'argo-rollouts/controller',
        ip: '10.244.5.10',
        namespace: 'argo-rollouts',
        labels: { 'app.kubernetes.io/name': 'argo-rollouts' },
        ports: [],
      };
      const pods = renderedPods(objects);
      const pod = (name: string) => pods.find((entry) => entry.id === `${NAMESPACE}/${name}`)!;
      const policies = networkPolicies(objects);
      const verdict = (to: string, port: number) =>
        evaluate(policies, { from: controller, to: pod(to), port, protocol: 'TCP' }).allowed;
      expect([
        verdict('frontend', 8080),
        verdict('backend', 5000),
        verdict('frontend', 5000),
        verdict('redis', 6379),
        verdict('frontend', 9465),
        verdict('backend', 9464),
      ]).toEqual([true, true, false, false, false, false]);
    },
  );
});

test('the two strategy components exclude each other: rendering both fails', async () => {
  await expect(tree.render('overlays/prod', ['blue-green', 'argo-rollouts'])).rejects.toThrow(/kubectl kustomize/);
  await expect(tree.render('overlays/prod', ['argo-rollouts', 'blue-green'])).rejects.toThrow(/kubectl kustomize/);
});
