/**
 * Right data after Redis went back in time, with the backends running all along: no body or ETag
 * built before the rollback is served after it, by any replica, for a state Redis no longer has.
 *
 * - a restore from a backup, the way docs/recovery.md does it (redis-backup from the live server;
 *   later Redis stopped, redis-restore, Redis started again), the real backend bundle, ACL users;
 * - `kill -9` of Redis under `appendfsync everysec` with the page-cache shim (see
 *   persistence.test.ts), which loses the writes of the last second as a host crash would.
 *
 * Both bring a list back to a version number the replicas' caches and the clients' ETags already
 * hold, for another state: a version number alone cannot tell them apart; the revision can.
 */
import { mkdirSync } from 'node:fs';
import type { Todo } from '@tasktier/contract';
import { waitFor } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from './lib/api.ts';
import { checkInvariants } from './lib/invariants.ts';
import {
  type AclSetup,
  type Backend,
  cliAs,
  compileShim,
  generateAcl,
  paths,
  type RedisServer,
  runScript,
  startBackend,
  startDurableRedis,
  tempDir,
} from './lib/stack.ts';

const scratch = tempDir('rollback');
afterAll(() => scratch.remove());

interface Read {
  status: number;
  etag: string;
  titles: string[];
}

/** GET the list's todos from one replica, optionally with If-None-Match. */
async function read(backend: Backend, listId: string, ifNoneMatch?: string): Promise<Read> {
  const response = await fetch(`${backend.url}/api/lists/${listId}/todos`, {
    headers: ifNoneMatch ? { 'if-none-match': ifNoneMatch } : {},
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  const titles = response.status === 200 ? (JSON.parse(text) as Todo[]).map((todo) => todo.title) : [];
  return { status: response.status, etag: response.headers.get('etag') ?? '', titles };
}

async function write(backend: Backend, listId: string, titles: string[]): Promise<void> {
  const api = new Api(backend.url);
  for (const title of titles) await api.createTodo(listId, { title });
}

const titles = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix} ${i + 1}`);

async function ready(backends: Backend[]): Promise<void> {
  for (const backend of backends) {
    await waitFor('the backend to be ready again', async () => (await new Api(backend.url).status('/readyz')) === 200, {
      timeoutMs: 20_000,
    });
  }
}

/**
 * What every replica must serve now: exactly `expected` (and what Redis holds), under an ETag
 * that none of the bodies served before the rollback had; a client's pre-rollback ETag gets 200.
 */
async function expectNothingFromBefore(
  backends: Backend[],
  listId: string,
  expected: string[],
  servedBefore: Map<string, string[]>,
): Promise<void> {
  for (const backend of backends) {
    const now = await read(backend, listId);
    expect(now.status).toBe(200);
    expect(now.titles).toEqual(expected);
    const before = servedBefore.get(now.etag);
    // An ETag seen before is only allowed for the very state it named then.
    if (before) expect(before).toEqual(expected);
    for (const [etag, body] of servedBefore) {
      if (JSON.stringify(body) === JSON.stringify(expected)) continue;
      const conditional = await read(backend, listId, etag);
      expect(conditional.status, `If-None-Match ${etag} (a state Redis no longer has)`).toBe(200);
      expect(conditional.titles).toEqual(expected);
    }
  }
}

describe('a restore from a backup while the backends keep running (docs/recovery.md)', () => {
  const dataDir = `${scratch.dir}/data`;
  const backupDir = `${scratch.dir}/backups`;
  let acl: AclSetup;
  let redis: RedisServer;
  const backends: Backend[] = [];

  beforeAll(async () => {
    mkdirSync(dataDir);
    acl = generateAcl(`${scratch.dir}/acl`);
    redis = await startDurableRedis('everysec', { dir: dataDir, args: ['--aclfile', acl.file] });
    const env = { REDIS_USERNAME: 'backend', REDIS_PASSWORD: acl.passwords.backend };
    backends.push(await startBackend(redis.url, env), await startBackend(redis.url, env));
  });
  afterAll(async () => {
    await Promise.all(backends.map((backend) => backend.stop()));
    await redis?.destroy();
  });

  it('every replica serves exactly the restored and the new todos, under ETags never served before', async () => {
    const [a, b] = backends as [Backend, Backend];
    const listId = await new Api(a.url).createList();
    const backedUp = titles('backed up', 6);
    await write(a, listId, backedUp);
    const servedBefore = new Map<string, string[]>();
    for (const backend of backends) {
      const seen = await read(backend, listId);
      servedBefore.set(seen.etag, seen.titles);
    }

    const backup = await runScript(paths.backup, ['--port', String(redis.port), '--dir', backupDir], {
      REDIS_PASSWORD: acl.passwords.backup,
    });
    expect(backup.code, backup.stderr).toBe(0);

    await write(b, listId, titles('after the backup', 3));
    // Both replicas cache the 9-todo body; clients hold its ETag.
    for (const backend of backends) {
      const seen = await read(backend, listId);
      expect(seen.titles).toHaveLength(9);
      servedBefore.set(seen.etag, seen.titles);
    }

    await redis.stop();
    const restore = await runScript(paths.restore, ['--data-dir', dataDir, '--force', backupDir]);
    expect(restore.code, restore.stderr).toBe(0);
    await redis.restart();
    await ready(backends);

    // Right after the restore: the list is at a lower version than the caches hold.
    await expectNothingFromBefore(backends, listId, backedUp, servedBefore);
    // Three new writes bring the version back to the number of the cached 9-todo body.
    const added = titles('after the restore', 3);
    await write(a, listId, added);
    await expectNothingFromBefore(backends, listId, [...backedUp, ...added], servedBefore);

    const admin = (...args: string[]) => cliAs(redis.port, 'admin', acl.passwords.admin, ...args);
    expect(checkInvariants(admin).problems).toEqual([]);
  });
});

describe('kill -9 of Redis under appendfsync everysec while readers hold cached bodies', () => {
  let shim: string | undefined;
  let redis: RedisServer;
  const backends: Backend[] = [];

  beforeAll(async () => {
    shim = compileShim(scratch.dir);
    if (!shim && process.env.TASKTIER_REQUIRE_ALL_SUITES === '1') {
      throw new Error('gcc is needed to build the page-cache shim (apt-get install -y gcc libc6-dev)');
    }
    redis = await startDurableRedis('everysec', shim ? { preload: shim } : {});
    backends.push(await startBackend(redis.url), await startBackend(redis.url));
  });
  afterAll(async () => {
    await Promise.all(backends.map((backend) => backend.stop()));
    await redis?.destroy();
  });

  /** The titles Redis holds for the list, in the API's order (creation order here: no `order`). */
  function inRedis(listId: string): string[] {
    const rows = redis.cli('HVALS', `tt:todos:{${listId}}`);
    const todos = (rows === '' ? [] : rows.split('\n')).map(
      (json) => JSON.parse(json) as { title: string; seq: number },
    );
    return todos.sort((x, y) => x.seq - y.seq).map((todo) => todo.title);
  }

  /** Waits until everything written so far is on disk: an AOF rewrite makes a new base file. */
  async function persistAll(): Promise<void> {
    const rewrites = () => Number(/aof_rewrites:(\d+)/.exec(redis.cli('INFO', 'persistence'))?.[1] ?? -1);
    const before = rewrites();
    redis.cli('BGREWRITEAOF');
    await waitFor('the AOF rewrite', () => {
      const info = redis.cli('INFO', 'persistence');
      return rewrites() > before && /aof_rewrite_in_progress:0/.test(info) && /aof_rewrite_scheduled:0/.test(info);
    });
  }

  it('never serves a body or ETag built before the crash for a state Redis lost', async (context) => {
    if (!shim) {
      context.skip('no C compiler: kill -9 loses nothing without the page-cache shim');
      return;
    }
    const [a, b] = backends as [Backend, Backend];
    const listId = await new Api(a.url).createList();
    await write(a, listId, titles('durable', 5));
    await persistAll();

    // A kill right after writes loses them unless Redis happened to fsync in between (once a
    // second): a few rounds, until one lost something.
    const servedBefore = new Map<string, string[]>();
    let lost = 0;
    let round = 0;
    let versionBeforeCrash = 0;
    while (lost === 0 && round < 5) {
      round++;
      const written = titles(`round ${round}`, 4);
      await write(b, listId, written);
      for (const backend of backends) {
        const seen = await read(backend, listId);
        servedBefore.set(seen.etag, seen.titles);
        versionBeforeCrash = Number.parseInt(seen.etag.replace('"', ''), 10);
      }
      const countBefore = (await read(a, listId)).titles.length;
      await redis.kill();
      await redis.restart();
      await ready(backends);
      lost = countBefore - inRedis(listId).length;
    }
    expect(lost, 'no round lost a write: the crash did not take Redis back in time').toBeGreaterThan(0);
    console.log(`kill -9 under everysec: round ${round} lost the last ${lost} acknowledged writes`);

    await expectNothingFromBefore(backends, listId, inRedis(listId), servedBefore);
    // New writes bring the list back to the version the caches and clients hold, for another state.
    const version = Number(redis.cli('HGET', `tt:list:{${listId}}`, 'v'));
    expect(version).toBeLessThan(versionBeforeCrash);
    await write(a, listId, titles('after the crash', versionBeforeCrash - version));
    expect(Number(redis.cli('HGET', `tt:list:{${listId}}`, 'v'))).toBe(versionBeforeCrash);
    await expectNothingFromBefore(backends, listId, inRedis(listId), servedBefore);
    expect(checkInvariants(redis.cli).problems).toEqual([]);
  });
});
