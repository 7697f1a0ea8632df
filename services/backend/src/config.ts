import { envSchema } from 'env-schema';
import { type Static, Type } from 'typebox';

export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 5000 }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  REDIS_URL: Type.String({ pattern: '^rediss?://', default: 'redis://127.0.0.1:6379' }),
  REDIS_USERNAME: Type.Optional(Type.String()),
  REDIS_PASSWORD: Type.Optional(Type.String()),
  REDIS_KEY_PREFIX: Type.String({ pattern: '^[A-Za-z0-9:_-]*$', default: 'tt:' }),
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 50, default: 1000 }),
  LOG_LEVEL: Type.String({ default: 'info' }),
  TRUST_PROXY: Type.String({ default: 'loopback,linklocal,uniquelocal' }),
  CORS_ORIGINS: Type.String({ default: '*' }),
  DRAIN_DELAY_MS: Type.Integer({ minimum: 0, default: 5000 }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 10000 }),
  SSE_HEARTBEAT_MS: Type.Integer({ minimum: 100, default: 15000 }),
  MAX_TODOS_PER_LIST: Type.Integer({ minimum: 1, default: 10000 }),
  APP_VERSION: Type.Optional(Type.String()),
  APP_REVISION: Type.Optional(Type.String()),
});

export type Config = Static<typeof ConfigSchema>;

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export class ConfigError extends Error {}

/**
 * Reads and validates the configuration. Throws ConfigError with a one-line message that
 * names the variable but never echoes its value (it may be a password).
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  let config: Config;
  try {
    config = envSchema<Config>({ schema: ConfigSchema, data: env, dotenv: false });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`invalid configuration: ${message.replace(/^env\//, '').replace(/\s*\n\s*/g, '; ')}`);
  }
  if (!LOG_LEVELS.has(config.LOG_LEVEL)) {
    throw new ConfigError(`invalid configuration: LOG_LEVEL must be one of ${[...LOG_LEVELS].join(', ')}`);
  }
  try {
    new URL(config.REDIS_URL);
  } catch {
    throw new ConfigError('invalid configuration: REDIS_URL is not a valid redis:// URL');
  }
  return config;
}

/** Test and embedding helper: the defaults with some values replaced. */
export function configWith(overrides: Partial<Config>): Config {
  return { ...loadConfig({}), ...overrides };
}
