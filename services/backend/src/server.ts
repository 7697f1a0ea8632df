import { runService } from '@tasktier/service-kit';
import { buildApp, SERVICE_NAME } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';

// The process entry point: validated config, then listen with the drain sequence on SIGTERM.
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${SERVICE_NAME}: ${error.message}\n`);
  process.exit(1);
}

await runService(await buildApp(config), config);
