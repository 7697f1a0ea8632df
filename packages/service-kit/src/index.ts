export { type CommonConfig, ConfigError, commonConfigFields, loadServiceConfig } from './config.ts';
export { sendProblem, spreadRetryAfter } from './problem.ts';
export type { ErrorMapping } from './problems.ts';
export { randomId, requestIdFrom } from './request-id.ts';
export { createService, type ServiceLogger, type ServiceOptions, startService } from './service.ts';
export { closeWithin } from './shutdown.ts';
export { type TrustedProxies, trustedProxies } from './trust-proxy.ts';
