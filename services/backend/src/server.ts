import { setTimeout as delay } from 'node:timers/promises';
import closeWithGrace from 'close-with-grace';
import { buildApp, SERVICE_NAME } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { closeWithin } from './lib/shutdown.ts';

/** Process entry point: config, listen, and the drain sequence on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${SERVICE_NAME}: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }

  const app = await buildApp(config);

  closeWithGrace({ delay: config.DRAIN_DELAY_MS + config.SHUTDOWN_TIMEOUT_MS + 2000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'fatal error, shutting down');
    // Readiness fails at once; keep serving while load balancers notice and stop sending.
    app.lifecycle.draining = true;
    app.log.info({ signal, drainDelayMs: config.DRAIN_DELAY_MS }, 'draining');
    if (!err) await delay(config.DRAIN_DELAY_MS);
    await closeWithin(app, config.SHUTDOWN_TIMEOUT_MS);
    app.log.info('stopped');
  });

  try {
    await app.listen({ port: config.PORT, host: config.HOST });
  } catch (error) {
    app.log.error({ err: error }, 'could not listen');
    process.exit(1);
  }
}

await main();
