import { ConfigError, commonConfigFields, loadServiceConfig, trustedProxies } from '@tasktier/service-kit';
import { type Static, Type } from 'typebox';

export const ConfigSchema = Type.Object({
  ...commonConfigFields(8080, 9465),
  /** Where /api/* goes: the backend Service (origin only, no path). */
  BACKEND_URL: Type.String({ pattern: '^https?://', default: 'http://127.0.0.1:5000' }),
  /** Time to wait for the backend's response headers, and between body chunks (not for event streams). */
  UPSTREAM_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 10000 }),
  /** Time to open a TCP connection to the backend; failing that is a 502 (unreachable). */
  UPSTREAM_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 3000 }),
  /** Keep-alive connection pool size to the backend (event streams each hold one). */
  UPSTREAM_CONNECTIONS: Type.Integer({ minimum: 1, default: 256 }),
  /** Live-sync streams one frontend proxies at once (each holds its own backend connection); the next gets 503. */
  MAX_EVENT_STREAMS: Type.Integer({ minimum: 1, default: 20000 }),
  /** The built UI; by default `public/` next to the server bundle. */
  PUBLIC_DIR: Type.Optional(Type.String({ minLength: 1 })),
});

export type Config = Static<typeof ConfigSchema>;

export { ConfigError };

/**
 * Reads and validates the configuration. Throws ConfigError with a one-line message that
 * names the variable but never echoes its value.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  return loadServiceConfig(ConfigSchema, env, (config) => {
    let backend: URL;
    try {
      backend = new URL(config.BACKEND_URL);
    } catch {
      throw new ConfigError('invalid configuration: BACKEND_URL is not a valid http:// or https:// URL');
    }
    if ((backend.pathname !== '/' && backend.pathname !== '') || backend.search || backend.hash) {
      throw new ConfigError('invalid configuration: BACKEND_URL must be an origin only (scheme, host, port), no path');
    }
    if (backend.username || backend.password) {
      throw new ConfigError('invalid configuration: BACKEND_URL must not contain credentials');
    }
    trustedProxies(config.TRUST_PROXY);
  });
}

/** Test and embedding helper: the defaults with some values replaced. */
export function configWith(overrides: Partial<Config>): Config {
  return { ...loadConfig({}), ...overrides };
}
