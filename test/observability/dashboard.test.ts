import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type RedisServer, repoRoot, startRedis, waitFor } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { dashboardSvg, type PanelData } from './lib/dashboard-svg.ts';
import { type Prometheus, startPrometheus } from './lib/prometheus.ts';
import { type RedisExporter, startRedisExporter } from './lib/redis-exporter.ts';
import { type Stack, startStack } from './lib/stack.ts';

// Every query of the Grafana dashboard runs against Debian's real Prometheus, scraping the running
// stack (the production bundles), a real redis_exporter and Redis, under a short bounded load, and
// must return data. kube-state-metrics (pods, restarts, HPAs, the backup CronJob) cannot run
// without a Kubernetes API server: a stand-in serves fixed kube_* series in its exposition format.

const MONITORING = join(repoRoot, 'deploy/k8s/components/monitoring');

interface Panel {
  type: string;
  title: string;
  targets?: Array<{ expr: string; refId: string; legendFormat?: string }>;
  datasource?: { uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  fieldConfig?: { defaults?: { unit?: string } };
}
const dashboard = JSON.parse(readFileSync(join(MONITORING, 'dashboards/tasktier.json'), 'utf8')) as {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string }> };
};
const panels = dashboard.panels.filter((panel) => panel.type !== 'row');

/** Grafana's variables as Grafana would fill them in for this Prometheus. */
function substitute(expr: string): string {
  return expr.replaceAll('$namespace', 'tasktier').replaceAll('$__rate_interval', '1m');
}

/** The stand-in for kube-state-metrics: fixed series of a healthy prod deployment. */
function kubeStateMetrics(): string {
  const lines = [
    '# TYPE kube_pod_status_ready gauge',
    ...['frontend-1', 'frontend-2', 'backend-1', 'backend-2', 'redis-0'].map(
      (pod) => `kube_pod_status_ready{pod="${pod}",uid="u-${pod}",condition="true"} 1`,
    ),
    '# TYPE kube_pod_container_status_restarts_total counter',
    'kube_pod_container_status_restarts_total{pod="backend-1",uid="u-backend-1",container="backend"} 1',
    'kube_pod_container_status_restarts_total{pod="redis-0",uid="u-redis-0",container="redis"} 0',
    '# TYPE kube_horizontalpodautoscaler_status_current_replicas gauge',
    'kube_horizontalpodautoscaler_status_current_replicas{horizontalpodautoscaler="backend"} 3',
    'kube_horizontalpodautoscaler_status_current_replicas{horizontalpodautoscaler="frontend"} 2',
    '# TYPE kube_horizontalpodautoscaler_spec_min_replicas gauge',
    'kube_horizontalpodautoscaler_spec_min_replicas{horizontalpodautoscaler="backend"} 2',
    'kube_horizontalpodautoscaler_spec_min_replicas{horizontalpodautoscaler="frontend"} 2',
    '# TYPE kube_horizontalpodautoscaler_spec_max_replicas gauge',
    'kube_horizontalpodautoscaler_spec_max_replicas{horizontalpodautoscaler="backend"} 10',
    'kube_horizontalpodautoscaler_spec_max_replicas{horizontalpodautoscaler="frontend"} 10',
    '# TYPE kube_cronjob_status_last_successful_time gauge',
    `kube_cronjob_status_last_successful_time{cronjob="redis-backup"} ${Math.floor(Date.now() / 1000) - 1800}`,
  ];
  return `${lines.join('\n')}\n`;
}

let redis: RedisServer;
let stack: Stack;
let exporter: RedisExporter;
let ksm: Server;
let prometheus: Prometheus;
let loadRequests = 0;

/** A short bounded load through the frontend: creates, reads, changes, a 404, one live-sync stream. */
async function load(base: string, requests: number): Promise<void> {
  const created = await fetch(`${base}/api/lists`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  const { id } = (await created.json()) as { id: string };
  const stream = new AbortController();
  const events = await fetch(`${base}/api/lists/${id}/events`, { signal: stream.signal });
  expect(events.status).toBe(200);
  const one = async (index: number) => {
    const response =
      index % 4 === 0
        ? await fetch(`${base}/api/lists/${id}/todos`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ title: `todo ${index}` }),
          })
        : index % 25 === 1
          ? await fetch(`${base}/api/lists/AAAAAAAAAAAAAAAAAAAAAA/todos`)
          : await fetch(`${base}/api/lists/${id}/todos`);
    await response.arrayBuffer();
    loadRequests++;
  };
  for (let index = 0; index < requests; index += 4) {
    await Promise.all([0, 1, 2, 3].map((offset) => one(index + offset)));
  }
  stream.abort();
}

