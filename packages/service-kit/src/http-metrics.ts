import fp from 'fastify-plugin';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    /** This app's Prometheus registry; services register their own metrics in it. */
    metricsRegistry: Registry;
  }
  interface FastifyContextConfig {
    /** Long-lived responses (event streams) are left out of the request duration histogram. */
    longLived?: boolean;
  }
}

export interface HttpMetricsOptions {
  prefix: string;
  /** What `<prefix>_build_info` reports (on the metrics port, not on the public /version). */
  build: { version: string; revision: string };
}

/**
 * The app's Prometheus registry: process metrics, `<prefix>_build_info` and the request duration
 * histogram by method, route and status. Each app has its own registry (tests build many apps in
 * one process). It is served by runService on METRICS_PORT (metrics-listener.ts), not by the app.
 */
export default fp(
  async (app, { prefix, build }: HttpMetricsOptions) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    new Gauge({
      name: `${prefix}_build_info`,
      help: 'Always 1: the build and runtime of this process in its labels.',
      labelNames: ['version', 'revision', 'node'] as const,
      registers: [registry],
    }).set({ version: build.version, revision: build.revision, node: process.version }, 1);
    const httpDuration = new Histogram({
      name: `${prefix}_http_request_duration_seconds`,
      help: 'HTTP request duration by method, route and status code (event streams excluded).',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    });
    app.decorate('metricsRegistry', registry);

    // Callback style: runs on every request (an async hook costs a promise and a microtask turn).
    app.addHook('onResponse', (request, reply, done) => {
      if (!request.routeOptions.config.longLived) {
        const route = request.routeOptions.url ?? 'unmatched';
        httpDuration.observe(
          { method: request.method, route, status_code: String(reply.statusCode) },
          reply.elapsedTime / 1000,
        );
      }
      done();
    });
  },
  { name: 'http-metrics' },
);
