import { envSchema } from 'env-schema';
import { type Static, type TObject, type TProperties, Type } from 'typebox';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The settings every service has. Spread into a service's own schema. */
export function commonConfigFields(defaultPort: number) {
  return {
    PORT: Type.Integer({ minimum: 0, maximum: 65535, default: defaultPort }),
    HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
    LOG_LEVEL: Type.String({ default: 'info' }),
    /**
     * Peers whose X-Forwarded-* headers are believed: addresses, CIDRs, names like `loopback`,
     * `true` or `false`. Nobody by default: a client must not pick its own address (rate limits
     * are keyed on it), so each deployment names its real proxies.
     */
    TRUST_PROXY: Type.String({ default: '' }),
    /** Time between SIGTERM (readiness turns 503) and closing the listener. */
    DRAIN_DELAY_MS: Type.Integer({ minimum: 0, default: 5000 }),
    /** Time in-flight requests get after the listener closes; then connections are cut. */
    SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 10000 }),
    APP_VERSION: Type.Optional(Type.String()),
    APP_REVISION: Type.Optional(Type.String()),
  };
}
const commonSchema = Type.Object(commonConfigFields(0));
export type CommonConfig = Static<typeof commonSchema>;

/** Invalid configuration: the message is one line that names the variable, never its value. */
export class ConfigError extends Error {}

/** Reads the environment against `schema` (with defaults), then runs service-specific checks. */
export function loadServiceConfig<P extends TProperties>(
  schema: TObject<P>,
  env: Record<string, string | undefined>,
  check: (config: Static<TObject<P>>) => void = () => {},
): Static<TObject<P>> {
  let config: Static<TObject<P>>;
  try {
    config = envSchema<Static<TObject<P>>>({ schema, data: env, dotenv: false });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`invalid configuration: ${message.replace(/^env\//, '').replace(/\s*\n\s*/g, '; ')}`);
  }
  const level = (config as { LOG_LEVEL?: string }).LOG_LEVEL;
  if (level !== undefined && !LOG_LEVELS.includes(level)) {
    throw new ConfigError(`invalid configuration: LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  }
  check(config);
  return config;
}