beforeAll(async () => {
  redis = await startRedis({ args: ['--maxmemory', '64mb'] });
  stack = await startStack(redis, { both: { LOG_LEVEL: 'warn' } });
  exporter = await startRedisExporter(redis.port);
  ksm = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(kubeStateMetrics());
  });
  await new Promise<void>((resolve) => ksm.listen(0, '127.0.0.1', resolve));
  const ksmPort = (ksm.address() as AddressInfo).port;
  // The labels a ServiceMonitor's targets get (namespace, service, pod); kube-state-metrics' series
  // carry their own pod labels.
  const target = (job: string, port: number | string, pod?: string) => ({
    job,
    address: `127.0.0.1:${port}`,
    labels: { namespace: 'tasktier', ...(pod ? { service: job, pod } : {}) },
  });
  prometheus = await startPrometheus([
    target('frontend', stack.frontendMetricsPort, 'frontend-1'),
    target('backend', stack.backendMetricsPort, 'backend-1'),
    target('redis-metrics', new URL(exporter.url).port, 'redis-0'),
    target('kube-state-metrics', ksmPort),
  ]);
  await waitFor(
    'every target scraped',
    async () => {
      const up = await prometheus.query('up == 1');
      return up.length === 4;
    },
    { timeoutMs: 20_000 },
  );
  await load(stack.frontendUrl, 400);
}, 90_000);

afterAll(async () => {
  await prometheus?.stop();
  await new Promise((resolve) => ksm?.close(resolve));
  await exporter?.stop();
  await stack?.stop();
  await redis?.destroy();
});

describe('the Grafana dashboard', () => {
  test('is provisioned by a ConfigMap labelled for the Grafana sidecar', () => {
    const kustomization = parse(readFileSync(join(MONITORING, 'kustomization.yaml'), 'utf8')) as {
      configMapGenerator: Array<{ name: string; files: string[]; options: { labels: Record<string, string> } }>;
    };
    const generator = kustomization.configMapGenerator.find((entry) => entry.name === 'tasktier-grafana-dashboard');
    expect(generator?.files).toEqual(['dashboards/tasktier.json']);
    expect(generator?.options.labels.grafana_dashboard).toBe('1');
    expect(dashboard.templating.list.map((variable) => variable.name)).toEqual(['datasource', 'namespace']);
  });

  test('covers requests, errors, latency, live sync, Redis, pods, HPAs and backups', () => {
    const queries = panels.flatMap((panel) => panel.targets ?? []).map((target) => target.expr);
    for (const needle of [
      'http_request_duration_seconds_count',
      'status_code=~"5.."',
      'http_request_duration_seconds_bucket',
      'tasktier_backend_sse_clients',
      'redis_memory_used_bytes',
      'redis_commands_total',
      'kube_pod_status_ready',
      'kube_pod_container_status_restarts_total',
      'kube_horizontalpodautoscaler_spec_max_replicas',
      'kube_cronjob_status_last_successful_time',
      'process_cpu_seconds_total',
    ]) {
      expect(
        queries.some((query) => query.includes(needle)),
        `no panel reads ${needle}`,
      ).toBe(true);
    }
    for (const panel of panels) {
      expect(panel.targets?.length, `${panel.title} has no query`).toBeGreaterThan(0);
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable (the Prometheus picked in the dashboard), not a template
      expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
    }
  });

  test('every panel query returns data from the real Prometheus', async () => {
    expect(loadRequests).toBe(400);
    const failures: string[] = [];
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        const expr = substitute(target.expr);
        try {
          await waitFor(
            `${panel.title} (${target.refId})`,
            async () => {
              const result = await prometheus.query(expr);
              return result.some(({ value }) => Number.isFinite(Number(value[1])));
            },
            { timeoutMs: 15_000, intervalMs: 250 },
          );
        } catch (error) {
          failures.push(`${panel.title} ${target.refId}: ${expr}: ${(error as Error).message}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  test('its picture, drawn from the data of this run, is in test-results/observability-dashboard.svg', async () => {
    const data: PanelData[] = [];
    for (const panel of panels) {
      const series: PanelData['series'] = [];
      for (const target of panel.targets ?? []) {
        for (const { metric, values } of await prometheus.queryRange(substitute(target.expr), 60, 1)) {
          const name = (target.legendFormat ?? '').replace(
            /\{\{\s*(\w+)\s*\}\}/g,
            (_all, label: string) => metric[label] ?? '',
          );
          const points = values
            .map(([t, v]) => [t, Number(v)] as [number, number])
            .filter(([, v]) => Number.isFinite(v));
          if (points.length > 0) series.push({ name, points });
        }
      }
      data.push({ title: panel.title, unit: panel.fieldConfig?.defaults?.unit ?? '', grid: panel.gridPos, series });
    }
    expect(data.every((panel) => panel.series.length > 0)).toBe(true);
    mkdirSync(join(repoRoot, 'test-results'), { recursive: true });
    writeFileSync(join(repoRoot, 'test-results/observability-dashboard.svg'), dashboardSvg('tasktier', data));
  });

  test('a query on a metric nobody exports returns no data (the check above can fail)', async () => {
    expect(
      await prometheus.query(substitute('rate(tasktier_backend_no_such_metric_total{namespace="$namespace"}[1m])')),
    ).toEqual([]);
  });
});
