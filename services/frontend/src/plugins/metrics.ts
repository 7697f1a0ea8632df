import fp from 'fastify-plugin';
import { Counter, Gauge } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: {
      /** Proxy failures by kind: refused, unreachable, timeout, reset, other. */
      upstreamErrors: Counter<'kind'>;
      /** Event streams currently proxied to browsers. */
      sseStreams: Gauge;
    };
  }
}

/** The frontend's own metrics, next to the HTTP ones from service-kit: the proxy and live sync. */
export default fp(
  async (app, { prefix }: { prefix: string }) => {
    const registers = [app.metricsRegistry];
    const upstreamErrors = new Counter({
      name: `${prefix}_upstream_errors_total`,
      help: 'Requests the backend could not answer, by kind (refused, unreachable, timeout, reset, other).',
      labelNames: ['kind'] as const,
      registers,
    });
    const sseStreams = new Gauge({
      name: `${prefix}_sse_streams`,
      help: 'Live-sync event streams currently proxied to browsers.',
      registers,
    });
    app.decorate('metrics', { upstreamErrors, sseStreams });
  },
  { name: 'metrics', dependencies: ['http-metrics'] },
);
