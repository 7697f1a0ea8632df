import { type RedisServer, startRedis, waitFor } from '@tasktier/testkit';
import { buildApp } from '../src/app.ts';
import { type Config, configWith } from '../src/config.ts';

export type TestApp = Awaited<ReturnType<typeof buildApp>>;

/**
 * The backend app (no port) against a real Redis, quiet logs. Close it after the test. The
 * per-client limits are off unless a test turns them on: most tests make many requests from one
 * address on purpose.
 */
export async function buildTestApp(redis: RedisServer, overrides: Partial<Config> = {}): Promise<TestApp> {
  const app = await buildApp(configWith({ REDIS_URL: redis.url, RATE_LIMITS: 'off', ...overrides }), {
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
