import { setTimeout as delay } from 'node:timers/promises';
import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';
import type { CommonConfig } from './config.ts';
import { listenMetrics, metricsListener } from './metrics-listener.ts';
import { closeWithin } from './shutdown.ts';

/**
 * Listens, and on SIGTERM/SIGINT runs the drain sequence: readiness 503 at once, keep serving
 * for DRAIN_DELAY_MS while load balancers stop sending, then close (bounded by
 * SHUTDOWN_TIMEOUT_MS) and exit 0.
 */
export async function runService(app: FastifyInstance, config: CommonConfig): Promise<void> {
  const metrics = metricsListener(app.metricsRegistry);
  closeWithGrace(
    {
      // The last resort if even the bounded close hangs.
      delay: config.DRAIN_DELAY_MS + config.SHUTDOWN_TIMEOUT_MS + 2000,
      logger: { error: (message: unknown) => app.log.error(message) },
    },
    async ({ signal, err }) => {
      if (err) app.log.error({ err }, 'fatal error, shutting down');
      app.lifecycle.draining = true;
      if (signal) {
        app.log.info({ signal, drainDelayMs: config.DRAIN_DELAY_MS }, 'draining');
        await delay(config.DRAIN_DELAY_MS);
      }
      await closeWithin(app, config.SHUTDOWN_TIMEOUT_MS);
      // Last: Prometheus sees the drain through to the end.
      metrics.closeAllConnections();
      await new Promise((resolve) => metrics.close(resolve));
      app.log.info('stopped');
    },
  );

  try {
    await app.listen({ port: config.PORT, host: config.HOST });
    const metricsPort = await listenMetrics(metrics, config.METRICS_PORT, config.HOST);
    app.log.info({ metricsPort }, 'metrics listening');
  } catch (error) {
    app.log.error({ err: error }, 'could not listen');
    process.exit(1);
  }
}
