/**
 * Redis full: `maxmemory` reached with `noeviction`. Writes must get a clear 507 problem+json,
 * reads must keep working, nothing may be half-written, and writing works again once there is room.
 */
import type { Problem, Todo } from '@tasktier/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, isProblem } from './lib/api.ts';
import { checkInvariants } from './lib/invariants.ts';
import { type Backend, type RedisServer, startBackend, startDurableRedis } from './lib/stack.ts';

let redis: RedisServer;
let backend: Backend;
let api: Api;

beforeAll(async () => {
  redis = await startDurableRedis('everysec');
  backend = await startBackend(redis.url);
  api = new Api(backend.url);
});
afterAll(async () => {
  await backend?.stop();
  await redis?.destroy();
});

function usedMemory(): number {
  const match = /used_memory:(\d+)/.exec(redis.cli('INFO', 'memory'));
  if (!match) throw new Error('INFO memory has no used_memory');
  return Number(match[1]);
}

describe('Redis at maxmemory (noeviction)', () => {
  it('refuses writes with 507 problem+json, keeps reads working, half-writes nothing, recovers', async () => {
    expect(redis.cli('CONFIG', 'GET', 'maxmemory-policy')).toContain('noeviction');
    const listId = await api.createList();
    // A tiny budget: 256 KiB above what Redis uses now.
    const limit = usedMemory() + 256 * 1024;
    expect(redis.cli('CONFIG', 'SET', 'maxmemory', String(limit))).toBe('OK');

    const title = 'x'.repeat(990);
    const stored: Todo[] = [];
    let full: Awaited<ReturnType<Api['request']>> | undefined;
    for (let i = 0; i < 2000 && !full; i++) {
      const result = await api.request<Todo>('POST', `/api/lists/${listId}/todos`, { title: `${i} ${title}` });
      if (result.status === 201) stored.push(result.body);
      else full = result;
    }
    expect(full, 'writes never reached maxmemory').toBeDefined();
    const problem = full!.body as Problem;
    console.log(
      `storage full after ${stored.length} todos (maxmemory ${limit} bytes): ${full!.status} ${problem.title}: ${problem.detail}`,
    );
    expect(full!.status).toBe(507);
    expect(isProblem(full!)).toBe(true);
    expect(problem.type).toBe('urn:tasktier:problem:storage-full');
    expect(problem.detail).toMatch(/storage is full/);

    // Every kind of write that needs memory is refused the same way, and none changes anything.
    const before = await api.getList(listId);
    for (const [method, path, body] of [
      ['POST', `/api/lists/${listId}/todos`, { title: 'one more' }],
      ['PATCH', `/api/lists/${listId}/todos/${stored[0]!.id}`, { completed: true }],
      ['POST', '/api/lists', undefined],
    ] as const) {
      const result = await api.request(method, path, body);
      expect(result.status, `${method} ${path}`).toBe(507);
      expect(isProblem(result)).toBe(true);
    }
    const after = await api.getList(listId);
    expect(after.body).toEqual(before.body);

    // Reads keep working and return exactly what was acknowledged.
    const todos = await api.getTodos(listId);
    expect(todos.map((todo) => todo.id).sort()).toEqual(stored.map((todo) => todo.id).sort());
    expect((await api.request('GET', `/api/lists/${listId}/todos/${stored[0]!.id}`)).status).toBe(200);
    expect(await api.status('/readyz')).toBe(200);
    expect(checkInvariants(redis.cli).problems).toEqual([]);

    // Deleting frees memory and is allowed while full, so a user can make room.
    await api.deleteTodo(listId, stored[0]!.id);
    expect((await api.getTodos(listId)).length).toBe(stored.length - 1);

    // Once there is room again (an operator raises maxmemory), writes work without a restart.
    expect(redis.cli('CONFIG', 'SET', 'maxmemory', '0')).toBe('OK');
    const again = await api.request('POST', `/api/lists/${listId}/todos`, { title: 'room again' });
    expect(again.status).toBe(201);
    expect(checkInvariants(redis.cli).problems).toEqual([]);
  });
});
