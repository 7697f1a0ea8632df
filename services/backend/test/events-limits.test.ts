import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeWithin } from '@tasktier/service-kit';
import { type RedisServer, waitFor } from '@tasktier/testkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config.ts';
import { StreamLeases } from '../src/live/stream-leases.ts';
import { buildTestApp, createList, startRedis, type TestApp } from './helpers.ts';

let redis: RedisServer;
const apps: TestApp[] = [];
const open: ClientRequest[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  for (const request of open.splice(0)) request.destroy();
  await Promise.all(apps.splice(0).map((app) => closeWithin(app, 2000)));
  redis.cli('FLUSHALL');
});
afterAll(async () => {
  await redis?.destroy();
});

async function serve(overrides: Partial<Config> = {}): Promise<{ app: TestApp; base: string }> {
  const app = await buildTestApp(redis, { SSE_HEARTBEAT_MS: 200, ...overrides });
  apps.push(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

interface Answer {
  response: IncomingMessage;
  /** What arrived so far. */
  text(): string;
}

/** A GET over its own socket (destroy() closes it, as a browser tab does), from `localAddress`. */
function get(url: string, localAddress = '127.0.0.1'): { request: ClientRequest; answer: Promise<Answer> } {
  const request = httpRequest(url, { localAddress, agent: false });
  open.push(request);
  const answer = new Promise<Answer>((resolve, reject) => {
    request.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('error', () => {});
      resolve({ response, text: () => text });
    });
    request.on('error', reject);
  });
  // A test that destroys a request before its answer does not wait for it.
  answer.catch(() => {});
  request.end();
  return { request, answer };
}

const gauge = async (app: TestApp) => (await app.metrics.sseClients.get()).values[0]?.value ?? 0;

