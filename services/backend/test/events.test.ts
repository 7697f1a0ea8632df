import type { ChangeEvent, ReadyEvent } from '@tasktier/contract';
import { closeWithin } from '@tasktier/service-kit';
import { type RedisServer, waitFor } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createList, startRedis, type TestApp } from './helpers.ts';

let redis: RedisServer;
const apps: TestApp[] = [];
const bases: string[] = [];

beforeAll(async () => {
  redis = await startRedis();
  for (let i = 0; i < 2; i++) {
    const app = await buildTestApp(redis, { SSE_HEARTBEAT_MS: 200 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    bases.push(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
    apps.push(app);
  }
});
afterAll(async () => {
  // fetch (undici) keeps the socket of an aborted stream open, so close() would wait for it: bounded.
  // (A client that closes its socket, as browsers do, lets close() finish in milliseconds.)
  await Promise.all(apps.map((app) => closeWithin(app, 1000)));
  await redis?.destroy();
});

interface Received {
  events: Array<{ event: string; id?: string; data: string }>;
  comments: number;
  retry?: number;
  headers: Headers;
  close(): void;
}

/** A minimal SSE client over fetch that records what arrives. */
async function listen(url: string): Promise<Received> {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal });
  expect(response.status).toBe(200);
  const received: Received = { events: [], comments: 0, headers: response.headers, close: () => controller.abort() };
  const decoder = new TextDecoder();
  let buffer = '';
  (async () => {
    const reader = response.body!.getReader();
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields: Record<string, string> = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) received.comments++;
          const colon = line.indexOf(': ');
          if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 2);
        }
        if (fields.retry) received.retry = Number(fields.retry);
        if (fields.event && fields.data !== undefined)
          received.events.push({ event: fields.event, id: fields.id, data: fields.data });
        end = buffer.indexOf('\n\n');
      }
    }
  })();
  return received;
}

describe('live change events (SSE)', () => {
  it('streams every change of a list, whichever replica made it', async () => {
    const listId = await createList(apps[0]!);
    const onReplica2 = await listen(`${bases[1]}/api/lists/${listId}/events`);
    expect(onReplica2.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(onReplica2.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(onReplica2.headers.get('x-accel-buffering')).toBe('no');
    await waitFor('the ready event', () => onReplica2.events.length === 1);
    expect(onReplica2.events[0]?.event).toBe('ready');
    const ready = JSON.parse(onReplica2.events[0]!.data) as ReadyEvent;
    expect(ready).toEqual({ version: 0, revision: expect.stringMatching(/^0\.[A-Za-z0-9_-]{11}$/) });
    expect(onReplica2.retry).toBeGreaterThan(0);

    // Writes through replica 1.
    const todosUrl = `${bases[0]}/api/lists/${listId}/todos`;
    const created = (await (
      await fetch(todosUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"title":"a"}' })
    ).json()) as { id: string; url: string };
    await fetch(created.url, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{"completed":true}',
    });
    await fetch(created.url, { method: 'DELETE' });
    await fetch(todosUrl, { method: 'DELETE' });

    await waitFor('four change events', () => onReplica2.events.length === 5);
    const changes = onReplica2.events.slice(1).map((e) => ({ id: e.id, ...(JSON.parse(e.data) as ChangeEvent) }));
    expect(changes).toEqual([
      { id: expect.any(String), type: 'todo.created', version: 1, revision: expect.any(String), todoId: created.id },
      { id: expect.any(String), type: 'todo.updated', version: 2, revision: expect.any(String), todoId: created.id },
      { id: expect.any(String), type: 'todo.deleted', version: 3, revision: expect.any(String), todoId: created.id },
      { id: expect.any(String), type: 'todos.cleared', version: 4, revision: expect.any(String) },
    ]);
    // The SSE id is the revision: `<version>.<token>`, a new token for every write.
    for (const change of changes) {
      expect(change.id).toBe(change.revision);
      expect(change.revision).toMatch(new RegExp(`^${change.version}\\.[A-Za-z0-9_-]{11}$`));
    }
    expect(new Set(changes.map((change) => change.revision.split('.')[1])).size).toBe(4);
    onReplica2.close();
  });

  it('sends heartbeat comments so idle proxies keep the stream open', async () => {
    const listId = await createList(apps[0]!);
    const stream = await listen(`${bases[0]}/api/lists/${listId}/events`);
    await waitFor('two heartbeats', () => stream.comments >= 2);
    stream.close();
  });

  it('answers 404 problem+json for an unknown list instead of opening a stream', async () => {
    const response = await fetch(`${bases[0]}/api/lists/AAAAAAAAAAAAAAAAAAAAAA/events`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('unsubscribes from Redis when the last stream of a list closes', async () => {
    const listId = await createList(apps[0]!);
    const a = await listen(`${bases[0]}/api/lists/${listId}/events`);
    const b = await listen(`${bases[0]}/api/lists/${listId}/events`);
    await waitFor('both ready', () => a.events.length === 1 && b.events.length === 1);
    const channel = `tt:events:{${listId}}`;
    expect(redis.cli('PUBSUB', 'NUMSUB', channel)).toBe(`${channel}\n1`);
    a.close();
    b.close();
    await waitFor(
      'the channel to have no subscriber',
      () => redis.cli('PUBSUB', 'NUMSUB', channel) === `${channel}\n0`,
    );
  });
});
