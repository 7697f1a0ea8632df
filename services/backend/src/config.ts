import { MAX_TODOS_PER_LIST } from '@tasktier/contract';
import { ConfigError, commonConfigFields, loadServiceConfig, trustedProxies } from '@tasktier/service-kit';
import { type Static, Type } from 'typebox';

export const ConfigSchema = Type.Object({
  ...commonConfigFields(5000, 9464),
  REDIS_URL: Type.String({ pattern: '^rediss?://', default: 'redis://127.0.0.1:6379' }),
  REDIS_USERNAME: Type.Optional(Type.String()),
  REDIS_PASSWORD: Type.Optional(Type.String()),
  REDIS_KEY_PREFIX: Type.String({ pattern: '^[A-Za-z0-9:_-]*$', default: 'tt:' }),
  /**
   * Redis Cluster mode: comma-separated `host:port` seeds (any few nodes; the client learns the rest).
   * Set (not empty), it replaces REDIS_URL; REDIS_USERNAME/REDIS_PASSWORD log in to every node.
   */
  REDIS_CLUSTER_NODES: Type.Optional(Type.String()),
  /**
   * Cluster mode: a write is answered only once this many replicas of its primary have it (WAIT),
   * so a primary lost right after it does not take it along. 0 = asynchronous replication.
   */
  REDIS_CLUSTER_WAIT_REPLICAS: Type.Integer({ minimum: 0, maximum: 5, default: 0 }),
  /** How long a write waits for those replicas; not confirmed by then, it is answered 503. */
  REDIS_CLUSTER_WAIT_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 10_000, default: 500 }),
  /** A request needing Redis fails after this long (503) instead of waiting on a dead server. */
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 50, default: 1000 }),
  CORS_ORIGINS: Type.String({ default: '*' }),
  SSE_HEARTBEAT_MS: Type.Integer({ minimum: 100, default: 15000 }),
  MAX_TODOS_PER_LIST: Type.Integer({ minimum: 1, default: MAX_TODOS_PER_LIST }),
  /** A list's todos as stored in Redis (JSON bytes); a write that would pass it gets 409. */
  MAX_LIST_BYTES: Type.Integer({ minimum: 1024, default: 2 * 1024 * 1024 }),
  /** A list without todos expires this long after its last change (0 = never); one with todos never does. */
  EMPTY_LIST_TTL_SECONDS: Type.Integer({ minimum: 0, default: 86400 }),
  /** `off` lifts the per-client limits below (benchmarks, load tests); every deployment keeps `on`. */
  RATE_LIMITS: Type.Enum(['on', 'off'], { default: 'on' }),
  LIST_CREATES_PER_MINUTE: Type.Integer({ minimum: 1, default: 10 }),
  /** GET/HEAD of /api/*: a person clicking and a UI refetching on every change stay far below. */
  READS_PER_MINUTE: Type.Integer({ minimum: 1, default: 1200 }),
  /** POST/PATCH/DELETE of todos. */
  WRITES_PER_MINUTE: Type.Integer({ minimum: 1, default: 600 }),
  /** Open live-sync streams per client address, counted across every replica (a person has a few tabs). */
  EVENT_STREAMS_PER_CLIENT: Type.Integer({ minimum: 1, default: 100 }),
  /** Open live-sync streams on this process; the next one is refused (503) rather than slowing all. */
  MAX_EVENT_STREAMS: Type.Integer({ minimum: 1, default: 10000 }),
});

export type Config = Static<typeof ConfigSchema>;
export { ConfigError };

/**
 * Reads and validates the configuration. Throws ConfigError with a one-line message that
 * names the variable but never echoes its value (it may be a password).
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  return loadServiceConfig(ConfigSchema, env, (config) => {
    try {
      new URL(config.REDIS_URL);
    } catch {
      throw new ConfigError('invalid configuration: REDIS_URL is not a valid redis:// URL');
    }
    if (config.REDIS_CLUSTER_NODES) clusterSeeds(config.REDIS_CLUSTER_NODES);
    trustedProxies(config.TRUST_PROXY);
  });
}

const SEED = /^(?<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?<port>[0-9]{1,5})$/;

/** REDIS_CLUSTER_NODES as seeds; a ConfigError (naming the variable, not its value) when malformed. */
export function clusterSeeds(value: string): Array<{ host: string; port: number }> {
  const parts = value.split(',').map((part) => part.trim());
  const seeds = parts.map((part) => {
    const match = SEED.exec(part);
    const port = Number(match?.groups?.port);
    if (!match?.groups || port < 1 || port > 65535) return undefined;
    return { host: (match.groups.host ?? '').replace(/^\[|\]$/g, ''), port };
  });
  if (parts.length === 0 || seeds.some((seed) => seed === undefined)) {
    throw new ConfigError(
      'invalid configuration: REDIS_CLUSTER_NODES must be comma-separated host:port seeds (e.g. redis-0.redis:6379,redis-1.redis:6379)',
    );
  }
  return seeds as Array<{ host: string; port: number }>;
}

/** Test and embedding helper: the defaults with some values replaced. */
export function configWith(overrides: Partial<Config>): Config {
  return { ...loadConfig({}), ...overrides };
}
