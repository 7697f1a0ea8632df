import type { Problem, Todo } from '@tasktier/contract';
import type { RedisServer } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createList, startRedis, type TestApp } from './helpers.ts';

let redis: RedisServer;
let app: TestApp;
let listId: string;
let todoUrl: string;

beforeAll(async () => {
  redis = await startRedis();
  app = await buildTestApp(redis, { MAX_TODOS_PER_LIST: 3 });
  listId = await createList(app);
  const todo = await app.inject({ method: 'POST', url: `/api/lists/${listId}/todos`, payload: { title: 'seed' } });
  todoUrl = new URL(todo.json<Todo>().url).pathname;
});
afterAll(async () => {
  await app?.close();
  await redis?.destroy();
});

type Case = {
  name: string;
  method: 'POST' | 'PATCH' | 'GET';
  url?: () => string;
  body?: string;
  type?: string;
  status: number;
  detail: RegExp;
};
const todos = () => `/api/lists/${listId}/todos`;

const cases: Case[] = [
  { name: 'title of the wrong type', method: 'POST', body: '{"title":5}', status: 400, detail: /title must be string/ },
  {
    name: 'completed of the wrong type',
    method: 'POST',
    body: '{"title":"a","completed":"yes"}',
    status: 400,
    detail: /completed must be boolean/,
  },
  {
    name: 'completed as the string "true"',
    method: 'POST',
    body: '{"title":"a","completed":"true"}',
    status: 400,
    detail: /completed must be boolean/,
  },
  {
    name: 'order of the wrong type',
    method: 'POST',
    body: '{"title":"a","order":"1"}',
    status: 400,
    detail: /order must be number/,
  },
  {
    name: 'missing title',
    method: 'POST',
    body: '{"completed":true}',
    status: 400,
    detail: /must have required property 'title'/,
  },
  {
    name: 'empty title',
    method: 'POST',
    body: '{"title":""}',
    status: 400,
    detail: /title must NOT have fewer than 1 characters/,
  },
  {
    name: 'blank title',
    method: 'POST',
    body: '{"title":"   "}',
    status: 400,
    detail: /title must contain something other than spaces/,
  },
  {
    name: 'title over 1000 characters',
    method: 'POST',
    body: JSON.stringify({ title: 'x'.repeat(1001) }),
    status: 400,
    detail: /title must NOT have more than 1000 characters/,
  },
  {
    name: 'title with a line break',
    method: 'POST',
    body: '{"title":"a\\nb"}',
    status: 400,
    detail: /^body\/title must not contain control characters/,
  },
  {
    name: 'title with a tab',
    method: 'POST',
    body: '{"title":"a\\tb"}',
    status: 400,
    detail: /^body\/title must not contain control characters/,
  },
  {
    name: 'title with NUL',
    method: 'POST',
    body: '{"title":"a\\u0000b"}',
    status: 400,
    detail: /^body\/title must not contain control characters/,
  },
  {
    name: 'title with ESC (U+001B)',
    method: 'POST',
    body: '{"title":"a\\u001bb"}',
    status: 400,
    detail: /^body\/title must not contain control characters/,
  },
  {
    name: 'title with DEL (U+007F)',
    method: 'POST',
    body: '{"title":"a\\u007fb"}',
    status: 400,
    detail: /^body\/title must not contain control characters/,
  },
  {
    name: 'title with NEL (U+0085, C1)',
    method: 'POST',
    body: '{"title":"a\\u0085b"}',
    status: 400,
    detail: /^body\/title must not contain control characters/,
  },
  {
    name: 'title with U+009F (C1)',
    method: 'POST',
    body: '{"title":"a\\u009fb"}',
    status: 400,
    detail: /^body\/title must not contain control characters/,
  },
  {
    name: 'patch with a title holding a control character',
    method: 'PATCH',
    url: () => todoUrl,
    body: '{"title":"a\\rb"}',
    status: 400,
    detail: /^body\/title must not contain control characters/,
  },
  { name: 'a JSON array instead of an object', method: 'POST', body: '[]', status: 400, detail: /body must be object/ },
  { name: 'no body', method: 'POST', body: '', status: 400, detail: /body must be object/ },
  { name: 'malformed JSON', method: 'POST', body: '{"title":', status: 400, detail: /not valid JSON/ },
  {
    name: 'wrong content type',
    method: 'POST',
    body: 'title=a',
    type: 'application/x-www-form-urlencoded',
    status: 415,
    detail: /application\/json/,
  },
  { name: 'text/plain', method: 'POST', body: 'a', type: 'text/plain', status: 415, detail: /application\/json/ },
  {
    name: 'body over 64 KiB',
    method: 'POST',
    body: JSON.stringify({ title: 'a', pad: 'x'.repeat(70_000) }),
    status: 413,
    detail: /at most 65536 bytes/,
  },
  {
    name: 'empty patch',
    method: 'PATCH',
    url: () => todoUrl,
    body: '{}',
    status: 400,
    detail: /must NOT have fewer than 1 properties/,
  },
  {
    name: 'patch with a blank title',
    method: 'PATCH',
    url: () => todoUrl,
    body: '{"title":" "}',
    status: 400,
    detail: /spaces/,
  },
  {
    name: 'patch with completed null',
    method: 'PATCH',
    url: () => todoUrl,
    body: '{"completed":null}',
    status: 400,
    detail: /completed must be boolean/,
  },
  {
    name: 'malformed list id',
    method: 'GET',
    url: () => '/api/lists/short/todos',
    status: 400,
    detail: /params\/listId must match pattern/,
  },
  {
    name: 'unknown list',
    method: 'POST',
    url: () => '/api/lists/AAAAAAAAAAAAAAAAAAAAAA/todos',
    body: '{"title":"a"}',
    status: 404,
    detail: /no list has this id/,
  },
  {
    name: 'unknown todo',
    method: 'PATCH',
    url: () => `${todos()}/AAAAAAAAAAAAAAAA`,
    body: '{"title":"a"}',
    status: 404,
    detail: /no todo with this id/,
  },
  {
    name: 'malformed percent-encoding in the path',
    method: 'GET',
    url: () => '/api/lists/%E0%A4%A/todos',
    status: 400,
    detail: /not a valid url component/,
  },
  {
    name: 'unknown route',
    method: 'GET',
    url: () => '/api/nothing',
    status: 404,
    detail: /no route for GET \/api\/nothing/,
  },
];

