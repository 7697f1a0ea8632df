/**
 * EMPTY_LIST_TTL_SECONDS: a list without todos expires that long after its last change; a list
 * with todos never does. A 1-second TTL here; the test waits on the list being gone, not on time.
 */
import type { Todo } from '@tasktier/contract';
import { type RedisServer, waitFor } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createList, startRedis, type TestApp } from './helpers.ts';

let redis: RedisServer;
let app: TestApp;

beforeAll(async () => {
  redis = await startRedis();
  app = await buildTestApp(redis, { EMPTY_LIST_TTL_SECONDS: 1 });
});
afterAll(async () => {
  await app?.close();
  await redis?.destroy();
});

const status = async (listId: string) => (await app.inject({ method: 'GET', url: `/api/lists/${listId}` })).statusCode;
const ttl = (listId: string) => Number(redis.cli('PTTL', `tt:list:{${listId}}`));
const addTodo = async (listId: string) =>
  (await app.inject({ method: 'POST', url: `/api/lists/${listId}/todos`, payload: { title: 'keep me' } })).json<Todo>();

describe('empty lists expire', () => {
  it('a list that never gets a todo is gone after the TTL; one with a todo stays', async () => {
    const empty = await createList(app);
    const kept = await createList(app);
    expect(ttl(empty)).toBeGreaterThan(0);
    await addTodo(kept);
    // -1: no expiry at all.
    expect(ttl(kept)).toBe(-1);
    await waitFor('the empty list to expire', async () => (await status(empty)) === 404);
    expect(await status(kept)).toBe(200);
    expect(ttl(kept)).toBe(-1);
    expect(
      (await app.inject({ method: 'POST', url: `/api/lists/${empty}/todos`, payload: { title: 'a' } })).statusCode,
    ).toBe(404);
  });

  it('a list emptied again (its last todo deleted, or cleared) expires again; a list with todos left does not', async () => {
    const deleted = await createList(app);
    const cleared = await createList(app);
    const partly = await createList(app);
    const todo = await addTodo(deleted);
    await addTodo(cleared);
    const first = await addTodo(partly);
    await addTodo(partly);
    for (const listId of [deleted, cleared, partly]) expect(ttl(listId)).toBe(-1);

    expect((await app.inject({ method: 'DELETE', url: new URL(todo.url).pathname })).statusCode).toBe(204);
    expect((await app.inject({ method: 'DELETE', url: `/api/lists/${cleared}/todos` })).statusCode).toBe(204);
    expect((await app.inject({ method: 'DELETE', url: new URL(first.url).pathname })).statusCode).toBe(204);
    expect(ttl(deleted)).toBeGreaterThan(0);
    expect(ttl(cleared)).toBeGreaterThan(0);
    expect(ttl(partly)).toBe(-1);
    await waitFor(
      'both emptied lists to expire',
      async () => (await status(deleted)) === 404 && (await status(cleared)) === 404,
    );
    expect(await status(partly)).toBe(200);
  });

  it('never expires a list with EMPTY_LIST_TTL_SECONDS=0', async () => {
    const never = await buildTestApp(redis, { EMPTY_LIST_TTL_SECONDS: 0 });
    try {
      const listId = await createList(never);
      expect(ttl(listId)).toBe(-1);
      const created = await never.inject({
        method: 'POST',
        url: `/api/lists/${listId}/todos`,
        payload: { title: 'a' },
      });
      await never.inject({ method: 'DELETE', url: new URL(created.json<Todo>().url).pathname });
      expect(ttl(listId)).toBe(-1);
    } finally {
      await never.close();
    }
  });
});
