export { type CommonConfig, ConfigError, commonConfigFields, loadServiceConfig } from './config.ts';
export { default as health, type HealthOptions } from './health.ts';
export { default as httpMetrics } from './http-metrics.ts';
export { runService } from './lifecycle.ts';
export { sendProblem } from './problem.ts';
export { acceptedRequestId } from './request-id.ts';
export { default as requestLog } from './request-log.ts';
export { closeWithin } from './shutdown.ts';
export { type TrustedProxies, trustedProxies } from './trust-proxy.ts';
