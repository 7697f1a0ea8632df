import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';

// The Helm chart deploy/helm/tasktier is generated from the kustomize tree, so the two cannot
// drift: each object of the chart is what `kubectl kustomize` renders for base + the components
// that the chart's values choose, and a change to base or a component reaches the chart the next
// time this runs (test/k8s/helm-chart.test.ts fails until it has).
//
// How: every structural value of the chart (autoscaling, Redis persistence, durability, ACL,
// backups, monitoring, tracing, anti-affinity, the entry, TLS, cert-manager) is one kustomize component.
// For each object, the generator finds the choices that change it (one toggle at a time from the
// production choices), renders every valid combination of those, and writes the variants under
// `if` conditions on the values. Scalar values (images, resources, replicas, autoscaling bounds,
// the host, class names, the namespace) are then put in place of the rendered numbers and names;
// their defaults are read from the same render, so the chart with its default values renders
// exactly what overlays/prod renders.

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const k8sDir = join(repoRoot, 'deploy/k8s');
export const chartDir = join(repoRoot, 'deploy/helm/tasktier');
const execFileAsync = promisify(execFile);

/** The files this writes; everything else in the chart (Chart.yaml, README, NOTES, helpers) is hand-written. */
export const GENERATED = ['values.yaml', 'values.schema.json', 'templates/generated'];

/** A structural value: its values path, its choices, the component that realizes each non-default one. */
interface Choice {
  key: string;
  /** Values path (dots). */
  path: string;
  options: readonly (string | boolean)[];
  /** The production choice (overlays/prod). */
  production: string | boolean;
  /** The component a choice adds (none for the others). */
  component: (value: string | boolean) => string | undefined;
  /** A Helm expression that is true when the value is `value`. */
  condition: (value: string | boolean) => string;
  description: string;
}

const flag = (key: string, path: string, component: string, production: boolean, description: string): Choice => ({
  key,
  path,
  options: [false, true],
  production,
  component: (value) => (value === true ? component : undefined),
  condition: (value) => (value === true ? `.Values.${path}` : `not .Values.${path}`),
  description,
});

export const CHOICES: Choice[] = [
  flag(
    'autoscaling',
    'autoscaling.enabled',
    'autoscaling',
    true,
    'HorizontalPodAutoscalers for frontend and backend (minReplicas-maxReplicas on 70% CPU, 80% memory) and PodDisruptionBudgets; off: `replicas` fixed replicas.',
  ),
  flag(
    'persistence',
    'redis.persistence.enabled',
    'redis-persistence',
    true,
    'Redis data on a PersistentVolumeClaim (off: an emptyDir, lost with the pod).',
  ),
  {
    key: 'durability',
    path: 'redis.durability',
    options: ['everysec', 'always'],
    production: 'everysec',
    component: (value) => (value === 'always' ? 'redis-durability-always' : undefined),
    condition: (value) => `eq .Values.redis.durability "${value}"`,
    description:
      'appendfsync: everysec (at most about a second of acknowledged writes lost on a crash) or always (none; every write waits for an fsync).',
  },
  flag(
    'acl',
    'redis.acl.enabled',
    'redis-acl',
    true,
    'Redis ACL users (backend, backup, probe) from the Secret redis-acl instead of one password.',
  ),
  flag(
    'backup',
    'redis.backup.enabled',
    'redis-backup',
    true,
    'Hourly verified Redis backups to a PersistentVolumeClaim (needs redis.acl.enabled and redis.persistence.enabled).',
  ),
  flag(
    'monitoring',
    'monitoring.enabled',
    'monitoring',
    false,
    'ServiceMonitors and a PrometheusRule (needs the Prometheus Operator).',
  ),
  flag(
    'tracing',
    'tracing.enabled',
    'tracing',
    false,
    'OpenTelemetry tracing: both services export 5% of traces over OTLP/HTTP to the collector at http://otel-collector.observability.svc:4318, and a NetworkPolicy lets them reach it on 4318 only (needs the collector).',
  ),
  {
    key: 'antiAffinity',
    path: 'antiAffinity',
    options: ['preferred', 'required'],
    production: 'preferred',
    component: (value) => (value === 'required' ? 'required-anti-affinity' : undefined),
    condition: (value) => `eq .Values.antiAffinity "${value}"`,
    description: 'preferred: replicas spread over nodes when there are any; required: never two on one node.',
  },
  {
    key: 'entry',
    path: 'entry',
    options: ['ingress', 'gateway'],
    production: 'ingress',
    component: (value) => (value === 'gateway' ? 'gateway-api' : undefined),
    condition: (value) => `eq .Values.entry "${value}"`,
    description:
      'The way in: ingress (an Ingress for ingress-nginx) or gateway (Gateway API: a Gateway and HTTPRoutes, HTTPS only).',
  },
  flag(
    'tls',
    'tls.enabled',
    'ingress-tls',
    true,
    'HTTPS only: TLS from the Secret microservices-local-tls, plain HTTP redirected, HSTS (always on with entry gateway).',
  ),
  flag(
    'certManager',
    'tls.certManager.enabled',
    'cert-manager',
    false,
    'A cert-manager Certificate keeps the TLS Secret issued and renewed (needs tls.enabled and a ClusterIssuer).',
  ),
];

