import { type RedisServer, waitFor } from '@tasktier/testkit';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, startRedis, type TestApp } from './helpers.ts';

/** Ids of the connections Redis has open, from CLIENT LIST, minus the asking one. */
async function clientIds(redis: RedisServer): Promise<Set<string>> {
  const admin = new Redis(redis.url, { lazyConnect: true });
  try {
    await admin.connect();
    const own = String(await admin.client('ID'));
    const list = String(await admin.client('LIST'));
    return new Set([...list.matchAll(/^id=(\d+) /gm)].map((match) => match[1] ?? '').filter((id) => id !== own));
  } finally {
    admin.disconnect();
  }
}

describe('a Redis that stops answering without closing its connections', () => {
  let redis: RedisServer;
  let app: TestApp;

  beforeEach(async () => {
    redis = await startRedis();
    app = await buildTestApp(redis, { REDIS_COMMAND_TIMEOUT_MS: 300 });
  });
  afterEach(async () => {
    redis?.signal('SIGCONT');
    await app?.close();
    await redis?.destroy();
  });

  it('is noticed, its connections are replaced, and readiness comes back by itself', async () => {
    // The command connection and the subscriber's.
    await waitFor('both connections', async () => (await clientIds(redis)).size === 2);
    const before = await clientIds(redis);

    // SIGSTOP: the kernel keeps the sockets (no FIN, no RST), nothing answers: a lost node.
    redis.signal('SIGSTOP');
    await waitFor('readiness to fail', async () => (await app.inject({ url: '/readyz' })).statusCode === 503);
    await waitFor('both connections to be replaced', async () => {
      const text = await app.metricsRegistry.metrics();
      return ['commands', 'subscriber'].every((connection) =>
        new RegExp(`tasktier_backend_redis_connections_replaced_total\\{connection="${connection}"\\} [1-9]`).test(
          text,
        ),
      );
    });

    redis.signal('SIGCONT');
    await waitFor('readiness to return', async () => (await app.inject({ url: '/readyz' })).statusCode === 200, {
      timeoutMs: 15_000,
    });
    // The stalled sockets were dropped by the backend, not kept until TCP gave up on them.
    await waitFor('the old connections to be gone', async () => {
      const now = await clientIds(redis);
      return [...before].every((id) => !now.has(id));
    });
    const list = (await app.inject({ method: 'POST', url: '/api/lists' })).statusCode;
    expect(list).toBe(201);
  });
});
