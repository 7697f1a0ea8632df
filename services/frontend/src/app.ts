import { fileURLToPath } from 'node:url';
import { createService, type ServiceLogger } from '@tasktier/service-kit';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.ts';
import securityHeaders from './plugins/security-headers.ts';
import { proxyMetrics } from './proxy/metrics.ts';
import proxyRoutes from './proxy/routes.ts';
import staticFiles from './routes/static.ts';

export const SERVICE_NAME = 'frontend';

export interface AppOptions {
  /** The built UI (index.html and assets/): PUBLIC_DIR, else `public/` next to the server bundle. */
  publicDir?: string;
  logger?: ServiceLogger;
}

/** Builds the frontend app without listening: server.ts listens, tests use inject or listen on port 0. */
export async function buildApp(config: Config, options: AppOptions = {}): Promise<FastifyInstance> {
  const publicDir = options.publicDir ?? config.PUBLIC_DIR ?? fileURLToPath(new URL('./public/', import.meta.url));
  const service = {
    name: SERVICE_NAME,
    metricsPrefix: 'tasktier_frontend',
    config,
    logger: options.logger,
    // Idle sockets time out after 2 minutes (event streams carry heartbeats well inside that).
    fastify: { connectionTimeout: 120_000 },
  };
  return createService(service, async (app) => {
    await app.register(securityHeaders);
    await app.register(proxyRoutes, {
      backendUrl: config.BACKEND_URL,
      timeoutMs: config.UPSTREAM_TIMEOUT_MS,
      connectTimeoutMs: config.UPSTREAM_CONNECT_TIMEOUT_MS,
      connections: config.UPSTREAM_CONNECTIONS,
      eventStreams: config.MAX_EVENT_STREAMS,
      metrics: proxyMetrics(app.metricsRegistry, 'tasktier_frontend'),
    });
    await app.register(staticFiles, { root: publicDir });
  });
}