export type Assignment = Record<string, string | boolean>;

export const PRODUCTION: Assignment = Object.fromEntries(CHOICES.map((choice) => [choice.key, choice.production]));

/** Why an assignment cannot be rendered, or undefined when it can. The chart refuses the same. */
export function invalidReason(assignment: Assignment): string | undefined {
  if (assignment.backup && !(assignment.acl && assignment.persistence))
    return 'redis.backup.enabled needs redis.acl.enabled and redis.persistence.enabled';
  if (assignment.entry === 'gateway' && !assignment.tls)
    return 'entry gateway serves HTTPS only: tls.enabled must be true';
  if (assignment.certManager && !assignment.tls) return 'tls.certManager.enabled needs tls.enabled';
  return undefined;
}

/** Makes an assignment valid by changing choices not in `fixed` (undefined when it cannot). */
function repair(assignment: Assignment, fixed: ReadonlySet<string>): Assignment | undefined {
  const result = { ...assignment };
  const set = (key: string, value: string | boolean): boolean => {
    if (result[key] === value) return true;
    if (fixed.has(key)) return false;
    result[key] = value;
    return true;
  };
  if (result.backup && !(result.acl && result.persistence)) {
    if (!set('backup', false) && !(set('acl', true) && set('persistence', true))) return undefined;
  }
  if (!result.tls && (result.entry === 'gateway' || result.certManager)) {
    if (!set('tls', true) && !(set('entry', 'ingress') && set('certManager', false))) return undefined;
  }
  return invalidReason(result) === undefined ? result : undefined;
}

/** The components (in kustomize order) an assignment adds to base. */
export function componentsFor(assignment: Assignment): string[] {
  // ingress-tls patches the Ingress, which gateway-api removes: it only applies to the Ingress entry.
  return CHOICES.filter((choice) => !(choice.key === 'tls' && assignment.entry === 'gateway'))
    .map((choice) => choice.component(assignment[choice.key]!))
    .filter((component): component is string => component !== undefined);
}

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

/** Object identity across renders: kind and name without kustomize's content-hash suffix. */
const identity = (object: K8sObject): string =>
  `${object.kind}/${['ConfigMap', 'Secret'].includes(object.kind) ? object.metadata.name.replace(/-[a-z0-9]{10}$/, '') : object.metadata.name}`;

/** Renders base + components with the real `kubectl kustomize`, in a scratch copy of deploy/k8s. */
export class Renderer {
  private readonly root = mkdtempSync(join(tmpdir(), 'tasktier-chart-'));
  private counter = 0;
  private readonly cache = new Map<string, Promise<K8sObject[]>>();
  renders = 0;

  constructor() {
    for (const folder of ['base', 'components'])
      cpSync(join(k8sDir, folder), join(this.root, folder), { recursive: true });
  }

  render(components: readonly string[]): Promise<K8sObject[]> {
    const key = components.join('+');
    let found = this.cache.get(key);
    if (!found) {
      found = this.renderUncached(components);
      this.cache.set(key, found);
    }
    return found;
  }