async function expectRefused(answer: Answer, status: number, type: string) {
  expect(answer.response.statusCode).toBe(status);
  expect(Number(answer.response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  await waitFor('the problem body', () => answer.response.complete);
  expect(JSON.parse(answer.text())).toMatchObject({ status, type: `urn:tasktier:problem:${type}` });
}

describe('event stream caps', () => {
  it('refuses the 101st stream of one address at once (429), counted across replicas, not another address', async () => {
    const one = await serve({ RATE_LIMITS: 'on' });
    const two = await serve({ RATE_LIMITS: 'on' });
    const listId = await createList(one.app);
    const streams = await Promise.all(
      Array.from({ length: 100 }, (_, i) => get(`${i % 2 ? two.base : one.base}/api/lists/${listId}/events`).answer),
    );
    expect(streams.map((stream) => stream.response.statusCode)).toEqual(Array(100).fill(200));
    await expectRefused(await get(`${two.base}/api/lists/${listId}/events`).answer, 429, 'rate-limited');
    await expectRefused(await get(`${one.base}/api/lists/${listId}/events`).answer, 429, 'rate-limited');
    // Another client address has its own budget.
    expect((await get(`${one.base}/api/lists/${listId}/events`, '127.0.0.2').answer).response.statusCode).toBe(200);
    // A stream that ends gives its place back.
    open[0]!.destroy();
    await waitFor('the lease to be released', () => redis.cli('ZCARD', 'tt:streams:127.0.0.1') === '99');
    expect((await get(`${two.base}/api/lists/${listId}/events`).answer).response.statusCode).toBe(200);
  });

  it('keeps the per-client cap when Redis refuses the leases (counted by the replica meanwhile)', async () => {
    // A client whose Redis is gone: every lease command fails at once.
    const gone = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    try {
      const leases = new StreamLeases(gone, 'tt:', 2, 10_000);
      expect(await leases.admit('198.51.100.1', 'a')).toBe(true);
      expect(await leases.admit('198.51.100.1', 'b')).toBe(true);
      expect(await leases.admit('198.51.100.1', 'c')).toBe(false);
      expect(await leases.admit('198.51.100.2', 'd')).toBe(true);
      leases.release('198.51.100.1', 'a');
      expect(await leases.admit('198.51.100.1', 'e')).toBe(true);
    } finally {
      gone.disconnect();
    }
  });

  it('counts a lease until it expires: renewed while its stream is open, ignored once its replica stopped renewing', async () => {
    const { app, base } = await serve({ RATE_LIMITS: 'on', EVENT_STREAMS_PER_CLIENT: 1 });
    const listId = await createList(app);
    const key = 'tt:streams:127.0.0.1';
    const redisNow = () => {
      const [seconds, micros] = redis.cli('TIME').split('\n');
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    };
    // A stream open on another replica, renewed a moment ago: the address is at its cap.
    redis.cli('ZADD', key, String(redisNow() + 10_000), 'on-another-replica');
    await expectRefused(await get(`${base}/api/lists/${listId}/events`).answer, 429, 'rate-limited');
    // That replica died and stopped renewing: once the lease ran out, it no longer counts.
    redis.cli('ZADD', key, 'XX', String(redisNow() - 1), 'on-another-replica');
    expect((await get(`${base}/api/lists/${listId}/events`).answer).response.statusCode).toBe(200);
    expect(redis.cli('ZRANGE', key, '0', '-1')).not.toContain('on-another-replica');
    // Our own lease is renewed on every heartbeat (200 ms here).
    const [lease] = redis.cli('ZRANGE', key, '0', '-1').split('\n');
    const first = Number(redis.cli('ZSCORE', key, lease!));
    await waitFor('a renewal', () => Number(redis.cli('ZSCORE', key, lease!)) > first);
    expect(Number(redis.cli('PTTL', key))).toBeGreaterThan(5000);
  });

  it('refuses the stream over MAX_EVENT_STREAMS of one process at once (503)', async () => {
    const { app, base } = await serve({ MAX_EVENT_STREAMS: 2 });
    const listId = await createList(app);
    for (let i = 0; i < 2; i++) {
      expect((await get(`${base}/api/lists/${listId}/events`).answer).response.statusCode).toBe(200);
    }
    await expectRefused(await get(`${base}/api/lists/${listId}/events`).answer, 503, 'overloaded');
    open[0]!.destroy();
    await waitFor('the place to be given back', async () => (await gauge(app)) === 1);
    expect((await get(`${base}/api/lists/${listId}/events`).answer).response.statusCode).toBe(200);
  });

  it('spreads the retry hints over seconds', async () => {
    const { app, base } = await serve();
    const listId = await createList(app);
    const hints: number[] = [];
    for (let i = 0; i < 8; i++) {
      const answer = await get(`${base}/api/lists/${listId}/events`).answer;
      await waitFor('the ready event', () => answer.text().includes('event: ready'));
      hints.push(Number(/retry: (\d+)/.exec(answer.text())?.[1]));
    }
    for (const hint of hints) {
      expect(hint).toBeGreaterThanOrEqual(1000);
      expect(hint).toBeLessThanOrEqual(5000);
    }
    expect(new Set(hints).size).toBeGreaterThan(1);
  });
});

describe('event stream setup', () => {
  it('leaks nothing when the client leaves during a slow SUBSCRIBE', async () => {
    const { app, base } = await serve({ REDIS_COMMAND_TIMEOUT_MS: 60_000 });
    const listId = await createList(app);
    const channel = app.store.channel(listId);
    redis.signal('SIGSTOP');
    try {
      const { request } = get(`${base}/api/lists/${listId}/events`);
      await waitFor('the SUBSCRIBE to be under way', () => app.events.listenerCount === 1);
      request.destroy();
      await waitFor('the listener to go', () => app.events.listenerCount === 0 && app.events.channelCount === 0);
    } finally {
      redis.signal('SIGCONT');
    }
    await waitFor('Redis to drop the subscription', () => redis.cli('PUBSUB', 'NUMSUB', channel).endsWith('\n0'));
    expect(await gauge(app)).toBe(0);
    expect(app.events.listenerCount).toBe(0);
    // The channel works again for the next stream.
    const next = await get(`${base}/api/lists/${listId}/events`).answer;
    expect(next.response.statusCode).toBe(200);
    await waitFor('the next ready event', () => next.text().includes('event: ready'));
    expect(await gauge(app)).toBe(1);
  });

  it('answers 503 with Retry-After, not a hang, when SUBSCRIBE does not answer', async () => {
    const { app, base } = await serve({ REDIS_COMMAND_TIMEOUT_MS: 300 });
    const listId = await createList(app);
    redis.signal('SIGSTOP');
    let answer: Answer;
    try {
      answer = await get(`${base}/api/lists/${listId}/events`).answer;
    } finally {
      redis.signal('SIGCONT');
    }
    await expectRefused(answer, 503, 'storage-unavailable');
    await waitFor('nothing left', async () => app.events.listenerCount === 0 && (await gauge(app)) === 0);
  });

  it('refuses (503) a stream whose setup spans an interrupted subscription, which may have missed events', async () => {
    const { app, base } = await serve();
    const listId = await createList(app);
    const epoch = app.events.epoch;
    // Reads of the list wait (scripts count as writes for CLIENT PAUSE WRITE); SUBSCRIBE does not.
    redis.cli('CLIENT', 'PAUSE', '20000', 'WRITE');
    let answer: Promise<Answer>;
    try {
      answer = get(`${base}/api/lists/${listId}/events`).answer;
      await waitFor('the SUBSCRIBE to be confirmed', () =>
        redis.cli('PUBSUB', 'NUMSUB', app.store.channel(listId)).endsWith('\n1'),
      );
      // The subscriber connection drops and comes back while the stream is still being set up.
      redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await waitFor('the subscription to be back', () => app.events.epoch > epoch);
    } finally {
      redis.cli('CLIENT', 'UNPAUSE');
    }
    await expectRefused(await answer, 503, 'storage-unavailable');
    await waitFor('nothing left', async () => app.events.listenerCount === 0 && (await gauge(app)) === 0);
  });

  it('cuts off a client that stops reading, instead of buffering its events without bound', async () => {
    const { app, base } = await serve({ SSE_HEARTBEAT_MS: 60_000 });
    const listId = await createList(app);
    const answer = await get(`${base}/api/lists/${listId}/events`).answer;
    await waitFor('the ready event', () => answer.text().includes('event: ready'));
    // The client reads no more (its TCP window closes once the kernel buffers are full).
    answer.response.pause();
    const publisher = new Redis(redis.url);
    try {
      const big = JSON.stringify({ type: 'todo.updated', version: 1, revision: '1.x', padding: 'x'.repeat(64 * 1024) });
      for (let i = 0; i < 400 && (await gauge(app)) === 1; i++) await publisher.publish(app.store.channel(listId), big);
      await waitFor('the stream to be cut off', async () => (await gauge(app)) === 0);
    } finally {
      publisher.disconnect();
    }
    expect(app.events.listenerCount).toBe(0);
  });

  it('answers 503 with Retry-After, not a 500, when SUBSCRIBE fails', async () => {
    // A Redis user that may run every command on every key but subscribe to no channel.
    redis.cli('ACL', 'SETUSER', 'nochannels', 'on', '>nochannels-password', '~*', 'resetchannels', '+@all');
    const { app, base } = await serve({ REDIS_USERNAME: 'nochannels', REDIS_PASSWORD: 'nochannels-password' });
    const listId = await createList(app);
    await expectRefused(await get(`${base}/api/lists/${listId}/events`).answer, 503, 'storage-unavailable');
    expect(app.events.listenerCount).toBe(0);
    expect(app.events.channelCount).toBe(0);
    expect(await gauge(app)).toBe(0);
  });
});
