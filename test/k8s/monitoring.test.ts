import { parser } from '@prometheus-io/lezer-promql';
import {
  getFreePort,
  type RedisServer,
  type Service,
  serviceScript,
  startRedis,
  startService,
} from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RenderTree } from './lib/render.ts';
import { findObject, get, type K8sObject } from './lib/types.ts';

// The monitoring component's alerts must be valid PromQL and must query metrics that exist: the
// services' own metrics are read from the real /metrics of the built services (on METRICS_PORT, the
// port and path the ServiceMonitors scrape), kube-state-metrics' from its documented names and labels: every
// kube_* series comes from kube-state-metrics (not from the services), so it is checked against
// the list below and never against the services' /metrics. Any other metric is an error.

interface Alert {
  alert: string;
  expr: string;
}

interface Selector {
  /** The metric name, or the regular expression on __name__. */
  name: string;
  regex: boolean;
  labels: string[];
}

/** The vector selectors of a PromQL expression, and whether the official grammar parsed it cleanly. */
function selectors(expr: string): { errors: number; selectors: Selector[] } {
  const tree = parser.parse(expr);
  let errors = 0;
  const found: Selector[] = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError) errors++;
      if (node.name !== 'VectorSelector') return;
      const selector: Selector = { name: '', regex: false, labels: [] };
      const identifier = node.node.getChild('Identifier');
      if (identifier) selector.name = expr.slice(identifier.from, identifier.to);
      const matchers = node.node.getChild('LabelMatchers');
      for (let child = matchers?.firstChild; child; child = child.nextSibling) {
        const label = child.getChild('LabelName');
        const op = child.getChild('MatchOp');
        const value = child.getChild('StringLiteral');
        if (!label || !op || !value) continue;
        const labelName = expr.slice(label.from, label.to);
        if (labelName === '__name__') {
          selector.name = JSON.parse(expr.slice(value.from, value.to)) as string;
          selector.regex = expr.slice(op.from, op.to) === '=~';
        } else selector.labels.push(labelName);
      }
      found.push(selector);
    },
  });
  return { errors, selectors: found };
}

/** kube-state-metrics (v2) metrics the rules may use, with the labels they carry. */
const KUBE_STATE_METRICS: Record<string, string[]> = {
  // The backup CronJob (redis-backup): last success as a Unix time, and spec.suspend as 0/1.
  kube_cronjob_status_last_successful_time: ['namespace', 'cronjob'],
  kube_cronjob_spec_suspend: ['namespace', 'cronjob'],
  kube_pod_container_status_restarts_total: ['namespace', 'pod', 'container', 'uid'],
  kube_statefulset_status_replicas_ready: ['namespace', 'statefulset'],
  kube_horizontalpodautoscaler_status_current_replicas: ['namespace', 'horizontalpodautoscaler'],
  kube_horizontalpodautoscaler_spec_max_replicas: ['namespace', 'horizontalpodautoscaler'],
  // What Kubernetes events report, as kube-state-metrics keeps it.
  kube_pod_container_status_waiting_reason: ['namespace', 'pod', 'uid', 'container', 'reason'],
  kube_pod_status_unschedulable: ['namespace', 'pod', 'uid'],
  kube_pod_status_ready: ['namespace', 'pod', 'uid', 'condition'],
  kube_pod_status_phase: ['namespace', 'pod', 'uid', 'phase'],
};
/** Labels Prometheus adds to every series it scrapes through a ServiceMonitor. */
const TARGET_LABELS = ['namespace', 'service', 'pod', 'container', 'endpoint', 'job', 'instance'];

const tree = new RenderTree();
let objects: K8sObject[] = [];
let alerts: Alert[] = [];

beforeAll(async () => {
  objects = await tree.render('overlays/prod', ['monitoring']);
  const rule = findObject(objects, 'PrometheusRule', 'tasktier');
  if (!rule) throw new Error('PrometheusRule/tasktier is not in the output');
  const groups = (get(rule, 'spec', 'groups') as { rules: Alert[] }[]) ?? [];
  alerts = groups.flatMap((group) => group.rules);
});
afterAll(() => tree.dispose());