  private async renderUncached(components: readonly string[]): Promise<K8sObject[]> {
    const dir = join(this.root, '_chart', String(this.counter++));
    mkdirSync(dir, { recursive: true });
    // As the overlays do: namespace and common labels again, after the components.
    const lines = [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'namespace: tasktier',
      'labels:',
      '  - pairs:',
      '      app.kubernetes.io/part-of: tasktier',
      '      app.kubernetes.io/managed-by: kustomize',
      '    includeSelectors: false',
      '    includeTemplates: true',
      'resources:',
      '  - ../../base',
      ...(components.length > 0 ? ['components:', ...components.map((name) => `  - ../../components/${name}`)] : []),
    ];
    writeFileSync(join(dir, 'kustomization.yaml'), `${lines.join('\n')}\n`);
    this.renders++;
    let stdout: string;
    try {
      ({ stdout } = await execFileAsync('kubectl', ['kustomize', dir], { maxBuffer: 32 * 1024 * 1024 }));
    } catch (error) {
      const detail = error && typeof error === 'object' && 'stderr' in error ? String(error.stderr) : String(error);
      throw new Error(`kubectl kustomize (components: ${components.join(', ') || 'none'}) failed: ${detail.trim()}`);
    }
    return parseAllDocuments(stdout)
      .map((document) => document.toJS() as K8sObject | null)
      .filter((object): object is K8sObject => object !== null);
  }

  dispose(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Runs `fn` over `items`, `limit` at a time. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await fn(items[index]!);
      }
    }),
  );
  return results;
}

const byIdentity = (objects: readonly K8sObject[]): Map<string, string> =>
  new Map(objects.map((object) => [identity(object), JSON.stringify(object)]));

interface Variant {
  assignments: Assignment[];
  object: K8sObject;
}

/** For each object: the choices that change it, and its content for every valid combination of them. */
async function variants(
  renderer: Renderer,
  progress: (line: string) => void,
): Promise<{ order: string[]; objects: Map<string, { keys: string[]; variants: Variant[] }> }> {
  const production = await renderer.render(componentsFor(PRODUCTION));
  const baseline = byIdentity(production);
  const all = new Set(baseline.keys());
  const affecting = new Map<string, Set<string>>();
  // One choice at a time: which objects does it change (or add, or remove)?
  await mapLimit(
    CHOICES.flatMap((choice) =>
      choice.options.filter((value) => value !== choice.production).map((value) => ({ choice, value })),
    ),
    2,
    async ({ choice, value }) => {
      const assignment = repair({ ...PRODUCTION, [choice.key]: value }, new Set([choice.key]));
      if (!assignment) throw new Error(`cannot render ${choice.path}=${value} with the production choices`);
      const rendered = byIdentity(await renderer.render(componentsFor(assignment)));
      // When the toggle needed other choices changed too (backup off with acl off), compare with
      // those changes alone, so that only what this choice changes is put on it.
      const repairedOnly = { ...assignment, [choice.key]: PRODUCTION[choice.key]! };
      const reference =
        invalidReason(repairedOnly) === undefined
          ? byIdentity(await renderer.render(componentsFor(repairedOnly)))
          : undefined;
      const others = Object.keys(assignment).filter((key) => assignment[key] !== PRODUCTION[key] && key !== choice.key);
      for (const id of new Set([...baseline.keys(), ...rendered.keys()])) {
        all.add(id);
        const blame = reference
          ? reference.get(id) !== rendered.get(id)
            ? [choice.key]
            : []
          : baseline.get(id) !== rendered.get(id)
            ? [choice.key, ...others]
            : [];
        if (blame.length === 0) continue;
        if (!affecting.has(id)) affecting.set(id, new Set());
        for (const key of blame) affecting.get(id)!.add(key);
      }
    },
  );
  progress(`${all.size} objects; ${affecting.size} change with the values`);
  // Every valid combination of each object's choices (the rest at production, repaired if needed).
  const result = new Map<string, { keys: string[]; variants: Variant[] }>();
  const jobs: { id: string; keys: string[]; assignment: Assignment }[] = [];
  for (const id of all) {
    const keys = CHOICES.map((choice) => choice.key).filter((key) => affecting.get(id)?.has(key));
    let combos: Assignment[] = [{}];
    for (const key of keys) {
      const choice = CHOICES.find((candidate) => candidate.key === key)!;
      combos = combos.flatMap((combo) => choice.options.map((value) => ({ ...combo, [key]: value })));
    }
    for (const combo of combos) {
      const assignment = repair({ ...PRODUCTION, ...combo }, new Set(keys));
      if (assignment) jobs.push({ id, keys, assignment });
    }
    result.set(id, { keys, variants: [] });
  }
  const renders = await mapLimit(jobs, 2, async (job) => renderer.render(componentsFor(job.assignment)));
  jobs.forEach((job, index) => {
    const object = renders[index]!.find((candidate) => identity(candidate) === job.id);
    if (!object) return; // absent in this combination
    const entry = result.get(job.id)!;
    const same = entry.variants.find((variant) => JSON.stringify(variant.object) === JSON.stringify(object));
    if (same) same.assignments.push(job.assignment);
    else entry.variants.push({ assignments: [job.assignment], object });
  });
  progress(`${renderer.renders} kustomize renders`);
  // Template files in the order of the production render, then the objects it does not have.
  const order = [...new Set([...production.map(identity), ...[...all].sort()])];
  return { order, objects: result };
}

