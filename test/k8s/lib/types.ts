import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/** A rendered object as it comes out of `kubectl kustomize` (validated later). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

/** One problem the audit found: which rule, on which object, and what is wrong. */
export interface Finding {
  rule: string;
  object: string;
  message: string;
}

export type Container = IContainer;
export type PodSpec = IPodSpec;

/** A pod template found in a workload (Deployment, StatefulSet, Job, CronJob, Rollout, Pod, ...). */
export interface PodTemplate {
  owner: K8sObject;
  /** Kind/name of the owner, for messages. */
  ref: string;
  /** JSON path of the pod spec inside the owner, for messages. */
  path: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: PodSpec;
}

export function ref(object: K8sObject): string {
  return `${object.kind}/${object.metadata.name}`;
}

/** Narrows an unknown to a plain object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a nested property (`get(obj, 'spec', 'template')`) without type assertions at each step. */
export function get(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const key of path) {
    if (Array.isArray(current) && typeof key === 'number') current = current[key];
    else if (isRecord(current) && typeof key === 'string') current = current[key];
    else return undefined;
  }
  return current;
}

export function findObject(objects: readonly K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find((object) => object.kind === kind && object.metadata.name === name);
}

/** Every container of a pod spec: init, regular and ephemeral, with a label for messages. */
export function allContainers(spec: PodSpec): { kind: string; container: Container }[] {
  return [
    ...(spec.initContainers ?? []).map((container) => ({ kind: 'initContainers', container })),
    ...(spec.containers ?? []).map((container) => ({ kind: 'containers', container })),
    ...(spec.ephemeralContainers ?? []).map((container) => ({
      kind: 'ephemeralContainers',
      container: container as Container,
    })),
  ];
}

/** Pod templates of every workload in the rendered output. */
export function podTemplates(objects: readonly K8sObject[]): PodTemplate[] {
  const templates: PodTemplate[] = [];
  for (const object of objects) {
    const candidates: [string, unknown, unknown][] = [];
    if (object.kind === 'Pod') candidates.push(['spec', object.metadata, object.spec]);
    else if (object.kind === 'CronJob') {
      const template = get(object, 'spec', 'jobTemplate', 'spec', 'template');
      candidates.push(['spec.jobTemplate.spec.template.spec', get(template, 'metadata'), get(template, 'spec')]);
    } else {
      const template = get(object, 'spec', 'template');
      // Any kind with a pod template (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, Argo Rollout).
      if (isRecord(get(template, 'spec')) && Array.isArray(get(template, 'spec', 'containers'))) {
        candidates.push(['spec.template.spec', get(template, 'metadata'), get(template, 'spec')]);
      }
    }
    for (const [path, metadata, spec] of candidates) {
      if (!isRecord(spec)) continue;
      templates.push({
        owner: object,
        ref: ref(object),
        path,
        labels: (get(metadata, 'labels') as Record<string, string> | undefined) ?? {},
        annotations: (get(metadata, 'annotations') as Record<string, string> | undefined) ?? {},
        spec: spec as unknown as PodSpec,
      });
    }
  }
  return templates;
}

export function envValue(container: Container, name: string): string | undefined {
  return container.env?.find((variable) => variable.name === name)?.value;
}
