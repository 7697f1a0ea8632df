import { type RedisCluster, type RedisServer, startRedis, startRedisCluster, waitFor } from '@tasktier/testkit';
import { buildApp } from '../src/app.ts';
import { type Config, configWith } from '../src/config.ts';

export type TestApp = Awaited<ReturnType<typeof buildApp>>;

/**
 * The Redis a test runs against: one `redis-server`, or with TASKTIER_TEST_REDIS=cluster (the
 * `cluster` project) a real six-node Redis Cluster, so that the same test bodies prove the API's
 * guarantees in both modes.
 */
export interface DataTier {
  mode: 'standalone' | 'cluster';
  /** The backend's settings that point it here: REDIS_URL, or REDIS_CLUSTER_NODES. */
  env: { REDIS_URL: string } | { REDIS_CLUSTER_NODES: string };
  /** redis-cli against the node that holds `key` (with -c: follows redirections). */
  cliFor(key: string, ...args: string[]): string;
  cluster?: RedisCluster;
  destroy(): Promise<void>;
}

export async function startDataTier(): Promise<DataTier> {
  if (process.env.TASKTIER_TEST_REDIS === 'cluster') {
    const cluster = await startRedisCluster();
    return {
      mode: 'cluster',
      env: { REDIS_CLUSTER_NODES: cluster.seeds },
      cliFor: (key, ...args) => cluster.cli(cluster.primaryOf(key).port, ...args),
      cluster,
      destroy: () => cluster.stop(),
    };
  }
  const redis = await startRedis();
  return {
    mode: 'standalone',
    env: { REDIS_URL: redis.url },
    cliFor: (_key, ...args) => redis.cli(...args),
    destroy: () => redis.destroy(),
  };
}

/**
 * The backend app (no port) against a real Redis, quiet logs. Close it after the test. The
 * per-client limits are off unless a test turns them on: most tests make many requests from one
 * address on purpose.
 */
export async function buildTestApp(redis: RedisServer | DataTier, overrides: Partial<Config> = {}): Promise<TestApp> {
  const target = 'env' in redis ? redis.env : { REDIS_URL: redis.url };
  const app = await buildApp(configWith({ ...target, RATE_LIMITS: 'off', ...overrides }), {
    logger: false,
  });
  await app.ready();
  // The app connects to Redis in the background; tests start once it answers.
  await waitFor('the backend to connect to Redis', () => app.redisAnswers());
  return app;
}

export async function createList(app: TestApp): Promise<string> {
  const response = await app.inject({ method: 'POST', url: '/api/lists' });
  if (response.statusCode !== 201) throw new Error(`POST /api/lists: ${response.statusCode} ${response.body}`);
  return response.json<{ id: string }>().id;
}

export { startRedis };