/** Scalar values: where they sit in the rendered objects, their defaults read from the production render. */
interface Defaults {
  image: { registry: string; tag: string };
  redisImage: string;
  host: string;
  replicas: number;
  minReplicas: number;
  maxReplicas: number;
  resources: Record<'frontend' | 'backend' | 'redis', unknown>;
  ingressClassName: string;
  gatewayClassName: string;
  issuer: { kind: string; name: string };
}

type Json = Record<string, unknown>;
const at = (value: unknown, ...path: (string | number)[]): unknown =>
  path.reduce<unknown>((current, key) => (current as Record<string | number, unknown> | undefined)?.[key], value);

async function readDefaults(renderer: Renderer): Promise<Defaults> {
  const production = await renderer.render(componentsFor(PRODUCTION));
  const fixed = await renderer.render(componentsFor({ ...PRODUCTION, autoscaling: false }));
  const gateway = await renderer.render(componentsFor({ ...PRODUCTION, entry: 'gateway', certManager: true }));
  const find = (objects: K8sObject[], kind: string, name: string): Json => {
    const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
    if (!found) throw new Error(`${kind}/${name} is not in the render`);
    return found as unknown as Json;
  };
  const container = (objects: K8sObject[], kind: string, name: string): Json =>
    at(find(objects, kind, name), 'spec', 'template', 'spec', 'containers', 0) as Json;
  const image = String(container(production, 'Deployment', 'frontend').image);
  const match = /^(?:(.+)\/)?tasktier\/frontend:(.+)$/.exec(image);
  if (!match) throw new Error(`the frontend image ${image} is not <registry>/tasktier/frontend:<tag>`);
  const hpa = find(production, 'HorizontalPodAutoscaler', 'frontend');
  const ingress = find(production, 'Ingress', 'frontend');
  return {
    image: { registry: match[1] ?? '', tag: match[2]! },
    redisImage: String(container(production, 'StatefulSet', 'redis').image),
    host: String(at(ingress, 'spec', 'rules', 0, 'host')),
    replicas: Number(at(find(fixed, 'Deployment', 'frontend'), 'spec', 'replicas')),
    minReplicas: Number(at(hpa, 'spec', 'minReplicas')),
    maxReplicas: Number(at(hpa, 'spec', 'maxReplicas')),
    resources: {
      frontend: container(production, 'Deployment', 'frontend').resources,
      backend: container(production, 'Deployment', 'backend').resources,
      redis: container(production, 'StatefulSet', 'redis').resources,
    },
    ingressClassName: String(at(ingress, 'spec', 'ingressClassName')),
    gatewayClassName: String(at(find(gateway, 'Gateway', 'tasktier'), 'spec', 'gatewayClassName')),
    issuer: {
      kind: String(at(find(gateway, 'Certificate', 'microservices-local-tls'), 'spec', 'issuerRef', 'kind')),
      name: String(at(find(gateway, 'Certificate', 'microservices-local-tls'), 'spec', 'issuerRef', 'name')),
    },
  };
}

