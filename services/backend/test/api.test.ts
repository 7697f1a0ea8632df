import type { Todo } from '@tasktier/contract';
import { waitFor } from '@tasktier/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, createList, type DataTier, startDataTier, type TestApp } from './helpers.ts';

// One redis-server here; a six-node Redis Cluster in the `cluster` project (same tests).
let redis: DataTier;
let app: TestApp;
let listId: string;

beforeAll(async () => {
  redis = await startDataTier();
  // inject() comes from 127.0.0.1: a trusted proxy here, an untrusted peer is set per test.
  app = await buildTestApp(redis, { TRUST_PROXY: 'loopback' });
});
afterAll(async () => {
  await app?.close();
  await redis?.destroy();
});
beforeEach(async () => {
  listId = await createList(app);
});

const todosUrl = () => `/api/lists/${listId}/todos`;
const post = (payload: object) => app.inject({ method: 'POST', url: todosUrl(), payload });

describe('lists', () => {
  it('creates a list with an unguessable 128-bit URL-safe id', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/lists' });
    expect(response.statusCode).toBe(201);
    const body = response.json();
    expect(body.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(body.id, 'base64url')).toHaveLength(16);
    expect(body.url).toBe(`http://localhost:80/api/lists/${body.id}`);
    expect(response.headers.location).toBe(body.url);
    expect(Date.parse(body.createdAt)).not.toBeNaN();
    const ids = new Set(await Promise.all(Array.from({ length: 50 }, () => createList(app))));
    expect(ids.size).toBe(50);
  });

  it('reads a list and answers 404 problem+json for an unknown one', async () => {
    const found = await app.inject({ method: 'GET', url: `/api/lists/${listId}` });
    expect(found.statusCode).toBe(200);
    expect(found.json()).toMatchObject({ id: listId, todoCount: 0 });
    const missing = await app.inject({ method: 'GET', url: '/api/lists/AAAAAAAAAAAAAAAAAAAAAA' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(missing.json()).toMatchObject({ status: 404, title: 'List not found' });
  });
});

describe('the Todo-Backend contract', () => {
  it('starts empty', async () => {
    const response = await app.inject({ method: 'GET', url: todosUrl() });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual([]);
  });

  it('creates a todo with defaults, its own url, and timestamps', async () => {
    const response = await post({ title: 'walk the dog' });
    expect(response.statusCode).toBe(201);
    const todo = response.json<Todo>();
    expect(todo).toMatchObject({ title: 'walk the dog', completed: false });
    expect(todo.order).toBeUndefined();
    expect(todo.url).toBe(`http://localhost:80/api/lists/${listId}/todos/${todo.id}`);
    expect(response.headers.location).toBe(todo.url);
    expect(todo.createdAt).toBe(todo.updatedAt);
    const fetched = await app.inject({ method: 'GET', url: new URL(todo.url).pathname });
    expect(fetched.json()).toEqual(todo);
  });

  it('lists todos by order, then creation order', async () => {
    await post({ title: 'third', order: 5 });
    await post({ title: 'no order 1' });
    await post({ title: 'first', order: 1 });
    await post({ title: 'no order 2' });
    await post({ title: 'second', order: 5 });
    const titles = (await app.inject({ method: 'GET', url: todosUrl() })).json<Todo[]>().map((t) => t.title);
    expect(titles).toEqual(['first', 'third', 'second', 'no order 1', 'no order 2']);
  });

  it('patches title, completed and order partially', async () => {
    const todo = (await post({ title: 'draft', order: 3 })).json<Todo>();
    const path = new URL(todo.url).pathname;
    const done = await app.inject({ method: 'PATCH', url: path, payload: { completed: true } });
    expect(done.statusCode).toBe(200);
    expect(done.json()).toMatchObject({ title: 'draft', completed: true, order: 3 });
    const renamed = await app.inject({ method: 'PATCH', url: path, payload: { title: 'final', order: 1.5 } });
    expect(renamed.json()).toMatchObject({ title: 'final', completed: true, order: 1.5 });
    expect(Date.parse(renamed.json<Todo>().updatedAt)).toBeGreaterThanOrEqual(Date.parse(todo.createdAt));
    expect((await app.inject({ method: 'GET', url: path })).json()).toEqual(renamed.json());
  });

  it('deletes one todo, then all of them', async () => {
    const a = (await post({ title: 'a' })).json<Todo>();
    await post({ title: 'b' });
    await post({ title: 'c' });
    const deleted = await app.inject({ method: 'DELETE', url: new URL(a.url).pathname });
    expect(deleted.statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: new URL(a.url).pathname })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: todosUrl() })).json()).toHaveLength(2);
    expect((await app.inject({ method: 'DELETE', url: todosUrl() })).statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: todosUrl() })).json()).toEqual([]);
    expect((await app.inject({ method: 'GET', url: `/api/lists/${listId}` })).statusCode).toBe(200);
  });

  it('keeps lists apart', async () => {
    const other = await createList(app);
    await post({ title: 'mine' });
    expect((await app.inject({ method: 'GET', url: `/api/lists/${other}/todos` })).json()).toEqual([]);
  });

  it('sees every write in the next read (the cached body follows the version in Redis)', async () => {
    for (let i = 0; i < 5; i++) {
      await post({ title: `t${i}` });
      const list = (await app.inject({ method: 'GET', url: todosUrl() })).json<Todo[]>();
      expect(list.map((t) => t.title)).toContain(`t${i}`);
    }
    // A write that does not go through this app (another replica) is seen too.
    const other = await buildTestApp(redis);
    try {
      await other.inject({ method: 'POST', url: todosUrl(), payload: { title: 'from replica 2' } });
    } finally {
      await other.close();
    }
    const list = (await app.inject({ method: 'GET', url: todosUrl() })).json<Todo[]>();
    expect(list.map((t) => t.title)).toContain('from replica 2');
  });

  it('answers 304 to a matching If-None-Match', async () => {
    await post({ title: 'x' });
    const first = await app.inject({ method: 'GET', url: todosUrl() });
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"\d+\.[A-Za-z0-9_-]{11}"$/);
    const again = await app.inject({ method: 'GET', url: todosUrl(), headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    // A 304 carries no body and no Content-Length (RFC 9110; undici rejects one that has it).
    expect(again.headers['content-length']).toBeUndefined();
    expect(again.body).toBe('');
    await post({ title: 'y' });
    const changed = await app.inject({ method: 'GET', url: todosUrl(), headers: { 'if-none-match': etag } });
    expect(changed.statusCode).toBe(200);
  });
});

