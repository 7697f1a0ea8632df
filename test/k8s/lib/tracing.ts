import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { Expectations } from './expectations.ts';
import type { Add } from './pod-checks.ts';
import { type Container, findObject, type K8sObject } from './types.ts';

// The tracing component: frontend and backend export spans over OTLP/HTTP to the collector, with
// the address, protocol and sampler from one ConfigMap that both read whole, a production
// sampling ratio, and a service name each. Without it, no OTLP variable (tracing stays off). The
// NetworkPolicy side (collector:4318 and nothing else) is the flow matrix's.

/** The port the NetworkPolicy admits: OTLP over HTTP. */
export const OTLP_HTTP_PORT = 4318;
/** The variables that must come from the shared ConfigMap (one source for both services). */
const SHARED = [
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_TRACES_SAMPLER',
  'OTEL_TRACES_SAMPLER_ARG',
] as const;

interface Resolved {
  values: Map<string, string>;
  /** Where each variable came from: `configmap/<name>` or `env`. */
  sources: Map<string, string>;
}

/**
 * The container's environment as the kubelet builds it: envFrom ConfigMaps first, then env, with
 * label and name fieldRefs and $(VAR) references resolved.
 */
export function resolveEnv(
  objects: readonly K8sObject[],
  container: Container,
  labels: Record<string, string>,
  podName: string,
): Resolved {
  const values = new Map<string, string>();
  const sources = new Map<string, string>();
  for (const source of container.envFrom ?? []) {
    const name = source.configMapRef?.name;
    if (!name) continue;
    const configMap = findObject(objects, 'ConfigMap', name) as (IConfigMap & K8sObject) | undefined;
    for (const [key, value] of Object.entries(configMap?.data ?? {})) {
      values.set(`${source.prefix ?? ''}${key}`, value);
      sources.set(`${source.prefix ?? ''}${key}`, `configmap/${name}`);
    }
  }
  for (const variable of container.env ?? []) {
    let value: string | undefined;
    const field = variable.valueFrom?.fieldRef?.fieldPath;
    if (variable.value !== undefined) {
      value = variable.value.replace(
        /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
        (whole, name: string) => values.get(name) ?? whole,
      );
    } else if (field === 'metadata.name') value = podName;
    else if (field !== undefined) {
      const label = /^metadata\.labels\['(.+)'\]$/.exec(field)?.[1];
      if (label !== undefined) value = labels[label];
    }
    if (value === undefined) continue;
    values.set(variable.name, value);
    sources.set(variable.name, 'env');
  }
  return { values, sources };
}

export function checkTracing(objects: readonly K8sObject[], expected: Expectations, add: Add): void {
  const names = new Map<string, string>();
  const shared = new Map<string, string>();
  for (const app of expected.apps) {
    const deployment = findObject(objects, 'Deployment', app.name) as (IDeployment & K8sObject) | undefined;
    const template = deployment?.spec?.template;
    const container = template?.spec?.containers.find((candidate) => candidate.name === app.name);
    if (!deployment || !container) continue; // checkApp reports the missing Deployment
    const owner = `Deployment/${app.name}`;
    const { values, sources } = resolveEnv(objects, container, template?.metadata?.labels ?? {}, `${app.name}-pod`);
    const otlp = [...values.keys()].filter((name) => name.startsWith('OTEL_'));
    if (!expected.tracing) {
      if (otlp.length > 0)
        add('tracing/unexpected', owner, `sets ${otlp.join(', ')}: tracing belongs to the tracing component`);
      continue;
    }
    if (values.get('OTEL_SDK_DISABLED')?.toLowerCase() === 'true' || values.get('OTEL_TRACES_EXPORTER') === 'none')
      add('tracing/disabled', owner, 'OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none turns tracing off');
    if (values.has('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'))
      add('tracing/endpoint', owner, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT overrides the shared endpoint');
    const endpoint = values.get('OTEL_EXPORTER_OTLP_ENDPOINT');
    let url: URL | undefined;
    try {
      url = endpoint === undefined ? undefined : new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (!url || !['http:', 'https:'].includes(url.protocol) || Number(url.port) !== OTLP_HTTP_PORT) {
      add(
        'tracing/endpoint',
        owner,
        `OTEL_EXPORTER_OTLP_ENDPOINT is ${endpoint ?? 'unset'}, expected http(s)://<collector>:${OTLP_HTTP_PORT} (the port the NetworkPolicy admits)`,
      );
    }
    const protocol = values.get('OTEL_EXPORTER_OTLP_PROTOCOL');
    if (protocol !== 'http/protobuf')
      add('tracing/protocol', owner, `OTEL_EXPORTER_OTLP_PROTOCOL is ${protocol ?? 'unset'}, expected http/protobuf`);
    // Every request traced (the default, parentbased_always_on) is a cost, not a production rate;
    // a parent-based sampler keeps a trace whole across frontend and backend.
    const sampler = values.get('OTEL_TRACES_SAMPLER');
    const ratio = Number(values.get('OTEL_TRACES_SAMPLER_ARG'));
    if (sampler !== 'parentbased_traceidratio')
      add('tracing/sampler', owner, `OTEL_TRACES_SAMPLER is ${sampler ?? 'unset'}, expected parentbased_traceidratio`);
    else if (!(ratio > 0 && ratio < 1))
      add(
        'tracing/sampler',
        owner,
        `OTEL_TRACES_SAMPLER_ARG is ${values.get('OTEL_TRACES_SAMPLER_ARG') ?? 'unset'}, expected a ratio above 0 and below 1`,
      );
    const serviceName = values.get('OTEL_SERVICE_NAME');
    if (!serviceName || serviceName.includes('$(')) add('tracing/service-name', owner, 'OTEL_SERVICE_NAME is not set');
    else if (names.has(serviceName))
      add('tracing/service-name', owner, `OTEL_SERVICE_NAME ${serviceName} is also ${names.get(serviceName)}'s`);
    else names.set(serviceName, app.name);
    for (const name of SHARED) {
      const source = sources.get(name);
      if (source === undefined) continue; // reported above
      const first = shared.get(name);
      if (!source.startsWith('configmap/'))
        add('tracing/one-source', owner, `${name} is set in the Deployment, not read from the shared ConfigMap`);
      else if (first !== undefined && first !== source)
        add('tracing/one-source', owner, `${name} comes from ${source}, the other service's from ${first}`);
      else shared.set(name, source);
    }
  }
}