describe('bad input gets a 4xx problem+json with a useful detail, never a 500', () => {
  it.each(cases)('$name -> $status', async ({ method, url, body, type, status, detail }) => {
    const response = await app.inject({
      method,
      url: url ? url() : todos(),
      ...(body !== undefined ? { body, headers: { 'content-type': type ?? 'application/json' } } : {}),
    });
    expect(response.statusCode).toBe(status);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = response.json<Problem>();
    expect(problem.status).toBe(status);
    expect(problem.title).toBeTruthy();
    expect(problem.detail).toMatch(detail);
  });

  it('refuses a todo past the per-list limit with 409 and leaves the list intact', async () => {
    const list = await createList(app);
    for (let i = 0; i < 3; i++) {
      const ok = await app.inject({ method: 'POST', url: `/api/lists/${list}/todos`, payload: { title: `t${i}` } });
      expect(ok.statusCode).toBe(201);
    }
    const full = await app.inject({
      method: 'POST',
      url: `/api/lists/${list}/todos`,
      payload: { title: 'one too many' },
    });
    expect(full.statusCode).toBe(409);
    expect(full.json<Problem>().detail).toMatch(/at most 3 todos/);
    expect((await app.inject({ method: 'GET', url: `/api/lists/${list}/todos` })).json()).toHaveLength(3);
  });

  it('accepts titles with any printable character: accents, emoji, no-break space, quotes, backslash', async () => {
    const title = 'é 🙂 a\u00a0b \u200b "q" \\ 𝄞';
    const list = await createList(app);
    const response = await app.inject({ method: 'POST', url: `/api/lists/${list}/todos`, payload: { title } });
    expect(response.statusCode).toBe(201);
    expect(response.json<Todo>().title).toBe(title);
  });

  it('drops unknown fields instead of storing them', async () => {
    const response = await app.inject({
      method: 'POST',
      url: todos(),
      payload: { title: 'clean', id: 'mine', evil: true },
    });
    expect(response.statusCode).toBe(201);
    const todo = response.json<Todo & { evil?: boolean }>();
    expect(todo.id).not.toBe('mine');
    expect(todo.evil).toBeUndefined();
  });
});
