/** Lost updates: PATCH and DELETE of a todo honour If-Match with the todo's ETag (RFC 9110). */
import type { Problem, Todo } from '@tasktier/contract';
import type { RedisServer } from '@tasktier/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, createList, startRedis, type TestApp } from './helpers.ts';

let redis: RedisServer;
let app: TestApp;
let todoPath: string;
let etag: string;

beforeAll(async () => {
  redis = await startRedis();
  app = await buildTestApp(redis);
});
afterAll(async () => {
  await app?.close();
  await redis?.destroy();
});
beforeEach(async () => {
  const listId = await createList(app);
  const created = await app.inject({ method: 'POST', url: `/api/lists/${listId}/todos`, payload: { title: 'a' } });
  todoPath = new URL(created.json<Todo>().url).pathname;
  etag = String(created.headers.etag);
});

const patch = (payload: object, ifMatch?: string) =>
  app.inject({
    method: 'PATCH',
    url: todoPath,
    payload,
    headers: ifMatch === undefined ? {} : { 'if-match': ifMatch },
  });
const remove = (ifMatch?: string) =>
  app.inject({ method: 'DELETE', url: todoPath, headers: ifMatch === undefined ? {} : { 'if-match': ifMatch } });
const title = async () => (await app.inject({ method: 'GET', url: todoPath })).json<Todo>().title;

function expectPreconditionFailed(response: Awaited<ReturnType<typeof patch>>): void {
  expect(response.statusCode).toBe(412);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = response.json<Problem>();
  expect(problem.type).toBe('urn:tasktier:problem:precondition-failed');
  expect(problem.detail).toMatch(/changed since .*If-Match/);
}

describe('todo ETags', () => {
  it('answers a strong ETag on POST, GET and PATCH, new with every change; the body never shows it', async () => {
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{11}"$/);
    const read = await app.inject({ method: 'GET', url: todoPath });
    expect(read.headers.etag).toBe(etag);
    expect(Object.keys(read.json<Todo>()).sort()).toEqual([
      'completed',
      'createdAt',
      'id',
      'title',
      'updatedAt',
      'url',
    ]);
    const changed = await patch({ completed: true });
    expect(changed.headers.etag).toMatch(/^"[A-Za-z0-9_-]{11}"$/);
    expect(changed.headers.etag).not.toBe(etag);
    expect(changed.json()).not.toHaveProperty('rev');
    expect((await app.inject({ method: 'GET', url: todoPath })).headers.etag).toBe(changed.headers.etag);
  });
});

describe('If-Match', () => {
  it('PATCH: 200 with the current ETag, 412 with an old one (nothing changed)', async () => {
    const first = await patch({ title: 'b' }, etag);
    expect(first.statusCode).toBe(200);
    expectPreconditionFailed(await patch({ title: 'c' }, etag));
    expect(await title()).toBe('b');
    expect((await patch({ title: 'd' }, String(first.headers.etag))).statusCode).toBe(200);
    expect(await title()).toBe('d');
  });

  it('accepts *, and a list of ETags of which one is current', async () => {
    expect((await patch({ title: 'b' }, '*')).statusCode).toBe(200);
    const current = String((await app.inject({ method: 'GET', url: todoPath })).headers.etag);
    expect((await patch({ title: 'c' }, `"AAAAAAAAAAA", ${current}`)).statusCode).toBe(200);
  });

  it('never matches a weak ETag, nor a malformed one', async () => {
    expectPreconditionFailed(await patch({ title: 'b' }, `W/${etag}`));
    expectPreconditionFailed(await patch({ title: 'b' }, etag.replaceAll('"', '')));
    expectPreconditionFailed(await remove(`W/${etag}`));
    expect(await title()).toBe('a');
  });

  it('DELETE: 412 with an old ETag (the todo stays), 204 with the current one', async () => {
    const changed = await patch({ completed: true });
    expectPreconditionFailed(await remove(etag));
    expect((await app.inject({ method: 'GET', url: todoPath })).statusCode).toBe(200);
    expect((await remove(String(changed.headers.etag))).statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: todoPath })).statusCode).toBe(404);
    // A todo that is gone fails any If-Match, `*` included (RFC 9110 13.1.1): 412; without one, 404.
    expectPreconditionFailed(await remove('*'));
    expectPreconditionFailed(await remove(String(changed.headers.etag)));
    expectPreconditionFailed(await patch({ title: 'back' }, '*'));
    expect((await app.inject({ method: 'DELETE', url: todoPath })).statusCode).toBe(404);
  });

  it('without If-Match the last write wins', async () => {
    await patch({ title: 'b' }, etag);
    expect((await patch({ title: 'c' })).statusCode).toBe(200);
    expect(await title()).toBe('c');
    expect((await remove()).statusCode).toBe(204);
  });

  it('of two writers holding the same ETag, exactly one wins (checked inside one script)', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => patch({ title: `w${i}` }, etag)));
    const statuses = results.map((response) => response.statusCode).sort();
    expect(statuses).toEqual([200, ...Array<number>(9).fill(412)]);
    const winner = results.find((response) => response.statusCode === 200)!;
    expect(await title()).toBe(winner.json<Todo>().title);
  });

  it('is allowed by CORS and documented (412 in the OpenAPI document)', async () => {
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: todoPath,
      headers: {
        origin: 'https://todobackend.com',
        'access-control-request-method': 'PATCH',
        'access-control-request-headers': 'content-type, if-match',
      },
    });
    expect(String(preflight.headers['access-control-allow-headers']).toLowerCase()).toContain('if-match');
    const spec = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json<{
      paths: Record<string, Record<string, { responses: Record<string, unknown>; summary: string }>>;
    }>();
    const todo = spec.paths['/api/lists/{listId}/todos/{todoId}']!;
    expect(Object.keys(todo.patch!.responses)).toContain('412');
    expect(Object.keys(todo.delete!.responses)).toContain('412');
    expect(todo.patch!.summary).toMatch(/last write wins/);
  });
});
