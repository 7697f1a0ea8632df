/** MAX_LIST_BYTES: a list's todos as stored in Redis (JSON bytes) stay within a budget. */
import type { Problem, Todo } from '@tasktier/contract';
import type { RedisServer } from '@tasktier/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createList, startRedis, type TestApp } from './helpers.ts';

const LIMIT = 4096;

let redis: RedisServer;
let admin: Redis;
let app: TestApp;

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  app = await buildTestApp(redis, { MAX_LIST_BYTES: LIMIT });
});
afterAll(async () => {
  await app?.close();
  admin?.disconnect();
  await redis?.destroy();
});

/** What Redis holds for the list: the kept count and the real sum of the todos' JSON bytes. */
async function stored(listId: string): Promise<{ kept: number; actual: number }> {
  const kept = Number(await admin.hget(`tt:list:{${listId}}`, 'bytes'));
  const rows = await admin.hvals(`tt:todos:{${listId}}`);
  return { kept, actual: rows.reduce((sum, json) => sum + Buffer.byteLength(json), 0) };
}

function expectTooBig(response: { statusCode: number; json<T>(): T }): void {
  expect(response.statusCode).toBe(409);
  const problem = response.json<Problem>();
  expect(problem.type).toBe('urn:tasktier:problem:list-too-big');
  expect(problem.detail).toContain(`${LIMIT} bytes`);
}

describe('the byte budget of a list', () => {
  it('refuses the write that would pass it, accepts one that lands exactly on it, and counts as Redis stores', async () => {
    const listId = await createList(app);
    const url = `/api/lists/${listId}/todos`;
    const created: Todo[] = [];
    for (;;) {
      const response = await app.inject({ method: 'POST', url, payload: { title: 'x'.repeat(500) } });
      if (response.statusCode !== 201) {
        expectTooBig(response);
        break;
      }
      created.push(response.json<Todo>());
    }
    expect(created.length).toBeGreaterThan(3);
    let { kept, actual } = await stored(listId);
    expect(kept).toBe(actual);
    expect(kept).toBeLessThanOrEqual(LIMIT);

    // Growing a title: by exactly the room left is accepted (the list is then at its budget) ...
    const todoPath = new URL(created[0]!.url).pathname;
    const room = LIMIT - kept;
    const exact = await app.inject({ method: 'PATCH', url: todoPath, payload: { title: 'x'.repeat(500 + room) } });
    expect(exact.statusCode).toBe(200);
    expect(await stored(listId)).toEqual({ kept: LIMIT, actual: LIMIT });
    // ... one byte more is not; a shorter title always is.
    const title = 'x'.repeat(500 + room);
    expectTooBig(await app.inject({ method: 'PATCH', url: todoPath, payload: { title: `${title}y` } }));
    expectTooBig(await app.inject({ method: 'POST', url, payload: { title: 'y' } }));
    expect((await app.inject({ method: 'PATCH', url: todoPath, payload: { title: 'short' } })).statusCode).toBe(200);

    // Bytes as stored: a multi-byte character counts for its UTF-8 bytes.
    ({ kept, actual } = await stored(listId));
    expect(kept).toBe(actual);
    const multi = await app.inject({
      method: 'POST',
      url,
      payload: { title: 'é'.repeat(Math.floor((LIMIT - kept) / 2)) },
    });
    expectTooBig(multi);

    // Deleting frees room; clearing empties the count.
    expect((await app.inject({ method: 'DELETE', url: new URL(created[1]!.url).pathname })).statusCode).toBe(204);
    ({ kept, actual } = await stored(listId));
    expect(kept).toBe(actual);
    expect((await app.inject({ method: 'POST', url, payload: { title: 'x'.repeat(400) } })).statusCode).toBe(201);
    expect((await app.inject({ method: 'DELETE', url })).statusCode).toBe(204);
    expect(await stored(listId)).toEqual({ kept: 0, actual: 0 });
  });

  it('is 2 MiB by default', async () => {
    const plain = await buildTestApp(redis);
    try {
      const listId = await createList(plain);
      const big = 'x'.repeat(1000);
      // 2 MiB / ~1,150 bytes per todo: about 1,800 todos fit, far below the 10,000-todo cap.
      const posts = await Promise.all(
        Array.from({ length: 2000 }, () =>
          plain.inject({ method: 'POST', url: `/api/lists/${listId}/todos`, payload: { title: big } }),
        ),
      );
      const refused = posts.filter((response) => response.statusCode === 409);
      expect(refused.length).toBeGreaterThan(0);
      expect(refused[0]!.json<Problem>().detail).toContain('2097152 bytes');
      const { kept, actual } = await stored(listId);
      expect(kept).toBe(actual);
      expect(kept).toBeLessThanOrEqual(2 * 1024 * 1024);
      expect(kept).toBeGreaterThan(2 * 1024 * 1024 - 1200);
    } finally {
      await plain.close();
    }
  });
});