describe('PrometheusRule tasktier', () => {
  test('every alert expression is valid PromQL (the Prometheus grammar)', () => {
    expect(alerts.map((alert) => alert.alert).sort()).toEqual([
      'TasktierBackupStale',
      'TasktierBackupSuspended',
      'TasktierHPAAtMaxReplicas',
      'TasktierHigh5xxRatio',
      'TasktierHighLatency',
      'TasktierImagePullFailing',
      'TasktierPodCrashLooping',
      'TasktierPodNotReady',
      'TasktierPodRestarting',
      'TasktierPodUnschedulable',
      'TasktierRedisAOFWriteFailing',
      'TasktierRedisDown',
      'TasktierRedisExporterDown',
      'TasktierRedisLastSaveFailed',
      'TasktierRedisMemoryNearLimit',
      'TasktierRedisRejectedConnections',
    ]);
    for (const alert of alerts) {
      const parsed = selectors(alert.expr);
      expect(parsed.errors, `${alert.alert}: ${alert.expr}`).toBe(0);
      expect(parsed.selectors.length, alert.alert).toBeGreaterThan(0);
    }
    // The check itself: a broken expression is reported.
    expect(selectors('sum(rate(x[5m]) >').errors).toBeGreaterThan(0);
  });

  test('kube-state-metrics metrics and labels are the ones it exports', () => {
    let checked = 0;
    for (const alert of alerts) {
      // Three sources only: the services (tasktier_*, checked below on their /metrics),
      // kube-state-metrics (kube_*, checked here) and redis_exporter (redis_*, checked against the
      // real exporter in test/observability/redis-exporter.test.ts).
      for (const selector of selectors(alert.expr).selectors) {
        expect(selector.name, `${alert.alert}: ${selector.name} is from no known source`).toMatch(
          /^(tasktier|kube|redis)_/,
        );
      }
      for (const selector of selectors(alert.expr).selectors.filter((found) => found.name.startsWith('kube_'))) {
        const labels = KUBE_STATE_METRICS[selector.name];
        expect(labels, `${alert.alert} uses ${selector.name}`).toBeDefined();
        for (const label of selector.labels)
          expect(labels, `${alert.alert}: ${selector.name}{${label}}`).toContain(label);
        checked++;
      }
    }
    // restarts, Redis (twice), the HPA (twice), the two backup alerts and the five event selectors.
    expect(checked).toBeGreaterThanOrEqual(12);
  });
});

describe('the alerts query metrics the services really expose', () => {
  let redis: RedisServer | undefined;
  const services: Service[] = [];
  const exposed: Record<string, Map<string, Set<string>>> = {};

  /** Metric sample names of a /metrics page with the label names seen on them. */
  function parseExposition(text: string): Map<string, Set<string>> {
    const metrics = new Map<string, Set<string>>();
    for (const line of text.split('\n')) {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s/.exec(line);
      if (!match) continue;
      const labels = metrics.get(match[1]!) ?? new Set<string>();
      for (const pair of (match[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(pair[1]!);
      metrics.set(match[1]!, labels);
    }
    return metrics;
  }

  beforeAll(async () => {
    const backendScript = serviceScript('backend');
    const frontendScript = serviceScript('frontend');
    redis = await startRedis();
    const backendPort = await getFreePort();
    const frontendPort = await getFreePort();
    const backendMetricsPort = await getFreePort();
    const frontendMetricsPort = await getFreePort();
    const backend = await startService({
      name: 'backend',
      script: backendScript,
      env: {
        PORT: String(backendPort),
        METRICS_PORT: String(backendMetricsPort),
        HOST: '127.0.0.1',
        REDIS_URL: redis.url,
        LOG_LEVEL: 'warn',
        DRAIN_DELAY_MS: '0',
        RATE_LIMITS: 'off',
      },
      readyUrl: `http://127.0.0.1:${backendPort}/readyz`,
    });
    services.push(backend);
    const frontend = await startService({
      name: 'frontend',
      script: frontendScript,
      env: {
        PORT: String(frontendPort),
        METRICS_PORT: String(frontendMetricsPort),
        HOST: '127.0.0.1',
        BACKEND_URL: `http://127.0.0.1:${backendPort}`,
        LOG_LEVEL: 'warn',
        DRAIN_DELAY_MS: '0',
      },
      readyUrl: `http://127.0.0.1:${frontendPort}/readyz`,
    });
    services.push(frontend);
    // Traffic through both, including a 4xx, so the histograms have series with their labels.
    const base = `http://127.0.0.1:${frontendPort}`;
    const created = await fetch(`${base}/api/lists`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    const { id } = (await created.json()) as { id: string };
    await (await fetch(`${base}/api/lists/${id}/todos`)).arrayBuffer();
    await (await fetch(`${base}/api/lists/not-a-list/todos`)).arrayBuffer();
    // What the ServiceMonitors scrape: GET /metrics on the metrics port of each Service.
    for (const [name, port] of [
      ['backend', backendMetricsPort],
      ['frontend', frontendMetricsPort],
    ] as const) {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.status).toBe(200);
      exposed[name] = parseExposition(await response.text());
    }
  }, 60_000);

  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
    await redis?.destroy();
  });

  test('every tasktier_* selector matches a metric of each service it names, with the labels it filters on', () => {
    let checked = 0;
    for (const alert of alerts) {
      for (const selector of selectors(alert.expr).selectors.filter((found) => found.name.startsWith('tasktier_'))) {
        const pattern = new RegExp(
          `^(?:${selector.regex ? selector.name : selector.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')})$`,
        );
        for (const service of ['backend', 'frontend']) {
          if (!selector.name.includes(service)) continue; // the selector does not name this service
          const matching = [...exposed[service]!.keys()].filter((name) => pattern.test(name));
          expect(matching, `${alert.alert}: ${selector.name} matches nothing on the ${service}'s /metrics`).not.toEqual(
            [],
          );
          for (const name of matching) {
            const labels = exposed[service]!.get(name)!;
            for (const label of selector.labels.filter((candidate) => !TARGET_LABELS.includes(candidate))) {
              expect([...labels], `${alert.alert}: ${name} on the ${service} has no label ${label}`).toContain(label);
            }
          }
          checked++;
        }
      }
    }
    console.log(`checked ${checked} service metric selectors against the real /metrics`);
    expect(checked).toBeGreaterThanOrEqual(6);
  });
});