const TOKEN = (name: string) => `__HELM_${name}__`;

/** Replaces scalar values in one object with tokens (turned into template expressions after serialization). */
function tokenize(object: K8sObject, defaults: Defaults): void {
  const json = object as unknown as Json;
  const tiers = { frontend: 'frontend', backend: 'backend', redis: 'redis' } as const;
  const containers = (at(json, 'spec', 'template', 'spec', 'containers') ??
    at(json, 'spec', 'jobTemplate', 'spec', 'template', 'spec', 'containers') ??
    []) as Json[];
  for (const entry of containers) {
    const image = String(entry.image ?? '');
    for (const app of ['frontend', 'backend'] as const) {
      if (
        image === `${defaults.image.registry ? `${defaults.image.registry}/` : ''}tasktier/${app}:${defaults.image.tag}`
      )
        entry.image = TOKEN(`image_${app}`);
    }
    if (image === defaults.redisImage) entry.image = TOKEN('image_redis');
  }
  if (object.kind === 'Deployment' || object.kind === 'StatefulSet') {
    const name = object.metadata.name as keyof typeof tiers;
    const main = containers.find((entry) => entry.name === name);
    if (main && tiers[name] && main.resources !== undefined) main.resources = TOKEN(`resources_${name}`);
    const spec = json.spec as Json;
    if (object.kind === 'Deployment' && spec.replicas !== undefined) spec.replicas = TOKEN('replicas');
  }
  if (object.kind === 'HorizontalPodAutoscaler') {
    const spec = json.spec as Json;
    spec.minReplicas = TOKEN('minReplicas');
    spec.maxReplicas = TOKEN('maxReplicas');
  }
  if (object.kind === 'Ingress') (json.spec as Json).ingressClassName = TOKEN('ingressClassName');
  if (object.kind === 'Gateway') (json.spec as Json).gatewayClassName = TOKEN('gatewayClassName');
  if (object.kind === 'Certificate') {
    const issuer = at(json, 'spec', 'issuerRef') as Json;
    issuer.kind = TOKEN('issuerKind');
    issuer.name = TOKEN('issuerName');
  }
}

const EXPRESSIONS: Record<string, string> = {
  image_frontend: '"{{ include "tasktier.image" (list . "frontend") }}"',
  image_backend: '"{{ include "tasktier.image" (list . "backend") }}"',
  image_redis: '{{ .Values.redis.image | quote }}',
  replicas: '{{ .Values.replicas }}',
  minReplicas: '{{ .Values.autoscaling.minReplicas }}',
  maxReplicas: '{{ .Values.autoscaling.maxReplicas }}',
  ingressClassName: '{{ .Values.ingress.className }}',
  gatewayClassName: '{{ .Values.gateway.className }}',
  issuerKind: '{{ .Values.tls.certManager.issuer.kind }}',
  issuerName: '{{ .Values.tls.certManager.issuer.name }}',
};

