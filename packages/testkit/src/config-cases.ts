/**
 * A value each variable every service has (service-kit's commonConfigFields) refuses, for the
 * services' process tests; APP_VERSION and APP_REVISION take any string.
 */
export const COMMON_BAD_VALUES: Record<string, string> = {
  PORT: 'http',
  METRICS_PORT: '70000',
  HOST: '',
  LOG_LEVEL: 'loud',
  TRUST_PROXY: 'loopback, not-an-address',
  DRAIN_DELAY_MS: '-1',
  SHUTDOWN_TIMEOUT_MS: '5',
};
export const COMMON_ANY_STRING = ['APP_VERSION', 'APP_REVISION'];
