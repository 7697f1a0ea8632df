import { PROBLEM_CONTENT_TYPE } from '@tasktier/contract';
import type { RedisServer } from '@tasktier/testkit';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, startRedis, type TestApp } from './helpers.ts';

let redis: RedisServer;
const apps: TestApp[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  // Each test starts with fresh budgets.
  redis.cli('FLUSHALL');
});
afterAll(async () => {
  await redis?.destroy();
});

async function appWith(overrides: Parameters<typeof buildTestApp>[1] = {}): Promise<TestApp> {
  const app = await buildTestApp(redis, { RATE_LIMITS: 'on', ...overrides });
  apps.push(app);
  return app;
}

const createList = (app: TestApp, remoteAddress = '198.51.100.7') =>
  app.inject({ method: 'POST', url: '/api/lists', remoteAddress });

function expectRateLimited(response: LightMyRequestResponse, detail: RegExp) {
  expect(response.statusCode).toBe(429);
  expect(response.headers['content-type']).toBe(`${PROBLEM_CONTENT_TYPE}; charset=utf-8`);
  const retryAfter = Number(response.headers['retry-after']);
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  const problem = response.json<{ type: string; status: number; detail: string }>();
  expect(problem.type).toBe('urn:tasktier:problem:rate-limited');
  expect(problem.status).toBe(429);
  expect(problem.detail).toMatch(detail);
  expect(problem.detail).toContain(`try again in ${retryAfter} s`);
}

const statuses = (responses: LightMyRequestResponse[]) => {
  const counts: Record<number, number> = {};
  for (const response of responses) counts[response.statusCode] = (counts[response.statusCode] ?? 0) + 1;
  return counts;
};

describe('per-client rate limits', () => {
  it('refuses most of a burst of 200 list creations from one address (429 problem+json with Retry-After)', async () => {
    const app = await appWith();
    const responses = await Promise.all(Array.from({ length: 200 }, () => createList(app)));
    expect(statuses(responses)).toEqual({ 201: 10, 429: 190 });
    for (const response of responses.filter((r) => r.statusCode === 429)) {
      expectRateLimited(response, /^too many lists created from your address \(at most 10 a minute\)/);
    }
    // Another address has its own budget; the counter lives under the key prefix, with an expiry.
    expect((await createList(app, '198.51.100.8')).statusCode).toBe(201);
    const ttl = Number(redis.cli('PTTL', 'tt:rl:listCreates:198.51.100.7'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('is shared by every replica on the same Redis', async () => {
    const [one, two] = [await appWith({ LIST_CREATES_PER_MINUTE: 4 }), await appWith({ LIST_CREATES_PER_MINUTE: 4 })];
    const first = await Promise.all([createList(one), createList(one), createList(one)]);
    const second = await Promise.all([createList(two), createList(two), createList(two)]);
    expect(statuses([...first, ...second])).toEqual({ 201: 4, 429: 2 });
    expect(statuses(second)).toEqual({ 201: 1, 429: 2 });
  });

  it('limits reads (GET and HEAD of /api/*) but never health, readiness or /version', async () => {
    const app = await appWith({ READS_PER_MINUTE: 3 });
    const url = '/api/lists/AAAAAAAAAAAAAAAAAAAAAA';
    const reads = [];
    for (const method of ['GET', 'HEAD', 'GET'] as const) reads.push(await app.inject({ method, url }));
    expect(statuses(reads)).toEqual({ 404: 3 });
    expectRateLimited(
      await app.inject({ url: `${url}/todos` }),
      /^too many requests from your address \(at most 3 reads a minute\)/,
    );
    expect((await app.inject({ method: 'HEAD', url })).statusCode).toBe(429);
    for (const path of ['/healthz', '/readyz', '/version']) {
      for (let i = 0; i < 5; i++) expect((await app.inject({ url: path })).statusCode, path).toBe(200);
    }
    // Writes have their own budget.
    const list = await createList(app);
    expect(list.statusCode).toBe(201);
  });

  it('limits writes to todos per address', async () => {
    const app = await appWith({ WRITES_PER_MINUTE: 3 });
    const { id } = (await createList(app)).json<{ id: string }>();
    const todos = `/api/lists/${id}/todos`;
    const remoteAddress = '198.51.100.7';
    const created = await app.inject({ method: 'POST', url: todos, payload: { title: 'a' }, remoteAddress });
    expect(created.statusCode).toBe(201);
    const todo = `${todos}/${created.json<{ id: string }>().id}`;
    expect(
      (await app.inject({ method: 'PATCH', url: todo, payload: { completed: true }, remoteAddress })).statusCode,
    ).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: todo, remoteAddress })).statusCode).toBe(204);
    expectRateLimited(
      await app.inject({ method: 'POST', url: todos, payload: { title: 'b' }, remoteAddress }),
      /^too many changes from your address \(at most 3 a minute\)/,
    );
    expect((await app.inject({ method: 'DELETE', url: todos, remoteAddress })).statusCode).toBe(429);
    // Reads still work, and so do writes from elsewhere.
    expect((await app.inject({ url: todos, remoteAddress })).statusCode).toBe(200);
    const other = await app.inject({
      method: 'POST',
      url: todos,
      payload: { title: 'c' },
      remoteAddress: '198.51.100.9',
    });
    expect(other.statusCode).toBe(201);
  });

  it('are all lifted by RATE_LIMITS=off', async () => {
    const app = await appWith({ RATE_LIMITS: 'off', LIST_CREATES_PER_MINUTE: 1, READS_PER_MINUTE: 1 });
    const responses = await Promise.all(Array.from({ length: 200 }, () => createList(app)));
    expect(statuses(responses)).toEqual({ 201: 200 });
    const { id } = responses[0]!.json<{ id: string }>();
    for (let i = 0; i < 5; i++) expect((await app.inject({ url: `/api/lists/${id}/todos` })).statusCode).toBe(200);
    expect(redis.cli('--scan', '--pattern', 'tt:rl:*')).toBe('');
  });

  it('keeps limiting when Redis is full and refuses the counters (kept in the process meanwhile)', async () => {
    const app = await appWith({ READS_PER_MINUTE: 5 });
    const { id } = (await createList(app)).json<{ id: string }>();
    // Full with noeviction: Redis refuses the counters' INCR as it refuses every write.
    redis.cli('CONFIG', 'SET', 'maxmemory', '1');
    try {
      const reads = [];
      for (let i = 0; i < 8; i++)
        reads.push(await app.inject({ url: `/api/lists/${id}/todos`, remoteAddress: '198.51.100.9' }));
      expect(statuses(reads)).toEqual({ 200: 5, 429: 3 });
      expectRateLimited(reads[7]!, /^too many requests from your address/);
    } finally {
      redis.cli('CONFIG', 'SET', 'maxmemory', '0');
    }
  });

  it('never turns a request into a 500 when Redis is away: the request fails or succeeds on its own', async () => {
    const own = await startRedis();
    try {
      const app = await buildTestApp(own, { RATE_LIMITS: 'on' });
      apps.push(app);
      expect((await createList(app)).statusCode).toBe(201);
      await own.stop();
      const refused = await createList(app);
      expect(refused.statusCode).toBe(503);
      expect(refused.json<{ type: string }>().type).toBe('urn:tasktier:problem:storage-unavailable');
      expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await own.destroy();
    }
  });
});
