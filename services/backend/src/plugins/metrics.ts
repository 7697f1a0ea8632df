import fp from 'fastify-plugin';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: {
      registry: Registry;
      observeRedis(operation: string, seconds: number, failed: boolean): void;
      sseClients: Gauge;
    };
  }
}

/** Prometheus metrics on GET /metrics. Each app has its own registry (tests build many apps). */
export default fp(
  async (app, { prefix }: { prefix: string }) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const httpDuration = new Histogram({
      name: `${prefix}_http_request_duration_seconds`,
      help: 'HTTP request duration by method, route and status code.',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
    const redisDuration = new Histogram({
      name: `${prefix}_redis_command_duration_seconds`,
      help: 'Redis round-trip time by store operation.',
      labelNames: ['operation'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    });
    const redisErrors = new Counter({
      name: `${prefix}_redis_command_errors_total`,
      help: 'Failed Redis operations by store operation.',
      labelNames: ['operation'] as const,
      registers: [registry],
    });
    const sseClients = new Gauge({
      name: `${prefix}_sse_clients`,
      help: 'Open live-sync event streams.',
      registers: [registry],
    });

    app.decorate('metrics', {
      registry,
      sseClients,
      observeRedis(operation: string, seconds: number, failed: boolean) {
        redisDuration.observe({ operation }, seconds);
        if (failed) redisErrors.inc({ operation });
      },
    });

    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      httpDuration.observe(
        { method: request.method, route, status_code: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    });

    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      reply.type(registry.contentType);
      return registry.metrics();
    });
  },
  { name: 'metrics' },
);
