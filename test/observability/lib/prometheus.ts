import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFreePort, type Proc, startProcess } from '@tasktier/testkit';
import { stringify } from 'yaml';

/** A scrape target with the labels the Prometheus Operator gives a ServiceMonitor's targets. */
export interface Target {
  job: string;
  address: string;
  labels: Record<string, string>;
}

export interface Prometheus {
  url: string;
  proc: Proc;
  /** An instant query; the result vector (or matrix) as Prometheus answers it. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** A range query over the last `seconds`, one point per `stepS`. */
  queryRange(
    expr: string,
    seconds: number,
    stepS: number,
  ): Promise<Array<{ metric: Record<string, string>; values: Array<[number, string]> }>>;
  stop(): Promise<void>;
}

/** Debian's real `prometheus` on a free loopback port, scraping `targets` every second. */
export async function startPrometheus(targets: Target[]): Promise<Prometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'tasktier-prometheus-'));
  const port = await getFreePort();
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    scrape_configs: targets.map((target) => ({
      job_name: target.job,
      static_configs: [{ targets: [target.address], labels: target.labels }],
    })),
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const url = `http://127.0.0.1:${port}`;
  const proc = await startProcess({
    name: 'prometheus',
    command: 'prometheus',
    args: [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    ready: { url: `${url}/-/ready`, timeoutMs: 30_000 },
  });
  return {
    url,
    proc,
    query: async (expr) => {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await response.json()) as {
        status: string;
        error?: string;
        data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
      };
      if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
      return body.data?.result ?? [];
    },
    queryRange: async (expr, seconds, stepS) => {
      const end = Date.now() / 1000;
      const query = new URLSearchParams({
        query: expr,
        start: String(end - seconds),
        end: String(end),
        step: String(stepS),
      });
      const response = await fetch(`${url}/api/v1/query_range?${query}`);
      const body = (await response.json()) as {
        status: string;
        error?: string;
        data?: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> };
      };
      if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
      return body.data?.result ?? [];
    },
    stop: async () => {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
