import type { Todo } from '@tasktier/contract';
import { getFreePort, type Service, serviceScript, startService } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createList, type DataTier, startDataTier, type TestApp } from './helpers.ts';

// One redis-server here; a six-node Redis Cluster in the `cluster` project (same tests).
let redis: DataTier;
let app: TestApp;
const replicas: Service[] = [];
const urls: string[] = [];

beforeAll(async () => {
  redis = await startDataTier();
  app = await buildTestApp(redis);
  for (const name of ['backend-1', 'backend-2']) {
    const port = await getFreePort();
    replicas.push(
      await startService({
        name,
        script: serviceScript('backend'),
        env: { PORT: String(port), HOST: '127.0.0.1', ...redis.env, LOG_LEVEL: 'warn', DRAIN_DELAY_MS: '0' },
        readyUrl: `http://127.0.0.1:${port}/readyz`,
      }),
    );
    urls.push(`http://127.0.0.1:${port}`);
  }
});
afterAll(async () => {
  await Promise.all(replicas.map((replica) => replica.stop()));
  await app?.close();
  await redis?.destroy();
});

describe('concurrent writers', () => {
  it('many clients on one app: every create lands, each todo whole', async () => {
    const listId = await createList(app);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        app.inject({
          method: 'POST',
          url: `/api/lists/${listId}/todos`,
          payload: { title: `todo ${i}`, order: i % 7 },
        }),
      ),
    );
    expect(results.every((r) => r.statusCode === 201)).toBe(true);
    const todos = (await app.inject({ method: 'GET', url: `/api/lists/${listId}/todos` })).json<Todo[]>();
    expect(todos).toHaveLength(200);
    expect(new Set(todos.map((t) => t.title)).size).toBe(200);
    const orders = todos.map((t) => t.order ?? 0);
    expect(orders).toEqual([...orders].sort((a, b) => a - b));
  });

  it('two backend processes writing to one list at once lose nothing', async () => {
    const listId = ((await (await fetch(`${urls[0]}/api/lists`, { method: 'POST' })).json()) as { id: string }).id;
    const perReplica = 150;
    const created: Todo[] = [];
    await Promise.all(
      urls.map(async (base, replica) => {
        // 10 concurrent clients per replica.
        await Promise.all(
          Array.from({ length: 10 }, async (_, client) => {
            for (let i = client; i < perReplica; i += 10) {
              const response = await fetch(`${base}/api/lists/${listId}/todos`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ title: `r${replica}-${i}` }),
              });
              expect(response.status).toBe(201);
              created.push((await response.json()) as Todo);
            }
          }),
        );
      }),
    );
    // Concurrent toggles of the same todos from both replicas: each PATCH is applied whole.
    await Promise.all(
      created.slice(0, 60).map((todo, i) =>
        fetch(`${urls[i % 2]}${new URL(todo.url).pathname}`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(i % 3 === 0 ? { completed: true } : { title: `${todo.title} (edited)` }),
        }).then((r) => expect(r.status).toBe(200)),
      ),
    );

    for (const base of urls) {
      const todos = (await (await fetch(`${base}/api/lists/${listId}/todos`)).json()) as Todo[];
      expect(todos).toHaveLength(2 * perReplica);
      expect(new Set(todos.map((t) => t.id)).size).toBe(2 * perReplica);
      for (const todo of todos) {
        expect(typeof todo.title).toBe('string');
        expect(typeof todo.completed).toBe('boolean');
        expect(todo.createdAt).toBeTruthy();
      }
      expect(todos.filter((t) => t.completed)).toHaveLength(20);
      expect(todos.filter((t) => t.title.endsWith('(edited)'))).toHaveLength(40);
    }
    // The store itself: exactly one hash entry per acknowledged todo, no stray keys.
    const key = `tt:todos:{${listId}}`;
    expect(redis.cliFor(key, 'HLEN', key)).toBe(String(2 * perReplica));
  });
});
