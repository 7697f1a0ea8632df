import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The backend's own metrics, next to the HTTP ones from service-kit: Redis and live sync. */
export interface BackendMetrics {
  observeRedis(operation: string, seconds: number, failed: boolean): void;
  sseClients: Gauge;
  /** Connections dropped and reopened because Redis stopped answering on them. */
  redisConnectionsReplaced: Counter<'connection'>;
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: BackendMetrics;
  }
}

export function backendMetrics(registry: Registry, prefix: string): BackendMetrics {
  const registers = [registry];
  const redisDuration = new Histogram({
    name: `${prefix}_redis_command_duration_seconds`,
    help: 'Redis round-trip time by store operation.',
    labelNames: ['operation'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers,
  });
  const redisErrors = new Counter({
    name: `${prefix}_redis_command_errors_total`,
    help: 'Failed Redis operations by store operation.',
    labelNames: ['operation'] as const,
    registers,
  });
  return {
    sseClients: new Gauge({ name: `${prefix}_sse_clients`, help: 'Open live-sync event streams.', registers }),
    redisConnectionsReplaced: new Counter({
      name: `${prefix}_redis_connections_replaced_total`,
      help: 'Redis connections dropped and reopened because they stopped answering (a lost node, no FIN).',
      labelNames: ['connection'] as const,
      registers,
    }),
    observeRedis(operation: string, seconds: number, failed: boolean) {
      redisDuration.observe({ operation }, seconds);
      if (failed) redisErrors.inc({ operation });
    },
  };
}
