import { fileURLToPath } from 'node:url';
import { runService } from '@tasktier/service-kit';
import { buildApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';

// The entry point: validated config, then listen with the drain sequence on SIGTERM/SIGINT.
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  process.stderr.write(`frontend: ${error instanceof ConfigError ? error.message : String(error)}\n`);
  process.exit(1);
}

const publicDir = config.PUBLIC_DIR ?? fileURLToPath(new URL('./public/', import.meta.url));
let app: Awaited<ReturnType<typeof buildApp>>;
try {
  app = await buildApp(config, { publicDir, version: config.APP_VERSION ?? process.env.BUNDLED_VERSION });
} catch (error) {
  process.stderr.write(`frontend: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

await runService(app, config);
