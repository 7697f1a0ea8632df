import type { RedisServer } from '@tasktier/testkit';
import { waitFor } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { configWith } from '../src/config.ts';
import { createList, startRedis } from './helpers.ts';

describe('warnings and errors in the logs', () => {
  let redis: RedisServer;
  let app: Awaited<ReturnType<typeof buildApp>>;
  const lines: string[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    app = await buildApp(configWith({ REDIS_URL: redis.url, RATE_LIMITS: 'off' }), {
      logger: { level: 'info', stream: { write: (line: string) => void lines.push(line) } },
    });
    await app.ready();
    await waitFor('the backend to connect to Redis', () => app.redisAnswers());
  });
  afterAll(async () => {
    await app?.close();
    await redis?.destroy();
  });

  it('warns once when a peer TRUST_PROXY does not name sends X-Forwarded-For (clients behind it share a budget)', async () => {
    const forwarded = { 'x-forwarded-for': '203.0.113.9' };
    await app.inject({ url: '/healthz', headers: forwarded, remoteAddress: '10.1.2.3' });
    await app.inject({ url: '/healthz', headers: forwarded, remoteAddress: '10.1.2.3' });
    const warnings = lines.filter((line) => line.includes('TRUST_PROXY does not name'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('"peer":"10.1.2.3"');
  });

  it('an unexpected Redis error is a 500 whose log line holds neither the list id nor the title', async () => {
    const listId = await createList(app);
    // Not a hash: the write script fails with WRONGTYPE, an error no mapping knows.
    redis.cli('SET', `tt:todos:{${listId}}`, 'not a hash');
    const response = await app.inject({
      method: 'POST',
      url: `/api/lists/${listId}/todos`,
      payload: { title: 'a secret errand' },
    });
    expect(response.statusCode).toBe(500);
    const logged = lines.find((line) => line.includes('unhandled error'));
    expect(logged).toMatch(/WRONGTYPE/);
    expect(logged).not.toContain(listId);
    expect(logged).not.toContain('a secret errand');
  });

  it('a write refused by a replica during a failover (READONLY) is a 503 with Retry-After', async () => {
    const listId = await createList(app);
    // This Redis becomes a replica of nothing: read-only, as a demoted primary is mid-failover.
    redis.cli('REPLICAOF', '127.0.0.1', '1');
    try {
      const response = await app.inject({
        method: 'POST',
        url: `/api/lists/${listId}/todos`,
        payload: { title: 'during the failover' },
      });
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBe('1');
    } finally {
      redis.cli('REPLICAOF', 'NO', 'ONE');
    }
  });
});