/** One object as template text: tokens and the host, namespace and managed-by label as expressions. */
function templateText(object: K8sObject, defaults: Defaults): string {
  const copy = structuredClone(object);
  tokenize(copy, defaults);
  // `helm uninstall` deletes what the chart made: never a claim with backups in it (kubectl delete -k
  // would not either, unless asked). The one difference from the kustomize objects, besides managed-by.
  if (copy.kind === 'PersistentVolumeClaim') {
    const metadata = copy.metadata as { annotations?: Record<string, string> };
    metadata.annotations = { ...metadata.annotations, 'helm.sh/resource-policy': 'keep' };
  }
  const lines = stringify(copy, { lineWidth: 0 }).trimEnd().split('\n');
  const out: string[] = [];
  for (const line of lines) {
    const block = /^(\s*)(- )?resources: __HELM_resources_(frontend|backend|redis)__$/.exec(line);
    if (block) {
      const indent = block[1]!.length + (block[2] ? 2 : 0);
      out.push(`${block[1]}${block[2] ?? ''}resources:`);
      out.push(`  {{- toYaml .Values.${block[3]}.resources | nindent ${indent + 2} }}`);
      continue;
    }
    // The objects' own braces (alert templates such as {{ $labels.pod }}) are text to Helm.
    const literal = line.replace(/\{\{|\}\}/g, (braces) => (braces === '{{' ? '{{ "{{" }}' : '{{ "}}" }}'));
    let text = literal.replace(/__HELM_(\w+?)__/g, (_, name: string) => {
      const expression = EXPRESSIONS[name];
      if (!expression) throw new Error(`no expression for token ${name}`);
      return expression;
    });
    text = text
      .replace(/^(\s*namespace): tasktier$/, '$1: {{ .Release.Namespace }}')
      .replace(/^(\s*gateway\.envoyproxy\.io\/owning-gateway-namespace): tasktier$/, '$1: {{ .Release.Namespace }}')
      .replace(/^(\s*app\.kubernetes\.io\/managed-by): kustomize$/, '$1: {{ .Release.Service }}')
      .replaceAll(defaults.host, '{{ .Values.host }}');
    if (object.kind === 'Namespace') text = text.replace(/^(\s*name): tasktier$/, '$1: {{ .Release.Namespace }}');
    out.push(text);
  }
  return out.join('\n');
}

/** The Helm condition under which a variant is rendered. */
function conditionOf(keys: string[], assignments: Assignment[]): string {
  const terms = assignments.map((assignment) => {
    const parts = keys.map((key) => `(${CHOICES.find((choice) => choice.key === key)!.condition(assignment[key]!)})`);
    return parts.length === 1 ? parts[0]! : `(and ${parts.join(' ')})`;
  });
  const unique = [...new Set(terms)];
  const joined = unique.length === 1 ? unique[0]! : `(or ${unique.join(' ')})`;
  return joined.replace(/^\((.*)\)$/, '$1');
}

const fileName = (id: string): string => `${id.replace('/', '-').toLowerCase()}.yaml`;

const HEADER = `# Generated by deploy/scripts/generate-helm-chart from deploy/k8s (kubectl kustomize of base and
# the components the values choose). Do not edit: change deploy/k8s and run the script again.
`;

function templateFile(id: string, keys: string[], variants: Variant[], defaults: Defaults): string {
  const body: string[] = [];
  const namespaceObject = id.startsWith('Namespace/');
  if (namespaceObject) body.push('{{- if .Values.namespace.create }}');
  if (keys.length === 0 && variants.length === 1) body.push(templateText(variants[0]!.object, defaults));
  else {
    variants.forEach((variant, index) => {
      body.push(`{{- ${index === 0 ? 'if' : 'else if'} ${conditionOf(keys, variant.assignments)} }}`);
      body.push(templateText(variant.object, defaults));
    });
    body.push('{{- end }}');
  }
  if (namespaceObject) body.push('{{- end }}');
  return `${HEADER}${body.join('\n')}\n`;
}

