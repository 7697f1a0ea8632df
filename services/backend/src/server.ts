import { startService } from '@tasktier/service-kit';
import { buildApp, SERVICE_NAME } from './app.ts';
import { loadConfig } from './config.ts';

// The process entry point: validated config, the app, then listen with the drain sequence on SIGTERM.
await startService(SERVICE_NAME, loadConfig, (config) => buildApp(config));