describe('URLs behind proxies', () => {
  it('builds todo URLs from X-Forwarded-Proto, -Host and -Prefix sent by a trusted proxy', async () => {
    const response = await app.inject({
      method: 'POST',
      url: todosUrl(),
      payload: { title: 'proxied' },
      headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'microservices.local', 'x-forwarded-prefix': '/tt' },
    });
    expect(response.json<Todo>().url).toMatch(
      new RegExp(`^https://microservices\\.local/tt/api/lists/${listId}/todos/[A-Za-z0-9_-]{16}$`),
    );
  });

  it('ignores forwarded headers from an untrusted peer', async () => {
    const response = await app.inject({
      method: 'POST',
      url: todosUrl(),
      payload: { title: 'direct' },
      remoteAddress: '203.0.113.9',
      headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', 'x-forwarded-prefix': '/x' },
    });
    expect(response.json<Todo>().url).toMatch(/^http:\/\/localhost:80\/api\//);
  });
});

describe('CORS', () => {
  it('answers a preflight for PATCH with a JSON body from any origin, without credentials', async () => {
    const response = await app.inject({
      method: 'OPTIONS',
      url: todosUrl(),
      headers: {
        origin: 'https://todobackend.com',
        'access-control-request-method': 'PATCH',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(response.statusCode).toBe(204);
    expect(response.headers['access-control-allow-origin']).toBe('*');
    expect(String(response.headers['access-control-allow-methods'])).toContain('PATCH');
    expect(String(response.headers['access-control-allow-headers']).toLowerCase()).toContain('content-type');
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('limits origins when configured', async () => {
    const strict = await buildTestApp(redis, { CORS_ORIGINS: 'https://a.example' });
    try {
      const allowed = await strict.inject({ method: 'GET', url: '/healthz', headers: { origin: 'https://a.example' } });
      expect(allowed.headers['access-control-allow-origin']).toBe('https://a.example');
      const denied = await strict.inject({ method: 'GET', url: '/healthz', headers: { origin: 'https://b.example' } });
      expect(denied.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await strict.close();
    }
  });
});

describe('operations endpoints', () => {
  it('serves health, readiness, version and an OpenAPI 3.1 document', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ready' });
    // Public: no runtime or revision.
    expect(Object.keys((await app.inject({ method: 'GET', url: '/version' })).json()).sort()).toEqual([
      'service',
      'version',
    ]);
    const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/lists', '/api/lists/{listId}/todos', '/api/lists/{listId}/todos/{todoId}']),
    );
    expect(doc.paths['/api/lists/{listId}/todos'].post.requestBody).toBeDefined();
  });

  it('echoes a valid X-Request-Id and generates one otherwise', async () => {
    const given = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
    expect(given.headers['x-request-id']).toBe('abc-123');
    const bad = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'a b\u0000c' } });
    expect(bad.headers['x-request-id']).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it('logs one JSON line per request under the request id, with the same key as the frontend', async () => {
    const { buildApp } = await import('../src/app.ts');
    const { configWith } = await import('../src/config.ts');
    const lines: Array<Record<string, unknown>> = [];
    const logged = await buildApp(configWith(redis.env), {
      logger: { level: 'info', stream: { write: (line: string) => void lines.push(JSON.parse(line)) } },
    });
    try {
      await logged.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'trace-me-1' } });
      const requestLines = lines.filter((line) => line.msg === 'request');
      expect(requestLines).toHaveLength(1);
      expect(requestLines[0]).toMatchObject({ requestId: 'trace-me-1', method: 'GET', route: '/healthz', status: 200 });

      // A list id is a credential: the lines name the route and a tag of the list, never the id.
      await waitFor('the backend to connect to Redis', () => logged.redisAnswers());
      const listId = (await logged.inject({ method: 'POST', url: '/api/lists' })).json().id as string;
      await logged.inject({ method: 'POST', url: `/api/lists/${listId}/todos`, payload: { title: 'secret list' } });
      await logged.inject({ method: 'GET', url: `/api/lists/${listId}/todos?x=1` });
      const listLines = lines.filter((line) => line.msg === 'request' && String(line.route).includes(':listId'));
      expect(listLines.map((line) => line.route)).toEqual(['/api/lists/:listId/todos', '/api/lists/:listId/todos']);
      expect(listLines[0]?.list).toMatch(/^[A-Za-z0-9_-]{8}$/);
      expect(listLines[1]?.list).toBe(listLines[0]?.list);
      expect(JSON.stringify(lines)).not.toContain(listId);
    } finally {
      await logged.close();
    }
  });

  it('keeps request and Redis metrics in its registry, served on the metrics port only', async () => {
    await post({ title: 'count me' });
    // The public port has no /metrics: it names routes, pools and the runtime.
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
    const response = { body: await app.metricsRegistry.metrics() };
    expect(response.body).toMatch(
      /tasktier_backend_http_request_duration_seconds_bucket\{.*method="POST",route="\/api\/lists\/:listId\/todos",status_code="201"/,
    );
    expect(response.body).toMatch(
      /tasktier_backend_redis_command_duration_seconds_count\{operation="createTodo"\} [1-9]/,
    );
    expect(response.body).toContain('tasktier_backend_redis_command_errors_total');
    expect(response.body).toContain('process_resident_memory_bytes');
    expect(response.body).toMatch(/tasktier_backend_build_info\{version="[^"]+",revision="[^"]+",node="v\d+/);
  });
});