function valuesYaml(defaults: Defaults): string {
  const resources = (tier: 'frontend' | 'backend' | 'redis') =>
    stringify({ resources: defaults.resources[tier] })
      .trimEnd()
      .split('\n')
      .map((line) => `  ${line}`)
      .join('\n');
  return `# Values of the tasktier chart. Generated by deploy/scripts/generate-helm-chart: the defaults are
# the production choices and numbers of deploy/k8s/overlays/prod, so \`helm template\` with these
# values renders what \`kubectl kustomize deploy/k8s/overlays/prod\` renders. values.schema.json
# refuses what does not fit; README.md explains each value.

# The host the entry serves (Ingress rule, Gateway listeners and routes, the Certificate).
host: ${defaults.host}

# The way in: ingress (an Ingress for ingress-nginx) or gateway (Gateway API, HTTPS only).
entry: ${PRODUCTION.entry}
ingress:
  className: ${defaults.ingressClassName}
gateway:
  # nginx: NGINX Gateway Fabric's class; Envoy Gateway's quickstart class is eg.
  className: ${defaults.gatewayClassName}

tls:
  # HTTPS only with the certificate in the Secret microservices-local-tls (always on with entry gateway).
  enabled: ${PRODUCTION.tls}
  certManager:
    # A cert-manager Certificate writes that Secret; needs the issuer below (an example per cluster
    # kind in deploy/k8s/components/cert-manager/issuers).
    enabled: ${PRODUCTION.certManager}
    issuer:
      kind: ${defaults.issuer.kind}
      name: ${defaults.issuer.name}

# Images: <registry>/tasktier/<frontend|backend>:<tag> (no registry: Docker Hub names, or images
# loaded into the nodes).
image:
  registry: "${defaults.image.registry}"
  tag: "${defaults.image.tag}"

# Frontend and backend: HPA bounds when autoscaling is on, a fixed count when it is off.
autoscaling:
  enabled: ${PRODUCTION.autoscaling}
  minReplicas: ${defaults.minReplicas}
  maxReplicas: ${defaults.maxReplicas}
replicas: ${defaults.replicas}
# preferred: spread over nodes when there are any; required: never two replicas of a tier on one node.
antiAffinity: ${PRODUCTION.antiAffinity}

frontend:
${resources('frontend')}
backend:
${resources('backend')}

redis:
  image: ${defaults.redisImage}
${resources('redis')}
  persistence:
    enabled: ${PRODUCTION.persistence}
  # everysec or always (appendfsync).
  durability: ${PRODUCTION.durability}
  acl:
    enabled: ${PRODUCTION.acl}
  backup:
    # Needs acl.enabled and persistence.enabled.
    enabled: ${PRODUCTION.backup}

# ServiceMonitors and a PrometheusRule (the Prometheus Operator's CRDs must exist).
monitoring:
  enabled: ${PRODUCTION.monitoring}

# OpenTelemetry tracing to the collector otel-collector in the namespace observability, port 4318
# (deploy/k8s/components/tracing/README.md: the collector, and where to change its address).
tracing:
  enabled: ${PRODUCTION.tracing}

namespace:
  # Also create the namespace (with Pod Security restricted enforced). Off by default: create it
  # first with kubectl apply -f deploy/k8s/base/namespace.yaml, since its Secrets come before the chart.
  create: false
`;
}

function valuesSchema(defaults: Defaults): string {
  const resourceSchema = {
    type: 'object',
    additionalProperties: false,
    required: ['requests', 'limits'],
    properties: Object.fromEntries(
      ['requests', 'limits'].map((key) => [
        key,
        {
          type: 'object',
          additionalProperties: false,
          required: ['cpu', 'memory'],
          properties: {
            cpu: { type: ['string', 'number'], pattern: '^[0-9.]+m?$' },
            memory: { type: 'string', pattern: '^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$' },
          },
        },
      ]),
    ),
  };
  const choice = (key: string) => {
    const found = CHOICES.find((candidate) => candidate.key === key)!;
    return typeof found.production === 'boolean'
      ? { type: 'boolean', description: found.description }
      : { type: 'string', enum: found.options, description: found.description };
  };
  const object = (properties: Record<string, unknown>, required = Object.keys(properties)) => ({
    type: 'object',
    additionalProperties: false,
    required,
    properties,
  });
  const schema = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'tasktier chart values',
    ...object({
      host: {
        type: 'string',
        description: 'The host name the entry serves.',
        pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$',
      },
      entry: choice('entry'),
      ingress: object({ className: { type: 'string', minLength: 1 } }),
      gateway: object({ className: { type: 'string', minLength: 1 } }),
      tls: object({
        enabled: choice('tls'),
        certManager: object({
          enabled: choice('certManager'),
          issuer: object({
            kind: { type: 'string', enum: ['ClusterIssuer', 'Issuer'] },
            name: { type: 'string', minLength: 1 },
          }),
        }),
      }),
      image: object({
        registry: {
          type: 'string',
          pattern: '^([a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*)?$',
          description: 'Registry (and path) before tasktier/<tier>; empty for none.',
        },
        tag: {
          type: 'string',
          pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$',
          description: 'The release tag of both app images.',
        },
      }),
      autoscaling: object({
        enabled: choice('autoscaling'),
        minReplicas: { type: 'integer', minimum: 1, description: 'At least 2 keeps a replica through a disruption.' },
        maxReplicas: { type: 'integer', minimum: 1 },
      }),
      replicas: { type: 'integer', minimum: 1, description: 'Replicas of each app tier when autoscaling is off.' },
      antiAffinity: choice('antiAffinity'),
      frontend: object({ resources: resourceSchema }),
      backend: object({ resources: resourceSchema }),
      redis: object({
        image: { type: 'string', minLength: 1 },
        resources: resourceSchema,
        persistence: object({ enabled: choice('persistence') }),
        durability: choice('durability'),
        acl: object({ enabled: choice('acl') }),
        backup: object({ enabled: choice('backup') }),
      }),
      monitoring: object({ enabled: choice('monitoring') }),
      tracing: object({ enabled: choice('tracing') }),
      namespace: object({ create: { type: 'boolean' } }),
    }),
  };
  void defaults;
  return `${JSON.stringify(schema, null, 2)}\n`;
}

