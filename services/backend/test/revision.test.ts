/**
 * Right data after Redis went back in time. A list's version alone cannot tell two states apart
 * once Redis was restored from a snapshot (or lost its last writes): the same number then names
 * another state, and a replica that trusted it served its old cached body and ETag. The revision
 * (`<version>.<random token of the last write>`) names one state only.
 */
import type { Todo } from '@tasktier/contract';
import type { RedisServer } from '@tasktier/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createList, startRedis, type TestApp } from './helpers.ts';

let redis: RedisServer;
let admin: Redis;
const replicas: TestApp[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  // Two backends on one Redis: each has its own list body cache.
  replicas.push(await buildTestApp(redis), await buildTestApp(redis));
});
afterAll(async () => {
  await Promise.all(replicas.map((replica) => replica.close()));
  admin?.disconnect();
  await redis?.destroy();
});

const keysOf = (listId: string) => [`tt:list:{${listId}}`, `tt:todos:{${listId}}`];

/** The list's keys as DUMP payloads (a snapshot of this one list). */
async function snapshot(listId: string): Promise<Map<string, Buffer | null>> {
  const out = new Map<string, Buffer | null>();
  for (const key of keysOf(listId)) out.set(key, await admin.dumpBuffer(key));
  return out;
}

/** Puts the snapshot back, as a restore of the whole dataset would, without telling the backends. */
async function restore(saved: Map<string, Buffer | null>): Promise<void> {
  for (const [key, payload] of saved) {
    await admin.del(key);
    if (payload) await admin.restore(key, 0, payload);
  }
}

async function read(app: TestApp, listId: string, ifNoneMatch?: string) {
  const response = await app.inject({
    method: 'GET',
    url: `/api/lists/${listId}/todos`,
    headers: ifNoneMatch ? { 'if-none-match': ifNoneMatch } : {},
  });
  return {
    status: response.statusCode,
    etag: String(response.headers.etag),
    titles: response.statusCode === 200 ? response.json<Todo[]>().map((todo) => todo.title) : [],
  };
}

async function write(app: TestApp, listId: string, titles: string[]): Promise<void> {
  for (const title of titles) {
    const response = await app.inject({ method: 'POST', url: `/api/lists/${listId}/todos`, payload: { title } });
    expect(response.statusCode).toBe(201);
  }
}

const titles = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix} ${i + 1}`);

describe('after Redis was restored from a snapshot, with the backends running', () => {
  it('every replica serves exactly the restored and the new todos, never an ETag from before', async () => {
    const [a, b] = replicas as [TestApp, TestApp];
    const listId = await createList(a);
    const before = titles('before snapshot', 6);
    await write(a, listId, before);
    const servedBefore = new Set<string>();
    for (const app of replicas) servedBefore.add((await read(app, listId)).etag);
    const saved = await snapshot(listId);

    const lost = titles('after snapshot', 3);
    await write(b, listId, lost);
    // Both replicas now hold the body with the 9 todos in their caches.
    for (const app of replicas) {
      const seen = await read(app, listId);
      expect(seen.titles).toHaveLength(9);
      servedBefore.add(seen.etag);
    }

    await restore(saved);
    // Right after the restore the version is lower than the cached one: the restored state is served.
    for (const app of replicas) expect((await read(app, listId)).titles).toEqual(before);

    // Three new writes bring the version back to the number the caches hold, for another state.
    const added = titles('after restore', 3);
    await write(a, listId, added);
    for (const app of replicas) {
      const seen = await read(app, listId);
      expect(seen.titles).toEqual([...before, ...added]);
      expect(servedBefore.has(seen.etag)).toBe(false);
      // A client (or a browser cache) holding a validator from before the restore gets the body.
      for (const etag of servedBefore) {
        const conditional = await read(app, listId, etag);
        expect(conditional.status).toBe(200);
        expect(conditional.titles).toEqual([...before, ...added]);
      }
      // Its current ETag still answers 304.
      expect((await read(app, listId, seen.etag)).status).toBe(304);
    }
  });

  it('a list stored before revisions existed (no token) is read, then gets one with its next write', async () => {
    const [a, b] = replicas as [TestApp, TestApp];
    const listId = await createList(a);
    await write(a, listId, ['old']);
    await admin.hdel(`tt:list:{${listId}}`, 'r', 'bytes');
    const old = await read(b, listId);
    expect(old).toMatchObject({ status: 200, etag: '"1."', titles: ['old'] });
    await write(a, listId, ['new']);
    const next = await read(b, listId);
    expect(next.titles).toEqual(['old', 'new']);
    expect(next.etag).toMatch(/^"2\.[A-Za-z0-9_-]{11}"$/);
    // The byte count was computed once from the stored todos and kept from then on.
    const stored = await admin.hvals(`tt:todos:{${listId}}`);
    const bytes = stored.reduce((sum, json) => sum + Buffer.byteLength(json), 0);
    expect(await admin.hget(`tt:list:{${listId}}`, 'bytes')).toBe(String(bytes));
  });

  it('writes by a backend from before revisions (a rolling upgrade) are counted and never leave a list with todos expiring', async () => {
    const [a] = replicas as [TestApp];
    const listId = await createList(a);
    const meta = `tt:list:{${listId}}`;
    expect(await admin.ttl(meta)).toBeGreaterThan(0);
    // The first todo, added as the previous version's script does: no rev, no byte count, no PERSIST.
    const old = JSON.stringify({
      id: 'AAAAAAAAAAAAAAAA',
      title: 'from the old backend',
      completed: false,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
      seq: 1,
    });
    await admin.hset(`tt:todos:{${listId}}`, 'AAAAAAAAAAAAAAAA', old);
    await admin.hincrby(meta, 'seq', 1);
    await admin.hincrby(meta, 'v', 1);
    const read1 = await read(a, listId);
    expect(read1.titles).toEqual(['from the old backend']);
    // Its next write, by this version, counts the old todo too and removes the expiry.
    await write(a, listId, ['new']);
    expect(await admin.ttl(meta)).toBe(-1);
    const stored = await admin.hvals(`tt:todos:{${listId}}`);
    const bytes = stored.reduce((sum, json) => sum + Buffer.byteLength(json), 0);
    expect(await admin.hget(meta, 'bytes')).toBe(String(bytes));
    // A todo without a rev has no ETag until its next change; `*` still matches it.
    const todoPath = `/api/lists/${listId}/todos/AAAAAAAAAAAAAAAA`;
    expect((await a.inject({ method: 'GET', url: todoPath })).headers.etag).toBeUndefined();
    expect(
      (
        await a.inject({
          method: 'PATCH',
          url: todoPath,
          payload: { title: 'x' },
          headers: { 'if-match': '"AAAAAAAAAAA"' },
        })
      ).statusCode,
    ).toBe(412);
    const patched = await a.inject({
      method: 'PATCH',
      url: todoPath,
      payload: { completed: true },
      headers: { 'if-match': '*' },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.headers.etag).toMatch(/^"[A-Za-z0-9_-]{11}"$/);
  });
});
