import { Counter, Gauge, type Registry } from 'prom-client';

/** The proxy's own metrics, next to the HTTP ones from service-kit. */
export interface ProxyMetrics {
  /** Proxy failures by kind: refused, unreachable, timeout, reset, other. */
  upstreamErrors: Counter<'kind'>;
  /** Event streams currently proxied to browsers. */
  sseStreams: Gauge;
}

export function proxyMetrics(registry: Registry, prefix: string): ProxyMetrics {
  const registers = [registry];
  return {
    upstreamErrors: new Counter({
      name: `${prefix}_upstream_errors_total`,
      help: 'Requests the backend could not answer, by kind (refused, unreachable, timeout, reset, other).',
      labelNames: ['kind'] as const,
      registers,
    }),
    sseStreams: new Gauge({
      name: `${prefix}_sse_streams`,
      help: 'Live-sync event streams currently proxied to browsers.',
      registers,
    }),
  };
}