/** Every generated file: path relative to the chart -> content. */
export async function generate(progress: (line: string) => void = () => {}): Promise<Map<string, string>> {
  const renderer = new Renderer();
  try {
    const defaults = await readDefaults(renderer);
    const { order, objects } = await variants(renderer, progress);
    const files = new Map<string, string>();
    for (const id of order) {
      const entry = objects.get(id)!;
      if (entry.variants.length === 0) continue;
      files.set(`templates/generated/${fileName(id)}`, templateFile(id, entry.keys, entry.variants, defaults));
    }
    files.set('values.yaml', valuesYaml(defaults));
    files.set('values.schema.json', valuesSchema(defaults));
    return files;
  } finally {
    renderer.dispose();
  }
}

/** The generated files as they are in `dir` now. */
export function readGenerated(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (path: string) => {
    if (!existsSync(path)) return;
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) walk(full);
      else files.set(relative(dir, full), readFileSync(full, 'utf8'));
    }
  };
  for (const name of GENERATED) {
    const path = join(dir, name);
    if (name.endsWith('.yaml') || name.endsWith('.json')) {
      if (existsSync(path)) files.set(name, readFileSync(path, 'utf8'));
    } else walk(path);
  }
  return files;
}

/** Paths that differ between two sets of files (added, removed or changed). */
export function differences(expected: Map<string, string>, actual: Map<string, string>): string[] {
  const paths = new Set([...expected.keys(), ...actual.keys()]);
  return [...paths].filter((path) => expected.get(path) !== actual.get(path)).sort();
}

const HELP = `Usage: deploy/scripts/generate-helm-chart [--check] [--out DIR]

Writes the generated part of the Helm chart deploy/helm/tasktier (templates/generated/*,
values.yaml, values.schema.json) from deploy/k8s: each template is what \`kubectl kustomize\`
renders for base plus the components the chart's values choose. Run it after changing anything
under deploy/k8s/base or deploy/k8s/components. Needs kubectl (kustomize inside).

Options:
  --check      write nothing; exit 1 and name the files that differ from a fresh generation
  --out DIR    write the chart's generated files under DIR instead (default: deploy/helm/tasktier)
  -h, --help   this help
`;

async function main(): Promise<number> {
  let values: { check?: boolean; out?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: { check: { type: 'boolean' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (error) {
    process.stderr.write(
      `generate-helm-chart: ${error instanceof Error ? error.message : String(error)} (see --help)\n`,
    );
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const dir = values.out ?? chartDir;
  const say = (line: string) => process.stderr.write(`generate-helm-chart: ${line}\n`);
  say('rendering deploy/k8s with kubectl kustomize');
  const files = await generate(say);
  if (values.check) {
    const differing = differences(files, readGenerated(dir));
    if (differing.length > 0) {
      say(
        `${differing.length} file(s) differ from a fresh generation: ${differing.join(', ')}; run deploy/scripts/generate-helm-chart`,
      );
      return 1;
    }
    say(`the chart's ${files.size} generated files are up to date`);
    return 0;
  }
  rmSync(join(dir, 'templates/generated'), { recursive: true, force: true });
  for (const [path, content] of files) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  say(`wrote ${files.size} files under ${relative(process.cwd(), dir) || '.'}`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`generate-helm-chart: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
