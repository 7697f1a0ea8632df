import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { IService } from 'kubernetes-models/v1/Service';
import { selectorMatches } from './netpol.ts';
import { qosClass } from './quantity.ts';
import { envValue, findObject, get, type K8sObject, podTemplates } from './types.ts';

/** The numbers of one workload, as a flat record that a test compares with the architecture. */
export interface WorkloadSummary {
  kind: string;
  image: string;
  /** '-' for a CronJob: one pod per run. */
  replicas: number | 'hpa' | '-';
  hpa: string;
  pdbMinAvailable: number | '-';
  containerPort: number | '-';
  servicePort: number | '-';
  /** The container port `metrics` (/metrics only there). */
  metricsPort: number | '-';
  uid: number;
  gid: number;
  qos: string;
  requests: string;
  limits: string;
  strategy: string;
  minReadySeconds: number | '-';
  progressDeadlineSeconds: number | '-';
  startup: string;
  liveness: string;
  readiness: string;
  drainMs: number | '-';
  shutdownMs: number | '-';
  graceSeconds: number;
}

/** How an exec probe logs in to Redis: as an ACL user (`--user probe`) or with the shared password. */
const redisLogin = (command: string): string => /--user\s+(\S+)/.exec(command)?.[1] ?? 'password';

const describeProbe = (probe: IProbe | undefined): string => {
  if (!probe) return '-';
  const what = probe.httpGet
    ? `GET ${probe.httpGet.path}`
    : probe.exec
      ? `exec redis-cli ping (${redisLogin(probe.exec.command?.join(' ') ?? '')})`
      : '?';
  return `${what} every ${probe.periodSeconds ?? 10}s, timeout ${probe.timeoutSeconds ?? 1}s, x${probe.failureThreshold ?? 3}`;
};

export function summarize(objects: readonly K8sObject[]): Record<string, WorkloadSummary> {
  const result: Record<string, WorkloadSummary> = {};
  for (const template of podTemplates(objects)) {
    const name = template.owner.metadata.name;
    const container = template.spec.containers[0]!;
    const hpa = objects.find(
      (object) => object.kind === 'HorizontalPodAutoscaler' && get(object, 'spec', 'scaleTargetRef', 'name') === name,
    ) as (IHorizontalPodAutoscaler & K8sObject) | undefined;
    const pdb = objects.find(
      (object) =>
        object.kind === 'PodDisruptionBudget' &&
        selectorMatches((object as IPodDisruptionBudget & K8sObject).spec?.selector, template.labels),
    ) as (IPodDisruptionBudget & K8sObject) | undefined;
    const service = findObject(objects, 'Service', name) as (IService & K8sObject) | undefined;
    const rolling = get(template.owner, 'spec', 'strategy', 'rollingUpdate');
    const utilization = (resource: string): unknown =>
      hpa?.spec?.metrics?.find((metric) => metric.resource?.name === resource)?.resource?.target.averageUtilization;
    const replicas = get(template.owner, 'spec', 'replicas');
    const cron = template.owner.kind === 'CronJob' ? get(template.owner, 'spec') : undefined;
    const drain = envValue(container, 'DRAIN_DELAY_MS');
    const shutdown = envValue(container, 'SHUTDOWN_TIMEOUT_MS');
    const resources = (which: 'requests' | 'limits'): string =>
      `cpu ${container.resources?.[which]?.cpu ?? '-'}, memory ${container.resources?.[which]?.memory ?? '-'}`;
    result[name] = {
      kind: template.owner.kind,
      image: container.image ?? '-',
      replicas: typeof replicas === 'number' ? replicas : hpa ? 'hpa' : cron ? '-' : 1,
      hpa: hpa
        ? `${hpa.spec?.minReplicas}-${hpa.spec?.maxReplicas}, cpu ${utilization('cpu')}%, memory ${utilization('memory')}%, scale-down window ${hpa.spec?.behavior?.scaleDown?.stabilizationWindowSeconds}s`
        : '-',
      pdbMinAvailable: typeof pdb?.spec?.minAvailable === 'number' ? pdb.spec.minAvailable : '-',
      containerPort: container.ports?.[0]?.containerPort ?? '-',
      servicePort: service?.spec?.ports?.[0]?.port ?? '-',
      metricsPort: container.ports?.find((port) => port.name === 'metrics')?.containerPort ?? '-',
      uid: template.spec.securityContext?.runAsUser ?? -1,
      gid: template.spec.securityContext?.runAsGroup ?? -1,
      qos: qosClass(template.spec),
      requests: resources('requests'),
      limits: resources('limits'),
      strategy:
        template.owner.kind === 'Deployment'
          ? `RollingUpdate maxUnavailable ${get(rolling, 'maxUnavailable')} maxSurge ${get(rolling, 'maxSurge')}`
          : cron
            ? `schedule ${get(cron, 'schedule')} ${get(cron, 'timeZone') ?? ''}, concurrency ${get(cron, 'concurrencyPolicy')}`
            : `${get(template.owner, 'spec', 'updateStrategy', 'type')}`,
      minReadySeconds: (get(template.owner, 'spec', 'minReadySeconds') as number | undefined) ?? '-',
      progressDeadlineSeconds: (get(template.owner, 'spec', 'progressDeadlineSeconds') as number | undefined) ?? '-',
      startup: describeProbe(container.startupProbe),
      liveness: describeProbe(container.livenessProbe),
      readiness: describeProbe(container.readinessProbe),
      drainMs: drain === undefined ? '-' : Number(drain),
      shutdownMs: shutdown === undefined ? '-' : Number(shutdown),
      graceSeconds: template.spec.terminationGracePeriodSeconds ?? 30,
    };
  }
  return result;
}

const tlsHosts = (ingress: K8sObject): string[] =>
  ((ingress as IIngress & K8sObject).spec?.tls ?? []).flatMap((entry) => entry.hosts ?? []);

export function ingressSummary(objects: readonly K8sObject[]): string[] {
  return objects
    .filter((object) => object.kind === 'Ingress')
    .flatMap((object) =>
      ((object as IIngress & K8sObject).spec?.rules ?? []).flatMap((rule) =>
        (rule.http?.paths ?? []).map(
          (path) =>
            `class ${(object as IIngress & K8sObject).spec?.ingressClassName} ${tlsHosts(object).includes(rule.host ?? '') ? 'https' : 'http'}://${rule.host}${path.path} -> ${path.backend.service?.name}:${path.backend.service?.port?.name ?? path.backend.service?.port?.number}`,
        ),
      ),
    );
}

/** The summaries as a text table with one row per field and one column per workload. */
export function formatSummary(title: string, summary: Record<string, WorkloadSummary>): string {
  const names = Object.keys(summary).sort();
  const fields = Object.keys(summary[names[0]!] ?? {}) as (keyof WorkloadSummary)[];
  const cell = (name: string, field: keyof WorkloadSummary): string => String(summary[name]![field]);
  const widths = names.map((name) => Math.max(name.length, ...fields.map((field) => cell(name, field).length)));
  const first = Math.max(...fields.map((field) => field.length));
  const line = (label: string, cells: string[]): string =>
    `${label.padEnd(first)} | ${cells.map((text, index) => text.padEnd(widths[index]!)).join(' | ')}`.trimEnd();
  return [
    title,
    line('', names),
    line(
      '-'.repeat(first),
      names.map((_, index) => '-'.repeat(widths[index]!)),
    ),
    ...fields.map((field) =>
      line(
        field,
        names.map((name) => cell(name, field)),
      ),
    ),
  ].join('\n');
}
