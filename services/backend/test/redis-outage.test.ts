import type { Problem } from '@tasktier/contract';
import { type RedisServer, waitFor } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createList, startRedis, type TestApp } from './helpers.ts';

let redis: RedisServer;
let app: TestApp;

beforeAll(async () => {
  redis = await startRedis({ args: ['--appendonly', 'yes'] });
  app = await buildTestApp(redis);
});
afterAll(async () => {
  await app?.close();
  await redis?.destroy();
});

describe('Redis stopped and restarted mid-test', () => {
  it('fails fast with 503 problem+json, turns unready, and recovers by itself', async () => {
    const listId = await createList(app);
    const todosUrl = `/api/lists/${listId}/todos`;
    expect((await app.inject({ method: 'POST', url: todosUrl, payload: { title: 'before' } })).statusCode).toBe(201);

    await redis.kill();

    // 20 requests at once: each fails on its own within about a second, none hangs.
    const started = performance.now();
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2
          ? app.inject({ method: 'GET', url: todosUrl })
          : app.inject({ method: 'POST', url: todosUrl, payload: { title: 'x' } }),
      ),
    );
    const elapsedMs = performance.now() - started;
    console.log(`20 requests during the outage answered in ${elapsedMs.toFixed(0)} ms`);
    for (const response of responses) {
      expect(response.statusCode).toBe(503);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.headers['retry-after']).toBe('1');
      expect(response.json<Problem>().detail).toMatch(/unavailable/);
    }
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);

    await redis.restart();
    await waitFor(
      'readiness after Redis returns',
      async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200,
    );
    const after = await app.inject({ method: 'POST', url: todosUrl, payload: { title: 'after' } });
    expect(after.statusCode).toBe(201);
    const titles = (await app.inject({ method: 'GET', url: todosUrl }))
      .json<Array<{ title: string }>>()
      .map((t) => t.title);
    expect(titles).toEqual(['before', 'after']);
  });

  it('a Redis that hangs without closing connections still costs a request at most about a second', async () => {
    const listId = await createList(app);
    redis.signal('SIGSTOP');
    try {
      const started = performance.now();
      const responses = await Promise.all(
        Array.from({ length: 10 }, () => app.inject({ method: 'GET', url: `/api/lists/${listId}/todos` })),
      );
      console.log(`10 requests against a hung Redis answered in ${(performance.now() - started).toFixed(0)} ms`);
      for (const response of responses) expect(response.statusCode).toBe(503);
    } finally {
      redis.signal('SIGCONT');
    }
    await waitFor(
      'readiness after Redis resumes',
      async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200,
    );
    expect((await app.inject({ method: 'GET', url: `/api/lists/${listId}/todos` })).statusCode).toBe(200);
  });
});
